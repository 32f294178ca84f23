"""PyTorch peer for bench/train.ts: one full Monet-VD train step (spec shared/spec/monet.md §2, §4).

Train-mode forward with batch-statistics BN thresholds (biased variance over the batch's B·T·E logits per head,
threshold t = min(mu + sqrt(v + 1e-5)·sigma*, max_i z), hard selection, softmax over the selected raw logits),
relu² experts, the VD general form (self and cross terms, biases through the head-summed gate products), routers
shared every moe_groups layers, cross-entropy + lambda·(L_unif + L_amb), backward, global-norm clipping at 1 and
AdamW (beta 0.9/0.95, wd 0.1 on matrices except the MoE biases and router keys), plus the BN running-stat update.

Weights, running stats and the batch come from the files bench/train.ts writes, so both peers start from the same
state. Serve mode: prints {"ready", "torch", "first_loss"}, then one {"step_ms", "loss"} line per "step" line on
stdin. Spawned with /usr/bin/python3.
"""
import json
import math
import re
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print(json.dumps({"error": "torch not installed"}))
    sys.exit(3)


def main() -> None:
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    torch.set_num_threads(int(args.get("threads", 2)))
    meta = json.load(open(args["meta"]))
    c = meta["config"]
    blob = open(args["weights"], "rb").read()

    def tensor(entry):
        n = math.prod(entry["shape"])
        return torch.frombuffer(bytearray(blob[entry["offset"]:entry["offset"] + 4 * n]), dtype=torch.float32).reshape(entry["shape"])

    params = {e["name"]: torch.nn.Parameter(tensor(e)) for e in meta["params"]}
    running = {e["name"]: tensor(e).clone() for e in meta["running"]}
    ids_all = torch.tensor(meta["tokens"], dtype=torch.int64).reshape(meta["batch"], meta["seqLen"] + 1)
    ids, labels = ids_all[:, :-1].contiguous(), ids_all[:, 1:].contiguous()

    B, T = meta["batch"], meta["seqLen"]
    N = B * T
    d, nh = c["hidden_size"], c["num_attention_heads"]
    hd = d // nh
    H, E, m = c["moe_heads"], c["moe_experts"], c["moe_dim"]
    mh = m // 2
    G = c["moe_groups"]
    sigma = meta["sigmaStar"]
    lam, eps_aux, momentum, rms_eps = meta["lambda"], meta["auxEps"], meta["momentum"], c["rms_norm_eps"]
    assert c["moe_decompose"] == "vertical"

    # RoPE tables (float64 → float32 like the graph) and the causal mask.
    inv = torch.tensor([1.0 / c["rope_theta"] ** (2 * k / hd) for k in range(hd // 2)], dtype=torch.float32)
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    causal = torch.full((T, T), float("-inf")).triu(1)

    def rope(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + rms_eps) * w

    def relu2(x):
        return F.relu(x).square()

    def P(name):
        return params[name]

    def router_side(xt, l, s, bn_updates):
        z = F.linear(xt, P(f"model.layers.{l}.router.w{s}.weight")).view(N, H, E)
        with torch.no_grad():
            zs = z.detach()
            mean = zs.mean(dim=(0, 2))
            var = zs.var(dim=(0, 2), unbiased=False)
            n = N * E
            bn_updates.append((f"model.layers.{l}.router.norm{s}.running_mean", mean))
            bn_updates.append((f"model.layers.{l}.router.norm{s}.running_var", var * n / (n - 1)))
            tau = (mean + torch.sqrt(var + 1e-5) * sigma).view(1, H, 1)
            thr = torch.minimum(tau, zs.max(-1, keepdim=True).values)
            selected = zs >= thr
        gate = torch.softmax(torch.where(selected, z, torch.full_like(z, -1e10)), -1)
        pbar = gate.mean(0)
        unif = -torch.log(pbar + eps_aux).mean()
        amb = (1 - gate.max(-1).values).mean()
        return gate, unif, amb

    def forward():
        bn_updates = []
        unifs, ambs = [], []
        x = P("model.embed_tokens.weight")[ids].view(N, d)
        g1 = g2 = None
        for l in range(c["num_hidden_layers"]):
            p = f"model.layers.{l}"
            h = rms(x, P(f"{p}.input_layernorm.weight"))
            heads = lambda t: t.view(B, T, nh, hd).transpose(1, 2)
            q = rope(heads(F.linear(h, P(f"{p}.self_attn.q_proj.weight"))))
            k = rope(heads(F.linear(h, P(f"{p}.self_attn.k_proj.weight"))))
            v = heads(F.linear(h, P(f"{p}.self_attn.v_proj.weight")))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + causal, -1) @ v
            x = x + F.linear(att.transpose(1, 2).reshape(N, d), P(f"{p}.self_attn.o_proj.weight"))
            xt = rms(x, P(f"{p}.post_attention_layernorm.weight"))
            if l % G == 0:
                g1, u1, a1_ = router_side(xt, l, 1, bn_updates)
                g2, u2, a2_ = router_side(xt, l, 2, bn_updates)
                unifs.append((u1 + u2) / 2)
                ambs.append((a1_ + a2_) / 2)
            # VD general form: expert (i, j) has gate sum_h g1[h,i]·g2[h,j]; each half mixes its own and the other side's sub-experts.
            s1 = g1.sum(-1, keepdim=True)
            s2 = g2.sum(-1, keepdim=True)
            c1 = (g1 * s2).sum(1)  # [N, E]
            c2 = (g2 * s1).sum(1)
            a1 = relu2(F.linear(xt, P(f"{p}.moe.u1.weight"), P(f"{p}.moe.u1.bias"))).view(N, E, mh)
            a2 = relu2(F.linear(xt, P(f"{p}.moe.u2.weight"), P(f"{p}.moe.u2.bias"))).view(N, E, mh)
            p12 = g1.transpose(1, 2) @ (g2 @ a2)
            p21 = g2.transpose(1, 2) @ (g1 @ a1)
            x1 = F.linear((c1[..., None] * a1).reshape(N, E * mh), P(f"{p}.moe.v11.weight")) + F.linear(p12.reshape(N, E * mh), P(f"{p}.moe.v12.weight")) + c1 @ P(f"{p}.moe.b1")
            x2 = F.linear(p21.reshape(N, E * mh), P(f"{p}.moe.v21.weight")) + F.linear((c2[..., None] * a2).reshape(N, E * mh), P(f"{p}.moe.v22.weight")) + c2 @ P(f"{p}.moe.b2")
            x = x + torch.cat([x1, x2], -1)
        logits = F.linear(rms(x, P("model.norm.weight")), P("lm_head.weight"))
        ce = F.cross_entropy(logits, labels.view(N), ignore_index=-100)
        unif = sum(unifs) / len(unifs)
        amb = sum(ambs) / len(ambs)
        return ce + lam * unif + lam * amb, bn_updates

    nodecay = re.compile(r"(moe\.b[12]?$)|(router\.w[12]\.weight$)")
    decay = [p for n, p in params.items() if p.dim() >= 2 and not nodecay.search(n)]
    rest = [p for n, p in params.items() if not (p.dim() >= 2 and not nodecay.search(n))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}], lr=meta["lr"], betas=(0.9, 0.95), eps=1e-8)

    def step():
        opt.zero_grad(set_to_none=True)
        loss, bn = forward()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        with torch.no_grad():
            for name, val in bn:
                running[name].mul_(1 - momentum).add_(val * momentum)
        return loss.item()

    first = step()
    for _ in range(int(args.get("warmup", 2)) - 1):
        step()
    print(json.dumps({"ready": True, "torch": torch.__version__, "first_loss": first}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            break
        t0 = time.perf_counter()
        loss = step()
        print(json.dumps({"step_ms": (time.perf_counter() - t0) * 1e3, "loss": loss}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - report to the caller
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)

"""PyTorch peer for bench/monet.ts: the stock eval-mode Monet forward (spec §2; the MoE layers in the decomposed
forms of §2.5 / §2.6, with the very einsum equations of the released code) on an F32 safetensors checkpoint, timed
with the given thread count. Prints one JSON line with tokens/s; writes the logits (float32 [batch, time, vocab])
to `out` so the TypeScript side can check that both compute the same thing.

    python3 bench/monet_torch.py dir=/tmp/monet-small batch=8 tokens=256 reps=5 threads=2 out=/tmp/logits.f32
"""
import json
import math
import struct
import sys
import time
from statistics import NormalDist

try:
    import numpy as np
    import torch
except ImportError:
    print(json.dumps({"error": "torch not installed"}))
    sys.exit(3)


def load(path):
    """Each F32 tensor read straight from the file into its own array (no second copy of the checkpoint)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    out = {}
    for k, v in header.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        a, b = v["data_offsets"]
        arr = np.fromfile(path, dtype=np.float32, count=(b - a) // 4, offset=8 + n + a)
        out[k] = torch.from_numpy(arr.reshape(v["shape"]))
    return out


def main():
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    d_ = args["dir"]
    B, T = int(args.get("batch", 1)), int(args.get("tokens", 128))
    reps, threads = int(args.get("reps", 5)), int(args.get("threads", 2))
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{d_}/config.json"))
    t_load = time.perf_counter()
    W = load(f"{d_}/model.safetensors")
    load_s = time.perf_counter() - t_load
    d, L, nh = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    E, m, H, k, G = cfg["moe_experts"], cfg["moe_dim"], cfg["moe_heads"], cfg["moe_topk"], cfg["moe_groups"]
    hd, eps, vd = d // nh, cfg.get("rms_norm_eps", 1e-6), cfg["moe_decompose"] == "vertical"
    sigma = NormalDist().inv_cdf(1 - k / E)
    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    causal = torch.full((T, T), float("-inf")).triu(1)

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def rot(x):
        a, b = x.chunk(2, -1)
        return torch.cat([-b, a], -1)

    def route(x, p, s):
        z = (x @ W[f"{p}.router.w{s}.weight"].T).unflatten(-1, (H, E))
        mu, var = W[f"{p}.router.norm{s}.running_mean"], W[f"{p}.router.norm{s}.running_var"]
        tau = (mu + (var + 1e-5).sqrt() * sigma)[:, None]
        t = torch.minimum(tau, z.amax(-1, keepdim=True))
        return torch.where(z >= t, z, torch.full_like(z, -1e10)).softmax(-1)

    @torch.no_grad()
    def forward(ids):
        x = W["model.embed_tokens.weight"][ids]  # [B, T, d]
        for l in range(L):
            p = f"model.layers.{l}"
            h = rms(x, W[f"{p}.input_layernorm.weight"])
            q, kk, v = (
                (h @ W[f"{p}.self_attn.{n}_proj.weight"].T).view(B, T, nh, hd).transpose(1, 2) for n in "qkv"
            )
            q, kk = q * cos + rot(q) * sin, kk * cos + rot(kk) * sin
            a = ((q @ kk.transpose(-1, -2)) / math.sqrt(hd) + causal).softmax(-1) @ v
            x = x + a.transpose(1, 2).reshape(B, T, d) @ W[f"{p}.self_attn.o_proj.weight"].T
            xt = rms(x, W[f"{p}.post_attention_layernorm.weight"])
            if l % G == 0:
                g1, g2 = route(xt, p, 1), route(xt, p, 2)  # [B, T, H, E]
            mo = f"{p}.moe"
            if vd:  # spec §2.6, the six terms of the released code
                a1 = torch.relu(xt @ W[f"{mo}.u1.weight"].T + W[f"{mo}.u1.bias"]).pow(2).unflatten(-1, (E, m // 2))
                a2 = torch.relu(xt @ W[f"{mo}.u2.weight"].T + W[f"{mo}.u2.bias"]).pow(2).unflatten(-1, (E, m // 2))
                x11 = torch.einsum("btim,bthi->btim", a1, g1).flatten(-2) @ W[f"{mo}.v11.weight"].T
                x12 = torch.einsum("btjm,bthj,bthi->btim", a2, g2, g1).flatten(-2) @ W[f"{mo}.v12.weight"].T
                x13 = torch.einsum("bthi,id->btd", g1, W[f"{mo}.b1"])
                x21 = torch.einsum("btim,bthi,bthj->btjm", a1, g1, g2).flatten(-2) @ W[f"{mo}.v21.weight"].T
                x22 = torch.einsum("btjm,bthj->btjm", a2, g2).flatten(-2) @ W[f"{mo}.v22.weight"].T
                x23 = torch.einsum("bthj,jd->btd", g2, W[f"{mo}.b2"])
                x = x + torch.cat([x11 + x12 + x13, x21 + x22 + x23], -1)
            else:  # spec §2.5
                a_ = torch.relu(xt @ W[f"{mo}.u.weight"].T + W[f"{mo}.u.bias"]).pow(2).unflatten(-1, (E, m))
                y = torch.einsum("btim,bthi,bthj->btjm", a_, g1, g2).flatten(-2)
                x = x + y @ W[f"{mo}.v.weight"].T + torch.einsum("bthj,jd->btd", g2, W[f"{mo}.b"])
        head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
        return rms(x, W["model.norm.weight"]) @ head.T

    ids = torch.tensor([(r * 7919 + 1) % cfg["vocab_size"] for r in range(B * T)]).view(B, T)
    t0 = time.perf_counter()
    logits = forward(ids)
    first = time.perf_counter() - t0
    if "out" in args:
        logits.numpy().astype(np.float32).tofile(args["out"])
    del logits
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        forward(ids)
        times.append(time.perf_counter() - t0)
    best = min(times) if times else first
    print(json.dumps({"tokens_per_s": B * T / best, "ms": best * 1000, "first_ms": first * 1000, "load_s": load_s,
                      "threads": threads, "torch": torch.__version__}))


main()

"""PyTorch peer for bench/monet.ts: a small eval-mode Monet forward (spec §2, stock decomposed VD/HD code) on an
F32 safetensors checkpoint, timed with the given thread count. Prints one JSON line with tokens/s and the logits'
checksum so the TypeScript side can check that both compute the same thing.

    python3 bench/monet_torch.py dir=/tmp/monet-mid tokens=128 reps=5 threads=2 out=/tmp/logits.f32
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
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__" or v["dtype"] != "F32":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).reshape(v["shape"]).copy())
    return out


def main():
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    d_ = args["dir"]
    T, reps, threads = int(args.get("tokens", 128)), int(args.get("reps", 5)), int(args.get("threads", 2))
    torch.set_num_threads(threads)
    cfg = json.load(open(f"{d_}/config.json"))
    W = load(f"{d_}/model.safetensors")
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
        x = W["model.embed_tokens.weight"][ids]
        for l in range(L):
            p = f"model.layers.{l}"
            h = rms(x, W[f"{p}.input_layernorm.weight"])
            q, kk, v = (
                (h @ W[f"{p}.self_attn.{n}_proj.weight"].T).view(T, nh, hd).transpose(0, 1) for n in "qkv"
            )
            q, kk = q * cos + rot(q) * sin, kk * cos + rot(kk) * sin
            a = ((q @ kk.transpose(-1, -2)) / math.sqrt(hd) + causal).softmax(-1) @ v
            x = x + a.transpose(0, 1).reshape(T, d) @ W[f"{p}.self_attn.o_proj.weight"].T
            xt = rms(x, W[f"{p}.post_attention_layernorm.weight"])
            if l % G == 0:
                g1, g2 = route(xt, p, 1), route(xt, p, 2)
            mo = f"{p}.moe"
            if vd:
                a1 = torch.relu(xt @ W[f"{mo}.u1.weight"].T + W[f"{mo}.u1.bias"]).pow(2).unflatten(-1, (E, m // 2))
                a2 = torch.relu(xt @ W[f"{mo}.u2.weight"].T + W[f"{mo}.u2.bias"]).pow(2).unflatten(-1, (E, m // 2))
                x11 = torch.einsum("tim,thi->tim", a1, g1).flatten(-2) @ W[f"{mo}.v11.weight"].T
                x12 = torch.einsum("tjm,thj,thi->tim", a2, g2, g1).flatten(-2) @ W[f"{mo}.v12.weight"].T
                x13 = torch.einsum("thi,id->td", g1, W[f"{mo}.b1"])
                x21 = torch.einsum("tim,thi,thj->tjm", a1, g1, g2).flatten(-2) @ W[f"{mo}.v21.weight"].T
                x22 = torch.einsum("tjm,thj->tjm", a2, g2).flatten(-2) @ W[f"{mo}.v22.weight"].T
                x23 = torch.einsum("thj,jd->td", g2, W[f"{mo}.b2"])
                x = x + torch.cat([x11 + x12 + x13, x21 + x22 + x23], -1)
            else:
                a_ = torch.relu(xt @ W[f"{mo}.u.weight"].T + W[f"{mo}.u.bias"]).pow(2).unflatten(-1, (E, m))
                y = torch.einsum("tim,thi,thj->tjm", a_, g1, g2).flatten(-2)
                x = x + y @ W[f"{mo}.v.weight"].T + torch.einsum("thj,jd->td", g2, W[f"{mo}.b"])
        head = W.get("lm_head.weight", W["model.embed_tokens.weight"])
        return rms(x, W["model.norm.weight"]) @ head.T

    ids = torch.tensor([(i * 7919 + 1) % cfg["vocab_size"] for i in range(T)])
    logits = forward(ids)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        forward(ids)
        times.append(time.perf_counter() - t0)
    best = min(times)
    if "out" in args:
        logits.numpy().astype(np.float32).tofile(args["out"])
    print(json.dumps({"tokens_per_s": T / best, "ms": best * 1000, "threads": threads, "torch": torch.__version__}))


main()

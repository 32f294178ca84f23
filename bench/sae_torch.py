"""PyTorch peer for bench/sae.ts: one GBA train step (spec shared/spec/gba.md §2.6, §5.1) on the same weights, bias and
batch: z = x·Wᵀ − b_pre·Wᵀ, y = z + b, JumpReLU gate φ = z·1[y > 0], x̂ = (φ·a)·W + b_pre, loss ½‖x̂ − x‖² per token,
autograd backward, torch.optim.Adam on W, a, b_pre, rows of W projected to unit norm, and the bias rule's statistics
(per-latent firing counts and peak pre-activations) — the step Resect fuses into one ONNX graph (workers/sae/graph.ts).

The pre-bias term is written as b_pre·Wᵀ, as in Resect's graph, so both peers do the same five [L, M]×[M, d]-sized
matrix products. Serve mode: prints {"ready", "torch", "first_loss"}, then one {"step_ms", "loss"} line per "step".
Spawned with /usr/bin/python3.
"""
import json
import sys
import time

try:
    import torch
except ImportError:
    print(json.dumps({"error": "torch not installed"}))
    sys.exit(3)


def main() -> None:
    args = dict(a.split("=", 1) for a in sys.argv[1:])
    torch.set_num_threads(int(args.get("threads", 2)))
    meta = json.load(open(args["meta"]))
    L, d, M = meta["tokens"], meta["d"], meta["latents"]
    blob = open(args["data"], "rb").read()
    off = 0

    def take(*shape):
        nonlocal off
        n = 1
        for s in shape:
            n *= s
        t = torch.frombuffer(bytearray(blob[off:off + 4 * n]), dtype=torch.float32).reshape(shape)
        off += 4 * n
        return t

    W = torch.nn.Parameter(take(M, d))
    a = torch.nn.Parameter(take(M))
    b_pre = torch.nn.Parameter(take(d))
    bias = take(M)
    x = take(L, d)
    opt = torch.optim.Adam([W, a, b_pre], lr=meta["lr"], betas=(0.9, 0.999), eps=1e-8)
    fired = torch.zeros(M)
    peak = torch.full((M,), float("-inf"))

    def step() -> float:
        nonlocal fired, peak
        opt.zero_grad(set_to_none=True)
        z = x @ W.t() - (b_pre @ W.t())
        y = z + bias
        gate = y > 0
        phi = torch.where(gate, z, torch.zeros((), dtype=z.dtype))
        xhat = (phi * a) @ W + b_pre
        loss = 0.5 * (xhat - x).pow(2).sum() / L
        loss.backward()
        opt.step()
        with torch.no_grad():
            W.div_(W.norm(dim=1, keepdim=True).clamp_min(1e-12))
            fired = gate.sum(0, dtype=torch.float32)
            peak = y.max(0).values
        return float(loss)

    warmup = int(args.get("warmup", 1))
    first = step()
    for _ in range(warmup - 1):
        step()
    print(json.dumps({"ready": True, "torch": torch.__version__, "first_loss": first}), flush=True)
    for line in sys.stdin:
        if line.strip() != "step":
            continue
        t0 = time.perf_counter()
        loss = step()
        print(json.dumps({"step_ms": (time.perf_counter() - t0) * 1e3, "loss": loss, "fired": float(fired.sum())}), flush=True)


if __name__ == "__main__":
    main()

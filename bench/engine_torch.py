"""PyTorch peer for bench/engine.ts: the same 2-layer MLP train step (Linear-ReLU-Linear, MSE, AdamW).

Prints one JSON line. Spawned by dist/bench/engine.mjs with /usr/bin/python3.
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
    d, hidden, batch = int(args.get("d", 512)), int(args.get("hidden", 2048)), int(args.get("batch", 4096))
    steps, warmup, threads = int(args.get("steps", 5)), int(args.get("warmup", 2)), int(args.get("threads", 2))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, d))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    x = torch.randn(batch, d)
    y = torch.randn(batch, d)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(warmup):
        step()
    if args.get("serve") == "1":
        # Interleaved mode: the caller asks for one timed step at a time, so both peers see the same load.
        print(json.dumps({"ready": True, "torch": torch.__version__}), flush=True)
        for line in sys.stdin:
            if line.strip() != "step":
                break
            t0 = time.perf_counter()
            loss = step()
            print(json.dumps({"step_ms": (time.perf_counter() - t0) * 1e3, "loss": loss}), flush=True)
        return
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    dt = (time.perf_counter() - t0) / steps
    print(json.dumps({"torch": torch.__version__, "threads": threads, "step_ms": dt * 1e3,
                      "tokens_per_s": batch / dt, "loss": loss}))


if __name__ == "__main__":
    main()

"""A PyTorch port of Resect's synthetic GBA study (workers/sae/graph.ts step, bias.ts rule, synthetic.ts generator and
metrics), used to sweep settings of the imbalanced toy on a lent GPU faster than the 2-core machine allows
(docs/sae.md, "What the sweep showed"). Not the implementation: Resect's figures come from
`resect experiment gba-synthetic`. Usage: python3 gba_synthetic_sweep.py CONFIGS.jsonl PART PARTS OUT.jsonl, one JSON
config per line (n, d, sparsity, method gba|ba|topk, M, steps, lr, htf, ltf, K, p, k, T, gm, gp, per_token, binary);
DEV=cpu runs it without a GPU.
"""
import json, math, sys, time, itertools, os
import torch
dev = os.environ.get('DEV', 'cuda')

def planted(n, d, seed):
    g = torch.Generator(device='cpu').manual_seed(seed)
    V = torch.randn(n, d, generator=g)
    return (V / V.norm(dim=1, keepdim=True)).to(dev)

def batch(V, L, sparsity, per_token, g, binary=False):
    n, d = V.shape
    s = torch.tensor(sparsity, device=dev)[torch.randint(len(sparsity), (L,), device=dev, generator=g)]
    r = torch.rand(L, n, device=dev, generator=g)
    ranks = r.argsort(dim=1).argsort(dim=1)
    mask = ranks < s[:, None]
    h = mask.float() if binary else (0.5 + torch.rand(L, n, device=dev, generator=g)) * mask
    x = h @ V
    if per_token: x = x / s[:, None].float().sqrt()
    return x

def run(cfg):
    torch.manual_seed(cfg.get('seed', 0))
    n, d = cfg['n'], cfg['d']; sp = cfg['sparsity']; L = 512; M = cfg['M']; steps = cfg['steps']
    V = planted(n, d, 1)
    g = torch.Generator(device=dev).manual_seed(7)
    per_token = cfg.get('per_token', True)
    sample = batch(V, 16384, sp, per_token, g, cfg.get('binary', False))
    scale = 1.0 / sample.norm(dim=1).mean()
    mean = (sample * scale).mean(0)
    method = cfg['method']
    W = torch.randn(M, d, device=dev); W = W / W.norm(dim=1, keepdim=True)
    if method in ('gba', 'ba'):
        if method == 'ba': targets = torch.tensor([cfg['p']], device=dev); K = 1
        else:
            K = cfg.get('K', 10); htf, ltf = cfg['htf'], cfg['ltf']
            targets = torch.tensor([htf * (ltf / htf) ** (k / (K - 1)) for k in range(K)], device=dev)
        group = (torch.arange(M, device=dev) * K) // M
        W = W.requires_grad_(); a = torch.ones(M, device=dev, requires_grad=True); bpre = mean.clone().requires_grad_()
        params = [W, a, bpre]
        b = torch.zeros(M, device=dev)
        cnt = torch.zeros(M, device=dev); peak = torch.full((M,), -float('inf'), device=dev); nwin = 0
    else:
        Wenc = W.clone().requires_grad_(); Wdec = W.clone().requires_grad_(); benc = torch.zeros(M, device=dev, requires_grad=True); bdec = mean.clone().requires_grad_()
        params = [Wenc, Wdec, benc, bdec]; k = cfg['k']; since = torch.zeros(M, device=dev); kaux = d // 2
    opt = torch.optim.Adam(params, lr=cfg.get('lr', 1e-3))
    T = cfg.get('T', 10); gm = cfg.get('gm', 0.01); gp = cfg.get('gp', 0.01)
    for step in range(1, steps + 1):
        x = batch(V, L, sp, per_token, g, cfg.get('binary', False)) * scale
        opt.zero_grad()
        if method in ('gba', 'ba'):
            z = x @ W.t() - bpre @ W.t(); y = z + b; G = y > 0
            phi = torch.where(G, z, 0.0) if cfg.get('gate', 'jumprelu') == 'jumprelu' else torch.where(G, y, 0.0)
            xh = (phi * a) @ W + bpre
            loss = 0.5 * (xh - x).pow(2).sum() / L
            loss.backward(); opt.step()
            with torch.no_grad():
                W.div_(W.norm(dim=1, keepdim=True))
                cnt += G.sum(0); peak = torch.maximum(peak, y.max(0).values); nwin += L
                if step % T == 0:
                    p = cnt / nwin; tg = targets[group]
                    pos = peak > 0
                    sums = torch.zeros(K, device=dev).index_add_(0, group, torch.where(pos, peak, 0.0)); ns = torch.zeros(K, device=dev).index_add_(0, group, pos.float())
                    gmean = (torch.where(pos, peak, 0.0).sum() / pos.sum().clamp_min(1))
                    base = torch.where(ns > 0, sums / ns.clamp_min(1), gmean)[group]
                    over = p > tg; deadm = p < 1e-6
                    b = torch.where(over, (b - gm * peak).clamp_min(-1), torch.where(deadm, (b + gp * base).clamp_max(0), b))
                    cnt.zero_(); peak.fill_(-float('inf')); nwin = 0
        else:
            pre = x @ Wenc.t() - bdec @ Wenc.t() + benc
            v, i = pre.topk(k, dim=1)
            f = torch.zeros_like(pre).scatter(1, i, v.relu())
            xh = f @ Wdec + bdec
            loss = 0.5 * (xh - x).pow(2).sum() / L
            deadm = since >= cfg.get('deadTokens', 100000)
            if deadm.any():
                av, ai = torch.where(deadm, pre, -1e9).topk(kaux, dim=1)
                fa = torch.zeros_like(pre).scatter(1, ai, av.relu())
                e = (x - xh).detach()
                loss = loss + 0.5 / L / 32 * min(deadm.sum().item() / kaux, 1) * (fa @ Wdec - e).pow(2).sum()
            loss.backward(); opt.step()
            with torch.no_grad():
                Wdec.div_(Wdec.norm(dim=1, keepdim=True))
                fired = (f > 0).sum(0)
                since = torch.where(fired > 0, torch.zeros_like(since), since + L)
    # eval
    with torch.no_grad():
        xe = batch(V, 8192, sp, per_token, torch.Generator(device=dev).manual_seed(99), cfg.get('binary', False)) * scale
        if method in ('gba', 'ba'):
            z = xe @ W.t() - bpre @ W.t(); G = (z + b) > 0
            phi = torch.where(G, z, 0.0); xh = (phi * a) @ W + bpre; D = W; act = G
        else:
            pre = xe @ Wenc.t() - bdec @ Wenc.t() + benc; v, i = pre.topk(k, dim=1)
            f = torch.zeros_like(pre).scatter(1, i, v.relu()); xh = f @ Wdec + bdec; D = Wdec; act = f > 0
        alive = act.any(0)
        fve = 1 - (xh - xe).pow(2).sum() / (xe - xe.mean(0)).pow(2).sum()
        Dn = D / D.norm(dim=1, keepdim=True)
        cos = V @ Dn[alive].t()
        mcs = cos.max(1).values
        return dict(frr8=(mcs > 0.8).float().mean().item(), frr9=(mcs > 0.9).float().mean().item(), mcs=mcs.mean().item(),
                    l0=act.float().sum(1).mean().item(), fve=fve.item(), dead=1 - alive.float().mean().item())

if __name__ == '__main__':
    cfgs = [json.loads(l) for l in open(sys.argv[1])]
    part, parts = int(sys.argv[2]), int(sys.argv[3])
    out = open(sys.argv[4], 'w')
    for j, c in enumerate(cfgs):
        if j % parts != part: continue
        t = time.time()
        try: r = run(c)
        except Exception as e: r = dict(error=str(e))
        r['s'] = round(time.time() - t, 1)
        out.write(json.dumps(dict(cfg=c, res=r)) + '\n'); out.flush()

import { describe, expect, it } from 'vitest';
import {
  Graph, Trainer, adamw, buildTrainStep, nn, normal, op, sgd, warmupCosine, type Tensor,
} from '../../workers/engine';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void => {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!), `index ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(tol * (1 + Math.abs(b[i]!)));
};

/** loss = mean((x·w - y)²) with w [2,1], x [n,2], y [n,1]. */
function tinyRegression(): { g: Graph; loss: Tensor; w: Tensor } {
  const g = new Graph('tiny');
  const x = g.input('x', 'float32', ['n', 2]);
  const y = g.input('y', 'float32', ['n', 1]);
  const w = g.param('w', 'float32', [2, 1], Float32Array.from([0.5, -0.5]));
  const b = g.param('b', 'float32', [1], Float32Array.from([0.1]));
  return { g, loss: nn.mseLoss(op.add(op.matMul(x, w), b), y), w };
}
const X = Float32Array.from([1, 2, 3, -1, 0.5, 0.5, -2, 1]);
const Y = Float32Array.from([1, 0, 2, -1]);
const batch = { x: { data: X, dims: [4, 2] }, y: { data: Y, dims: [4, 1] } };

/** Reference gradient of the tiny regression, in plain JS. */
function refGrad(w: number[], b: number, xs = X, ys = Y): { gw: number[]; gb: number } {
  const n = ys.length;
  const gw: [number, number] = [0, 0];
  let gb = 0;
  for (let i = 0; i < n; i++) {
    const r = xs[2 * i]! * w[0]! + xs[2 * i + 1]! * w[1]! + b - ys[i]!;
    gw[0] += (2 * r * xs[2 * i]!) / n;
    gw[1] += (2 * r * xs[2 * i + 1]!) / n;
    gb += (2 * r) / n;
  }
  return { gw, gb };
}

describe('optimizers', () => {
  it('AdamW matches the reference update over three steps (bias correction, decoupled decay on matrices only)', async () => {
    const { loss } = tinyRegression();
    const tr = await Trainer.create(buildTrainStep({ loss, optimizer: adamw({ weightDecay: 0.1 }) }), { provider: 'cpu' });
    let w = [0.5, -0.5];
    let b = 0.1;
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const lr = 0.05;
    for (let t = 1; t <= 3; t++) {
      await tr.step(batch, lr);
      const { gw, gb } = refGrad(w, b);
      const gs = [...gw, gb];
      const ps = [...w, b];
      for (let k = 0; k < 3; k++) {
        m[k] = 0.9 * m[k]! + 0.1 * gs[k]!;
        v[k] = 0.999 * v[k]! + 0.001 * gs[k]! ** 2;
        const decay = k < 2 ? 1 - lr * 0.1 : 1;
        ps[k] = ps[k]! * decay - (lr / (1 - 0.9 ** t)) * (m[k]! / (Math.sqrt(v[k]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
      }
      w = ps.slice(0, 2);
      b = ps[2]!;
    }
    close(tr.params().w!.data as Float32Array, w, 1e-5);
    close(tr.params().b!.data as Float32Array, [b], 1e-5);
    expect(tr.stats.steps).toBe(3);
    // The step-time accounting the trainer and bench report: a step's time is ONNX Runtime's plus the host's, and
    // the totals add up the steps (the values themselves are machine-dependent).
    const st = tr.stats;
    expect(st.lastStepMs).toBeGreaterThan(0);
    expect(st.lastOrtMs).toBeGreaterThan(0);
    expect(st.lastOrtMs + st.lastHostMs).toBeCloseTo(st.lastStepMs, 9);
    expect(st.totalStepMs).toBeGreaterThanOrEqual(st.lastStepMs);
    expect(st.totalHostMs).toBeLessThanOrEqual(st.totalStepMs);
  });

  it('SGD with momentum matches the reference update', async () => {
    const { loss } = tinyRegression();
    const tr = await Trainer.create(buildTrainStep({ loss, optimizer: sgd({ momentum: 0.9 }) }), { provider: 'cpu' });
    let w = [0.5, -0.5];
    let b = 0.1;
    const buf = [0, 0, 0];
    for (let t = 0; t < 3; t++) {
      await tr.step(batch, 0.1);
      const { gw, gb } = refGrad(w, b);
      const gs = [...gw, gb];
      const ps = [...w, b];
      for (let k = 0; k < 3; k++) {
        buf[k] = 0.9 * buf[k]! + gs[k]!;
        ps[k] = ps[k]! - 0.1 * buf[k]!;
      }
      w = ps.slice(0, 2);
      b = ps[2]!;
    }
    close(tr.params().w!.data as Float32Array, w, 1e-5);
  });

  it('clips the global gradient norm and reports it', async () => {
    const { loss } = tinyRegression();
    const tr = await Trainer.create(buildTrainStep({ loss, optimizer: sgd({ momentum: 0 }), clipNorm: 0.01 }), { provider: 'cpu' });
    const r = await tr.step(batch, 1);
    const { gw, gb } = refGrad([0.5, -0.5], 0.1);
    const norm = Math.hypot(gw[0]!, gw[1]!, gb);
    expect(r.gradNorm).toBeCloseTo(norm, 4);
    const s = 0.01 / (norm + 1e-6);
    close(tr.params().w!.data as Float32Array, [0.5 - gw[0]! * s, -0.5 - gw[1]! * s], 1e-5);
  });

  it('accumulating two half batches equals one full batch', async () => {
    const full = tinyRegression();
    const t1 = await Trainer.create(buildTrainStep({ loss: full.loss, optimizer: adamw() }), { provider: 'cpu' });
    const half = tinyRegression();
    const t2 = await Trainer.create(buildTrainStep({ loss: half.loss, optimizer: adamw(), accumulate: 2 }), { provider: 'cpu' });
    const part = (i: number) => ({ x: { data: X.slice(4 * i, 4 * i + 4), dims: [2, 2] }, y: { data: Y.slice(2 * i, 2 * i + 2), dims: [2, 1] } });
    for (let s = 0; s < 2; s++) {
      const a = await t1.step(batch, 0.01);
      const b = await t2.step([part(0), part(1)], 0.01);
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect(b.gradNorm).toBeCloseTo(a.gradNorm, 5);
    }
    close(t2.params().w!.data as Float32Array, Array.from(t1.params().w!.data as Float32Array), 1e-6);
  });

  it('warmup + cosine schedule', () => {
    const s = warmupCosine({ peak: 1, warmup: 10, total: 110, min: 0.1 });
    expect(s(5)).toBeCloseTo(0.5);
    expect(s(10)).toBeCloseTo(1);
    expect(s(60)).toBeCloseTo(0.55);
    expect(s(110)).toBeCloseTo(0.1);
    expect(s(500)).toBeCloseTo(0.1);
  });
});

describe('models train to a lower loss on CPU', () => {
  it('a 2-layer MLP (Gemm, GELU, cross-entropy)', async () => {
    const g = new Graph('mlp');
    const x = g.input('x', 'float32', ['batch', 8]);
    const y = g.input('y', 'int64', ['batch']);
    const w1 = g.param('w1', 'float32', [8, 32], normal(8 * 32, 0.3, 1));
    const b1 = g.param('b1', 'float32', [32], new Float32Array(32));
    const w2 = g.param('w2', 'float32', [32, 4], normal(32 * 4, 0.2, 2));
    const logits = nn.linear(nn.gelu(nn.linear(x, w1, b1)), w2);
    const loss = nn.softmaxCrossEntropy(logits, y);
    const acc = op.reduceMean(op.cast(op.equal(op.argMax(logits, -1), y), 'float32'));
    const tr = await Trainer.create(buildTrainStep({ loss, optimizer: adamw(), clipNorm: 1, metrics: { acc } }), { provider: 'cpu', intraOpThreads: 1 });
    // Labels: the quadrant of (x0, x1).
    const xs = normal(64 * 8, 1, 3);
    const ys = BigInt64Array.from({ length: 64 }, (_, i) => BigInt((xs[8 * i]! > 0 ? 1 : 0) + (xs[8 * i + 1]! > 0 ? 2 : 0)));
    const b = { x: { data: xs, dims: [64, 8] }, y: { data: ys, dims: [64] } };
    const first = await tr.step(b, 0.01);
    let last = first;
    for (let i = 0; i < 60; i++) last = await tr.step(b, 0.01);
    expect(last.loss).toBeLessThan(first.loss * 0.5);
    expect(last.metrics.acc).toBeGreaterThan(0.8);
  });

  it('a transformer block (causal attention via Trilu/Where, RMSNorm, softmax)', async () => {
    const V = 11, D = 16, H = 2, T = 6, B = 4, F = 32;
    const g = new Graph('block');
    const ids = g.input('ids', 'int64', ['batch', 'time']);
    const tgt = g.input('targets', 'int64', ['batch', 'time']);
    const p = (name: string, shape: number[], std: number, seed: number): Tensor =>
      g.param(name, 'float32', shape, normal(shape.reduce((a, c) => a * c, 1), std, seed));
    const emb = p('emb', [V, D], 0.5, 1);
    const pos = p('pos', [T, D], 0.1, 2);
    const wq = p('wq', [D, D], 0.25, 3), wk = p('wk', [D, D], 0.25, 4), wv = p('wv', [D, D], 0.25, 5), wo = p('wo', [D, D], 0.25, 6);
    const w1 = p('w1', [D, F], 0.25, 7), w2 = p('w2', [F, D], 0.18, 8), wout = p('wout', [D, V], 0.25, 9);
    const n1 = g.param('n1', 'float32', [D], new Float32Array(D).fill(1));
    const n2 = g.param('n2', 'float32', [D], new Float32Array(D).fill(1));
    let h = op.add(op.gather(emb, ids), pos);
    const heads = (t: Tensor) => op.transpose(op.reshape(t, [0, 0, H, D / H]), [0, 2, 1, 3]);
    const a = nn.rmsNorm(h, n1);
    const att = nn.causalAttention(heads(nn.linear(a, wq)), heads(nn.linear(a, wk)), heads(nn.linear(a, wv)));
    h = op.add(h, nn.linear(op.reshape(op.transpose(att, [0, 2, 1, 3]), [0, 0, D]), wo));
    h = op.add(h, nn.linear(nn.gelu(nn.linear(nn.rmsNorm(h, n2), w1)), w2));
    const loss = nn.softmaxCrossEntropy(nn.linear(h, wout), tgt);
    const tr = await Trainer.create(buildTrainStep({ loss, optimizer: adamw({ weightDecay: 0.01 }), clipNorm: 1 }), { provider: 'cpu', intraOpThreads: 1 });
    // Next token = (token + 1) mod V: learnable only by attending to the current position.
    const seq = BigInt64Array.from({ length: B * T }, (_, i) => BigInt((i * 7 + Math.floor(i / T) * 3) % V));
    const next = seq.map((v) => (v + 1n) % BigInt(V));
    const b = { ids: { data: seq, dims: [B, T] }, targets: { data: next, dims: [B, T] } };
    const first = await tr.step(b, 3e-3);
    let last = first;
    for (let i = 0; i < 40; i++) last = await tr.step(b, 3e-3);
    expect(last.loss).toBeLessThan(first.loss * 0.7);
    expect(Number.isFinite(last.gradNorm)).toBe(true);
  });
});

// Engine benchmark: MatMul throughput, and a 2-layer MLP AdamW train step against PyTorch on the same shapes
// and thread count. Run with `npm run bench:engine`; the last line is `ratio_vs_torch: X` (Resect / PyTorch).
//
// The machine this runs on is often shared, so the peers run in alternating blocks of steps (Resect, PyTorch,
// Resect, PyTorch) and are compared by their median step times: both see the same background load.
import * as ort from 'onnxruntime-node';
import { Graph, Trainer, adamw, buildTrainStep, compile, nn, normal, op } from '../workers/engine';
import { TORCH_INSTALL as INSTALL, startPythonPeer } from './python-peer';

const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const D = 512;
const HIDDEN = 2048;
const BATCH = 4096;
const STEPS = Number(process.env.BENCH_STEPS ?? 4);
const ROUNDS = 2;
const WARMUP = 2;

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const fmt = (v: number, d = 1): string => v.toFixed(d);

async function matmulGflops(n: number): Promise<number> {
  const g = new Graph('matmul');
  g.output('c', op.matMul(g.input('a', 'float32', [n, n]), g.input('b', 'float32', [n, n])));
  const c = await compile(g, { provider: 'cpu', intraOpThreads: THREADS });
  const a = new ort.Tensor('float32', normal(n * n, 1, 1), [n, n]);
  const b = new ort.Tensor('float32', normal(n * n, 1, 2), [n, n]);
  const into = { c: new ort.Tensor('float32', new Float32Array(n * n), [n, n]) };
  for (let i = 0; i < 3; i++) await c.run({ a, b }, into);
  const times: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    await c.run({ a, b }, into);
    times.push((performance.now() - t0) / 1e3);
  }
  return (2 * n ** 3) / median(times) / 1e9;
}

async function resectTrainer(): Promise<{ step: () => Promise<number>; hostMs: () => number }> {
  const g = new Graph('mlp_bench');
  const x = g.input('x', 'float32', ['batch', D]);
  const y = g.input('y', 'float32', ['batch', D]);
  const w1 = g.param('w1', 'float32', [D, HIDDEN], normal(D * HIDDEN, 1 / Math.sqrt(D), 1));
  const b1 = g.param('b1', 'float32', [HIDDEN], new Float32Array(HIDDEN));
  const w2 = g.param('w2', 'float32', [HIDDEN, D], normal(HIDDEN * D, 1 / Math.sqrt(HIDDEN), 2));
  const b2 = g.param('b2', 'float32', [D], new Float32Array(D));
  const loss = nn.mseLoss(nn.linear(op.relu(nn.linear(x, w1, b1)), w2, b2), y);
  // torch.optim.AdamW decays every parameter, biases included: do the same.
  const tr = await Trainer.create(buildTrainStep({ loss, optimizer: adamw({ weightDecay: 0.01 }), decay: () => true }),
    { provider: 'cpu', intraOpThreads: THREADS, interOpThreads: 1 });
  const batch = {
    x: new ort.Tensor('float32', normal(BATCH * D, 1, 3), [BATCH, D]),
    y: new ort.Tensor('float32', normal(BATCH * D, 1, 4), [BATCH, D]),
  };
  for (let i = 0; i < WARMUP; i++) await tr.step(batch, 1e-3);
  return {
    step: async () => { await tr.step(batch, 1e-3); return tr.stats.lastStepMs; },
    hostMs: () => tr.stats.lastHostMs,
  };
}

interface TorchPeer { step: () => Promise<number>; version: string; close: () => void }

async function torchPeer(): Promise<TorchPeer | { error: string }> {
  const script = new URL('../../bench/engine_torch.py', import.meta.url).pathname;
  const peer = await startPythonPeer(script, [`d=${D}`, `hidden=${HIDDEN}`, `batch=${BATCH}`, `warmup=${WARMUP}`, `threads=${THREADS}`, 'serve=1']);
  if ('error' in peer) return peer;
  return {
    version: String(peer.hello.torch),
    step: async () => {
      const r = await peer.request('step');
      if (typeof r.step_ms !== 'number') throw new Error(`torch peer answered without step_ms: ${JSON.stringify(r)}`);
      return r.step_ms;
    },
    close: peer.close,
  };
}

console.log(`engine bench: onnxruntime-node ${ort.env.versions.common}, ${THREADS} threads, MLP d=${D} hidden=${HIDDEN} batch=${BATCH} (Linear-ReLU-Linear, MSE, AdamW), ${ROUNDS}×${STEPS} timed steps each in alternating blocks, medians`);
console.log(`matmul_1024_gflops: ${fmt(await matmulGflops(1024))}`);
console.log(`matmul_2048_gflops: ${fmt(await matmulGflops(2048))}`);
const mine = await resectTrainer();
const peer = await torchPeer();
const mineMs: number[] = [];
const hostMs: number[] = [];
const peerMs: number[] = [];
// Blocks of steps rather than single alternation: an idle peer's BLAS threads keep spinning for a while
// after its step and would steal the cores from the other.
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < STEPS; i++) {
    mineMs.push(await mine.step());
    hostMs.push(mine.hostMs());
  }
  if (!('error' in peer)) for (let i = 0; i < STEPS; i++) peerMs.push(await peer.step());
}
if (!('error' in peer)) peer.close();
const mineTps = BATCH / (median(mineMs) / 1e3);
console.log(`resect_mlp_step_ms: ${fmt(median(mineMs))}  (outside ORT: ${fmt(median(hostMs), 2)} ms)`);
console.log(`resect_mlp_tokens_per_s: ${fmt(mineTps, 0)}`);
if ('error' in peer) {
  console.log(`torch: unavailable (${peer.error}); install it with: ${INSTALL}`);
  console.log('ratio_vs_torch: n/a');
} else {
  const peerTps = BATCH / (median(peerMs) / 1e3);
  console.log(`torch_mlp_step_ms: ${fmt(median(peerMs))}  (torch ${peer.version})`);
  console.log(`torch_mlp_tokens_per_s: ${fmt(peerTps, 0)}`);
  console.log(`ratio_vs_torch: ${fmt(mineTps / peerTps, 2)}`);
}

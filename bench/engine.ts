// Engine benchmark: MatMul throughput, and a 2-layer MLP AdamW train step against PyTorch on the same shapes
// and thread count. Run with `npm run bench:engine`; the last line is `ratio_vs_torch: X` (Resect / PyTorch).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { Graph, Trainer, adamw, buildTrainStep, compile, nn, normal, op } from '../workers/engine';

const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const D = 512;
const HIDDEN = 2048;
const BATCH = 4096;
const STEPS = Number(process.env.BENCH_STEPS ?? 5);
const WARMUP = 2;

async function matmulGflops(n: number): Promise<number> {
  const g = new Graph('matmul');
  g.output('c', op.matMul(g.input('a', 'float32', [n, n]), g.input('b', 'float32', [n, n])));
  const c = await compile(g, { provider: 'cpu', intraOpThreads: THREADS });
  const a = new ort.Tensor('float32', normal(n * n, 1, 1), [n, n]);
  const b = new ort.Tensor('float32', normal(n * n, 1, 2), [n, n]);
  const into = { c: new ort.Tensor('float32', new Float32Array(n * n), [n, n]) };
  for (let i = 0; i < 3; i++) await c.run({ a, b }, into);
  const reps = 20;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await c.run({ a, b }, into);
  const s = (performance.now() - t0) / 1e3 / reps;
  return (2 * n ** 3) / s / 1e9;
}

async function resectMlp(): Promise<{ stepMs: number; tokensPerS: number; hostMs: number; loss: number }> {
  const g = new Graph('mlp_bench');
  const x = g.input('x', 'float32', ['batch', D]);
  const y = g.input('y', 'float32', ['batch', D]);
  // Same init scale as torch.nn.Linear (uniform ±1/sqrt(fan_in)); normal with that std is close enough for timing.
  const w1 = g.param('w1', 'float32', [D, HIDDEN], normal(D * HIDDEN, 1 / Math.sqrt(D), 1));
  const b1 = g.param('b1', 'float32', [HIDDEN], new Float32Array(HIDDEN));
  const w2 = g.param('w2', 'float32', [HIDDEN, D], normal(HIDDEN * D, 1 / Math.sqrt(HIDDEN), 2));
  const b2 = g.param('b2', 'float32', [D], new Float32Array(D));
  const loss = nn.mseLoss(nn.linear(op.relu(nn.linear(x, w1, b1)), w2, b2), y);
  const step = buildTrainStep({ loss, optimizer: adamw({ weightDecay: 0.01 }), decay: () => true });
  const tr = await Trainer.create(step, { provider: 'cpu', intraOpThreads: THREADS, interOpThreads: 1 });
  const batch = {
    x: new ort.Tensor('float32', normal(BATCH * D, 1, 3), [BATCH, D]),
    y: new ort.Tensor('float32', normal(BATCH * D, 1, 4), [BATCH, D]),
  };
  for (let i = 0; i < WARMUP; i++) await tr.step(batch, 1e-3);
  const host0 = tr.stats.totalHostMs;
  const t0 = performance.now();
  let r = { loss: 0 };
  for (let i = 0; i < STEPS; i++) r = await tr.step(batch, 1e-3);
  const stepMs = (performance.now() - t0) / STEPS;
  return { stepMs, tokensPerS: BATCH / (stepMs / 1e3), hostMs: (tr.stats.totalHostMs - host0) / STEPS, loss: r.loss };
}

function torchMlp(): { stepMs: number; tokensPerS: number; version: string } | { error: string } {
  const py = '/usr/bin/python3';
  const script = new URL('../../bench/engine_torch.py', import.meta.url).pathname;
  if (!existsSync(py)) return { error: `${py} not found` };
  const r = spawnSync(py, [script, `d=${D}`, `hidden=${HIDDEN}`, `batch=${BATCH}`, `steps=${STEPS}`, `warmup=${WARMUP}`, `threads=${THREADS}`], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const j = JSON.parse(line) as { error?: string; step_ms: number; tokens_per_s: number; torch: string };
    if (j.error) return { error: j.error };
    return { stepMs: j.step_ms, tokensPerS: j.tokens_per_s, version: j.torch };
  } catch {
    return { error: (r.stderr || line || `exit ${r.status}`).trim().split('\n').pop()! };
  }
}

const fmt = (v: number, d = 1): string => v.toFixed(d);
console.log(`engine bench: onnxruntime-node ${ort.env.versions.common}, ${THREADS} threads, MLP d=${D} hidden=${HIDDEN} batch=${BATCH}, AdamW, ${STEPS} timed steps`);
console.log(`matmul_1024_gflops: ${fmt(await matmulGflops(1024))}`);
console.log(`matmul_2048_gflops: ${fmt(await matmulGflops(2048))}`);
const mine = await resectMlp();
console.log(`resect_mlp_step_ms: ${fmt(mine.stepMs)}  (outside ORT: ${fmt(mine.hostMs, 2)} ms)`);
console.log(`resect_mlp_tokens_per_s: ${fmt(mine.tokensPerS, 0)}`);
const peer = torchMlp();
if ('error' in peer) {
  console.log(`torch: unavailable (${peer.error}); install it with: sudo apt-get install python3-torch libopenblas0-pthread`);
  console.log('ratio_vs_torch: n/a');
} else {
  console.log(`torch_mlp_step_ms: ${fmt(peer.stepMs)}  (torch ${peer.version})`);
  console.log(`torch_mlp_tokens_per_s: ${fmt(peer.tokensPerS, 0)}`);
  console.log(`ratio_vs_torch: ${fmt(mine.tokensPerS / peer.tokensPerS, 2)}`);
}

// GBA train-step benchmark: one full step (encode, JumpReLU gate, decode, loss, autodiff backward, Adam, unit-norm
// projection of W, and the bias rule's per-latent firing counts and peak pre-activations) at d 256, M 8192, 4096
// tokens, in Resect (workers/sae/graph.ts: one fused ONNX graph, ONNX Runtime CPU) and the same step in PyTorch
// (bench/sae_torch.py), in the same run. Run with `npm run bench:sae`; the last line is `ratio_vs_torch: X`
// (Resect tokens/s ÷ PyTorch tokens/s).
//
// Both peers start from the same weights, biases and batch (written here, read by the Python peer) and print their
// first-step loss; they run in alternating blocks of steps and are compared by median step time, so both see the
// same background load on a shared machine.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { mulberry32 } from '../workers/engine';
import { SaeStepRunner, buildSaeStep } from '../workers/sae/graph';
import { normalizeRows, parseSaeTrainConfig } from '../workers/sae/model';
import { TORCH_INSTALL as INSTALL, startPythonPeer } from './python-peer';

const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const STEPS = Number(process.env.BENCH_STEPS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WARMUP = 1;
const D = Number(process.env.BENCH_D ?? 256);
const M = Number(process.env.BENCH_M ?? 8192);
const L = Number(process.env.BENCH_TOKENS ?? 4096);
const LR = 1e-4;

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
const rand = mulberry32(1234);
const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());

// Shared state: unit rows W, a = 1, a small pre-bias, biases in [−0.3, 0] (a GBA run some way into training fires
// on a few percent of tokens; the step is dense either way), inputs of norm ≈ 1.
const W = Float32Array.from({ length: M * D }, gauss);
normalizeRows(W, D);
const a = new Float32Array(M).fill(1);
const bPre = Float32Array.from({ length: D }, () => 0.01 * gauss());
const bias = Float32Array.from({ length: M }, () => -0.3 * rand());
const x = Float32Array.from({ length: L * D }, () => gauss() / Math.sqrt(D));

const dir = mkdtempSync(path.join(tmpdir(), 'resect-bench-sae-'));
writeFileSync(path.join(dir, 'data.bin'), Buffer.concat([W, a, bPre, bias, x].map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))));
writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({ tokens: L, d: D, latents: M, lr: LR }));

async function resectPeer() {
  const c = parseSaeTrainConfig({ method: 'gba', latents: M, batchSize: L, lr: LR });
  const runner = await SaeStepRunner.create(buildSaeStep(c, D), new Map([['W', W], ['a', a], ['b_pre', bPre]]), { provider: 'cpu', intraOpThreads: THREADS, interOpThreads: 1 });
  let n = 0;
  const step = async (): Promise<{ ms: number; loss: number }> => {
    const r = await runner.step(x, { bias }, LR, ++n);
    return { ms: runner.lastStepMs, loss: r.loss };
  };
  const first = await step();
  for (let i = 1; i < WARMUP; i++) await step();
  return { step, firstLoss: first.loss };
}

async function torchPeer() {
  const script = new URL('../../bench/sae_torch.py', import.meta.url).pathname;
  const peer = await startPythonPeer(script, [`meta=${path.join(dir, 'meta.json')}`, `data=${path.join(dir, 'data.bin')}`, `threads=${THREADS}`, `warmup=${WARMUP}`]);
  if ('error' in peer) return peer;
  return {
    version: String(peer.hello.torch),
    firstLoss: Number(peer.hello.first_loss),
    step: async () => {
      const r = await peer.request('step');
      if (typeof r.step_ms !== 'number') throw new Error(`torch peer answered without step_ms: ${JSON.stringify(r)}`);
      return { ms: r.step_ms, loss: Number(r.loss) };
    },
    close: peer.close,
  };
}

console.log(`sae bench: onnxruntime-node ${ort.env.versions.common}, ${THREADS} threads; GBA step (tied W, JumpReLU gate, ½‖x̂ − x‖², backward, Adam, unit-norm rows, firing counts + peaks) at d ${D}, M ${M}, ${L} tokens; ${ROUNDS}×${STEPS} timed steps each in alternating blocks, medians`);
const mine = await resectPeer();
const peer = await torchPeer();
console.log(`first_step_loss: resect ${mine.firstLoss.toFixed(6)}${'error' in peer ? '' : `  torch ${peer.firstLoss.toFixed(6)}  |diff| ${Math.abs(mine.firstLoss - peer.firstLoss).toExponential(2)}`}`);
const mineMs: number[] = [];
const peerMs: number[] = [];
let lastMine = NaN;
let lastPeer = NaN;
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < STEPS; i++) {
      const r = await mine.step();
      mineMs.push(r.ms);
      lastMine = r.loss;
    }
    if (!('error' in peer)) {
      for (let i = 0; i < STEPS; i++) {
        const r = await peer.step();
        peerMs.push(r.ms);
        lastPeer = r.loss;
      }
    }
  }
} finally {
  if (!('error' in peer)) peer.close();
  rmSync(dir, { recursive: true, force: true });
}
const tps = (ms: number): number => L / (ms / 1e3);
console.log(`resect_sae_step_ms: ${median(mineMs).toFixed(1)}`);
console.log(`resect_sae_tokens_per_s: ${tps(median(mineMs)).toFixed(0)}`);
if ('error' in peer) {
  console.log(`torch: unavailable (${peer.error}); install it with: ${INSTALL}`);
  console.log('ratio_vs_torch: n/a');
} else {
  console.log(`torch_sae_step_ms: ${median(peerMs).toFixed(1)}  (torch ${peer.version})`);
  console.log(`torch_sae_tokens_per_s: ${tps(median(peerMs)).toFixed(0)}`);
  console.log(`loss_after_${WARMUP + ROUNDS * STEPS}_steps: resect ${lastMine.toFixed(6)}  torch ${lastPeer.toFixed(6)}`);
  console.log(`ratio_vs_torch: ${(median(peerMs) / median(mineMs)).toFixed(2)}`);
}

// Monet train-step benchmark: tokens/s of one full train step (train-mode forward with batch-statistics BN thresholds,
// cross-entropy + uniformity/ambiguity losses, backward, global-norm clipping, AdamW, BN running-stat update) in Resect
// (workers/models/monet/train-graph.ts on the engine's Trainer, ONNX Runtime CPU) and the same step written in PyTorch
// (bench/train_torch.py), on the small config: Monet-VD d 256, 4 layers, 4 attention heads, 4 routing heads × 64²
// experts (m 8, k 4, moe_groups 2), vocab 6144, batch 8 × 256. Run with `npm run bench:train`; the last line is
// `ratio_vs_torch: X` (Resect tokens/s ÷ PyTorch tokens/s).
//
// Both peers start from the same weights (written here, read by the Python peer) and the same batch, and print their
// first-step loss. They run in alternating blocks of steps (Resect, PyTorch, Resect, PyTorch) and are compared by
// median step time, so both see the same background load on a shared machine.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Trainer, adamw, buildTrainStep, type Feeds } from '../workers/engine';
import { parseMonetConfig, sigmaStar } from '../workers/models/monet/config';
import { buildMonetTrainGraph, decayParam, initMonetParams, initRunningStats, monetParamSpecs } from '../workers/models/monet/train-graph';
import { presets } from '../workers/training/presets';
import { TORCH_INSTALL as INSTALL, startPythonPeer } from './python-peer';

const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const STEPS = Number(process.env.BENCH_STEPS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const WARMUP = 2;
const B = 8;
const T = 256;
const LR = 1e-3;
const LAMBDA = 1e-3;
const AUX_EPS = 1e-6;
const MOMENTUM = 0.1;

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };

const raw = { ...presets.default!.config, vocab_size: 6144, max_position_embeddings: 512, moe_decompose: 'vertical' };
const config = parseMonetConfig(raw, 'bench').config;
const init = initMonetParams(config, 1234, 0.02, 1);
const running = initRunningStats(config);

// A fixed batch: B sequences of T + 1 pseudo-random ids (inputs = first T, labels = last T).
let seed = 42;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const tokens = Array.from({ length: B * (T + 1) }, () => 1 + Math.floor(rnd() * (config.vocab_size - 1)));
const inputIds = new BigInt64Array(B * T);
const labels = new BigInt64Array(B * T);
for (let b = 0; b < B; b++) {
  for (let t = 0; t < T; t++) {
    inputIds[b * T + t] = BigInt(tokens[b * (T + 1) + t]!);
    labels[b * T + t] = BigInt(tokens[b * (T + 1) + t + 1]!);
  }
}

// The shared starting state, for the Python peer.
const dir = mkdtempSync(path.join(tmpdir(), 'resect-bench-train-'));
const entries: { name: string; shape: number[]; offset: number }[] = [];
const runEntries: typeof entries = [];
const chunks: Buffer[] = [];
let offset = 0;
const put = (list: typeof entries, name: string, shape: number[], data: Float32Array) => {
  list.push({ name, shape, offset });
  chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  offset += data.byteLength;
};
for (const s of monetParamSpecs(config)) put(entries, s.name, s.shape, init.get(s.name)!);
for (const [k, v] of running) put(runEntries, k, [v.length], v);
writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(chunks));
writeFileSync(path.join(dir, 'meta.json'), JSON.stringify({
  config: raw, params: entries, running: runEntries, tokens, batch: B, seqLen: T, lr: LR, lambda: LAMBDA, auxEps: AUX_EPS, momentum: MOMENTUM,
  sigmaStar: sigmaStar(config.moe_topk, config.moe_experts),
}));

async function resectPeer() {
  const tg = buildMonetTrainGraph(config, { batch: B, seqLen: T, momentum: MOMENTUM, aux: { lambda: LAMBDA, eps: AUX_EPS }, init });
  const spec = buildTrainStep({
    loss: tg.loss, metrics: tg.metrics, optimizer: adamw({ beta1: 0.9, beta2: 0.95, weightDecay: 0.1 }), clipNorm: 1.0, decay: decayParam,
  });
  const tr = await Trainer.create(spec, { provider: 'cpu', intraOpThreads: THREADS, interOpThreads: 1 });
  const batch: Feeds = {
    input_ids: { data: inputIds, dims: [B, T] }, labels: { data: labels, dims: [B, T] }, valid: { data: new Float32Array(B * T).fill(1), dims: [B, T] },
  };
  const step = async (): Promise<{ ms: number; loss: number }> => {
    const feeds: Feeds = { ...batch };
    for (const [k, v] of running) feeds[k] = { data: v, dims: [v.length] };
    const r = await tr.step(feeds, LR);
    for (const s of tg.bnStats) {
      const v = running.get(s.input)!;
      s.outputs.forEach((name, h) => { v[h] = r.metrics[name]!; });
    }
    return { ms: tr.stats.lastStepMs, loss: r.loss };
  };
  const first = await step();
  for (let i = 1; i < WARMUP; i++) await step();
  return { step, firstLoss: first.loss, hostMs: () => tr.stats.lastHostMs };
}

interface TorchPeer { step: () => Promise<{ ms: number; loss: number }>; version: string; firstLoss: number; close: () => void }

async function torchPeer(): Promise<TorchPeer | { error: string }> {
  const script = new URL('../../bench/train_torch.py', import.meta.url).pathname;
  const peer = await startPythonPeer(script, [`meta=${path.join(dir, 'meta.json')}`, `weights=${path.join(dir, 'weights.bin')}`, `threads=${THREADS}`, `warmup=${WARMUP}`]);
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

const tokensPerStep = B * T;
console.log(`train bench: onnxruntime-node ${ort.env.versions.common}, ${THREADS} threads; Monet-VD d ${config.hidden_size}, ${config.num_hidden_layers} layers, ${config.num_attention_heads} attention heads, H ${config.moe_heads} × E ${config.moe_experts} (${config.moe_experts ** 2} experts/layer), m ${config.moe_dim}, k ${config.moe_topk}, G ${config.moe_groups}, vocab ${config.vocab_size}; batch ${B} × ${T}; full step (forward, CE + λ·aux, backward, clip, AdamW, BN stats); ${ROUNDS}×${STEPS} timed steps each in alternating blocks, medians`);
const mine = await resectPeer();
const peer = await torchPeer();
console.log(`first_step_loss: resect ${mine.firstLoss.toFixed(6)}${'error' in peer ? '' : `  torch ${peer.firstLoss.toFixed(6)}  |diff| ${Math.abs(mine.firstLoss - peer.firstLoss).toExponential(2)}`}`);
const mineMs: number[] = [];
const hostMs: number[] = [];
const peerMs: number[] = [];
let lastMine = NaN;
let lastPeer = NaN;
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < STEPS; i++) {
      const r = await mine.step();
      mineMs.push(r.ms);
      hostMs.push(mine.hostMs());
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
const mineTps = tokensPerStep / (median(mineMs) / 1e3);
console.log(`resect_train_step_ms: ${median(mineMs).toFixed(1)}  (outside ORT: ${median(hostMs).toFixed(2)} ms)`);
console.log(`resect_train_tokens_per_s: ${mineTps.toFixed(0)}`);
if ('error' in peer) {
  console.log(`torch: unavailable (${peer.error}); install it with: ${INSTALL}`);
  console.log('ratio_vs_torch: n/a');
} else {
  const peerTps = tokensPerStep / (median(peerMs) / 1e3);
  console.log(`torch_train_step_ms: ${median(peerMs).toFixed(1)}  (torch ${peer.version})`);
  console.log(`torch_train_tokens_per_s: ${peerTps.toFixed(0)}`);
  console.log(`loss_after_${WARMUP + ROUNDS * STEPS}_steps: resect ${lastMine.toFixed(4)}  torch ${lastPeer.toFixed(4)}`);
  console.log(`ratio_vs_torch: ${(mineTps / peerTps).toFixed(2)}`);
}

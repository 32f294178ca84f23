// A short, prepared check of the GPU execution providers on a machine that has a GPU. Not a test: it prints.
// For each provider this onnxruntime-node build lists (and CPU as the reference) it reports whether a session
// starts (and why not), MatMul GFLOP/s, Monet fixture parity (logits, gates, masked logits against the reference
// implementation's outputs) and one MLP train step's agreement with CPU and its time.
//
//   node dist/bench/gpu-check.mjs [--out FILE.json]
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  Graph, Trainer, adamw, availableProviders, buildTrainStep, compile, nn, normal, op, type Provider,
} from '../workers/engine';
import { openSafetensors } from '../workers/engine/safetensors';
import { openMonetCheckpoint } from '../workers/models/monet/checkpoint';
import { buildMonetForward, maskFeeds } from '../workers/models/monet/forward';

const root = process.cwd(); // run from the repository root
const outArg = process.argv.indexOf('--out');
const outFile = outArg > 0 ? process.argv[outArg + 1] : undefined;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return a.length === b.length ? m : Infinity;
}
function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; }
function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; out[i] = s / 2 ** 32 - 0.5; }
  return out;
}

interface Row { provider: string; started: string; matmul_gflops?: number; matmul_err?: number; monet?: Record<string, number>; train_loss_diff?: number; train_step_ms?: number; error?: string }

async function matmul(p: Provider, n: number, ref?: Float32Array): Promise<{ gflops: number; err: number; out: Float32Array; provider: string; messages: readonly string[] }> {
  const g = new Graph('matmul');
  const a = g.input('a', 'float32', [n, n]);
  const b = g.input('b', 'float32', [n, n]);
  g.output('c', op.matMul(a, b));
  const run = await compile(g, { provider: p });
  const feeds = { a: { data: rand(n * n, 1), dims: [n, n] }, b: { data: rand(n * n, 2), dims: [n, n] } };
  let out = (await run.run(feeds)).c!.data as Float32Array;
  const times: number[] = [];
  for (let i = 0; i < 10; i++) { const t = performance.now(); out = (await run.run(feeds)).c!.data as Float32Array; times.push(performance.now() - t); }
  return { gflops: (2 * n ** 3) / (median(times) / 1e3) / 1e9, err: ref ? maxAbs(out, ref) : 0, out, provider: run.provider, messages: run.messages };
}

async function monet(p: Provider, name: string): Promise<Record<string, number>> {
  const dir = path.join(root, 'test/fixtures', name);
  const ckpt = await openMonetCheckpoint(dir);
  const exp = await openSafetensors(path.join(dir, 'expected.safetensors'));
  const ids = (await exp.read('input_ids')) as BigInt64Array;
  const run = await compile(await buildMonetForward(ckpt, { masking: true }), { provider: p });
  const feeds = { input_ids: { data: ids, dims: exp.tensors.get('input_ids')!.shape } };
  const plain = await run.run({ ...feeds, ...maskFeeds(ckpt, new Map()) });
  const masks = JSON.parse(await readFile(path.join(dir, 'masks.json'), 'utf8')) as { layers: Record<string, number[]> };
  const masked = await run.run({ ...feeds, ...maskFeeds(ckpt, new Map(Object.entries(masks.layers).map(([l, v]) => [Number(l), v]))) });
  const r: Record<string, number> = {
    logits: maxAbs(plain.logits!.data as Float32Array, await exp.readAsFloat32('logits')),
    logits_masked: maxAbs(masked.logits!.data as Float32Array, await exp.readAsFloat32('logits_masked')),
  };
  let gates = 0;
  for (let k = 0; k < ckpt.dims.routerLayers.length; k++) for (const s of ['g1', 'g2']) {
    gates = Math.max(gates, maxAbs(plain[`router.${k}.${s}`]!.data as Float32Array, await exp.readAsFloat32(`router.${k}.${s}`)));
  }
  r.gates = gates;
  await exp.close();
  return r;
}

async function trainStep(p: Provider): Promise<{ loss: number; ms: number }> {
  const d = 512, h = 2048, n = 4096;
  const g = new Graph('mlp');
  const x = g.input('x', 'float32', ['n', d]);
  const y = g.input('y', 'float32', ['n', d]);
  const w1 = g.param('w1', 'float32', [d, h], normal(d * h, 0.02, 1));
  const w2 = g.param('w2', 'float32', [h, d], normal(h * d, 0.02, 2));
  const loss = nn.mseLoss(op.matMul(op.relu(op.matMul(x, w1)), w2), y);
  const tr = await Trainer.create(buildTrainStep({ loss, optimizer: adamw({}) }), { provider: p });
  const batch = { x: { data: rand(n * d, 3), dims: [n, d] }, y: { data: rand(n * d, 4), dims: [n, d] } };
  const first = await tr.step(batch, 1e-3);
  const times: number[] = [];
  for (let i = 0; i < 5; i++) { const t = performance.now(); await tr.step(batch, 1e-3); times.push(performance.now() - t); }
  return { loss: first.loss, ms: median(times) };
}

const rows: Row[] = [];
const listed = availableProviders();
console.log(`onnxruntime-node lists: ${listed.join(', ')}`);
const providers: Provider[] = ['cpu', ...(['webgpu', 'cuda'] as Provider[])];
const cpu = await matmul('cpu', 2048);
const cpuTrain = await trainStep('cpu');
for (const p of providers) {
  const row: Row = { provider: p, started: '' };
  try {
    const mm = p === 'cpu' ? cpu : await matmul(p, 2048, cpu.out);
    row.started = mm.provider === p ? 'yes' : `no (${mm.messages.join('; ')})`;
    if (mm.provider !== p) { rows.push(row); continue; }
    row.matmul_gflops = +mm.gflops.toFixed(1);
    row.matmul_err = mm.err;
    row.monet = { ...Object.fromEntries(Object.entries(await monet(p, 'monet-vd-tiny')).map(([k, v]) => [`vd_${k}`, v])),
      ...Object.fromEntries(Object.entries(await monet(p, 'monet-hd-tiny')).map(([k, v]) => [`hd_${k}`, v])) };
    const t = p === 'cpu' ? cpuTrain : await trainStep(p);
    row.train_loss_diff = Math.abs(t.loss - cpuTrain.loss);
    row.train_step_ms = +t.ms.toFixed(1);
  } catch (e) {
    row.error = (e as Error).message.split('\n')[0];
  }
  rows.push(row);
  console.log(JSON.stringify(row));
}
console.log('\nprovider | starts | MatMul 2048 GFLOP/s | max|Δ| vs cpu | Monet max|Δ| vs reference | MLP step ms (d512 h2048 b4096) | loss Δ vs cpu');
for (const r of rows) {
  const m = r.monet ? Math.max(...Object.values(r.monet)).toExponential(1) : '-';
  console.log(`${r.provider} | ${r.started}${r.error ? ` ERROR ${r.error}` : ''} | ${r.matmul_gflops ?? '-'} | ${r.matmul_err?.toExponential(1) ?? '-'} | ${m} | ${r.train_step_ms ?? '-'} | ${r.train_loss_diff?.toExponential(1) ?? '-'}`);
}
if (outFile) await writeFile(outFile, JSON.stringify({ listed, rows }, null, 2));

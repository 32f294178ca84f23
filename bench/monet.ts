/**
 * Forward throughput of Resect's layered Monet model (ONNX Runtime CPU) against the PyTorch reference forward
 * (bench/monet_torch.py: the stock decomposed math of spec §2.5/2.6, /usr/bin/python3, same thread count) on the same
 * random-weight F32 checkpoints and token ids:
 *   small: VD d 256, 4 layers, 4 attention heads, 4 routing heads × 64² experts, batch 8 × 256;
 *   850M:  monet-vd-850M-shaped: VD d 1536, 24 layers, 12 attention heads, 6 routing heads × 512² experts, m 12,
 *          G 4, vocab 32000 (~3.4 GB in F32, generated once, streamed, at /tmp/monet-vd-850m-f32), batch 1 × 512.
 * Each peer runs in its own process, one after the other (never both at once; each one's memory is gone before the
 * next starts): a first forward (its logits written out), then the best of `reps` timed forwards. The logits must
 * agree (max |Δ| ≤ 1e-3) for a timing to count. Prints per model `ratio_vs_torch[name]: X` (Resect tokens/s over
 * PyTorch's) and last `ratio_vs_torch: X`, their geometric mean.
 *
 *   node scripts/build.mjs && node dist/bench/monet.mjs [--models small,850M] [--threads 2] [--reps 5] [--reps-850m 2]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MonetModel } from '../workers/models/monet/model';
import { generateSynthetic } from './monet-synth';
import { PYTHON } from './python-peer';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const self = process.argv[1]!;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const gib = (b: number) => `${(b / 2 ** 30).toFixed(2)} GiB`;
const peakRss = () => Number(/\d+/.exec(readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmHWM')) ?? '0')![0]) * 1024;

const BASE = {
  architectures: ['MonetForCausalLM'], model_type: 'monet', hidden_act: 'relu2', moe_decompose: 'vertical',
  rms_norm_eps: 1e-6, rope_theta: 10000.0, rope_scaling: null, tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2,
  torch_dtype: 'float32',
};
interface BenchModel { name: string; dir: string; batch: number; time: number; reps: number; config: Record<string, unknown> }
const MODELS: BenchModel[] = [
  {
    name: 'small', dir: path.join(tmpdir(), 'resect-monet-small-f32'), batch: 8, time: 256, reps: Number(arg('reps', '5')),
    config: { ...BASE, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4, moe_experts: 64, moe_dim: 8, moe_heads: 4, moe_topk: 8, moe_groups: 2, vocab_size: 1000, max_position_embeddings: 512 },
  },
  {
    name: '850M', dir: '/tmp/monet-vd-850m-f32', batch: 1, time: 512, reps: Number(arg('reps-850m', '2')),
    config: { ...BASE, hidden_size: 1536, num_hidden_layers: 24, num_attention_heads: 12, num_key_value_heads: 12, moe_experts: 512, moe_dim: 12, moe_heads: 6, moe_topk: 8, moe_groups: 4, vocab_size: 32000, max_position_embeddings: 2048 },
  },
];
const idsOf = (n: number, vocab: number) => BigInt64Array.from({ length: n }, (_, r) => BigInt((r * 7919 + 1) % vocab));

/** Child process: Resect's side for one model (load, first forward → logits file, best of reps). */
async function resectPeer(m: BenchModel, threads: number, out: string): Promise<void> {
  const t0 = performance.now();
  const model = await MonetModel.load(m.dir, { provider: 'cpu', intraOpThreads: threads });
  const loadS = (performance.now() - t0) / 1000;
  const req = { ids: idsOf(m.batch * m.time, m.config.vocab_size as number), batch: m.batch, time: m.time };
  const t1 = performance.now();
  const first = await model.forward(req);
  const firstMs = performance.now() - t1;
  await writeFile(out, new Uint8Array(first.logits!.buffer, first.logits!.byteOffset, first.logits!.byteLength));
  first.logits = undefined;
  let best = Infinity;
  for (let r = 0; r < m.reps; r++) {
    const t = performance.now();
    await model.forward(req);
    best = Math.min(best, performance.now() - t);
  }
  if (!Number.isFinite(best)) best = firstMs;
  await model.dispose();
  console.log(JSON.stringify({ tokens_per_s: (m.batch * m.time / best) * 1000, ms: best, first_ms: firstMs, load_s: loadS, peak_rss: gib(peakRss()) }));
}

function lastJson(stdout: string, stderr: string): Record<string, number | string> {
  const line = stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(line) as Record<string, number | string>; } catch { return { error: (stderr.trim().split('\n').pop() ?? '') || 'no output' }; }
}

async function ensureGenerated(m: BenchModel): Promise<void> {
  const cfgFile = path.join(m.dir, 'config.json');
  const same = existsSync(path.join(m.dir, 'model.safetensors')) && existsSync(cfgFile) && readFileSync(cfgFile, 'utf8') === JSON.stringify(m.config, null, 2);
  if (same) return;
  await rm(m.dir, { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [self, '--generate', m.name], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${m.name}: generating the checkpoint failed`);
  console.log(`${m.name}: generated ${m.dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function measure(m: BenchModel, threads: number): Promise<number | null> {
  await ensureGenerated(m);
  const ours = path.join(tmpdir(), `resect-monet-bench-${process.pid}-resect.f32`);
  const theirs = path.join(tmpdir(), `resect-monet-bench-${process.pid}-torch.f32`);
  try {
    const r = spawnSync(process.execPath, [self, '--peer', m.name, '--threads', String(threads), '--out', ours], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const res = lastJson(r.stdout, r.stderr);
    if (r.status !== 0 || res.error) throw new Error(`${m.name}: Resect failed: ${res.error ?? r.stderr}`);
    const py = spawnSync(PYTHON, [path.join(root, 'bench', 'monet_torch.py'), `dir=${m.dir}`, `batch=${m.batch}`, `tokens=${m.time}`, `reps=${m.reps}`, `threads=${threads}`, `out=${theirs}`], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const tor = py.error ? { error: py.error.message } : lastJson(py.stdout, py.stderr);
    const tag = `${m.name}: ${m.batch}×${m.time} tokens; Resect ${Number(res.tokens_per_s).toFixed(0)} tokens/s (${Number(res.ms).toFixed(1)} ms, first ${Number(res.first_ms).toFixed(0)} ms, load ${Number(res.load_s).toFixed(1)} s, peak RSS ${res.peak_rss})`;
    if (tor.error || typeof tor.tokens_per_s !== 'number') {
      console.log(`${tag}; PyTorch n/a (${tor.error ?? 'no timing'}; sudo apt-get install python3-torch libopenblas0-pthread)`);
      console.log(`ratio_vs_torch[${m.name}]: n/a`);
      return null;
    }
    const a = new Float32Array((await readFile(ours)).buffer.slice(0));
    const b = new Float32Array((await readFile(theirs)).buffer.slice(0));
    if (a.length !== b.length) throw new Error(`${m.name}: logits sizes differ (${a.length} vs ${b.length})`);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    console.log(`${tag}; PyTorch ${tor.tokens_per_s.toFixed(0)} tokens/s (${Number(tor.ms).toFixed(1)} ms, load ${Number(tor.load_s).toFixed(1)} s); max |Δ logits| ${diff.toExponential(1)}`);
    if (!(diff <= 1e-3)) throw new Error(`${m.name}: logits differ from PyTorch's by ${diff} (> 1e-3): the timing does not count`);
    const ratio = Number(res.tokens_per_s) / tor.tokens_per_s;
    console.log(`ratio_vs_torch[${m.name}]: ${ratio.toFixed(2)}`);
    return ratio;
  } finally {
    await rm(ours, { force: true });
    await rm(theirs, { force: true });
  }
}

const mode = process.argv[2];
const byName = (n: string) => {
  const m = MODELS.find((x) => x.name === n);
  if (!m) throw new Error(`unknown model ${n} (expected ${MODELS.map((x) => x.name).join(', ')})`);
  return m;
};
if (mode === '--generate') {
  const m = byName(process.argv[3]!);
  await generateSynthetic(m.dir, m.config, { dtype: 'F32', seed: 12345 });
} else if (mode === '--peer') {
  await resectPeer(byName(process.argv[3]!), Number(arg('threads', '2')), arg('out', ''));
} else {
  const threads = Number(arg('threads', '2'));
  const names = arg('models', MODELS.map((m) => m.name).join(',')).split(',');
  const ratios: number[] = [];
  for (const n of names) {
    const r = await measure(byName(n), threads);
    if (r !== null) ratios.push(r);
  }
  const geo = ratios.length === names.length ? Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length).toFixed(2) : 'n/a';
  console.log(`ratio_vs_torch: ${geo}`);
}

/**
 * Forward throughput of the layered Monet model (ONNX Runtime CPU) against a PyTorch reference forward
 * (bench/monet_torch.py, /usr/bin/python3, same thread count) on the fixture and on a synthetic mid-sized model
 * (d 256, 4 layers, E 64). Both sides run the same checkpoint and token ids; the logits must agree (≤ 1e-3) for the
 * timing to count. Last line: `ratio_vs_torch: X` (our tokens/s over torch's, geometric mean over the models).
 *
 *   node bench/monet-run.mjs bench/monet.ts [--tokens 128] [--threads 2] [--reps 5]
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeSafetensors, type TensorToWrite } from '../workers/engine/safetensors';
import { expectedTensors } from '../workers/models/monet/checkpoint';
import { parseMonetConfig } from '../workers/models/monet/config';
import { MonetModel } from '../workers/models/monet/model';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const TOKENS = Number(arg('tokens', '128'));
const THREADS = Number(arg('threads', '2'));
const REPS = Number(arg('reps', '5'));
const root = path.resolve(path.dirname(process.env.RESECT_BENCH_BUNDLE ?? '.'), '..', '..');

async function synthetic(dir: string, cfg: Record<string, unknown>): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(cfg));
  const { config, dims } = parseMonetConfig(cfg);
  let seed = 99;
  const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 2 * Math.sqrt(3);
  const tensors: TensorToWrite[] = expectedTensors(config, dims).filter((s) => !s.optional).map((s) => ({
    name: s.name, dtype: 'F32', shape: s.shape,
    data: () => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const f = new Float32Array(n);
      if (s.name.endsWith('running_var') || s.name.endsWith('norm.weight') || s.name.endsWith('layernorm.weight')) f.fill(1);
      else if (!s.name.endsWith('running_mean')) {
        const scale = s.name.includes('moe.b') || s.name.endsWith('.bias') ? 0.01 : 1 / Math.sqrt(s.shape[s.shape.length - 1]!);
        for (let i = 0; i < n; i++) f[i] = rnd() * scale;
      }
      return f;
    },
  }));
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}

async function measure(label: string, dir: string): Promise<number> {
  const cfg = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8')) as { vocab_size: number; max_position_embeddings?: number };
  const T = Math.min(TOKENS, cfg.max_position_embeddings ?? 2048);
  const model = await MonetModel.load(dir, { provider: 'cpu', intraOpThreads: THREADS });
  const ids = Array.from({ length: T }, (_, i) => (i * 7919 + 1) % cfg.vocab_size);
  const first = await model.forward({ ids, batch: 1, time: T });
  let best = Infinity;
  for (let r = 0; r < REPS; r++) {
    const t0 = performance.now();
    await model.forward({ ids, batch: 1, time: T });
    best = Math.min(best, performance.now() - t0);
  }
  await model.dispose();
  const ours = (T / best) * 1000;
  const out = path.join(tmpdir(), `resect-monet-bench-${process.pid}.f32`);
  const py = spawnSync('/usr/bin/python3', [path.join(root, 'bench', 'monet_torch.py'), `dir=${dir}`, `tokens=${T}`, `reps=${REPS}`, `threads=${THREADS}`, `out=${out}`], { encoding: 'utf8' });
  const line = py.stdout.trim().split('\n').pop() ?? '';
  let torch: { tokens_per_s?: number; error?: string } = {};
  try { torch = JSON.parse(line); } catch { torch = { error: py.stderr.trim().split('\n').pop() ?? 'no output' }; }
  let diff = NaN;
  if (torch.tokens_per_s) {
    const ref = new Float32Array((await readFile(out)).buffer.slice(0));
    diff = 0;
    for (let i = 0; i < ref.length; i++) diff = Math.max(diff, Math.abs(ref[i]! - first.logits![i]!));
    await rm(out, { force: true });
  }
  console.log(`${label}: ${T} tokens, ours ${ours.toFixed(0)} tokens/s (${best.toFixed(1)} ms), torch ${torch.tokens_per_s?.toFixed(0) ?? torch.error} tokens/s, max |Δ logits| ${diff.toExponential(1)}`);
  if (!(diff <= 1e-3)) throw new Error(`${label}: logits differ from torch by ${diff}`);
  return ours / torch.tokens_per_s!;
}

const mid = path.join(tmpdir(), 'resect-monet-mid');
await synthetic(mid, {
  model_type: 'monet', hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 4,
  moe_decompose: 'vertical', moe_experts: 64, moe_dim: 8, moe_heads: 4, moe_topk: 8, moe_groups: 2, vocab_size: 1000,
  max_position_embeddings: 512,
});
const ratios = [
  await measure('monet-vd-tiny (fixture)', path.join(root, 'test', 'fixtures', 'monet-vd-tiny')),
  await measure('monet-hd-tiny (fixture)', path.join(root, 'test', 'fixtures', 'monet-hd-tiny')),
  await measure('synthetic VD d256 L4 E64', mid),
];
await rm(mid, { recursive: true, force: true });
console.log(`ratio_vs_torch: ${Math.exp(ratios.reduce((a, r) => a + Math.log(r), 0) / ratios.length).toFixed(2)}`);

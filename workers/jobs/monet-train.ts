/**
 * `monet.train`: train a Monet model from scratch (workers/training). Progress is in optimizer steps (the backend
 * derives rate and ETA); each logged step and each validation goes to the job log; the curves are in
 * `<out>/metrics.jsonl` (one JSON record per line: `step`, `eval`, `checkpoint`, `start`/`resume`, `end`), which a
 * UI can poll or tail. Cancelling saves a checkpoint first; `resume: true` continues it bit for bit.
 */
import path from 'node:path';
import { z } from 'zod';
import { defineJob } from './types';

/** Model size for a custom run (preset's config otherwise); vocab_size always follows the tokenizer. */
export const TrainModelSize = z.object({
  hidden_size: z.number().int().positive(),
  num_hidden_layers: z.number().int().positive(),
  num_attention_heads: z.number().int().positive(),
  moe_heads: z.number().int().positive(),
  moe_experts: z.number().int().positive(),
  moe_dim: z.number().int().positive(),
  moe_topk: z.number().int().positive(),
  moe_groups: z.number().int().positive(),
  moe_decompose: z.enum(['vertical', 'horizontal']).optional(),
}).refine((m) => m.hidden_size % m.num_attention_heads === 0, { message: 'hidden_size must be a multiple of num_attention_heads' })
  .refine((m) => m.moe_topk <= m.moe_experts, { message: 'moe_topk must be at most moe_experts' })
  .refine((m) => m.num_hidden_layers % m.moe_groups === 0, { message: 'num_hidden_layers must be a multiple of moe_groups' });

const Params = z.object({
  /** Corpus files (.jsonl / .txt, optionally .gz) on the backend's machine. */
  data: z.array(z.string()).default([]),
  /** Workspace datasets (ids): exported to `<out>/data/dataset-<id>.jsonl` when the job starts. */
  datasets: z.array(z.number().int().positive()).default([]),
  heldout: z.array(z.string()).optional(),
  /** Output folder (default: `<workspace>/jobs/<id>/train`). */
  out: z.string().optional(),
  preset: z.string().default('default'),
  /** A config.json replacing the preset's model config. */
  config: z.string().optional(),
  /** A custom model size (written to `<out>/model-config.json` on top of the preset's config). */
  model: TrainModelSize.optional(),
  /** Execution provider (default: the settings' device). */
  device: z.enum(['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml']).optional(),
  tokenizer: z.string().optional(),
  steps: z.number().int().positive().optional(),
  batch: z.number().int().positive().optional(),
  seqLen: z.number().int().positive().optional(),
  accumulate: z.number().int().positive().optional(),
  lr: z.number().positive().optional(),
  lambda: z.number().min(0).optional(),
  /** Sample windows per domain ∝ tokens^α (workers/training/data.ts BalancedSampler); absent: uniform windows. */
  domainBalance: z.number().min(0).max(1).optional(),
  evalEvery: z.number().int().min(0).optional(),
  checkpointEvery: z.number().int().min(0).optional(),
  seed: z.number().int().min(0).optional(),
  resume: z.boolean().default(false),
  dtype: z.enum(['F32', 'BF16', 'F16']).default('F32'),
  /** Log every Nth step (default 10). */
  logEvery: z.number().int().positive().default(10),
}).refine((p) => p.data.length + p.datasets.length > 0, { message: 'give data files or datasets to train on', path: ['data'] });

export const monetTrainJob = defineJob({
  heavy: true,
  params: Params,
  title: (p) => `Train Monet${p.out ? ` ${path.basename(p.out)}` : ''} (${p.model ? 'custom' : p.preset}${p.steps ? `, ${p.steps} steps` : ''})`,
  async run(p, ctx) {
    const { train } = await import('../training/train');
    const { existsSync } = await import('node:fs');
    const { mkdir, writeFile } = await import('node:fs/promises');
    const out = p.out ? path.resolve(ctx.workspace, p.out) : path.join(ctx.workspace, 'jobs', ctx.jobId, 'train');
    const data = [...p.data];
    if (p.datasets.length) {
      // The trainer reads files: export each dataset (text, domain) as JSONL into the output folder.
      const { openDatasetStore } = await import('../data/open');
      const { exportSamples } = await import('../data/export');
      await mkdir(path.join(out, 'data'), { recursive: true });
      const db = await openDatasetStore(ctx.workspace, { readonly: true });
      try {
        for (const id of p.datasets) {
          const dest = path.join(out, 'data', `dataset-${id}.jsonl`);
          const r = await exportSamples(db, { datasetId: id }, dest, { format: 'jsonl', signal: ctx.signal });
          ctx.log(`Dataset ${id}: ${r.samples} samples exported to ${dest}`);
          data.push(dest);
        }
      } finally {
        db.close();
      }
    }
    let configFile = p.config;
    if (p.model && !p.resume) {
      const { presets } = await import('../training/presets');
      const base = presets[p.preset]?.config;
      if (!base) throw new Error(`unknown preset ${JSON.stringify(p.preset)}`);
      configFile = path.join(out, 'model-config.json');
      await mkdir(out, { recursive: true });
      await writeFile(configFile, `${JSON.stringify({ ...base, ...p.model, num_key_value_heads: p.model.num_attention_heads }, null, 2)}\n`);
    }
    const tokenizer = p.tokenizer ?? [path.resolve('assets/tokenizer'), path.join(path.dirname(process.argv[1] ?? '.'), '..', 'assets', 'tokenizer')]
      .find((d) => existsSync(path.join(d, 'tokenizer.json'))) ?? 'assets/tokenizer';
    const hyper = Object.fromEntries(Object.entries({
      steps: p.steps, batch: p.batch, seqLen: p.seqLen, accumulate: p.accumulate, lr: p.lr, lambda: p.lambda,
      evalEvery: p.evalEvery, checkpointEvery: p.checkpointEvery, seed: p.seed, logEvery: p.logEvery, domainBalance: p.domainBalance,
    }).filter(([, v]) => v !== undefined));
    ctx.log(`Training into ${out} (metrics: ${path.join(out, 'metrics.jsonl')})`);
    const r = await train({
      data, heldout: p.heldout, out, preset: p.preset, configFile, hyper, tokenizerDir: tokenizer,
      device: (p.device ?? ctx.settings.device) as never, ...(ctx.settings.threads > 0 ? { threads: ctx.settings.threads } : {}),
      resume: p.resume, saveDtype: p.dtype, signal: ctx.signal,
      log: (line) => ctx.log(line),
      progress: (step, total, rec) => ctx.progress(step, total, 'steps', `loss ${rec.loss.toFixed(3)}`),
    });
    if (r.outcome === 'cancelled') throw ctx.signal.reason ?? new Error('cancelled');
    return { ...r, out, metrics: path.join(out, 'metrics.jsonl') };
  },
});

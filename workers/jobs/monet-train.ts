/**
 * `monet.train`: train a Monet model from scratch (workers/training). Progress is in optimizer steps (the backend
 * derives rate and ETA); each logged step and each validation goes to the job log; the curves are in
 * `<out>/metrics.jsonl` (one JSON record per line: `step`, `eval`, `checkpoint`, `start`/`resume`, `end`), which a
 * UI can poll or tail. Cancelling saves a checkpoint first; `resume: true` continues it bit for bit.
 */
import path from 'node:path';
import { z } from 'zod';
import { defineJob } from './types';

const Params = z.object({
  data: z.array(z.string()).min(1),
  heldout: z.array(z.string()).optional(),
  /** Output folder (default: `<workspace>/jobs/<id>/train`). */
  out: z.string().optional(),
  preset: z.string().default('default'),
  /** A config.json replacing the preset's model config. */
  config: z.string().optional(),
  tokenizer: z.string().optional(),
  steps: z.number().int().positive().optional(),
  batch: z.number().int().positive().optional(),
  seqLen: z.number().int().positive().optional(),
  accumulate: z.number().int().positive().optional(),
  lr: z.number().positive().optional(),
  lambda: z.number().min(0).optional(),
  evalEvery: z.number().int().min(0).optional(),
  checkpointEvery: z.number().int().min(0).optional(),
  seed: z.number().int().min(0).optional(),
  resume: z.boolean().default(false),
  dtype: z.enum(['F32', 'BF16', 'F16']).default('F32'),
  /** Log every Nth step (default 10). */
  logEvery: z.number().int().positive().default(10),
});

export const monetTrainJob = defineJob({
  heavy: true,
  params: Params,
  title: (p) => `Train Monet (${p.preset}${p.steps ? `, ${p.steps} steps` : ''})`,
  async run(p, ctx) {
    const { train } = await import('../training/train');
    const { existsSync } = await import('node:fs');
    const out = p.out ? path.resolve(ctx.workspace, p.out) : path.join(ctx.workspace, 'jobs', ctx.jobId, 'train');
    const tokenizer = p.tokenizer ?? [path.resolve('assets/tokenizer'), path.join(path.dirname(process.argv[1] ?? '.'), '..', 'assets', 'tokenizer')]
      .find((d) => existsSync(path.join(d, 'tokenizer.json'))) ?? 'assets/tokenizer';
    const hyper = Object.fromEntries(Object.entries({
      steps: p.steps, batch: p.batch, seqLen: p.seqLen, accumulate: p.accumulate, lr: p.lr, lambda: p.lambda,
      evalEvery: p.evalEvery, checkpointEvery: p.checkpointEvery, seed: p.seed, logEvery: p.logEvery,
    }).filter(([, v]) => v !== undefined));
    ctx.log(`Training into ${out} (metrics: ${path.join(out, 'metrics.jsonl')})`);
    const r = await train({
      data: p.data, heldout: p.heldout, out, preset: p.preset, configFile: p.config, hyper, tokenizerDir: tokenizer,
      device: ctx.settings.device as never, ...(ctx.settings.threads > 0 ? { threads: ctx.settings.threads } : {}),
      resume: p.resume, saveDtype: p.dtype, signal: ctx.signal,
      log: (line) => ctx.log(line),
      progress: (step, total, rec) => ctx.progress(step, total, 'steps', `loss ${rec.loss.toFixed(3)}`),
    });
    if (r.outcome === 'cancelled') throw ctx.signal.reason ?? new Error('cancelled');
    return { ...r, out, metrics: path.join(out, 'metrics.jsonl') };
  },
});

// The `sae.train` job end to end on the embedded default model: captures a hook into the activation cache, trains a
// small GBA SAE with a metrics log, pauses (cancel with a checkpoint), resumes to the end, saves the SAE Lens folder
// with the training summary and its evaluation; a second run on the same hook and data reuses the cache.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobContext } from '../../workers/jobs/types';
import { saeTrainJob } from '../../workers/jobs/sae-train';
import { describeSaeFolder } from '../../main/api/sae-train';

const MODEL = path.resolve('assets/model');
let ws: string;
let data: string;

function ctx(signal = new AbortController().signal): JobContext & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines, progress: () => {}, log: (l) => lines.push(l), signal, workspace: ws, jobId: 'j1',
    settings: { theme: 'system', device: 'cpu', threads: 1, maxHeavyJobs: 1 },
  };
}

const records = (id: string) =>
  readFileSync(path.join(ws, 'saes', id, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(() => {
  ws = mkdtempSync(path.join(tmpdir(), 'resect-sae-job-'));
  data = path.join(ws, 'text.jsonl');
  const texts = [
    'The court ruled that the statute applies to every citizen of the state.',
    'def add(a, b):\n    return a + b\n\nprint(add(2, 3))',
    'She walked along the river in the evening light, thinking of home.',
    'The committee will publish its report on the budget next week.',
  ];
  writeFileSync(data, Array.from({ length: 24 }, (_, i) => JSON.stringify({ text: texts[i % texts.length], domain: 'x' })).join('\n'));
});
afterAll(() => rmSync(ws, { recursive: true, force: true }));

const params = (id: string, extra: Record<string, unknown> = {}) => saeTrainJob.params.parse({
  id,
  source: { kind: 'model', model: MODEL, hook: 'blocks.1.hook_resid_post', data: { kind: 'jsonl', path: data }, maxTokens: 1024 },
  config: { method: 'gba', latents: 64, groups: 2, batchSize: 64, steps: 8, lr: 1e-3, adaptEvery: 2 },
  checkpointEvery: 0, evalTokens: 512, ...extra,
});

describe('sae.train job', () => {
  it('pauses with a checkpoint, resumes to the end and saves an SAE Lens folder with its summary', async () => {
    // Pause: cancel after step 3 (the trainer stops after the current step and checkpoints).
    const ac = new AbortController();
    const c1 = ctx(ac.signal);
    const p = params('run-a');
    const first = saeTrainJob.run({ ...p }, { ...c1, progress: (done, _t, unit) => { if (unit === 'steps' && done >= 3) ac.abort(new Error('cancelled by user')); } });
    await expect(first).rejects.toThrow('cancelled');
    const dir = path.join(ws, 'saes', 'run-a');
    expect(existsSync(path.join(dir, 'checkpoint.safetensors'))).toBe(true);
    expect(describeSaeFolder('run-a', dir)).toMatchObject({ origin: 'unfinished', checkpoint: true, latents: 64, method: 'gba' });
    const paused = records('run-a');
    expect(paused.at(-1)).toMatchObject({ type: 'end', outcome: 'cancelled' });
    const pausedAt = paused.at(-1)!.step as number;
    expect(pausedAt).toBeGreaterThanOrEqual(3);
    expect(pausedAt).toBeLessThan(8);

    const c2 = ctx();
    const r = (await saeTrainJob.run(params('run-a', { resume: true }), c2)) as { steps: number; eval: { fve: number; l0: number; dead: number; tokens: number } };
    expect(r.steps).toBe(8);
    const recs = records('run-a');
    expect(recs.filter((x) => x.type === 'resume')).toHaveLength(1);
    const steps = recs.filter((x) => x.type === 'step').map((x) => x.step as number);
    expect(steps).toEqual([1, 2, 3, 4, 5, 6, 7, 8].slice(0, pausedAt).concat([4, 5, 6, 7, 8].filter((s) => s > pausedAt)));
    const last = recs.filter((x) => x.type === 'step').at(-1)!;
    expect(last).toMatchObject({ step: 8, totalSteps: 8 });
    expect((last.groups as { target: number[] }).target).toHaveLength(2);
    for (const k of ['loss', 'fve', 'l0', 'dead']) expect(Number.isFinite(last[k] as number)).toBe(true);
    expect(recs.at(-1)).toMatchObject({ type: 'end', outcome: 'finished', step: 8 });

    for (const f of ['cfg.json', 'sae_weights.safetensors', 'resect_sae.json', 'resect_gba.safetensors', 'resect_train.json']) expect(existsSync(path.join(dir, f))).toBe(true);
    expect(existsSync(path.join(dir, 'checkpoint.safetensors'))).toBe(false);
    const cache = readdirSync(path.join(ws, 'sae', 'activations'))[0]!;
    const captured = (JSON.parse(readFileSync(path.join(ws, 'sae', 'activations', cache, 'manifest.json'), 'utf8')) as { numTokens: number }).numTokens;
    expect(r.eval.tokens).toBe(Math.min(512, captured));
    expect(r.eval.l0).toBeGreaterThan(0);
    expect(r.eval.dead).toBeGreaterThanOrEqual(0);
    expect(r.eval.dead).toBeLessThanOrEqual(1);
    const info = describeSaeFolder('run-a', dir)!;
    expect(info).toMatchObject({ origin: 'trained', method: 'gba', latents: 64, dIn: 256, hook: 'blocks.1.hook_resid_post', steps: 8, checkpoint: false, architecture: 'jumprelu' });
    expect(info.eval!.fve).toBeCloseTo(r.eval.fve, 10);
  }, 240_000);

  it('reuses the activation cache of the same model, hook and data', async () => {
    const c = ctx();
    await saeTrainJob.run(params('run-b', { config: { method: 'topk', latents: 64, k: 4, batchSize: 64, steps: 2 } }), c);
    expect(c.lines.some((l) => l.startsWith('Activations: reusing'))).toBe(true);
    expect(readdirSync(path.join(ws, 'sae', 'activations'))).toHaveLength(1);
    expect(describeSaeFolder('run-b', path.join(ws, 'saes', 'run-b'))).toMatchObject({ origin: 'trained', method: 'topk', architecture: 'topk' });
  }, 120_000);
});

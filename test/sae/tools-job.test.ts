// The SAE tool jobs on the tiny Monet: capture (progress, cancel, reuse), activation import, SAE folder import,
// evaluation (on a cache and on text; written to resect_eval.json) and encoding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobContext } from '../../workers/jobs/types';
import { saeCaptureJob, saeEncodeJob, saeEvalJob, saeImportActivationsJob, saeImportJob } from '../../workers/jobs/sae-tools';
import { jobRegistry } from '../../workers/jobs/registry';
import { saveSaeLens } from '../../workers/sae/io';
import { listCaches, cacheRoot } from '../../workers/sae/cache';
import type { SaeEncodedText, SaeEvalResult } from '../../workers/sae/eval-schema';
import type { z } from 'zod';
import { FIXTURES, fixtureWithTokenizerSync } from '../support/tiny-monet';
import { exactSae } from './helpers';

let ws: string;
let model: string;
let data: string;

function ctx(signal = new AbortController().signal, progress: JobContext['progress'] = () => {}): JobContext & { lines: string[] } {
  const lines: string[] = [];
  return { lines, progress, log: (l) => lines.push(l), signal, workspace: ws, jobId: 'j', settings: { theme: 'system', device: 'cpu', threads: 1, maxHeavyJobs: 1 } };
}

beforeAll(async () => {
  ws = mkdtempSync(path.join(tmpdir(), 'resect-sae-tools-'));
  model = fixtureWithTokenizerSync('monet-vd-tiny');
  data = path.join(ws, 'text.jsonl');
  writeFileSync(data, Array.from({ length: 30 }, (_, i) => JSON.stringify({ text: `Sample ${i}: the river runs past the mill, and ${'x'.repeat(i)}.` })).join('\n'));
  await saveSaeLens(exactSae(32, { model, name: 'blocks.1.hook_attn_out', layer: 1, kind: 'attn_out' }), path.join(ws, 'saes', 'exact'));
});
afterAll(() => rmSync(ws, { recursive: true, force: true }));

describe('SAE tool jobs', () => {
  it('are registered under their kinds', () => {
    expect(jobRegistry['sae.capture']).toBe(saeCaptureJob);
    expect(['sae.importActivations', 'sae.import', 'sae.eval', 'sae.encode'].every((k) => k in jobRegistry)).toBe(true);
  });

  it('sae.capture: progress in tokens, cancel leaves no complete cache, a finished capture is reused', async () => {
    const params = saeCaptureJob.params.parse({ model, hook: 'blocks.1.hook_attn_out', data: { kind: 'jsonl', path: data } });
    const ac = new AbortController();
    const cancelled = saeCaptureJob.run(params, ctx(ac.signal, (done, _t, unit) => { if (unit === 'tokens' && done > 0) ac.abort(new Error('cancelled by user')); }));
    await expect(cancelled).rejects.toThrow('cancelled');
    expect(listCaches(cacheRoot(ws))).toEqual([]);
    const seen: number[] = [];
    const r = (await saeCaptureJob.run(params, ctx(undefined, (done, _t, unit) => { if (unit === 'tokens') seen.push(done); }))) as { tokens: number; cache: string };
    expect(r).toMatchObject({ reused: false, dIn: 32, samples: 30 });
    expect(seen.at(-1)).toBe(r.tokens);
    expect(await saeCaptureJob.run(params, ctx())).toMatchObject({ reused: true, cache: r.cache });
  });

  it('sae.importActivations and sae.import', async () => {
    const a = (await saeImportActivationsJob.run(saeImportActivationsJob.params.parse({ file: path.join(FIXTURES, 'sae', 'activations-f32.npy') }), ctx())) as { cache: string };
    expect(a).toMatchObject({ tokens: 40, dIn: 8 });
    const p = saeImportJob.params.parse({ dir: path.join(FIXTURES, 'sae', 'saelens-jumprelu'), id: 'lens' });
    expect(await saeImportJob.run(p, ctx())).toMatchObject({ id: 'lens', origin: 'sae-lens', architecture: 'jumprelu', latents: 16 });
    expect(existsSync(path.join(ws, 'saes', 'lens', 'resect_import.json'))).toBe(true);
    await expect(saeImportJob.run(p, ctx())).rejects.toThrow(/exists already/);
    await saeImportJob.run({ ...p, replace: true }, ctx());
    // The imported SAE (d_in 8) on the imported activations (width 8).
    const e = (await saeEvalJob.run(saeEvalJob.params.parse({ sae: 'lens', source: { kind: 'cache', cache: a.cache } }), ctx())) as SaeEvalResult;
    expect(e.metrics.tokens).toBe(40);
    expect(e.loss).toBeNull();
  });

  it('sae.eval on text (spliced loss) and against another SAE; written to resect_eval.json', async () => {
    const p = saeEvalJob.params.parse({ sae: 'exact', source: { kind: 'text', data: { kind: 'jsonl', path: data } }, against: 'exact', alpha: 0.25 });
    const r = (await saeEvalJob.run(p, ctx())) as SaeEvalResult;
    expect(r.metrics.fve).toBeCloseTo(1, 5);
    expect(r.loss!.lossRecovered).toBeCloseTo(1, 3);
    expect(r.crossSeed).toMatchObject({ against: 'exact', latents: 16, fractionAbove: 1 });
    expect(JSON.parse(readFileSync(path.join(ws, 'saes', 'exact', 'resect_eval.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(r)));
    await expect(saeEvalJob.run({ ...p, sae: 'nope' }, ctx())).rejects.toThrow(/No SAE nope/);
  });

  it('sae.encode: per token of each text the strongest latents', async () => {
    const r = (await saeEncodeJob.run(saeEncodeJob.params.parse({ sae: 'exact', texts: ['abc', 'river'], top: 2 }), ctx())) as { texts: z.infer<typeof SaeEncodedText>[] };
    expect(r.texts.map((t) => t.tokens.length)).toEqual([4, 6]);
    expect(r.texts[0]!.tokens[0]!.latents).toEqual([]);
    expect(r.texts[0]!.tokens[1]!.latents.length).toBe(2);
  });
});

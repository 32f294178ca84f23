/**
 * An exported folder carries its edit: Resect applies resect_masks.safetensors whenever it opens the folder (model,
 * jobs, API), the Models view summarises it, and "open without the edit" gives the base model back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JobInfo, MethodName, Params, Result } from '../../common/api';
import { Backend } from '../../main/backend';
import { InProcessLauncher } from '../../main/jobs/in-process';
import { MonetModel } from '../../workers/models/monet/model';
import { parseMaskJson } from '../../workers/models/monet/mask';
import { perplexity } from '../../workers/models/monet/perplexity';
import { opensUnedited, RECIPE_FILE } from '../../workers/models/monet/recipe';
import { loadTokenizer, type TextTokenizer } from '../../workers/tokenizer';
import { exportMasked, withFolderEdit } from '../../workers/analysis/resection/export';
import { maskSize } from '../../workers/analysis/resection/compose';
import { fixtureWithTokenizer } from '../monet/helpers';
import { labelledSamples, writeLabelledJsonl } from './helpers';

const maskJson = { groups: { 0: [3, 10, 17, 40] }, layers: { 3: [5] }, rows: { 1: [2] } };

let dir: string;
let tmp: string;
let base: MonetModel;
let tok: TextTokenizer;
let exported: string;
const savedEnv = process.env.RESECT_DEFAULT_MODEL;

beforeAll(async () => {
  process.env.RESECT_DEFAULT_MODEL = '';
  dir = await fixtureWithTokenizer('monet-vd-tiny');
  tmp = await mkdtemp(path.join(tmpdir(), 'resect-recipe-'));
  base = await MonetModel.load(dir, { intraOpThreads: 1 });
  tok = await loadTokenizer(dir, { bosTokenId: 1, eosTokenId: 2 });
  exported = path.join(tmp, 'edited');
  await exportMasked(dir, maskJson, exported, { recipe: { edits: [{ name: 'Remove code' }], evaluation: { perplexity: { rows: [], target: 'code', targetRelIncrease: 0.5, othersMeanRelIncrease: 0.01 } } } });
});
afterAll(async () => {
  await base?.dispose();
  await rm(path.dirname(dir), { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
  if (savedEnv === undefined) delete process.env.RESECT_DEFAULT_MODEL;
  else process.env.RESECT_DEFAULT_MODEL = savedEnv;
});

describe('an exported folder opens with its edit', () => {
  it('perplexity of the reopened export equals the masked perplexity; unedited equals the base', async () => {
    const samples = labelledSamples();
    const masked = await perplexity(base, tok, samples, { masks: parseMaskJson(base.config, maskJson) });
    const plain = await perplexity(base, tok, samples);
    expect(masked.overall.ppl).not.toBe(plain.overall.ppl);

    const edited = await MonetModel.load(exported, { intraOpThreads: 1 });
    const unedited = await MonetModel.load(exported, { intraOpThreads: 1, recipe: false });
    try {
      expect(edited.recipe?.removed).toBe(maskSize(base.config, maskJson));
      expect(edited.recipe?.recipe).toMatchObject({ edits: [{ name: 'Remove code' }], kind: 'masked' });
      expect(unedited.recipe).toBeNull();
      expect((await perplexity(edited, tok, samples)).domains).toEqual(masked.domains);
      expect((await perplexity(unedited, tok, samples)).domains).toEqual(plain.domains);

      // A caller's mask goes on top of the folder's edit: the union of both.
      const extra = { layers: { 0: [7, 9] } };
      const both = await perplexity(base, tok, samples, {
        masks: parseMaskJson(base.config, { ...maskJson, layers: { ...maskJson.layers, 0: [7, 9] } }),
      });
      expect((await perplexity(edited, tok, samples, { masks: parseMaskJson(base.config, extra) })).overall).toEqual(both.overall);
    } finally {
      await edited.dispose();
      await unedited.dispose();
    }
  });

  it('re-exporting an export keeps the edit it carries unless told not to', async () => {
    const extra = { layers: { 2: [1] } };
    const kept = await withFolderEdit(exported, extra, { inherit: true });
    expect(kept.basedOn).toMatchObject({ kind: 'masked' });
    const expected = parseMaskJson(base.config, { ...maskJson, layers: { ...maskJson.layers, 2: [1] } });
    expect(parseMaskJson(base.config, kept.mask)).toEqual(expected);
    expect(await withFolderEdit(exported, extra, { inherit: false })).toEqual({ mask: extra, basedOn: null });
    expect(await withFolderEdit(dir, extra, { inherit: true })).toEqual({ mask: extra, basedOn: null });
  });
});

describe('the Models view and jobs', () => {
  const inProcess = new InProcessLauncher({ device: 'cpu', threads: 1 });

  async function waitJob(backend: Backend, id: string): Promise<JobInfo> {
    for (let i = 0; i < 2400; i++) {
      const j = (await backend.router.call('jobs.list', {}) as JobInfo[]).find((x) => x.id === id)!;
      if (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') return j;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('job did not finish');
  }

  it('lists the edit, runs jobs with it, and opens the folder without it on request', async () => {
    const ws = await mkdtemp(path.join(tmpdir(), 'resect-recipe-ws-'));
    const backend = new Backend({ mode: 'serve', workspaceDir: ws, launcher: inProcess });
    const call = <M extends MethodName>(m: M, p: Params<M>) => backend.router.call(m, p) as Promise<Result<M>>;
    try {
      const info = await call('models.add', { path: exported });
      expect(info.edit).toEqual({
        removed: maskSize(base.config, maskJson), applied: true, edits: ['Remove code'], exportedAt: expect.any(String), evaluated: true,
        measured: { target: 'code', targetRelIncrease: 0.5, othersMeanRelIncrease: 0.01 }, error: null,
      });
      expect((await call('models.add', { path: dir })).edit).toBeNull();

      const samples = labelledSamples();
      const pplJob = async () => {
        const { id } = await call('jobs.start', { kind: 'monet.perplexity', params: { model: exported, samples } });
        const j = await waitJob(backend, id);
        expect(j.state).toBe('succeeded');
        return (j.result as { overall: { ppl: number } }).overall.ppl;
      };
      const masked = await perplexity(base, tok, samples, { masks: parseMaskJson(base.config, maskJson) });
      const plain = await perplexity(base, tok, samples);
      expect(await pplJob()).toBe(masked.overall.ppl);

      const off = await call('models.setEditApplied', { id: info.id, applied: false });
      expect(off.edit).toMatchObject({ applied: false });
      expect(opensUnedited(ws, exported)).toBe(true);
      expect(await pplJob()).toBe(plain.overall.ppl);

      await call('models.setEditApplied', { id: info.id, applied: true });
      expect(opensUnedited(ws, exported)).toBe(false);
      const plainId = (await call('models.list', {})).find((m) => m.path === dir)!.id;
      await expect(call('models.setEditApplied', { id: plainId, applied: false })).rejects.toMatchObject({ code: 'invalid_params' });
    } finally {
      await backend.close();
      await rm(ws, { recursive: true, force: true });
    }
  });

  it('the recipe records the evaluation of exactly the exported edit, and the reopened export measures what it measured', async () => {
    const ws = await mkdtemp(path.join(tmpdir(), 'resect-recipe-ws-'));
    const backend = new Backend({ mode: 'serve', workspaceDir: ws, launcher: inProcess });
    const call = <M extends MethodName>(m: M, p: Params<M>) => backend.router.call(m, p) as Promise<Result<M>>;
    try {
      const data = path.join(ws, 'heldout.jsonl');
      await writeLabelledJsonl(data);
      await call('resection.apply', { model: dir, name: 'hand', mask: maskJson });
      const ev = await call('resection.evaluate', { model: dir, data: { kind: 'jsonl', path: data, textField: 'text' }, target: 'code', prompts: [], maxTokens: 1 });
      const evJob = await waitJob(backend, ev.jobId);
      expect(evJob.state, evJob.error ?? '').toBe('succeeded');
      const rows = (evJob.result as { perplexity: { rows: { domain: string; pplBefore: number; pplAfter: number }[] } }).perplexity.rows;

      const out = path.join(ws, 'export-1');
      expect((await waitJob(backend, (await call('resection.export', { model: dir, out })).jobId)).state).toBe('succeeded');
      const recipe = JSON.parse(await readFile(path.join(out, RECIPE_FILE), 'utf8')) as { evaluation: { job: string; perplexity: { rows: unknown[] } } };
      expect(recipe.evaluation.job).toBe(ev.jobId);
      expect(recipe.evaluation.perplexity.rows).toEqual(rows);

      // Reopened, the export measures the evaluation's "after"; opened unedited, its "before".
      const info = await call('models.add', { path: out });
      const perDomain = async () => {
        const { id } = await call('jobs.start', { kind: 'monet.perplexity', params: { model: out, data } });
        const j = await waitJob(backend, id);
        expect(j.state, j.error ?? '').toBe('succeeded');
        return (j.result as { domains: Record<string, { ppl: number }> }).domains;
      };
      const after = await perDomain();
      for (const r of rows) expect(after[r.domain]!.ppl).toBeCloseTo(r.pplAfter, 9);
      await call('models.setEditApplied', { id: info.id, applied: false });
      const before = await perDomain();
      for (const r of rows) expect(before[r.domain]!.ppl).toBeCloseTo(r.pplBefore, 9);

      // Another edit on top: the earlier evaluation measured another mask, so the new export records none.
      await call('resection.apply', { model: dir, name: 'more', mask: { layers: { 0: [1] } } });
      const out2 = path.join(ws, 'export-2');
      expect((await waitJob(backend, (await call('resection.export', { model: dir, out: out2 })).jobId)).state).toBe('succeeded');
      expect(JSON.parse(await readFile(path.join(out2, RECIPE_FILE), 'utf8'))).toMatchObject({ evaluation: null });
    } finally {
      await backend.close();
      await rm(ws, { recursive: true, force: true });
    }
  });
});

/**
 * The compact (shippable) atlas: a tiny VD atlas is packed and expanded again; the expanded atlas must give the
 * same counts and sums, domain means within F16 precision of the expert's peak, the same skew-rule choices, the best
 * top contexts in order, working text search, and a meta that says it was trimmed. Then the first-start installer:
 * expands once into a workspace, never again after the user deleted it, and not beside other weights.
 */
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonetModel } from '../../workers/models/monet/model';
import { loadTokenizer } from '../../workers/tokenizer';
import { buildAtlas } from '../../workers/analysis/atlas/build';
import { expandAtlas, expandContexts, packAtlas } from '../../workers/analysis/atlas/compact';
import { openAtlas, type Atlas } from '../../workers/analysis/atlas/reader';
import { ensureShippedAtlas, forgetShippedAtlasRuns, shippedContexts, weightsDigest } from '../../main/atlas/shipped';
import { FIXTURES, fixtureWithTokenizer } from '../monet/helpers';

let work: string;
let modelDir: string;
let fullDir: string;
let packDir: string;
let full: Atlas;
let expanded: Atlas;

beforeAll(async () => {
  modelDir = await fixtureWithTokenizer('monet-vd-tiny');
  work = await mkdtemp(path.join(tmpdir(), 'resect-compact-'));
  const src = await readFile(path.join(FIXTURES, 'data', 'sample.jsonl'), 'utf8');
  const data = path.join(work, 'data.jsonl');
  await writeFile(data, src);
  const model = await MonetModel.load(modelDir);
  try {
    const tokenizer = await loadTokenizer(modelDir, { bosTokenId: 1, eosTokenId: 2 });
    fullDir = path.join(work, 'full');
    await buildAtlas({
      model, tokenizer, modelDir, outDir: fullDir, source: { data: { kind: 'jsonl', path: data, textField: 'text' }, filter: {}, domainField: 'domain' },
      topK: 6, context: 40, checkpointEvery: 0,
    });
  } finally {
    await model.dispose();
  }
  packDir = path.join(work, 'pack');
  await packAtlas(fullDir, packDir, { contextsPerExpert: 3, fullBytes: 1, modelDigest: await weightsDigest(modelDir) });
  await expandAtlas(packDir, path.join(work, 'expanded'), { modelDir, dataPath: data, id: 'expanded' });
  full = await openAtlas(fullDir);
  expanded = await openAtlas(path.join(work, 'expanded'));
}, 120_000);

afterAll(async () => {
  await full?.close();
  await expanded?.close();
});

describe('compact atlas', () => {
  it('keeps counts and sums, and domain means within F16 precision of the peak', async () => {
    for (let g = 0; g < full.groups; g++) {
      const a = await full.list(g, { sort: 'id', limit: full.E * full.E });
      const b = await expanded.list(g, { sort: 'id', limit: full.E * full.E });
      expect(b.total).toBe(a.total);
      for (let k = 0; k < a.experts.length; k++) {
        const x = a.experts[k]!;
        const y = b.experts[k]!;
        expect(y.count).toBe(x.count);
        expect(y.totalScore).toBeCloseTo(x.totalScore, 4);
        expect(y.dominant).toBe(x.dominant);
      }
      for (const id of [0, 5, full.E + 3]) {
        const da = await full.domainMeans(g, id);
        const db = await expanded.domainMeans(g, id);
        const peak = Math.max(...da.map((d) => d.mean));
        da.forEach((d, k) => expect(Math.abs(db[k]!.mean - d.mean)).toBeLessThanOrEqual(peak * 2 ** -10 + 1e-12));
      }
    }
  });

  it('chooses the same experts by the skew rule at r = 2', async () => {
    for (let g = 0; g < full.groups; g++) {
      const a = await full.list(g, { minSkew: 2, sort: 'id', limit: 100_000 });
      const b = await expanded.list(g, { minSkew: 2, sort: 'id', limit: 100_000 });
      expect(b.experts.map((e) => e.id)).toEqual(a.experts.map((e) => e.id));
    }
  });

  it('keeps the best contexts of each expert in order, with their text, and text search still works', async () => {
    const { experts } = await full.list(0, { sort: 'count', limit: 5 });
    for (const e of experts) {
      const a = await full.topContexts(0, e.id);
      const b = await expanded.topContexts(0, e.id);
      expect(b.length).toBe(Math.min(3, a.length));
      b.forEach((c, k) => {
        expect(c.token).toBe(a[k]!.token);
        expect(c.left).toBe(a[k]!.left);
        expect(c.sample).toBe(a[k]!.sample);
        expect(c.score).toBeCloseTo(a[k]!.score, 2);
      });
    }
    const word = (await expanded.topContexts(0, experts[0]!.id))[0]!.left.match(/[\p{L}]{3,}/u)?.[0];
    if (word) expect((await expanded.searchText(word)).length).toBeGreaterThan(0);
    expect(expanded.meta.options.topK).toBe(3);
    expect(expanded.meta.compact?.contextsPerExpert).toBe(3);
    expect(expanded.meta.model.dir).toBe(path.resolve(modelDir));
  });
});

describe('contexts written after the statistics', () => {
  it('the atlas works without them meanwhile (no contexts, search says they are coming), then has them', async () => {
    const dir = path.join(work, 'later');
    await expandAtlas(packDir, dir, { modelDir, dataPath: null, id: 'later', contexts: 'later' });
    const early = await openAtlas(dir);
    expect(early.contextsReady).toBe(false);
    expect((await early.list(0, { minSkew: 2, sort: 'id', limit: 10 })).total).toBe((await full.list(0, { minSkew: 2, sort: 'id', limit: 10 })).total);
    expect(await early.topContexts(0, 0)).toEqual([]);
    await expect(early.searchText('the')).rejects.toThrow(/still being prepared/);
    await early.close();
    await expandContexts(packDir, dir);
    const ready = await openAtlas(dir);
    expect(ready.contextsReady).toBe(true);
    const { experts } = await ready.list(0, { sort: 'count', limit: 1 });
    expect(await ready.topContexts(0, experts[0]!.id)).toEqual(await expanded.topContexts(0, experts[0]!.id));
    await ready.close();
  });
});

describe('shipped atlas at first start', () => {
  it('expands once per workspace, respects a deletion, and refuses other weights', async () => {
    const ws = path.join(work, 'ws');
    const env = { RESECT_SHIPPED_ATLAS: packDir, RESECT_DEFAULT_MODEL: modelDir };
    forgetShippedAtlasRuns();
    const first = await ensureShippedAtlas(ws, env);
    expect(first.state).toBe('installed');
    expect(existsSync(path.join(ws, 'atlases', 'default', 'meta.json'))).toBe(true);
    await shippedContexts(ws);
    const ready = await openAtlas(path.join(ws, 'atlases', 'default'));
    expect(ready.contextsReady).toBe(true);
    const { experts } = await ready.list(0, { sort: 'count', limit: 1 });
    expect((await ready.topContexts(0, experts[0]!.id)).length).toBeGreaterThan(0);
    await ready.close();
    forgetShippedAtlasRuns();
    expect((await ensureShippedAtlas(ws, env)).state).toBe('present');
    rmSync(path.join(ws, 'atlases', 'default'), { recursive: true });
    forgetShippedAtlasRuns();
    expect((await ensureShippedAtlas(ws, env)).state).toBe('declined');

    const other = await fixtureWithTokenizer('monet-hd-tiny');
    forgetShippedAtlasRuns();
    expect((await ensureShippedAtlas(path.join(work, 'ws2'), { ...env, RESECT_DEFAULT_MODEL: other })).state).toBe('absent');
    forgetShippedAtlasRuns();
    expect((await ensureShippedAtlas(path.join(work, 'ws3'), { ...env, RESECT_SHIPPED_ATLAS: '' })).state).toBe('absent');
  });
});

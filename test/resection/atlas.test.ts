/** Selection on a built expert atlas (workers/analysis/atlas) through the RoutingStats adapter. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MonetModel } from '../../workers/models/monet/model';
import { loadTokenizer, type TextTokenizer } from '../../workers/tokenizer';
import { buildAtlas } from '../../workers/analysis/atlas/build';
import { openAtlas } from '../../workers/analysis/atlas/reader';
import { atlasRoutingStats } from '../../workers/analysis/resection/atlas-adapter';
import { selectByDomain, selectByScore } from '../../workers/analysis/resection/select';
import { fixtureWithTokenizer } from '../monet/helpers';
import { writeLabelledJsonl } from './helpers';

let dir: string;
let work: string;
let model: MonetModel;
let tok: TextTokenizer;
let atlasDir: string;

beforeAll(async () => {
  dir = await fixtureWithTokenizer('monet-vd-tiny');
  work = await mkdtemp(path.join(tmpdir(), 'resect-rs-atlas-'));
  model = await MonetModel.load(dir, { intraOpThreads: 1 });
  tok = await loadTokenizer(dir, { bosTokenId: 1, eosTokenId: 2 });
  const data = path.join(work, 'data.jsonl');
  await writeLabelledJsonl(data, (_s, k) => ({ toxicity: (k % 4) / 3 }));
  atlasDir = path.join(work, 'atlas');
  await buildAtlas({
    model, tokenizer: tok, modelDir: dir, outDir: atlasDir,
    source: { data: { kind: 'jsonl', path: data, textField: 'text' }, filter: {}, domainField: 'domain', scoreField: 'toxicity' },
    checkpointEvery: 0,
  });
});
afterAll(async () => {
  await model?.dispose();
  await rm(path.dirname(dir), { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('atlas → RoutingStats', () => {
  it('gives the atlas\'s domain means, skew assignment and correlations', async () => {
    const s = await atlasRoutingStats(atlasDir);
    expect(s.domains.sort()).toEqual(['code', 'prose']);
    expect(s.groups).toBe(2);
    expect(s.groupSize).toBe(2);
    expect(s.scoreNames).toEqual(['toxicity']);
    const atlas = await openAtlas(atlasDir);
    try {
      for (const [g, id] of [[0, 0], [0, 17], [1, 42]] as const) {
        const page = await atlas.expert(g, id);
        for (const dm of page.domains) expect(s.domainMeans(g, s.domains.indexOf(dm.domain))[id]).toBeCloseTo(dm.mean, 12);
      }
      const sel = selectByDomain(s, { kind: 'domain', ratio: 2 });
      for (let g = 0; g < 2; g++) {
        const listed = await atlas.list(g, { minSkew: 2, limit: 1000 });
        // The atlas's dominant/skew agree with the rule at ratio 2 (its skew ≥ 2 ⇔ assigned).
        expect(sel.experts.filter((e) => e.group === g).map((e) => e.id).sort((a, b) => a - b)).toEqual(listed.experts.map((e) => e.id).sort((a, b) => a - b));
      }
      const tox = selectByScore(s, { kind: 'score', score: 'toxicity', tau: -1 });
      for (const e of tox.experts.slice(0, 20)) {
        const page = await atlas.expert(e.group, e.id);
        if (page.correlation !== null) expect(e.value).toBeCloseTo(page.correlation, 9);
      }
    } finally {
      await atlas.close();
    }
  });
});

/**
 * Evaluation progress is counted in tokens known before the work starts: it never goes back, never passes the
 * total, ends exactly at it, and the total is the predicted tokens of both perplexity passes plus every generated token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { MonetModel } from '../../workers/models/monet/model';
import { parseMaskJson } from '../../workers/models/monet/mask';
import { loadTokenizer, type TextTokenizer } from '../../workers/tokenizer';
import { evaluateMask } from '../../workers/analysis/resection/evaluate';
import { fixtureWithTokenizer } from '../monet/helpers';
import { labelledSamples } from './helpers';

let dir: string;
let model: MonetModel;
let tok: TextTokenizer;

beforeAll(async () => {
  dir = await fixtureWithTokenizer('monet-vd-tiny');
  model = await MonetModel.load(dir, { intraOpThreads: 1 });
  tok = await loadTokenizer(dir, { bosTokenId: 1, eosTokenId: 2 });
});
afterAll(async () => {
  await model?.dispose();
  await rm(path.dirname(dir), { recursive: true, force: true });
});

describe('evaluation progress', () => {
  it('reports tokens of a total known up front, monotone, ending at the total', async () => {
    const samples = labelledSamples();
    const seen: { done: number; total: number; what: string }[] = [];
    const mask = parseMaskJson(model.config, { layers: { 0: [0, 1, 2] } });
    const r = await evaluateMask(model, tok, mask, { samples, prompts: ['def f(x):'], maxTokens: 5, onProgress: (done, total, what) => seen.push({ done, total, what }) });
    const predicted = r.perplexity!.overall.tokens;
    const total = 2 * predicted + 2 * 5;
    for (const [k, s] of seen.entries()) {
      expect(s.total).toBe(total);
      expect(s.done).toBeLessThanOrEqual(total);
      if (k > 0) expect(s.done).toBeGreaterThanOrEqual(seen[k - 1]!.done);
    }
    expect(seen.at(-1)!.done).toBe(total);
    // Each pass reports after each of its batches (here one) as well as at its end.
    expect(seen.filter((s) => s.what === 'perplexity after').length).toBeGreaterThanOrEqual(2);
  });
});

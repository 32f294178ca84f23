/**
 * The built-in toxicity heuristic measured on hand-labelled sentences (test/fixtures/toxicity/labelled.jsonl: insults,
 * threats, profanity, obfuscations, hostility, other languages; benign sentences with trigger-like words, negations,
 * criticism, ordinary text). The rules were tuned on the `dev` split only; `test` (every third sentence of each
 * category) was held out and measured once. The floors sit just under those figures (docs/resection.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Graph, op, serialize } from '../../workers/engine';
import { charTokenizer } from '../monet/helpers';
import { HeuristicToxicityScorer } from '../../workers/analysis/resection/heuristic';
import { OnnxClassifierScorer, openScorer } from '../../workers/analysis/resection/scorers';

interface Labelled { text: string; toxic: 0 | 1; category: string; split: 'dev' | 'test' }
const rows = readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'toxicity', 'labelled.jsonl'), 'utf8')
  .trim().split('\n').map((l) => JSON.parse(l) as Labelled);

let scorer: HeuristicToxicityScorer;
beforeAll(async () => {
  scorer = await HeuristicToxicityScorer.open();
});

function measure(set: Labelled[]) {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (const r of set) {
    const flagged = scorer.scoreOne(r.text) >= 0.5;
    if (flagged && r.toxic) tp++;
    else if (flagged) fp++;
    else if (r.toxic) fn++;
    else tn++;
  }
  return { n: set.length, tp, fp, fn, tn, precision: tp / (tp + fp), recall: tp / (tp + fn) };
}

describe('the toxicity heuristic on hand-labelled sentences', () => {
  it('has a few hundred labelled sentences of every kind', () => {
    expect(rows.length).toBeGreaterThanOrEqual(280);
    const cats = new Set(rows.map((r) => r.category));
    for (const c of ['insult', 'threat', 'profanity', 'obfuscation', 'benign-trigger', 'negation', 'criticism']) expect(cats).toContain(c);
    expect(rows.filter((r) => r.toxic).length / rows.length).toBeGreaterThan(0.4);
  });

  it('precision and recall above their floors, on the tuned split and on the held-out one', () => {
    const dev = measure(rows.filter((r) => r.split === 'dev'));
    const test = measure(rows.filter((r) => r.split === 'test'));
    const all = measure(rows);
    // Printed so that docs/resection.md can be checked against a run.
    console.log(JSON.stringify({ dev, test, all }));
    expect(dev.precision).toBeGreaterThanOrEqual(0.95);
    expect(dev.recall).toBeGreaterThanOrEqual(0.92);
    expect(test.precision).toBeGreaterThanOrEqual(0.85);
    expect(test.recall).toBeGreaterThanOrEqual(0.75);
  });

  it('catches hostility, insults and threats, not only profanity', async () => {
    const s = await openScorer('heuristic');
    const [kill, insult, threat, swear, kind, process] = await s.score([
      'Go kill yourself, you worthless moron.', 'You are a pathetic loser.', "I'll break your legs.", 'f*ck off', 'You are very kind.', 'Kill the process with kill -9.',
    ]);
    expect(kill).toBeGreaterThan(0.9);
    for (const v of [insult, threat, swear]) expect(v).toBeGreaterThanOrEqual(0.5);
    for (const v of [kind, process]) expect(v).toBe(0);
    expect(s.name).toBe('heuristic');
    expect(scorer.explain("I'll break your legs.").map((h) => h.kind)).toEqual(['threat']);
    expect(scorer.explain('You are not an idiot.')).toEqual([]);
  });
});

describe('a converted Hugging Face classifier (onnx:<file>)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'resect-clf-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('BERT-style inputs (attention_mask, token_type_ids) and a multi-label output picked by toxicIndex', async () => {
    // Three labels, logits = max over tokens of a per-character row: label 1 ("toxic") is +4 for "!", −4 otherwise.
    const V = 97;
    const w = new Float32Array(V * 3).fill(-1);
    for (let v = 0; v < V; v++) w[v * 3 + 1] = -4;
    w[(3 + '!'.charCodeAt(0) - 32) * 3 + 1] = 4;
    const g = new Graph('multilabel');
    const ids = g.input('input_ids', 'int64', [1, 'T']);
    const mask = g.input('attention_mask', 'int64', [1, 'T']);
    const types = g.input('token_type_ids', 'int64', [1, 'T']);
    const table = g.initializer('w', 'float32', [V, 3], w);
    // The mask and type ids take part (as + 0) so that the runtime keeps them as inputs, as a real export does.
    const zero = op.mul(op.cast(op.reduceSum(op.add(mask, types), [1], true), 'float32'), g.scalar(0, 'float32'));
    g.output('logits', op.add(op.reduceMax(op.gather(table, ids), [1]), zero));
    await writeFile(path.join(dir, 'model.onnx'), serialize(g).model);
    await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(charTokenizer()));
    await expect(OnnxClassifierScorer.open(path.join(dir, 'model.onnx')).then((s) => s.score(['x']))).rejects.toThrow(/toxicIndex/);
    await writeFile(path.join(dir, 'resect_classifier.json'), JSON.stringify({ toxicIndex: 1 }));
    const s = await OnnxClassifierScorer.open(path.join(dir, 'model.onnx'));
    try {
      const [calm, angry] = await s.score(['calm text', 'angry!']);
      expect(calm).toBeCloseTo(1 / (1 + Math.exp(4)), 6);
      expect(angry).toBeCloseTo(1 / (1 + Math.exp(-4)), 6);
    } finally {
      await s.dispose?.();
    }
  });
});

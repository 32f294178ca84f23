/**
 * Issue 15 (low): training on one unlabelled text file has nothing to hold out. The log says so and how to give
 * validation text, instead of "validation:  tokens" and an evaluation of nothing ("eval: mean 0.0000 (ppl 1.0)").
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { train } from '../../workers/training/train';

const root = path.resolve(__dirname, '..', '..');

describe('training without validation text', () => {
  it('says there is none and runs no empty evaluation', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'resect-train-noval-'));
    const file = path.join(dir, 'notes.txt');
    writeFileSync(file, Array.from({ length: 200 }, (_, i) => `the cat sat on mat number ${i % 7} and ran away`).join(' '));
    const lines: string[] = [];
    const r = await train({
      data: [file], out: path.join(dir, 'out'), preset: 'tiny', tokenizerDir: path.join(root, 'assets/tokenizer'),
      hyper: { steps: 2, batch: 2, seqLen: 16, warmup: 1, evalEvery: 1, checkpointEvery: 100 }, log: (l) => lines.push(l),
    });
    expect(r.outcome).toBe('finished');
    expect(lines.join('\n')).toMatch(/validation: none \(no domain has two documents to hold one out; pass --heldout FILE/);
    expect(lines.join('\n')).not.toMatch(/validation: {2}tokens|eval @\d+: mean 0\.0000/);
    expect(r.lastEval).toBeNull();
  });
});

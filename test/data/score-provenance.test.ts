// Issue 20.8: a score must belong to the text it is read against. `resect score` records the text field and a hash
// of the scored text beside each score; the atlas source refuses a score of another field or of edited text.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openSource } from '../../workers/analysis/atlas/source';
import { provenanceMismatch, scoreProvenance } from '../../workers/data/score-provenance';

async function readAll(file: string, textField = 'text') {
  const out = [];
  for await (const s of openSource({ data: { kind: 'jsonl', path: file, textField }, filter: {}, scoreField: 'toxicity' })) out.push(s);
  return out;
}

function jsonl(rows: object[]): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'prov-')), 'scored.jsonl');
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return file;
}

describe('score provenance', () => {
  it('accepts the text the score was computed on, and scores without provenance', async () => {
    const file = jsonl([
      { text: 'you idiot', prompt: 'hello', toxicity: 0.9, toxicity_of: scoreProvenance('text', 'you idiot') },
      { text: 'nice day', toxicity: 0.1 },
    ]);
    expect((await readAll(file)).map((s) => s.score)).toEqual([0.9, 0.1]);
  });

  it('refuses a score computed on another field, naming the field and the line', async () => {
    const file = jsonl([
      { text: 'fine', toxicity: 0.0, toxicity_of: scoreProvenance('text', 'fine') },
      { text: 'you idiot', prompt: 'hello', toxicity: 0.02, toxicity_of: scoreProvenance('prompt', 'hello') },
    ]);
    await expect(readAll(file)).rejects.toThrow(/scored\.jsonl:2: the score "toxicity" was computed on the field "prompt", not on "text"/);
  });

  it('refuses a score whose text changed since it was scored', async () => {
    const file = jsonl([{ text: 'you are kind', toxicity: 0.95, toxicity_of: scoreProvenance('text', 'you are an idiot') }]);
    await expect(readAll(file)).rejects.toThrow(/other text than this record's "text"/);
  });

  it('hashes the text exactly (one character differs, one field name differs)', () => {
    expect(scoreProvenance('text', 'abc')).not.toBe(scoreProvenance('text', 'abd'));
    expect(provenanceMismatch(scoreProvenance('body', 'abc'), 'toxicity', 'text', 'abc')).toMatch(/"body"/);
    expect(provenanceMismatch(scoreProvenance('text', 'abc'), 'toxicity', 'text', 'abc')).toBeNull();
    expect(provenanceMismatch(42, 'toxicity', 'text', 'abc')).toMatch(/not "<text field>:<hash>"/);
  });
});

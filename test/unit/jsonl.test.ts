/** The one JSON Lines reader: plain and gzipped files, blank lines skipped, bad lines named by file and line. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { domainLabel, fieldOf, readJsonlRows, requireText } from '../../workers/data/jsonl';
import { readJsonlSamples } from '../../workers/models/monet/perplexity';
import { readLabelledJsonl } from '../../workers/analysis/resection/experiment';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(path.join(tmpdir(), 'resect-jsonl-')); });
afterAll(() => rm(dir, { recursive: true, force: true }));

const LINES = '{"text": "a", "domain": "x"}\n\n  \n{"text": "b", "domain": null}\r\n{"text": "c", "domain": ""}\n';
const all = async <T>(it: AsyncIterable<T>) => { const out: T[] = []; for await (const x of it) out.push(x); return out; };

describe('readJsonlRows', () => {
  it('reads plain and gzipped files alike, with the line number of each record', async () => {
    const plain = path.join(dir, 'p.jsonl');
    const gz = path.join(dir, 'p.jsonl.gz');
    await writeFile(plain, LINES);
    await writeFile(gz, gzipSync(LINES));
    for (const f of [plain, gz]) {
      const rows = await all(readJsonlRows(f));
      expect(rows.map((r) => r.line)).toEqual([1, 4, 5]);
      expect(rows.map((r) => fieldOf(r.row, 'text'))).toEqual(['a', 'b', 'c']);
    }
    // Samples: '' and null are no domain.
    expect(await readLabelledJsonl(gz)).toEqual([{ text: 'a', domain: 'x' }, { text: 'b', domain: null }, { text: 'c', domain: null }]);
  });

  it('names the file and line of a record that is not JSON or has no text', async () => {
    const bad = path.join(dir, 'bad.jsonl');
    await writeFile(bad, '{"text": "ok"}\n{"text": nope}\n');
    await expect(all(readJsonlRows(bad))).rejects.toThrow(`${bad}:2: not valid JSON`);
    const noText = path.join(dir, 'notext.jsonl');
    await writeFile(noText, '{"text": "ok"}\n\n{"body": "x"}\n');
    await expect(all(readJsonlSamples(noText))).rejects.toThrow(`${noText}:3: field "text" is missing or not a string`);
    await expect(all(readJsonlRows(path.join(dir, 'missing.jsonl')))).rejects.toThrow(/ENOENT/);
    // Gzipped: a missing file and a file that is not gzip both fail the read, neither is thrown unhandled.
    await expect(all(readJsonlRows(path.join(dir, 'missing.jsonl.gz')))).rejects.toThrow(/ENOENT/);
    const notGz = path.join(dir, 'not.jsonl.gz');
    await writeFile(notGz, '{"text": "plain"}\n');
    await expect(all(readJsonlRows(notGz))).rejects.toThrow(/incorrect header check/);
  });

  it('reads fields only from objects', () => {
    expect(fieldOf([1, 2], 'text')).toBeUndefined();
    expect(fieldOf(null, 'text')).toBeUndefined();
    expect(() => requireText(3, 'f', 7, 'text')).toThrow('f:7: field "text" is missing or not a string');
    expect(domainLabel(0)).toBe('0');
  });
});

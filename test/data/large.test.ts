/**
 * Files larger than what the importer may hold: reading and importing them keeps memory bounded (streaming).
 * Sizes are kept modest so the suite stays fast on a shared 2-core machine: a 160 MB JSONL file and the same
 * records as a 160 MB JSON array are read end to end, and a 32 MB file is imported into an on-disk database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, writeSync } from 'node:fs';
import { readRecords } from '../../workers/data/readers';
import { expandSources } from '../../workers/data/sources';
import { importDataset } from '../../workers/data/importer';
import { getDataset } from '../../workers/data/store';
import { openDb, tmpDir } from './helpers';

const MB = 1024 * 1024;
let t: ReturnType<typeof tmpDir>;

function writeBig(file: string, bytes: number, array: boolean): number {
  const fd = openSync(file, 'w');
  const filler = 'lorem ipsum dolor sit amet '.repeat(16);
  let written = 0;
  let n = 0;
  if (array) written += writeSync(fd, '[\n');
  while (written < bytes) {
    let chunk = '';
    for (let k = 0; k < 2000; k++, n++) chunk += (array && n > 0 ? ',\n' : '') + JSON.stringify({ text: `record ${n} ${filler}`, domain: `d${n % 5}` }) + (array ? '' : '\n');
    written += writeSync(fd, chunk);
  }
  if (array) writeSync(fd, '\n]\n');
  closeSync(fd);
  return n;
}

class Peak {
  heap0 = process.memoryUsage().heapUsed;
  rss0 = process.memoryUsage().rss;
  heap = 0;
  rss = 0;
  sample(): void {
    const m = process.memoryUsage();
    this.heap = Math.max(this.heap, m.heapUsed - this.heap0);
    this.rss = Math.max(this.rss, m.rss - this.rss0);
  }
  toString(): string {
    return `peak heap growth ${(this.heap / MB).toFixed(0)} MB, peak RSS growth ${(this.rss / MB).toFixed(0)} MB`;
  }
}

beforeAll(() => {
  t = tmpDir();
});
afterAll(() => t.cleanup());

describe('large files', () => {
  for (const format of ['jsonl', 'json'] as const) {
    it(`reads a 160 MB ${format === 'json' ? 'JSON array' : 'JSONL file'} with bounded memory`, async () => {
      const file = `${t.dir}/big.${format}`;
      const n = writeBig(file, 160 * MB, format === 'json');
      const { files } = await expandSources([{ path: file }]);
      const peak = new Peak();
      const t0 = performance.now();
      let records = 0;
      for await (const batch of readRecords(files[0]!, { bytes: 0 }, { maxRecordBytes: MB, textUnit: 'line' })) {
        records += batch.filter((b) => b.ok).length;
        peak.sample();
      }
      peak.sample();
      console.log(`${format}: ${records} records, ${(files[0]!.bytes / MB).toFixed(0)} MB in ${(performance.now() - t0).toFixed(0)} ms; ${peak}`);
      expect(records).toBe(n);
      expect(peak.heap).toBeLessThan(64 * MB);
      expect(peak.rss).toBeLessThan(128 * MB);
    });
  }

  it('imports a 32 MB file into an on-disk store with bounded memory', async () => {
    const file = `${t.dir}/import.jsonl`;
    const n = writeBig(file, 32 * MB, false);
    const db = openDb(`${t.dir}/ws.db`);
    const peak = new Peak();
    const t0 = performance.now();
    const r = await importDataset(db, [{ path: file }], { onProgress: () => peak.sample() });
    peak.sample();
    console.log(`import: ${r.imported} rows, 32 MB in ${(performance.now() - t0).toFixed(0)} ms; ${peak}`);
    expect(r.imported).toBe(n);
    expect(getDataset(db, r.datasetId!)!.domains).toHaveLength(5);
    expect(peak.heap).toBeLessThan(48 * MB);
    db.close();
  });
});

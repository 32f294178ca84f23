/**
 * Export of a dataset or a filtered view, streamed batch by batch from the store, as JSONL or Parquet.
 * Written to `<dest>.partial-<pid>` and renamed at the end, so an interrupted export leaves no half file at dest.
 *
 * JSONL: one `{"text", "domain", "scores"?}` object per line (scores omitted when a sample has none).
 * Parquet: columns text (UTF8, required), domain (UTF8, optional), scores (JSON, optional); a row group per batch.
 * Both re-import to the same samples (the detector maps `text`, `domain` and `scores.*`).
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import { once } from 'node:events';
import type { Database } from 'better-sqlite3';
import { ParquetWriter, fileWriter } from 'hyparquet-writer';
import { iterateSamples } from './store';
import type { SampleFilter } from './types';

export interface ExportOptions {
  format: 'jsonl' | 'parquet';
  /** Samples per batch (and per Parquet row group). Default 10,000. */
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: { samples: number }) => void;
}

export interface ExportResult {
  path: string;
  samples: number;
  bytes: number;
}

export async function exportSamples(db: Database, filter: SampleFilter, dest: string, opts: ExportOptions): Promise<ExportResult> {
  const tmp = `${dest}.partial-${process.pid}`;
  const batchSize = opts.batchSize ?? 10_000;
  let samples = 0;
  try {
    if (opts.format === 'jsonl') {
      const out = createWriteStream(tmp);
      try {
        for (const batch of iterateSamples(db, { ...filter, batchSize })) {
          if (opts.signal?.aborted) throw abortError();
          let chunk = '';
          for (const s of batch) {
            const o: Record<string, unknown> = { text: s.text, domain: s.domain };
            if (s.scores) o.scores = s.scores;
            chunk += JSON.stringify(o) + '\n';
          }
          samples += batch.length;
          if (!out.write(chunk)) await once(out, 'drain');
          opts.onProgress?.({ samples });
        }
      } finally {
        out.end();
        await once(out, 'close');
      }
    } else {
      const writer = new ParquetWriter({
        writer: fileWriter(tmp),
        schema: [
          { name: 'root', num_children: 3 },
          { name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
          { name: 'domain', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
          { name: 'scores', type: 'BYTE_ARRAY', converted_type: 'JSON', repetition_type: 'OPTIONAL' },
        ],
        createdBy: 'resect',
      });
      for (const batch of iterateSamples(db, { ...filter, batchSize })) {
        if (opts.signal?.aborted) throw abortError();
        await writer.write({
          columnData: [
            { name: 'text', data: batch.map((s) => s.text) },
            { name: 'domain', data: batch.map((s) => s.domain) },
            { name: 'scores', data: batch.map((s) => s.scores) },
          ],
          rowGroupSize: batch.length,
        });
        samples += batch.length;
        opts.onProgress?.({ samples });
      }
      await writer.finish();
    }
    await fsp.rename(tmp, dest);
    const { size } = await fsp.stat(dest);
    return { path: dest, samples, bytes: size };
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

function abortError(): Error {
  const e = new Error('export cancelled');
  e.name = 'AbortError';
  return e;
}

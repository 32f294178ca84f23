/**
 * JSON Lines, read one record at a time: the one reader behind every "labelled JSONL" input (perplexity, atlas,
 * the domain-masking experiment, `resect mask --score-field`). A name ending in .gz is gunzipped (the shipped
 * training corpus). Blank lines are skipped; a line that is not JSON fails with `file:line`, so a user can find it.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';

export interface JsonlRow { row: unknown; line: number }

export async function* readJsonlRows(file: string): AsyncGenerator<JsonlRow> {
  const raw = createReadStream(file);
  // pipeline, not pipe: a read error (a missing file) must reach the stream the loop reads, or it is thrown unhandled.
  const input = file.endsWith('.gz') ? pipeline(raw, createGunzip(), () => {}) : raw.setEncoding('utf8');
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Infinity })) {
    line++;
    if (!text.trim()) continue;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch (e) {
      throw new Error(`${file}:${line}: not valid JSON (${(e as Error).message})`);
    }
    yield { row, line };
  }
}

/** A top-level field of a record (undefined when the record is not an object). */
export const fieldOf = (row: unknown, field: string): unknown =>
  row !== null && typeof row === 'object' ? (row as Record<string, unknown>)[field] : undefined;

/** The record's text, or an error naming the file, line and field. */
export function requireText(text: unknown, file: string, line: number, field: string): string {
  if (typeof text !== 'string') throw new Error(`${file}:${line}: field "${field}" is missing or not a string`);
  return text;
}

/** A domain label as text; missing, null and '' are no domain. */
export const domainLabel = (d: unknown): string | null => (d === undefined || d === null || d === '' ? null : String(d));

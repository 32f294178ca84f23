/**
 * Import sources: expanding files and folders (recursively) into a list of files with their format, and opening
 * a file (or a stream source) as a stream of byte chunks whose consumed size is counted for progress.
 */
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, pipeline as pipelineStreams } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { DataFormat, ImportSource } from './types';

export interface SourceFile {
  /** What reports show: the path relative to the folder that was given (with that folder's name), or the file path/name. */
  display: string;
  /** File on disk (absent for stream sources until spooled). */
  path?: string;
  stream?: AsyncIterable<Uint8Array>;
  format: DataFormat;
  gzip: boolean;
  bytes: number;
  /** Name of the folder that holds the file ('' when unknown, e.g. an uploaded stream). */
  folder: string;
  /** File name without its extension(s). */
  baseName: string;
  /** Whether it was found by expanding a folder (matters for textUnit 'auto'). */
  inFolder: boolean;
}

const EXT: Record<string, DataFormat> = {
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.parquet': 'parquet',
  '.pq': 'parquet',
  '.txt': 'txt',
  '.text': 'txt',
  '.md': 'txt',
};

/** Format of a file name by its extension (`.gz` allowed after any format except Parquet), or null. */
export function formatOf(name: string): { format: DataFormat; gzip: boolean; baseName: string } | null {
  let base = path.basename(name);
  let gzip = false;
  if (base.toLowerCase().endsWith('.gz')) {
    gzip = true;
    base = base.slice(0, -3);
  }
  const ext = path.extname(base).toLowerCase();
  const format = EXT[ext];
  if (!format || (gzip && format === 'parquet')) return null;
  return { format, gzip, baseName: base.slice(0, base.length - ext.length) };
}

/** Expands sources into files (folders recursively, in name order; hidden files and folders skipped). */
export async function expandSources(sources: ImportSource[]): Promise<{ files: SourceFile[]; skipped: string[] }> {
  const files: SourceFile[] = [];
  const skipped: string[] = [];
  for (const src of sources) {
    if ('stream' in src) {
      const f = formatOf(src.name);
      if (!f) {
        skipped.push(src.name);
        continue;
      }
      files.push({ display: src.name, stream: src.stream, format: f.format, gzip: f.gzip, bytes: src.size ?? 0, folder: '', baseName: f.baseName, inFolder: false });
      continue;
    }
    const abs = path.resolve(src.path);
    const st = await fsp.stat(abs);
    if (st.isDirectory()) {
      const rootName = path.basename(abs);
      await walk(abs, rootName, files, skipped, { entries: 0 });
    } else {
      const f = formatOf(abs);
      if (!f) {
        skipped.push(src.path);
        continue;
      }
      files.push({ display: path.basename(abs), path: abs, format: f.format, gzip: f.gzip, bytes: st.size, folder: path.basename(path.dirname(abs)), baseName: f.baseName, inFolder: false });
    }
  }
  return { files, skipped };
}

/** A folder holding more entries than this (all levels) is refused: `/` or a home folder given by mistake would
 *  otherwise be walked for minutes. A dataset of more files than this is imported folder by folder. */
export const MAX_FOLDER_ENTRIES = 50_000;

async function walk(dir: string, display: string, files: SourceFile[], skipped: string[], seen: { entries: number }): Promise<void> {
  const entries = (await fsp.readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  seen.entries += entries.length;
  if (seen.entries > MAX_FOLDER_ENTRIES) {
    throw new Error(`${display.split('/')[0]} holds more than ${MAX_FOLDER_ENTRIES} files and folders: choose the folder of the dataset itself`);
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const abs = path.join(dir, e.name);
    const disp = `${display}/${e.name}`;
    if (e.isDirectory()) {
      await walk(abs, disp, files, skipped, seen);
    } else if (e.isFile()) {
      const f = formatOf(e.name);
      if (!f) {
        skipped.push(disp);
        continue;
      }
      const st = await fsp.stat(abs);
      files.push({ display: disp, path: abs, format: f.format, gzip: f.gzip, bytes: st.size, folder: path.basename(dir), baseName: f.baseName, inFolder: true });
    }
  }
}

/** Counts raw bytes consumed (before gunzip), for progress. */
export interface ByteCounter {
  bytes: number;
}

/** Opens a file or stream source as byte chunks (gunzipped where needed). Stream sources can be opened once. */
export function openChunks(file: SourceFile, counter: ByteCounter): AsyncIterable<Uint8Array> {
  let raw: AsyncIterable<Uint8Array>;
  if (file.path) raw = createReadStream(file.path, { highWaterMark: 1 << 20 });
  else if (file.stream) {
    raw = file.stream;
    file.stream = undefined; // consumed
  } else throw new Error(`${file.display}: the stream was already read`);
  const counted = countBytes(raw, counter);
  if (!file.gzip) return stripBom(counted);
  // pipeline, not pipe: a read error must reach the gunzip stream the importer reads, not be thrown unhandled.
  return stripBom(pipelineStreams(Readable.from(counted), createGunzip(), () => {}));
}

/** Removes a UTF-8 byte order mark at the start, even when it is split across chunks. */
async function* stripBom(src: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let head = new Uint8Array(0);
  let checked = false;
  for await (const chunk of src) {
    if (checked) {
      yield chunk;
      continue;
    }
    const joined = new Uint8Array(head.length + chunk.length);
    joined.set(head);
    joined.set(chunk, head.length);
    head = joined;
    if (head.length < 3) continue;
    checked = true;
    yield head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? head.subarray(3) : head;
  }
  if (!checked && head.length > 0) yield head;
}

async function* countBytes(src: AsyncIterable<Uint8Array>, counter: ByteCounter): AsyncGenerator<Uint8Array> {
  for await (const chunk of src) {
    const c = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    counter.bytes += c.length;
    yield c;
  }
}

/** Writes a stream source to a temporary file (Parquet needs random access). The caller removes the file. */
export async function spoolToFile(file: SourceFile, tmpDir?: string): Promise<string> {
  if (!file.stream) throw new Error(`${file.display}: the stream was already read`);
  const dir = await fsp.mkdtemp(path.join(tmpDir ?? os.tmpdir(), 'resect-upload-'));
  const dest = path.join(dir, path.basename(file.display) || 'upload.parquet');
  await pipeline(Readable.from(file.stream), createWriteStream(dest));
  file.stream = undefined;
  file.path = dest;
  file.bytes = (await fsp.stat(dest)).size;
  return dest;
}

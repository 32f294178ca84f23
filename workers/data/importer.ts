/**
 * Preview and import. An import is one pass over the sources: records are read in batches, mapped, checked for
 * duplicates and written into a dataset row in state 'importing', which no query shows. Each batch is its own
 * short transaction (other connections are never blocked for long). At the end the dataset's counts are computed
 * and it is flipped to 'ready' in one transaction. Cancel, a stop on error, or any failure purges the staging rows;
 * a crash leaves an invisible 'importing' dataset that `recoverStore` removes at the next start. Existing datasets
 * are never touched by an import.
 */
import { hash as digest } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { applyMapping, detectShape } from './mapping';
import { readRecords } from './readers';
import type { ReadItem } from './readers';
import { expandSources, spoolToFile } from './sources';
import type { SourceFile } from './sources';
import { indexInserted, purgeDataset, refreshStats } from './store';
import type { DataFormat, FileSummary, ImportIssue, ImportOptions, ImportReport, ImportSource, Mapping, PreviewOptions, PreviewResult } from './types';

const DETECT_RECORDS = 200;
const MAX_ISSUES = 1000;
const MAX_DUP_EXAMPLES = 100;
const DEFAULT_MAX_RECORD = 64 * 1024 * 1024;

/** Thrown when an import ends without a dataset; `report` says why and lists the issues. */
export class ImportFailedError extends Error {
  constructor(
    message: string,
    readonly report: ImportReport,
  ) {
    super(message);
    this.name = report.outcome === 'cancelled' ? 'AbortError' : 'ImportFailedError';
  }
}

function textUnitFor(file: SourceFile, unit: 'line' | 'paragraph' | 'file' | 'auto' | undefined): 'line' | 'paragraph' | 'file' {
  if (unit === 'line' || unit === 'paragraph' || unit === 'file') return unit;
  return file.inFolder ? 'file' : 'line';
}

/** Code points in a string (UTF-16 length less surrogate pairs). */
export function charCount(s: string): number {
  let n = s.length;
  if (!/[\uD800-\uDBFF]/.test(s)) return n;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) n--;
  }
  return n;
}

/** Token estimate used everywhere: ceil(chars / 4). */
export function tokenEstimate(chars: number): number {
  return Math.ceil(chars / 4);
}

function formatsOf(files: SourceFile[]): PreviewResult['formats'] {
  const out: PreviewResult['formats'] = {};
  for (const f of files) {
    const e = (out[f.format] ??= { files: 0, bytes: 0 });
    e.files++;
    e.bytes += f.bytes;
  }
  return out;
}

async function spoolStreams(files: SourceFile[], tmpDir?: string): Promise<string[]> {
  const spooled: string[] = [];
  for (const f of files) if (f.format === 'parquet' && !f.path) spooled.push(await spoolToFile(f, tmpDir));
  return spooled;
}

async function removeSpooled(paths: string[]): Promise<void> {
  for (const p of paths) await fsp.rm(path.dirname(p), { recursive: true, force: true }).catch(() => {});
}

/**
 * The first mapped samples, the detected shape and the files that would be read, without writing anything.
 * Stream sources are consumed.
 */
export async function previewImport(sources: ImportSource[], opts: PreviewOptions = {}): Promise<PreviewResult> {
  const limit = Math.max(1, Math.min(1000, opts.limit ?? 20));
  const { files, skipped } = await expandSources(sources);
  const spooled = await spoolStreams(files);
  try {
    const records: { file: SourceFile; value: unknown; line: number }[] = [];
    const issues: ImportIssue[] = [];
    const want = Math.max(DETECT_RECORDS, limit * 2);
    for (const file of files) {
      if (records.length >= want) break;
      const counter = { bytes: 0 };
      outer: for await (const batch of readRecords(file, counter, { maxRecordBytes: opts.maxRecordBytes ?? DEFAULT_MAX_RECORD, textUnit: textUnitFor(file, opts.textUnit) })) {
        for (const it of batch) {
          if (it.ok) records.push({ file, value: it.value, line: it.line });
          else if (issues.length < 100) issues.push(it.issue);
          if (records.length >= want) break outer;
        }
      }
    }
    const detection = detectShape(records.slice(0, DETECT_RECORDS).map((r) => r.value), files);
    const mapping = opts.mapping ?? detection.mapping;
    const samples: PreviewResult['samples'] = [];
    for (const r of records) {
      if (samples.length >= limit) break;
      const m = applyMapping(r.value, mapping, r.file);
      if (m.ok) samples.push({ ...m.sample, file: r.file.display, line: r.line });
      else if (!m.blank && issues.length < 100) issues.push({ kind: 'mapping', file: r.file.display, line: r.line, message: m.message });
    }
    return {
      detection,
      mapping,
      samples,
      files: files.map((f) => ({ file: f.display, format: f.format, bytes: f.bytes })),
      formats: formatsOf(files),
      skippedFiles: skipped,
      issues,
      totalBytes: files.reduce((a, f) => a + f.bytes, 0),
      refused: records.length ? null : refusal(files, skipped, issues),
    };
  } finally {
    await removeSpooled(spooled);
  }
}

/**
 * Why no record could be read, in the file's own words, for the banner (not "the detection is unsure"): the first
 * file-level problem, else the first issue, else that no file has a known type.
 */
function refusal(files: SourceFile[], skipped: string[], issues: ImportIssue[]): string {
  if (files.length === 0) {
    const some = skipped.slice(0, 3).map((f) => path.basename(f)).join(', ') + (skipped.length > 3 ? ', …' : '');
    return `no file of a type Resect imports${some ? ` (${some})` : ''}: JSONL, JSON, CSV, TSV, Parquet or text (.txt, .md), optionally .gz`;
  }
  const fileLevel = issues.find((i) => i.kind === 'binary' || i.kind === 'io' || i.kind === 'empty-file' || (i.kind === 'parse' && i.line === undefined));
  const first = fileLevel ?? issues[0];
  if (!first) return 'the files hold no records';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length === 2 ? '' : 's'} below)` : '';
  return `${first.file}: ${first.message}${more}`;
}

function defaultName(sources: ImportSource[]): string {
  const s = sources[0];
  if (!s) return 'dataset';
  const base = path.basename('stream' in s ? s.name : s.path);
  return base.replace(/(\.gz)?$/i, '').replace(/\.[^.]+$/, '') || base || 'dataset';
}

function describeSources(sources: ImportSource[], files: SourceFile[]): string {
  const names = sources.map((s) => ('stream' in s ? s.name : s.path));
  const fmts = [...new Set(files.map((f) => f.format))].join(', ');
  const shown = names.slice(0, 3).join(', ') + (names.length > 3 ? `, … (${names.length} sources)` : '');
  return `${files.length} file${files.length === 1 ? '' : 's'} (${fmts}) from ${shown}`;
}

/**
 * Imports sources into a new dataset. Resolves with the report when the dataset is committed; rejects with
 * ImportFailedError (its `report` attached; name 'AbortError' when cancelled) otherwise, leaving nothing behind.
 */
export async function importDataset(db: Database, sources: ImportSource[], opts: ImportOptions = {}): Promise<ImportReport> {
  const started = Date.now();
  const onError = opts.onError ?? 'skip';
  const keepDuplicates = opts.duplicates === 'keep';
  const maxRecordBytes = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD;
  const report: ImportReport = {
    datasetId: null,
    imported: 0,
    records: 0,
    skippedErrors: 0,
    duplicates: 0,
    blank: 0,
    issues: [],
    issueCounts: {},
    duplicateExamples: [],
    files: [],
    bytesTotal: 0,
    durationMs: 0,
    outcome: 'failed',
  };
  const addIssue = (i: ImportIssue) => {
    report.issueCounts[i.kind] = (report.issueCounts[i.kind] ?? 0) + 1;
    if (report.issues.length < MAX_ISSUES) report.issues.push(i);
  };
  const fail = (outcome: ImportReport['outcome'], message: string): never => {
    report.outcome = outcome;
    report.datasetId = null;
    report.durationMs = Date.now() - started;
    throw new ImportFailedError(message, report);
  };
  const checkAbort = () => {
    if (opts.signal?.aborted) fail('cancelled', 'import cancelled');
  };

  checkAbort();
  const { files, skipped } = await expandSources(sources);
  for (const s of skipped) addIssue({ kind: 'unsupported', file: s, message: 'unknown file type, skipped' });
  let spooled: string[] = [];
  let datasetId: number | null = null;
  try {
    spooled = await spoolStreams(files, opts.tmpDir);
    report.bytesTotal = files.reduce((a, f) => a + f.bytes, 0);
    checkAbort();

    const info = db
      .prepare("INSERT INTO ds_datasets(name, created_at, source, state, owner_pid, mapping) VALUES (?, ?, ?, 'importing', ?, ?)")
      .run(opts.name?.trim() || defaultName(sources), Date.now(), describeSources(sources, files), process.pid, opts.mapping ? JSON.stringify(opts.mapping) : null);
    datasetId = Number(info.lastInsertRowid);
    const dsId = datasetId;

    const insFile = db.prepare('INSERT INTO ds_files(dataset_id, path, format) VALUES (?, ?, ?)');
    const ins = db.prepare('INSERT INTO ds_samples(dataset_id, text, domain, scores, hash, chars, tokens, file_id, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    const dup = db.prepare('SELECT 1 FROM ds_samples WHERE dataset_id = ? AND hash = ? AND text = ? LIMIT 1');
    const scoreNames = new Set<string>();
    let mapping: Mapping | undefined = opts.mapping;
    let pending: { file: SourceFile; fileId: number; summary: FileSummary; item: ReadItem }[] = [];
    let bytesDoneFiles = 0;
    let lastId = 0;
    let lastProgress = 0;
    let currentFile = '';
    let counter = { bytes: 0 };

    const progress = (force: boolean) => {
      if (!opts.onProgress) return;
      const now = Date.now();
      if (!force && now - lastProgress < 100) return;
      lastProgress = now;
      opts.onProgress({ bytesDone: Math.min(report.bytesTotal || Infinity, bytesDoneFiles + counter.bytes), bytesTotal: report.bytesTotal, rowsDone: report.records, rowsImported: report.imported, file: currentFile });
    };

    /** Writes a batch in one transaction; returns true to stop reading the current file (a fatal issue). */
    const writeBatch = db.transaction((batch: { file: SourceFile; fileId: number; summary: FileSummary; item: ReadItem }[], m: Mapping): boolean => {
      let stopFile = false;
      const indexedUpTo = lastId;
      for (const { file, fileId, summary, item } of batch) {
        if (!item.ok) {
          addIssue(item.issue);
          if (item.issue.kind === 'empty-file') continue;
          if (item.issue.kind !== 'io' || !item.fatal) report.records++;
          if (onError === 'stop') fail('stopped', `import stopped at ${item.issue.file}${item.issue.line ? `:${item.issue.line}` : ''}: ${item.issue.message}`);
          report.skippedErrors++;
          if (item.fatal) stopFile = true;
          continue;
        }
        report.records++;
        summary.records++;
        const r = applyMapping(item.value, m, file);
        if (!r.ok) {
          if (r.blank) {
            report.blank++;
            continue;
          }
          const issue: ImportIssue = { kind: 'mapping', file: file.display, line: item.line, message: `line ${item.line}: ${r.message}` };
          addIssue(issue);
          if (onError === 'stop') fail('stopped', `import stopped at ${file.display}:${item.line}: ${r.message}`);
          report.skippedErrors++;
          continue;
        }
        const { text, domain, scores } = r.sample;
        const hash = digest('md5', text, 'buffer').readBigInt64LE(0);
        if (dup.get(dsId, hash, text)) {
          report.duplicates++;
          if (report.duplicateExamples.length < MAX_DUP_EXAMPLES) report.duplicateExamples.push({ file: file.display, line: item.line });
          if (!keepDuplicates) continue;
        }
        if (scores) for (const k of Object.keys(scores)) scoreNames.add(k);
        const chars = charCount(text);
        lastId = Number(ins.run(dsId, text, domain, scores ? JSON.stringify(scores) : null, hash, chars, tokenEstimate(chars), fileId, item.line).lastInsertRowid);
        report.imported++;
        summary.imported++;
      }
      if (lastId > indexedUpTo) indexInserted(db, dsId, indexedUpTo);
      return stopFile;
    });

    const flushPending = () => {
      if (!mapping) {
        const values = pending.filter((p) => p.item.ok).map((p) => (p.item as { value: unknown }).value);
        mapping = detectShape(values, files).mapping;
        db.prepare('UPDATE ds_datasets SET mapping = ? WHERE id = ?').run(JSON.stringify(mapping), dsId);
      }
      const batch = pending;
      pending = [];
      // Immediate: take the write lock at BEGIN, so another process's import waits its turn (busy timeout) instead of
      // failing with "database is locked" when this transaction's first read would have to become a write.
      return writeBatch.immediate(batch, mapping);
    };

    for (const file of files) {
      checkAbort();
      currentFile = file.display;
      counter = { bytes: 0 };
      const fileId = Number(insFile.run(dsId, file.display, file.format).lastInsertRowid);
      const summary: FileSummary = { file: file.display, format: file.format, bytes: file.bytes, records: 0, imported: 0 };
      report.files.push(summary);
      const reader = readRecords(file, counter, { maxRecordBytes, textUnit: textUnitFor(file, opts.textUnit) });
      for await (const batch of reader) {
        checkAbort();
        for (const item of batch) pending.push({ file, fileId, summary, item });
        if (mapping || pending.length >= DETECT_RECORDS) {
          if (flushPending()) break;
        }
        progress(false);
      }
      bytesDoneFiles += file.path || file.bytes ? file.bytes : counter.bytes;
      if (!file.bytes) report.bytesTotal += counter.bytes;
      counter = { bytes: 0 };
    }
    if (pending.length) flushPending();
    checkAbort();
    progress(true);

    if (report.imported === 0) fail('empty', report.records === 0 ? 'nothing to import: the sources hold no records' : 'nothing to import: no record gave a sample');

    db.transaction(() => {
      refreshStats(db, dsId);
      report.outcome = 'committed';
      report.datasetId = dsId;
      report.durationMs = Date.now() - started;
      const stored = { ...report, issues: report.issues.slice(0, 100) };
      db.prepare("UPDATE ds_datasets SET state = 'ready', owner_pid = NULL, source_bytes = ?, score_names = ?, report = ? WHERE id = ?").run(
        report.bytesTotal,
        JSON.stringify([...scoreNames].sort()),
        JSON.stringify(stored),
        dsId,
      );
    }).immediate();
    return report;
  } catch (err) {
    if (datasetId !== null && report.outcome !== 'committed') {
      try {
        purgeDataset(db, datasetId);
      } catch {
        /* recoverStore removes it at the next start */
      }
    }
    if (err instanceof ImportFailedError) throw err;
    report.outcome = 'failed';
    report.datasetId = null;
    report.durationMs = Date.now() - started;
    throw new ImportFailedError(`import failed: ${(err as Error).message}`, report);
  } finally {
    await removeSpooled(spooled);
  }
}

export type { DataFormat };

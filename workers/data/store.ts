/**
 * The dataset store: tables prefixed `ds_` in the workspace's SQLite database (better-sqlite3, WAL mode expected).
 *
 * Schema (version 1):
 *   ds_meta(key, value)                       schema version
 *   ds_datasets(id, name, created_at, source, state, owner_pid, samples, chars, tokens, source_bytes,
 *               domains JSON, score_names JSON, mapping JSON, report JSON)
 *       state: 'importing' (staging, invisible), 'ready', 'deleting' (invisible, being purged)
 *   ds_files(id, dataset_id, path, format)    files a dataset was imported from (for sample origins)
 *   ds_samples(id, dataset_id, text, domain, scores JSON, hash, chars, tokens, file_id, line)
 *   ds_fts                                    FTS5 external-content index over ds_samples.text: deletes and text
 *                                             updates are kept by triggers; inserts are indexed in bulk by the
 *                                             importer after each batch (3–4× faster than a per-row trigger), so
 *                                             code that inserts samples must call `indexInserted`.
 *
 * Token estimate: ceil(chars / 4) per sample (chars counted in Unicode code points); a tokenizer gives exact
 * counts where they matter.
 */
import type { Database, Statement } from 'better-sqlite3';
import type { DatasetInfo, DomainCount, LengthHistogram, Mapping, Sample, SampleFilter, SamplePage, SamplePageQuery, StreamedSample } from './types';

export const SCHEMA_VERSION = 1;

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS ds_datasets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  source TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL CHECK (state IN ('importing', 'ready', 'deleting')),
  owner_pid INTEGER,
  samples INTEGER NOT NULL DEFAULT 0,
  chars INTEGER NOT NULL DEFAULT 0,
  tokens INTEGER NOT NULL DEFAULT 0,
  source_bytes INTEGER NOT NULL DEFAULT 0,
  domains TEXT NOT NULL DEFAULT '[]',
  score_names TEXT NOT NULL DEFAULT '[]',
  mapping TEXT,
  report TEXT
);
CREATE TABLE IF NOT EXISTS ds_files (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  format TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ds_files_dataset ON ds_files(dataset_id);
CREATE TABLE IF NOT EXISTS ds_samples (
  id INTEGER PRIMARY KEY,
  dataset_id INTEGER NOT NULL,
  text TEXT NOT NULL,
  domain TEXT,
  scores TEXT,
  hash INTEGER NOT NULL,
  chars INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  file_id INTEGER,
  line INTEGER
);
CREATE INDEX IF NOT EXISTS ds_samples_dataset ON ds_samples(dataset_id);
CREATE INDEX IF NOT EXISTS ds_samples_domain ON ds_samples(dataset_id, domain);
CREATE INDEX IF NOT EXISTS ds_samples_domain_chars ON ds_samples(dataset_id, domain, chars);
CREATE INDEX IF NOT EXISTS ds_samples_chars ON ds_samples(dataset_id, chars);
CREATE INDEX IF NOT EXISTS ds_samples_hash ON ds_samples(dataset_id, hash);
CREATE VIRTUAL TABLE IF NOT EXISTS ds_fts USING fts5(
  text, content='ds_samples', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS ds_samples_ad AFTER DELETE ON ds_samples BEGIN
  INSERT INTO ds_fts(ds_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS ds_samples_au AFTER UPDATE OF text ON ds_samples BEGIN
  INSERT INTO ds_fts(ds_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO ds_fts(rowid, text) VALUES (new.id, new.text);
END;
`;

/** Creates or upgrades the `ds_` tables. Idempotent; the backend calls it when it opens the workspace. */
export function migrate(db: Database): void {
  db.exec('CREATE TABLE IF NOT EXISTS ds_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const row = db.prepare("SELECT value FROM ds_meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  const version = row ? Number(row.value) : 0;
  if (version > SCHEMA_VERSION) throw new Error(`the workspace's dataset tables are version ${version}, newer than this app (${SCHEMA_VERSION})`);
  if (version < 1) {
    db.transaction(() => {
      db.exec(SCHEMA_V1);
      db.prepare("INSERT OR REPLACE INTO ds_meta(key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    }).immediate();
  }
}

function pidAlive(pid: number | null): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what interrupted operations left: imports whose process is gone (crash, kill) and deletions that did not
 * finish. The backend calls it once after `migrate` when it opens the workspace. Imports still running in a live
 * process are left alone.
 */
export function recoverStore(db: Database): { removedImports: number; finishedDeletes: number } {
  const rows = db.prepare("SELECT id, state, owner_pid AS pid FROM ds_datasets WHERE state != 'ready'").all() as { id: number; state: string; pid: number | null }[];
  let removedImports = 0;
  let finishedDeletes = 0;
  for (const r of rows) {
    if (r.state === 'importing') {
      if (r.pid !== process.pid && pidAlive(r.pid)) continue;
      purgeDataset(db, r.id);
      removedImports++;
    } else {
      purgeDataset(db, r.id);
      finishedDeletes++;
    }
  }
  return { removedImports, finishedDeletes };
}

/** Adds a dataset's samples with id > afterId to the full-text index (after a batch of inserts). */
export function indexInserted(db: Database, datasetId: number, afterId: number): void {
  db.prepare('INSERT INTO ds_fts(rowid, text) SELECT id, text FROM ds_samples WHERE id > ? AND dataset_id = ?').run(afterId, datasetId);
}

/** Deletes a dataset's rows in batches (each its own transaction), then the dataset. */
export function purgeDataset(db: Database, id: number, batch = 5000): void {
  const del = db.prepare('DELETE FROM ds_samples WHERE id IN (SELECT id FROM ds_samples WHERE dataset_id = ? LIMIT ?)');
  for (;;) {
    const n = db.transaction(() => del.run(id, batch).changes).immediate();
    if (n < batch) break;
  }
  db.transaction(() => {
    db.prepare('DELETE FROM ds_files WHERE dataset_id = ?').run(id);
    db.prepare('DELETE FROM ds_datasets WHERE id = ?').run(id);
  }).immediate();
}

// ---------------------------------------------------------------------------------------------------------------
// Datasets

interface DatasetRow {
  id: number;
  name: string;
  created_at: number;
  source: string;
  samples: number;
  chars: number;
  tokens: number;
  source_bytes: number;
  domains: string;
  score_names: string;
  mapping: string | null;
}

function toInfo(r: DatasetRow): DatasetInfo {
  return {
    id: r.id,
    name: r.name,
    createdAt: r.created_at,
    source: r.source,
    samples: r.samples,
    chars: r.chars,
    tokens: r.tokens,
    sourceBytes: r.source_bytes,
    domains: JSON.parse(r.domains) as DomainCount[],
    scoreNames: JSON.parse(r.score_names) as string[],
    mapping: r.mapping ? (JSON.parse(r.mapping) as Mapping) : null,
  };
}

/** Visible (fully imported) datasets, newest first, with counts per domain. */
export function listDatasets(db: Database): DatasetInfo[] {
  const rows = db.prepare("SELECT * FROM ds_datasets WHERE state = 'ready' ORDER BY created_at DESC, id DESC").all() as DatasetRow[];
  return rows.map(toInfo);
}

export function getDataset(db: Database, id: number): DatasetInfo | null {
  const r = db.prepare("SELECT * FROM ds_datasets WHERE id = ? AND state = 'ready'").get(id) as DatasetRow | undefined;
  return r ? toInfo(r) : null;
}

export class DatasetNotFoundError extends Error {
  constructor(id: number) {
    super(`dataset ${id} not found`);
    this.name = 'DatasetNotFoundError';
  }
}

function requireDataset(db: Database, id: number): void {
  if (!db.prepare("SELECT 1 FROM ds_datasets WHERE id = ? AND state = 'ready'").get(id)) throw new DatasetNotFoundError(id);
}

export function renameDataset(db: Database, id: number, name: string): void {
  requireDataset(db, id);
  db.prepare('UPDATE ds_datasets SET name = ? WHERE id = ?').run(name, id);
}

/** Hides the dataset at once (one statement), then purges its rows in batches. */
export function deleteDataset(db: Database, id: number): void {
  requireDataset(db, id);
  db.prepare("UPDATE ds_datasets SET state = 'deleting' WHERE id = ?").run(id);
  purgeDataset(db, id);
}

/** Per-domain counts computed from the samples (the covering index ds_samples_domain_chars). */
export function domainCounts(db: Database, datasetId: number): DomainCount[] {
  return db
    .prepare(
      'SELECT domain, count(*) AS samples, coalesce(sum(chars), 0) AS chars, coalesce(sum((chars + 3) / 4), 0) AS tokens FROM ds_samples WHERE dataset_id = ? GROUP BY domain ORDER BY samples DESC, domain',
    )
    .all(datasetId) as DomainCount[];
}

/** Recomputes a dataset's stored counts (after an import or an edit). */
export function refreshStats(db: Database, datasetId: number): void {
  const domains = domainCounts(db, datasetId);
  const tot = domains.reduce((a, d) => ({ samples: a.samples + d.samples, chars: a.chars + d.chars, tokens: a.tokens + d.tokens }), { samples: 0, chars: 0, tokens: 0 });
  db.prepare('UPDATE ds_datasets SET samples = ?, chars = ?, tokens = ?, domains = ? WHERE id = ?').run(tot.samples, tot.chars, tot.tokens, JSON.stringify(domains), datasetId);
}

// ---------------------------------------------------------------------------------------------------------------
// Queries

/** Turns what a user types into an FTS5 query: every word must occur; "quoted phrases" stay phrases. */
export function ftsQuery(input: string): string | null {
  const terms: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(input))) {
    const t = (m[1] ?? m[2] ?? '').trim();
    if (!t) continue;
    // Keep only what the unicode61 tokenizer would index (letters, numbers); drop pure punctuation.
    if (!/[\p{L}\p{N}]/u.test(t)) continue;
    terms.push(`"${t.replace(/"/g, '""')}"`);
  }
  return terms.length ? terms.join(' ') : null;
}

interface Where {
  sql: string;
  params: unknown[];
}

function filterWhere(f: SampleFilter): Where {
  const parts = ['s.dataset_id = ?'];
  const params: unknown[] = [f.datasetId];
  if (f.domain === null) parts.push('s.domain IS NULL');
  else if (f.domain !== undefined) {
    parts.push('s.domain = ?');
    params.push(f.domain);
  }
  if (f.search !== undefined) {
    const q = ftsQuery(f.search);
    if (q) {
      parts.push('s.id IN (SELECT rowid FROM ds_fts WHERE ds_fts MATCH ?)');
      params.push(q);
    }
  }
  return { sql: parts.join(' AND '), params };
}

interface SampleRow {
  id: number;
  dataset_id: number;
  text: string;
  domain: string | null;
  scores: string | null;
  chars: number;
  tokens: number;
  path: string | null;
  line: number | null;
}

function toSample(r: SampleRow): Sample {
  return {
    id: r.id,
    datasetId: r.dataset_id,
    text: r.text,
    domain: r.domain,
    scores: r.scores ? (JSON.parse(r.scores) as Record<string, number>) : null,
    chars: r.chars,
    tokens: r.tokens,
    origin: r.path !== null && r.line !== null ? { file: r.path, line: r.line } : null,
  };
}

function encodeCursor(key: number, id: number): string {
  return Buffer.from(JSON.stringify([key, id])).toString('base64url');
}

function decodeCursor(c: string): [number, number] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && Number.isFinite(x))) return v as [number, number];
  } catch {
    /* fall through */
  }
  throw new Error('invalid cursor');
}

/**
 * A page of samples, newest-first or by length, filtered by domain and full-text search. Keyset pagination:
 * pass the returned `next` as `cursor` for the following page (stable under inserts and deletes elsewhere).
 */
export function querySamples(db: Database, q: SamplePageQuery): SamplePage {
  const limit = Math.max(1, Math.min(1000, Math.floor(q.limit ?? 50)));
  const sort = q.sort ?? { by: 'id' };
  const desc = sort.dir === 'desc';
  const w = filterWhere(q);
  const params = [...w.params];
  let keyset = '';
  if (q.cursor) {
    const [key, id] = decodeCursor(q.cursor);
    const op = desc ? '<' : '>';
    if (sort.by === 'id') {
      keyset = ` AND s.id ${op} ?`;
      params.push(id);
    } else {
      keyset = ` AND (s.chars, s.id) ${op} (?, ?)`;
      params.push(key, id);
    }
  }
  const dir = desc ? 'DESC' : 'ASC';
  const order = sort.by === 'id' ? `s.id ${dir}` : `s.chars ${dir}, s.id ${dir}`;
  const textCol = q.snippetChars && q.snippetChars > 0 ? 'substr(s.text, 1, ?) AS text' : 's.text AS text';
  const sql = `SELECT s.id, s.dataset_id, ${textCol}, s.domain, s.scores, s.chars, s.tokens, f.path, s.line
    FROM ds_samples s LEFT JOIN ds_files f ON f.id = s.file_id
    WHERE ${w.sql}${keyset} ORDER BY ${order} LIMIT ?`;
  const all = q.snippetChars && q.snippetChars > 0 ? [q.snippetChars, ...params, limit + 1] : [...params, limit + 1];
  const rows = db.prepare(sql).all(...all) as SampleRow[];
  const more = rows.length > limit;
  const page = (more ? rows.slice(0, limit) : rows).map(toSample);
  const last = page[page.length - 1];
  return { samples: page, next: more && last ? encodeCursor(sort.by === 'id' ? last.id : last.chars, last.id) : null };
}

/** Number of samples matching a filter (with a search this scans the matches). */
export function countSamples(db: Database, f: SampleFilter): number {
  const q = countQuery(f);
  return (db.prepare(q.sql).get(...q.params) as { n: number }).n;
}

export function getSample(db: Database, id: number): Sample | null {
  const r = db
    .prepare(
      `SELECT s.id, s.dataset_id, s.text, s.domain, s.scores, s.chars, s.tokens, f.path, s.line
       FROM ds_samples s JOIN ds_datasets d ON d.id = s.dataset_id AND d.state = 'ready' LEFT JOIN ds_files f ON f.id = s.file_id WHERE s.id = ?`,
    )
    .get(id) as SampleRow | undefined;
  return r ? toSample(r) : null;
}

/** Histogram of sample lengths (chars) over a filtered view: linear or log-spaced bins between min and max. */
export function lengthHistogram(db: Database, f: SampleFilter, opts: { bins?: number; scale?: 'linear' | 'log' } = {}): LengthHistogram {
  const plan = histogramPlan(f, opts);
  const step = plan.binning(db.prepare(plan.range.sql).get(...plan.range.params) as HistogramRange);
  return step ? step.finish(db.prepare(step.sql).all(...step.params) as { b: number; n: number }[]) : plan.empty;
}

type HistogramRange = { lo: number | null; hi: number | null };
type Query = { sql: string; params: unknown[] };

/**
 * A length histogram as two queries and the arithmetic between them, so the same histogram runs here
 * (`lengthHistogram`) or on a reader thread off the backend's main thread (main/workspace/read-pool.ts).
 */
export function histogramPlan(f: SampleFilter, opts: { bins?: number; scale?: 'linear' | 'log' } = {}) {
  const bins = Math.max(1, Math.min(200, Math.floor(opts.bins ?? 30)));
  const scale = opts.scale ?? 'linear';
  const w = filterWhere(f);
  return {
    range: { sql: `SELECT min(s.chars) AS lo, max(s.chars) AS hi FROM ds_samples s WHERE ${w.sql}`, params: w.params } satisfies Query,
    empty: { edges: [], counts: [], scale } satisfies LengthHistogram,
    /** The binning query for the range found; null when the filter matched nothing. */
    binning(mm: HistogramRange | undefined): (Query & { finish(rows: { b: number; n: number }[]): LengthHistogram }) | null {
      if (!mm || mm.lo === null || mm.hi === null) return null;
      const lo = scale === 'log' ? Math.log(Math.max(1, mm.lo)) : mm.lo;
      const hi = scale === 'log' ? Math.log(Math.max(1, mm.hi) + 1) : mm.hi + 1;
      const width = (hi - lo) / bins || 1;
      const edges = Array.from({ length: bins + 1 }, (_, i) => (scale === 'log' ? Math.exp(lo + i * width) : lo + i * width));
      const x = scale === 'log' ? 'ln(max(s.chars, 1))' : 's.chars';
      return {
        sql: `SELECT min(CAST((${x} - ?) / ? AS INTEGER), ?) AS b, count(*) AS n FROM ds_samples s WHERE ${w.sql} GROUP BY b`,
        params: [lo, width, bins - 1, ...w.params],
        finish(rows) {
          const counts = new Array<number>(bins).fill(0);
          for (const r of rows) counts[Math.max(0, Math.min(bins - 1, r.b))]! += r.n;
          return { edges: edges.map((e) => Math.round(e * 100) / 100), counts, scale };
        },
      };
    },
  };
}

/** The count query of a filtered view (what `countSamples` runs), for a reader thread. */
export function countQuery(f: SampleFilter): Query {
  const w = filterWhere(f);
  return { sql: `SELECT count(*) AS n FROM ds_samples s WHERE ${w.sql}`, params: w.params };
}

// ---------------------------------------------------------------------------------------------------------------
// Edits

function inChunks<T>(xs: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** Sets the domain of some samples of a dataset (null: unlabeled). Returns how many changed. */
export function setSampleDomain(db: Database, datasetId: number, sampleIds: number[], domain: string | null): number {
  requireDataset(db, datasetId);
  return db.transaction(() => {
    let n = 0;
    for (const ids of inChunks(sampleIds, 500)) {
      n += db.prepare(`UPDATE ds_samples SET domain = ? WHERE dataset_id = ? AND id IN (${ids.map(() => '?').join(',')})`).run(domain, datasetId, ...ids).changes;
    }
    refreshStats(db, datasetId);
    return n;
  }).immediate();
}

/** Relabels every sample of one domain (merging into `to` if it exists). Returns how many changed. */
export function renameDomain(db: Database, datasetId: number, from: string | null, to: string | null): number {
  requireDataset(db, datasetId);
  return db.transaction(() => {
    const n =
      from === null
        ? db.prepare('UPDATE ds_samples SET domain = ? WHERE dataset_id = ? AND domain IS NULL').run(to, datasetId).changes
        : db.prepare('UPDATE ds_samples SET domain = ? WHERE dataset_id = ? AND domain = ?').run(to, datasetId, from).changes;
    refreshStats(db, datasetId);
    return n;
  }).immediate();
}

/** Deletes samples of a dataset by id. Returns how many were deleted. */
export function deleteSamples(db: Database, datasetId: number, sampleIds: number[]): number {
  requireDataset(db, datasetId);
  return db.transaction(() => {
    let n = 0;
    for (const ids of inChunks(sampleIds, 500)) {
      n += db.prepare(`DELETE FROM ds_samples WHERE dataset_id = ? AND id IN (${ids.map(() => '?').join(',')})`).run(datasetId, ...ids).changes;
    }
    refreshStats(db, datasetId);
    return n;
  }).immediate();
}

/** Deletes every sample matching a filter (a domain, a search). Returns how many were deleted. */
export function deleteMatching(db: Database, f: SampleFilter): number {
  requireDataset(db, f.datasetId);
  const w = filterWhere(f);
  return db.transaction(() => {
    const n = db.prepare(`DELETE FROM ds_samples WHERE id IN (SELECT s.id FROM ds_samples s WHERE ${w.sql})`).run(...w.params).changes;
    refreshStats(db, f.datasetId);
    return n;
  }).immediate();
}

// ---------------------------------------------------------------------------------------------------------------
// Streaming

export interface IterateOptions extends SampleFilter {
  /** Stop after this many samples. */
  limit?: number;
  /** Samples per batch; default 1000. */
  batchSize?: number;
}

/**
 * Streams a dataset's samples (optionally one domain, or a search) in id order, as batches. Each batch is one
 * keyset query, so nothing stays open between batches and writers are never blocked. Works with `for…of` and
 * `for await…of`.
 */
export function* iterateSamples(db: Database, opts: IterateOptions): Generator<StreamedSample[]> {
  requireDataset(db, opts.datasetId);
  const batch = Math.max(1, Math.min(100_000, Math.floor(opts.batchSize ?? 1000)));
  const w = filterWhere(opts);
  const stmt: Statement = db.prepare(`SELECT s.id, s.text, s.domain, s.scores FROM ds_samples s WHERE ${w.sql} AND s.id > ? ORDER BY s.id LIMIT ?`);
  let after = -1;
  let left = opts.limit ?? Number.POSITIVE_INFINITY;
  while (left > 0) {
    const n = Math.min(batch, left);
    const rows = stmt.all(...w.params, after, n) as { id: number; text: string; domain: string | null; scores: string | null }[];
    if (rows.length === 0) return;
    left -= rows.length;
    after = rows[rows.length - 1]!.id;
    yield rows.map((r) => ({ id: r.id, text: r.text, domain: r.domain, scores: r.scores ? (JSON.parse(r.scores) as Record<string, number>) : null }));
    if (rows.length < n) return;
  }
}

/** How many samples of a dataset carry each score name. */
export function scoreCounts(db: Database, datasetId: number): Record<string, number> {
  requireDataset(db, datasetId);
  const rows = db.prepare(`SELECT j.key AS name, count(*) AS n FROM ds_samples s, json_each(s.scores) j WHERE s.dataset_id = ? AND s.scores IS NOT NULL GROUP BY j.key`).all(datasetId) as { name: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.name, r.n]));
}

/** Writes one score of many samples (one transaction); other scores of those samples are kept. */
export function setScores(db: Database, datasetId: number, name: string, values: readonly { id: number; value: number }[]): number {
  const stmt = db.prepare(`UPDATE ds_samples SET scores = json_set(coalesce(scores, '{}'), '$.' || json_quote(?), ?) WHERE id = ? AND dataset_id = ?`);
  let n = 0;
  db.transaction(() => {
    for (const v of values) n += stmt.run(name, v.value, v.id, datasetId).changes;
  }).immediate();
  return n;
}

/** Removes one score from every sample of a dataset (a cancelled scoring that had created it). */
export function removeScore(db: Database, datasetId: number, name: string): number {
  return db.prepare(`UPDATE ds_samples SET scores = nullif(json_remove(scores, '$.' || json_quote(?)), '{}') WHERE dataset_id = ? AND scores IS NOT NULL`).run(name, datasetId).changes;
}

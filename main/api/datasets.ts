/**
 * Datasets: the store queries and edits of workers/data, served directly (they are synchronous and fast), and the
 * `dataset.import` / `dataset.export` jobs. Uploads (`PUT /api/upload`) and downloads (`GET /api/download/<id>`) of
 * `resect serve` live in the workspace's `tmp/` folder (see main/server/transfer.ts).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ApiError, type JobInfo } from '../../common/api';
import { discardUploadBatch, newTransferId, removeDeferredBatches, sweepTransfers, transferFolder } from '../workspace/transfers';
import {
  DatasetNotFoundError,
  deleteDataset,
  deleteMatching,
  deleteSamples,
  ftsQuery,
  getDataset,
  getSample,
  listDatasets,
  previewImport,
  querySamples,
  renameDataset,
  renameDomain,
  setSampleDomain,
  type SampleFilter,
  type SamplePageQuery,
} from '../../workers/data';
import { countQuery, histogramPlan } from '../../workers/data/store';
import type { Backend } from '../backend';
import { resolveUserPath } from '../workspace/paths';
import type { Handlers } from './router';

export { newTransferId, sweepTransfers, TRANSFER_ID, transferDir } from '../workspace/transfers';

/** Once per backend: when a job ends, remove the upload batches whose discard waited for it. */
const watching = new WeakSet<Backend>();
function watchDeferredBatches(b: Backend): void {
  if (watching.has(b)) return;
  watching.add(b);
  b.subscribe((event, data) => {
    if (event !== 'job.update' || !b.workspace) return;
    const state = (data as JobInfo).state;
    if (state === 'queued' || state === 'running') return;
    try {
      removeDeferredBatches(b.workspace, b.requireScheduler().list());
    } catch (e) {
      process.stderr.write(`Could not remove an imported upload batch: ${(e as Error).message}\n`);
    }
  });
}

function db(b: Backend) {
  return b.requireWorkspace().db;
}

/** Library errors → API errors. */
function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DatasetNotFoundError) throw new ApiError('not_found', `Dataset not found: ${e.message.replace(/^dataset /, '').replace(/ not found$/, '')}`);
    if (e instanceof Error && e.message === 'invalid cursor') throw new ApiError('invalid_params', 'The page cursor is not valid (reload the list).');
    throw e;
  }
}

function requireDataset(b: Backend, id: number) {
  const d = getDataset(db(b), id);
  if (!d) throw new ApiError('not_found', `Dataset ${id} not found (it may have been deleted).`);
  return d;
}

function changed(b: Backend, datasetId: number | null) {
  b.emit('datasets.changed', { datasetId });
}

/** Paths typed by a user or given by an upload: absolute, existing. */
function checkSources(paths: string[]): string[] {
  return paths.map((p) => {
    const abs = resolveUserPath(p);
    if (!existsSync(abs)) throw new ApiError('invalid_params', `Not found: ${abs}`, { path: abs });
    return abs;
  });
}

/**
 * The keyset cursor of the row just before position `offset` of a filtered, sorted view (the library's cursor:
 * base64url JSON `[key, id]`), so a virtual list can jump far without reading the pages in between.
 */
function cursorAt(b: Backend, q: SamplePageQuery, offset: number): string | null {
  if (offset <= 0) return null;
  const parts = ['s.dataset_id = ?'];
  const params: unknown[] = [q.datasetId];
  if (q.domain === null) parts.push('s.domain IS NULL');
  else if (q.domain !== undefined) {
    parts.push('s.domain = ?');
    params.push(q.domain);
  }
  const fts = q.search !== undefined ? ftsQuery(q.search) : null;
  if (fts) {
    parts.push('s.id IN (SELECT rowid FROM ds_fts WHERE ds_fts MATCH ?)');
    params.push(fts);
  }
  const sort = q.sort ?? { by: 'id' };
  const dir = sort.dir === 'desc' ? 'DESC' : 'ASC';
  const order = sort.by === 'id' ? `s.id ${dir}` : `s.chars ${dir}, s.id ${dir}`;
  const row = db(b)
    .prepare(`SELECT s.id AS id, s.chars AS chars FROM ds_samples s WHERE ${parts.join(' AND ')} ORDER BY ${order} LIMIT 1 OFFSET ?`)
    .get(...params, offset - 1) as { id: number; chars: number } | undefined;
  if (!row) return null;
  return Buffer.from(JSON.stringify([sort.by === 'id' ? row.id : row.chars, row.id])).toString('base64url');
}

function filterOf(p: SampleFilter): SampleFilter {
  const f: SampleFilter = { datasetId: p.datasetId };
  if (p.domain !== undefined) f.domain = p.domain;
  if (p.search !== undefined && p.search.trim() !== '') f.search = p.search;
  return f;
}

export const datasetsHandlers = {
  'datasets.list': (_p, b) => listDatasets(db(b)),

  'datasets.get': (p, b) => {
    const d = requireDataset(b, p.id);
    const row = db(b).prepare('SELECT report FROM ds_datasets WHERE id = ?').get(p.id) as { report: string | null } | undefined;
    let report = null;
    try {
      report = row?.report ? JSON.parse(row.report) : null;
    } catch {
      /* a damaged report is simply not shown */
    }
    return { ...d, report };
  },

  'datasets.preview': async (p, b) => {
    b.requireWorkspace();
    const paths = checkSources(p.paths);
    try {
      return await previewImport(
        paths.map((x) => ({ path: x })),
        { ...(p.mapping ? { mapping: p.mapping } : {}), ...(p.limit ? { limit: p.limit } : {}), ...(p.textUnit ? { textUnit: p.textUnit } : {}) },
      );
    } catch (e) {
      throw new ApiError('invalid_params', `Could not read the files: ${(e as Error).message}`);
    }
  },

  'datasets.import': (p, b) => {
    const scheduler = b.requireScheduler();
    return scheduler.start('dataset.import', { ...p, paths: checkSources(p.paths) });
  },

  'datasets.samples': (p, b) => {
    const { offset, ...q } = p;
    const query: SamplePageQuery = { ...q, ...filterOf(q) };
    if (q.search !== undefined && q.search.trim() === '') delete query.search;
    return guard(() => {
      requireDataset(b, q.datasetId);
      if (offset !== undefined && !q.cursor) {
        if (offset > 0) {
          const cursor = cursorAt(b, query, offset);
          if (!cursor) return { samples: [], next: null };
          query.cursor = cursor;
        }
      }
      return querySamples(db(b), query);
    });
  },

  // Counts and histograms scan every sample of a view: they run on the workspace's reader threads, so a million-row
  // dataset (or twenty such requests at once) never holds the event loop.
  'datasets.count': async (p, b) => {
    guard(() => requireDataset(b, p.datasetId));
    const q = countQuery(filterOf(p));
    const row = await b.requireWorkspace().reads().get<{ n: number }>(q.sql, q.params);
    return { count: row?.n ?? 0 };
  },

  'datasets.sample': (p, b) => {
    const s = getSample(db(b), p.id);
    if (!s) throw new ApiError('not_found', `Sample ${p.id} not found.`);
    return s;
  },

  'datasets.histogram': async (p, b) => {
    guard(() => requireDataset(b, p.datasetId));
    const reads = b.requireWorkspace().reads();
    const plan = histogramPlan(filterOf(p), { ...(p.bins ? { bins: p.bins } : {}), ...(p.scale ? { scale: p.scale } : {}) });
    const step = plan.binning(await reads.get<{ lo: number | null; hi: number | null }>(plan.range.sql, plan.range.params));
    return step ? step.finish(await reads.all<{ b: number; n: number }>(step.sql, step.params)) : plan.empty;
  },

  'datasets.setDomain': (p, b) => {
    const n = guard(() => setSampleDomain(db(b), p.datasetId, p.sampleIds, p.domain));
    changed(b, p.datasetId);
    return { changed: n };
  },

  'datasets.renameDomain': (p, b) => {
    const n = guard(() => renameDomain(db(b), p.datasetId, p.from, p.to));
    changed(b, p.datasetId);
    return { changed: n };
  },

  'datasets.deleteSamples': (p, b) => {
    const n = guard(() => deleteSamples(db(b), p.datasetId, p.sampleIds));
    changed(b, p.datasetId);
    return { deleted: n };
  },

  'datasets.deleteMatching': (p, b) => {
    const n = guard(() => deleteMatching(db(b), filterOf(p)));
    changed(b, p.datasetId);
    return { deleted: n };
  },

  'datasets.rename': (p, b) => {
    guard(() => renameDataset(db(b), p.id, p.name));
    changed(b, p.id);
    return requireDataset(b, p.id);
  },

  'datasets.delete': (p, b) => {
    guard(() => deleteDataset(db(b), p.id));
    changed(b, null);
    return { deleted: true as const };
  },

  'datasets.export': (p, b) => {
    const ws = b.requireWorkspace();
    const d = requireDataset(b, p.filter.datasetId);
    const ext = p.format === 'parquet' ? 'parquet' : 'jsonl';
    let dest: string;
    let downloadId: string | null = null;
    if (p.path) {
      dest = resolveUserPath(p.path);
      const parent = path.dirname(dest);
      if (!existsSync(parent) || !statSync(parent).isDirectory()) throw new ApiError('invalid_params', `The folder ${parent} does not exist.`, { path: dest });
      if (existsSync(dest) && statSync(dest).isDirectory()) throw new ApiError('invalid_params', `${dest} is a folder; give a file name.`, { path: dest });
    } else {
      sweepTransfers(ws, 'downloads', b.requireScheduler().list());
      downloadId = newTransferId();
      const dir = transferFolder(ws, 'downloads', downloadId);
      mkdirSync(dir, { recursive: true });
      const safe = d.name.replace(/[^\p{L}\p{N}._ -]+/gu, '_').replace(/^[.\s]+/, '').slice(0, 100) || 'dataset';
      dest = path.join(dir, `${safe}.${ext}`);
    }
    const job = b.requireScheduler().start('dataset.export', { filter: filterOf(p.filter), format: p.format, path: dest });
    return { job, downloadId };
  },

  // A batch an import still reads is removed when that import ends, not now: a second drop must not break the first.
  'datasets.discardUploads': (p, b) => {
    const ws = b.requireWorkspace();
    const jobs = b.requireScheduler().list();
    let removed = 0;
    for (const id of p.ids) {
      const outcome = discardUploadBatch(ws, id, jobs);
      if (outcome === 'removed') removed++;
      if (outcome === 'deferred') watchDeferredBatches(b);
    }
    return { removed };
  },
} satisfies Partial<Handlers>;

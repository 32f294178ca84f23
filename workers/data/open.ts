/**
 * Opening the workspace's dataset store from a worker (any job that reads samples: `ctx.workspace` is the folder).
 *
 *   const db = await openDatasetStore(ctx.workspace, { readonly: true });
 *   try { for (const batch of iterateSamples(db, { datasetId, domain })) … } finally { db.close(); }
 *
 * Read-only connections never block the backend or an import (WAL); they see datasets committed before each
 * batch's query. A writable connection also creates or upgrades the `ds_` tables.
 */
import path from 'node:path';
import type { Database } from 'better-sqlite3';

/** The workspace database file (main/workspace/workspace.ts). */
export const DATASET_DB_FILE = 'resect.db';

export async function openDatasetStore(workspace: string, opts: { readonly?: boolean; timeoutMs?: number } = {}): Promise<Database> {
  const { default: Sqlite } = await import('better-sqlite3');
  const file = path.join(workspace, DATASET_DB_FILE);
  const db = new Sqlite(file, { readonly: opts.readonly ?? false, fileMustExist: true, timeout: opts.timeoutMs ?? 10_000 });
  if (opts.readonly) {
    const ok = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ds_datasets'").get();
    if (!ok) {
      db.close();
      throw new Error(`${file} has no dataset tables yet (open the workspace in Resect once, or import a dataset)`);
    }
    return db;
  }
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  const { migrate } = await import('./store');
  migrate(db);
  return db;
}

/**
 * Schema of `resect.db`, as an append-only list of migrations. Version N is reached by running migration N-1.
 * Never edit a migration that has shipped: add a new one at the end.
 */
import type Database from 'better-sqlite3';

export type Migration = (db: Database.Database) => void;

export const migrations: Migration[] = [
  // 1: settings and jobs
  (db) => {
    db.exec(`
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL            -- JSON
      );
      CREATE TABLE jobs (
        id          TEXT PRIMARY KEY,
        seq         INTEGER NOT NULL,  -- creation order
        kind        TEXT NOT NULL,
        title       TEXT NOT NULL,
        state       TEXT NOT NULL,
        heavy       INTEGER NOT NULL,
        created_at  INTEGER NOT NULL,
        started_at  INTEGER,
        ended_at    INTEGER,
        progress    TEXT,              -- JSON JobProgress
        error       TEXT,
        result      TEXT,              -- JSON
        params      TEXT NOT NULL,     -- JSON
        pid         INTEGER
      );
      CREATE INDEX jobs_by_seq ON jobs (seq);
    `);
  },
];

export const SCHEMA_VERSION = migrations.length;

/** Brings the database up to `SCHEMA_VERSION`, each migration in its own transaction. Returns the old version. */
export function migrate(db: Database.Database): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  const from = row?.version ?? 0;
  if (!row) db.prepare('INSERT INTO schema_version (version) VALUES (0)').run();
  if (from > SCHEMA_VERSION) {
    throw new Error(`the database has schema version ${from}, newer than this Resect knows (${SCHEMA_VERSION}); update Resect`);
  }
  for (let v = from; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      migrations[v]!(db);
      db.prepare('UPDATE schema_version SET version = ?').run(v + 1);
    }).immediate();
  }
  return from;
}

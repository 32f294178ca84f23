/**
 * A workspace: a folder with `resect.db` (metadata, settings, jobs) and one folder per kind of artifact.
 *
 * `Workspace.open` either returns a usable workspace or throws an ApiError `workspace_unavailable` whose message
 * says what is wrong (missing or unwritable folder, corrupt database, newer schema) — never a crash.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync, accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import { ApiError, Settings, type JobInfo, type JobProgress } from '../../common/api';
import { migrate } from './migrations';
import { migrate as migrateDatasets, recoverStore } from '../../workers/data/store';
import { resolveUnder, resolveUserPath } from './paths';
import { ReadPool } from './read-pool';

export const ARTIFACT_DIRS = ['models', 'datasets', 'atlases', 'saes', 'edits', 'jobs'] as const;
export type ArtifactDir = (typeof ARTIFACT_DIRS)[number];

export const DEFAULT_SETTINGS: Settings = { theme: 'system', device: 'auto', threads: 0, maxHeavyJobs: 1 };

const DB_FILE = 'resect.db';

function unavailable(dir: string, reason: string): ApiError {
  return new ApiError('workspace_unavailable', `The workspace ${dir} cannot be used: ${reason}`, { path: dir });
}

interface JobRow {
  id: string;
  seq: number;
  kind: string;
  title: string;
  state: string;
  heavy: number;
  created_at: number;
  started_at: number | null;
  ended_at: number | null;
  progress: string | null;
  error: string | null;
  result: string | null;
  params: string;
  pid: number | null;
}

function rowToJob(r: JobRow): JobInfo {
  const job: JobInfo = {
    id: r.id,
    kind: r.kind,
    title: r.title,
    state: r.state as JobInfo['state'],
    heavy: r.heavy !== 0,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    progress: r.progress ? (JSON.parse(r.progress) as JobProgress) : null,
    error: r.error,
    params: JSON.parse(r.params) as Record<string, unknown>,
    pid: r.pid,
  };
  if (r.result !== null) job.result = JSON.parse(r.result) as unknown;
  return job;
}

/** Jobs as stored in the workspace database. */
export class JobStore {
  constructor(private readonly db: Database.Database) {}

  insert(job: JobInfo): void {
    const seq = (this.db.prepare('SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM jobs').get() as { n: number }).n;
    this.db
      .prepare(
        `INSERT INTO jobs (id, seq, kind, title, state, heavy, created_at, started_at, ended_at, progress, error, result, params, pid)
         VALUES (@id, @seq, @kind, @title, @state, @heavy, @createdAt, @startedAt, @endedAt, @progress, @error, @result, @params, @pid)`,
      )
      .run({ ...this.toRow(job), seq });
  }

  save(job: JobInfo): void {
    this.db
      .prepare(
        `UPDATE jobs SET state=@state, title=@title, started_at=@startedAt, ended_at=@endedAt, progress=@progress,
           error=@error, result=@result, pid=@pid WHERE id=@id`,
      )
      .run(this.toRow(job));
  }

  get(id: string): JobInfo | null {
    const r = this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return r ? rowToJob(r) : null;
  }

  list(): JobInfo[] {
    return (this.db.prepare('SELECT * FROM jobs ORDER BY seq').all() as JobRow[]).map(rowToJob);
  }

  /** Deletes finished jobs; returns how many. */
  clearFinished(): number {
    return this.db.prepare("DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')").run().changes;
  }

  /** Marks jobs left queued or running by a previous backend as failed. Returns how many. */
  failUnfinished(reason: string, now: number = Date.now()): number {
    return this.db
      .prepare("UPDATE jobs SET state='failed', error=?, ended_at=?, pid=NULL WHERE state IN ('queued', 'running')")
      .run(reason, now).changes;
  }

  private toRow(job: JobInfo) {
    return {
      id: job.id,
      kind: job.kind,
      title: job.title,
      state: job.state,
      heavy: job.heavy ? 1 : 0,
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      endedAt: job.endedAt,
      progress: job.progress ? JSON.stringify(job.progress) : null,
      error: job.error,
      result: job.result === undefined ? null : JSON.stringify(job.result),
      params: JSON.stringify(job.params),
      pid: job.pid ?? null,
    };
  }
}

export class Workspace {
  readonly jobs: JobStore;
  private pool: ReadPool | null = null;

  private constructor(
    readonly dir: string,
    readonly db: Database.Database,
  ) {
    this.jobs = new JobStore(db);
  }

  /** Opens (creating if needed) the workspace at `input`. Throws ApiError `workspace_unavailable`. */
  static open(input: string, opts: { create?: boolean } = {}): Workspace {
    const dir = resolveUserPath(input);
    const create = opts.create ?? true;
    try {
      if (!existsSync(dir)) {
        if (!create) throw new Error('the folder does not exist');
        mkdirSync(dir, { recursive: true });
      }
      if (!statSync(dir).isDirectory()) throw new Error('it is not a folder');
      accessSync(dir, constants.R_OK | constants.W_OK);
      for (const sub of ARTIFACT_DIRS) mkdirSync(path.join(dir, sub), { recursive: true });
    } catch (e) {
      throw unavailable(dir, e instanceof Error ? e.message : String(e));
    }

    const file = path.join(dir, DB_FILE);
    let db: Database.Database | undefined;
    try {
      db = new Database(file, { timeout: 5000 });
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      const check = db.pragma('quick_check', { simple: true });
      if (check !== 'ok') throw new Error(`integrity check failed (${String(check)})`);
      migrate(db);
      migrateDatasets(db); // the ds_ tables of workers/data (docs/datasets.md)
    } catch (e) {
      try {
        db?.close();
      } catch {
        /* ignore */
      }
      const msg = e instanceof Error ? e.message : String(e);
      throw unavailable(
        dir,
        `its database ${file} is unreadable or corrupt (${msg}). Choose another workspace folder, or move the file aside to start afresh.`,
      );
    }
    try {
      recoverStore(db); // imports a crash left half-done, deletions that did not finish
    } catch (e) {
      process.stderr.write(`Could not tidy the dataset tables: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    return new Workspace(dir, db);
  }

  /** Heavy read-only queries, run on worker threads so the main thread stays free (read-pool.ts). */
  reads(): ReadPool {
    this.pool ??= new ReadPool(path.join(this.dir, DB_FILE));
    return this.pool;
  }

  /** The folder for one kind of artifact. */
  artifactDir(kind: ArtifactDir): string {
    return path.join(this.dir, kind);
  }

  jobDir(id: string): string {
    return resolveUnder(this.artifactDir('jobs'), id, 'job id');
  }

  getSettings(): Settings {
    const rows = this.db.prepare('SELECT key, value FROM settings').all() as { key: string; value: string }[];
    const stored: Record<string, unknown> = {};
    for (const r of rows) {
      try {
        stored[r.key] = JSON.parse(r.value);
      } catch {
        /* a damaged value falls back to its default */
      }
    }
    // Each stored value is kept only if it is still valid; others fall back to the default.
    const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    for (const key of Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[]) {
      if (key in stored) {
        const parsed = Settings.shape[key].safeParse(stored[key]);
        if (parsed.success) out[key] = parsed.data;
      }
    }
    return Settings.parse(out);
  }

  updateSettings(patch: Partial<Settings>): Settings {
    const put = this.db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(patch)) if (v !== undefined) put.run(k, JSON.stringify(v));
    }).immediate();
    return this.getSettings();
  }

  close(): void {
    void this.pool?.close();
    this.pool = null;
    if (this.db.open) this.db.close();
  }
}

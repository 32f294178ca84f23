/**
 * Read-only SQLite queries off the main thread. better-sqlite3 is synchronous: a heavy query (a histogram or a
 * count over a million samples) run by an API handler holds the event loop, and every other request and event waits
 * behind it. The heavy reads of the API go to this pool instead: a few worker threads, each with its own read-only
 * connection to the workspace database (WAL: readers never wait for the writer), so the main thread stays free and
 * at most `size` heavy queries run at once; the rest queue here.
 *
 * A worker runs SQL strings built by the store (workers/data/store.ts); it knows nothing of the schema. The worker's
 * code is evaluated from this file's text (no separate bundle entry) and loads better-sqlite3 from the path the main
 * thread resolved, so it works from the sources, the CLI bundle and the packaged app alike.
 */
import { Worker } from 'node:worker_threads';

export interface ReadQuery {
  sql: string;
  params: unknown[];
  /** `get`: the first row (or undefined); `all`: every row. */
  mode: 'get' | 'all';
}

/** Runs in each worker thread (as text): opens the database read-only, answers queries with rows or an error. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { readonly: true, fileMustExist: true, timeout: workerData.timeoutMs });
const cache = new Map();
parentPort.on('message', (m) => {
  try {
    let stmt = cache.get(m.sql);
    if (!stmt) {
      stmt = db.prepare(m.sql);
      if (cache.size > 64) cache.clear();
      cache.set(m.sql, stmt);
    }
    const rows = m.mode === 'get' ? stmt.get(...m.params) : stmt.all(...m.params);
    parentPort.postMessage({ id: m.id, ok: true, rows });
  } catch (e) {
    parentPort.postMessage({ id: m.id, ok: false, message: e && e.message ? e.message : String(e) });
  }
});
`;

interface Pending {
  resolve: (rows: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number | null;
}

function driverPath(): string {
  // Every way the backend runs has a `require`: the CLI bundle's banner (createRequire), the Electron bundle (CommonJS)
  // and the test runner. (No import.meta here: the CommonJS bundle cannot carry it.)
  if (typeof require !== 'function') throw new Error('the database reader threads need require() to find better-sqlite3');
  return require.resolve('better-sqlite3');
}

export class ReadPool {
  private readonly slots: Slot[] = [];
  private readonly queue: { id: number; query: ReadQuery }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly size = 2,
    private readonly timeoutMs = 5000,
  ) {}

  /** Runs one read query on a worker thread. */
  run<T>(query: ReadQuery): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the workspace was closed'));
    const id = this.nextId++;
    const done = new Promise<T>((resolve, reject) => this.pending.set(id, { resolve: resolve as (rows: unknown) => void, reject }));
    this.queue.push({ id, query });
    this.pump();
    return done;
  }

  get<T>(sql: string, params: unknown[]): Promise<T | undefined> {
    return this.run<T | undefined>({ sql, params, mode: 'get' });
  }

  all<T>(sql: string, params: unknown[]): Promise<T[]> {
    return this.run<T[]>({ sql, params, mode: 'all' });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new Error('the workspace was closed'));
    this.pending.clear();
    this.queue.length = 0;
    await Promise.all(this.slots.splice(0).map((s) => s.worker.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => s.busy === null);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const next = this.queue.shift()!;
      slot.busy = next.id;
      slot.worker.ref(); // a pending query keeps the process alive; an idle pool does not
      slot.worker.postMessage({ id: next.id, ...next.query });
    }
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver: driverPath(), file: this.file, timeoutMs: this.timeoutMs } });
    worker.unref();
    const slot: Slot = { worker, busy: null };
    worker.on('message', (m: { id: number; ok: boolean; rows?: unknown; message?: string }) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      slot.busy = null;
      worker.unref();
      if (p) {
        if (m.ok) p.resolve(m.rows);
        else p.reject(new Error(m.message ?? 'the query failed'));
      }
      this.pump();
    });
    // A worker that dies (out of memory, a driver crash) fails its query only; the next query starts a new worker.
    const drop = (why: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (slot.busy !== null) {
        this.pending.get(slot.busy)?.reject(why);
        this.pending.delete(slot.busy);
        slot.busy = null;
      }
      if (!this.closed) this.pump();
    };
    worker.on('error', (e) => drop(e));
    worker.on('exit', (code) => drop(new Error(`the query thread stopped (exit code ${code})`)));
    this.slots.push(slot);
    return slot;
  }
}

import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrate } from '../../workers/data/store';

export function openDb(file = ':memory:'): Database.Database {
  const db = new Database(file);
  if (file !== ':memory:') db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  migrate(db);
  return db;
}

export function tmpDir(): { dir: string; cleanup: () => void; write: (rel: string, data: string | Uint8Array) => string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resect-data-test-'));
  return {
    dir,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
    write(rel, data) {
      const p = path.join(dir, rel);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, data);
      return p;
    },
  };
}

export async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.slice(i, i + size);
}

/**
 * The edits store: per model (keyed by its folder), a stack of named edits — each a mask that removes experts (or a
 * hand restore) — that toggle on and off, with undo and redo of every change. The original weights are never touched:
 * an edit is a row and a mask file.
 *
 * Tables (prefix `rs_`, created by `migrate`, idempotent; version in `rs_meta`):
 *   rs_edits(id, model, name, kind 'remove'|'restore', created_at, enabled, deleted, position, experts, recipe JSON,
 *            mask_file)                         -- a deleted edit stays (undo brings it back)
 *   rs_history(id, model, action JSON, undone)  -- add / delete / toggle, in order; undone = 1 for the redo tail
 * Masks: `<workspace>/edits/<id>.mask.json`, written atomically before the row that refers to it.
 * The active stack (enabled, not deleted, by position) composes into one mask (compose.ts).
 */
import type Database from 'better-sqlite3';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { atomicWriteSync } from '../workspace/atomic';
import { composeMasks, maskSize, type MaskConfig } from '../../workers/analysis/resection/compose';
import type { MaskJson } from '../../workers/analysis/resection/select';

export const SCHEMA_VERSION = 1;

export interface Edit {
  id: number;
  model: string;
  name: string;
  kind: 'remove' | 'restore';
  createdAt: number;
  enabled: boolean;
  position: number;
  /** (layer, composite expert) pairs the edit's own mask covers. */
  experts: number;
  recipe: Record<string, unknown>;
}

type Action = { type: 'add'; id: number } | { type: 'delete'; id: number } | { type: 'toggle'; id: number; from: boolean; to: boolean };

interface EditRow {
  id: number; model: string; name: string; kind: string; created_at: number; enabled: number; deleted: number;
  position: number; experts: number; recipe: string; mask_file: string;
}

export class EditNotFoundError extends Error {
  override readonly name = 'EditNotFoundError';
}

export function migrate(db: Database.Database): void {
  db.exec(`
    CREATE TABLE IF NOT EXISTS rs_meta (key TEXT PRIMARY KEY, value TEXT);
    CREATE TABLE IF NOT EXISTS rs_edits (
      id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
      created_at INTEGER NOT NULL, enabled INTEGER NOT NULL DEFAULT 1, deleted INTEGER NOT NULL DEFAULT 0,
      position INTEGER NOT NULL, experts INTEGER NOT NULL DEFAULT 0, recipe TEXT NOT NULL DEFAULT '{}', mask_file TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS rs_edits_model ON rs_edits (model, position);
    CREATE TABLE IF NOT EXISTS rs_history (
      id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, action TEXT NOT NULL, undone INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS rs_history_model ON rs_history (model, id);
  `);
  const row = db.prepare(`SELECT value FROM rs_meta WHERE key = 'schema_version'`).get() as { value: string } | undefined;
  if (!row) db.prepare(`INSERT INTO rs_meta (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
  else if (Number(row.value) > SCHEMA_VERSION) throw new Error(`the edits tables are from a newer Resect (schema ${row.value})`);
}

const toEdit = (r: EditRow): Edit => ({
  id: r.id, model: r.model, name: r.name, kind: r.kind as Edit['kind'], createdAt: r.created_at, enabled: r.enabled !== 0,
  position: r.position, experts: r.experts, recipe: JSON.parse(r.recipe) as Record<string, unknown>,
});

export class EditStore {
  constructor(private readonly db: Database.Database, private readonly dir: string) {
    migrate(db);
  }

  private row(id: number): EditRow {
    const r = this.db.prepare('SELECT * FROM rs_edits WHERE id = ?').get(id) as EditRow | undefined;
    if (!r) throw new EditNotFoundError(`no edit ${id}`);
    return r;
  }

  get(id: number): Edit {
    const r = this.row(id);
    if (r.deleted) throw new EditNotFoundError(`no edit ${id}`);
    return toEdit(r);
  }

  list(model: string): Edit[] {
    return (this.db.prepare('SELECT * FROM rs_edits WHERE model = ? AND deleted = 0 ORDER BY position, id').all(model) as EditRow[]).map(toEdit);
  }

  mask(id: number): MaskJson {
    return JSON.parse(readFileSync(path.join(this.dir, this.row(id).mask_file), 'utf8')) as MaskJson;
  }

  history(model: string): { canUndo: boolean; canRedo: boolean } {
    const q = (undone: number) => this.db.prepare('SELECT 1 FROM rs_history WHERE model = ? AND undone = ? LIMIT 1').get(model, undone) !== undefined;
    return { canUndo: q(0), canRedo: q(1) };
  }

  private record(model: string, action: Action): void {
    this.db.prepare('DELETE FROM rs_history WHERE model = ? AND undone = 1').run(model); // a new change drops the redo tail
    this.db.prepare('INSERT INTO rs_history (model, action) VALUES (?, ?)').run(model, JSON.stringify(action));
  }

  add(model: string, e: { name: string; kind?: 'remove' | 'restore'; mask: MaskJson; recipe?: Record<string, unknown> }, config: MaskConfig): Edit {
    const experts = maskSize(config, e.mask); // also validates the mask against the model
    mkdirSync(this.dir, { recursive: true });
    const tx = this.db.transaction(() => {
      const pos = (this.db.prepare('SELECT COALESCE(MAX(position), 0) + 1 AS p FROM rs_edits WHERE model = ?').get(model) as { p: number }).p;
      const info = this.db
        .prepare(`INSERT INTO rs_edits (model, name, kind, created_at, position, experts, recipe, mask_file) VALUES (?, ?, ?, ?, ?, ?, ?, '')`)
        .run(model, e.name, e.kind ?? 'remove', Date.now(), pos, experts, JSON.stringify(e.recipe ?? {}));
      const id = Number(info.lastInsertRowid);
      const file = `${id}.mask.json`;
      atomicWriteSync(path.join(this.dir, file), `${JSON.stringify(e.mask)}\n`);
      this.db.prepare('UPDATE rs_edits SET mask_file = ? WHERE id = ?').run(file, id);
      this.record(model, { type: 'add', id });
      return id;
    });
    return this.get(tx());
  }

  setEnabled(id: number, enabled: boolean): Edit {
    const r = this.get(id);
    if (r.enabled === enabled) return r;
    this.db.transaction(() => {
      this.db.prepare('UPDATE rs_edits SET enabled = ? WHERE id = ?').run(enabled ? 1 : 0, id);
      this.record(r.model, { type: 'toggle', id, from: r.enabled, to: enabled });
    })();
    return this.get(id);
  }

  delete(id: number): void {
    const r = this.get(id);
    this.db.transaction(() => {
      this.db.prepare('UPDATE rs_edits SET deleted = 1 WHERE id = ?').run(id);
      this.record(r.model, { type: 'delete', id });
    })();
  }

  private apply(a: Action, forward: boolean): void {
    if (a.type === 'add' || a.type === 'delete') {
      const deleted = (a.type === 'add') !== forward ? 1 : 0;
      this.db.prepare('UPDATE rs_edits SET deleted = ? WHERE id = ?').run(deleted, a.id);
    } else {
      this.db.prepare('UPDATE rs_edits SET enabled = ? WHERE id = ?').run((forward ? a.to : a.from) ? 1 : 0, a.id);
    }
  }

  /** Reverts the model's latest change; false when there is nothing to undo. */
  undo(model: string): boolean {
    const h = this.db.prepare('SELECT id, action FROM rs_history WHERE model = ? AND undone = 0 ORDER BY id DESC LIMIT 1').get(model) as { id: number; action: string } | undefined;
    if (!h) return false;
    this.db.transaction(() => {
      this.apply(JSON.parse(h.action) as Action, false);
      this.db.prepare('UPDATE rs_history SET undone = 1 WHERE id = ?').run(h.id);
    })();
    return true;
  }

  /** Re-applies the earliest undone change; false when there is nothing to redo. */
  redo(model: string): boolean {
    const h = this.db.prepare('SELECT id, action FROM rs_history WHERE model = ? AND undone = 1 ORDER BY id ASC LIMIT 1').get(model) as { id: number; action: string } | undefined;
    if (!h) return false;
    this.db.transaction(() => {
      this.apply(JSON.parse(h.action) as Action, true);
      this.db.prepare('UPDATE rs_history SET undone = 0 WHERE id = ?').run(h.id);
    })();
    return true;
  }

  /** The active stack as one mask (per layer), and how many (layer, expert) pairs it removes. */
  composed(model: string, config: MaskConfig): { mask: MaskJson; removed: number; edits: number[] } {
    const active = this.list(model).filter((e) => e.enabled);
    const mask = composeMasks(config, active.map((e) => ({ kind: e.kind, mask: this.maskIfPresent(e.id) })));
    return { mask, removed: maskSize(config, mask), edits: active.map((e) => e.id) };
  }

  private maskIfPresent(id: number): MaskJson {
    const file = path.join(this.dir, this.row(id).mask_file);
    return existsSync(file) ? this.mask(id) : {};
  }
}

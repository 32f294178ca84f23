/** The edits store: stack, toggle, undo/redo, composition, persistence across reopening. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EditStore } from '../../main/resection/store';

const cfg = { num_hidden_layers: 4, moe_experts: 8, moe_groups: 2 };
let dir: string;
let db: Database.Database;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'resect-edits-'));
  db = new Database(path.join(dir, 'resect.db'));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('EditStore', () => {
  it('stacks edits, composes the active ones, toggles, undoes and redoes, and persists', () => {
    const s = new EditStore(db, path.join(dir, 'edits'));
    const m = '/models/a';
    const a = s.add(m, { name: 'code experts', mask: { groups: { 0: [1, 2] } }, recipe: { rule: { kind: 'domain', domain: 'code' } } }, cfg);
    expect(a.experts).toBe(4); // 2 experts × 2 layers of group 0
    expect(existsSync(path.join(dir, 'edits', `${a.id}.mask.json`))).toBe(true);
    const b = s.add(m, { name: 'hand', mask: { layers: { 3: [9] } } }, cfg);
    const r = s.add(m, { name: 'restore', kind: 'restore', mask: { layers: { 1: [2] } } }, cfg);
    expect(s.composed(m, cfg).mask).toEqual({ layers: { 0: [1, 2], 1: [1], 3: [9] } });

    s.setEnabled(b.id, false);
    expect(s.composed(m, cfg).mask).toEqual({ layers: { 0: [1, 2], 1: [1] } });
    s.delete(r.id);
    expect(s.list(m).map((e) => e.name)).toEqual(['code experts', 'hand']);
    expect(s.composed(m, cfg).mask).toEqual({ layers: { 0: [1, 2], 1: [1, 2] } });

    expect(s.undo(m)).toBe(true); // delete undone
    expect(s.list(m).map((e) => e.name)).toEqual(['code experts', 'hand', 'restore']);
    expect(s.undo(m)).toBe(true); // toggle undone
    expect(s.get(b.id).enabled).toBe(true);
    expect(s.history(m)).toEqual({ canUndo: true, canRedo: true });
    expect(s.redo(m)).toBe(true); // toggle again
    expect(s.get(b.id).enabled).toBe(false);

    // Reopen: everything is still there, including the redo tail.
    db.close();
    db = new Database(path.join(dir, 'resect.db'));
    const s2 = new EditStore(db, path.join(dir, 'edits'));
    expect(s2.list(m).map((e) => [e.name, e.enabled])).toEqual([['code experts', true], ['hand', false], ['restore', true]]);
    expect(s2.history(m)).toEqual({ canUndo: true, canRedo: true });
    expect(s2.redo(m)).toBe(true); // the delete again
    expect(s2.redo(m)).toBe(false);
    expect(s2.list(m)).toHaveLength(2);
    expect(s2.mask(a.id)).toEqual({ groups: { 0: [1, 2] } });
    expect(JSON.parse(readFileSync(path.join(dir, 'edits', `${a.id}.mask.json`), 'utf8'))).toEqual({ groups: { 0: [1, 2] } });

    // Undo everything back to nothing; a new change then drops the redo tail.
    while (s2.undo(m));
    expect(s2.list(m)).toHaveLength(0);
    expect(s2.composed(m, cfg)).toEqual({ mask: {}, removed: 0, edits: [] });
    s2.add(m, { name: 'fresh', mask: { layers: { 0: [0] } } }, cfg);
    expect(s2.history(m)).toEqual({ canUndo: true, canRedo: false });
    expect(s2.list('/models/other')).toEqual([]);
  });

  it('refuses a mask that does not fit the model', () => {
    const s = new EditStore(db, path.join(dir, 'edits'));
    expect(() => s.add('/m', { name: 'bad', mask: { layers: { 9: [1] } } }, cfg)).toThrow(/unknown layer 9/);
    expect(s.list('/m')).toEqual([]);
    expect(() => s.get(12345)).toThrow(/no edit/);
  });
});

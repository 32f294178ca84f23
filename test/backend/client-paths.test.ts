/**
 * Issue 15: one rule for every id and path a client sends. Every API method whose params take an id or a path
 * (found by walking the schemas, so a new one fails this test until it is listed) is fed `.`, `..`, `../x`, absolute
 * and encoded variants and very long names; nothing outside its target may be touched (the workspace, a sentinel
 * folder beside it and the working directory are compared file by file before and after), and the backend still
 * answers. Also the resolver itself (`resolveUnder`) and the atlas id schema.
 */
import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { methods } from '../../common/api';
import { Backend } from '../../main/backend';
import type { WorkerLauncher } from '../../main/jobs/launcher';
import { resolveUnder } from '../../main/workspace/paths';

const noWorkers: WorkerLauncher = {
  launch() {
    throw new Error('no workers in this test');
  },
};

/** How each method's id or path params are meant: `id` names something under a workspace folder; `user` is a
 *  path on the backend's machine that the user chose (read from, or written to only by an explicit export/open). */
const TABLE: Record<string, Record<string, 'id' | 'user'>> = {
  'workspace.open': { path: 'user' },
  'jobs.cancel': { id: 'id' },
  'jobs.log': { id: 'id' },
  'jobs.metrics': { id: 'id' },
  'datasets.preview': { paths: 'user' },
  'datasets.import': { paths: 'user' },
  'datasets.export': { path: 'user' },
  'datasets.discardUploads': { ids: 'id' },
  'models.add': { path: 'user' },
  'models.remove': { id: 'id' },
  'models.get': { id: 'id' },
  'models.loadMask': { id: 'id', path: 'user' },
  'models.setEditApplied': { id: 'id' },
  'saes.train': { id: 'id' },
  'saes.capture': { model: 'user' },
  'saes.importActivations': { file: 'user' },
  'saes.import': { dir: 'user', id: 'id' },
  'saes.encode': { model: 'user' },
  'atlas.build': { model: 'user', id: 'id', out: 'user' },
  'atlas.delete': { atlas: 'id' },
  'atlas.map': { atlas: 'id' },
  'atlas.experts': { atlas: 'id' },
  'atlas.expert': { atlas: 'id' },
  'atlas.search': { atlas: 'id' },
  'atlas.pin': { atlas: 'id' },
  'atlas.unpin': { atlas: 'id' },
  'resection.select': { atlas: 'user' },
  'resection.similarity': { atlas: 'user' },
  'resection.edits': { model: 'user' },
  'resection.apply': { model: 'user', atlas: 'user' },
  'resection.undo': { model: 'user' },
  'resection.redo': { model: 'user' },
  'resection.expert': { model: 'user' },
  'resection.evaluate': { model: 'user' },
  'resection.export': { model: 'user', out: 'user' },
};

/** Params that pass validation apart from the key under test. */
const BASE: Record<string, Record<string, unknown>> = {
  'datasets.export': { filter: { datasetId: 1 }, format: 'jsonl' },
  'models.loadMask': { id: 'default', path: 'mask.json' },
  'atlas.build': { model: 'model', data: { kind: 'dataset', datasetId: 1 } },
  'atlas.map': { group: 0 },
  'atlas.experts': { group: 0 },
  'atlas.expert': { group: 0, expert: 0 },
  'atlas.search': { text: 'x' },
  'atlas.pin': { group: 0, expert: 0, collection: 1 },
  'atlas.unpin': { group: 0, expert: 0, collection: 1 },
  'resection.select': { rule: { kind: 'domain', domain: 'x' } },
  'resection.apply': { name: 'x', model: 'model' },
  'resection.expert': { group: 0, expert: 0, action: 'remove' },
  'resection.export': { out: 'out' },
  'saes.capture': { hook: 'blocks.0.hook_resid_post', data: { kind: 'dataset', datasetId: 1 } },
  'saes.import': { dir: '.' },
  'saes.encode': { sae: 'x', texts: ['x'] },
};

const ID_LIKE = /^(id|ids|atlas|path|paths|model|out|dir|file)$/;

type Def = { type: string; innerType?: z.ZodType; element?: z.ZodType; in?: z.ZodType };
const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;
function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = defOf(s);
    if (d.innerType && ['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch'].includes(d.type)) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else return s;
  }
}
const isStringy = (s: z.ZodType): boolean => {
  const u = unwrap(s);
  const d = defOf(u);
  return d.type === 'string' || (d.type === 'array' && !!d.element && defOf(unwrap(d.element)).type === 'string');
};

/** Every (method, key) whose schema takes a string (or strings) named like an id or a path. */
function enumerate(): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, spec] of Object.entries(methods)) {
    const params = unwrap(spec.params as z.ZodType) as unknown as { shape?: Record<string, z.ZodType> };
    for (const [key, s] of Object.entries(params.shape ?? {})) if (ID_LIKE.test(key) && isStringy(s)) (out[name] ??= []).push(key);
  }
  return out;
}

/** The entries of the folders a hostile id could reach (the sandbox, the folder outside, the working directory, the
 *  workspace and its artifact folders): cheap enough to take after every call. */
function snapshot(sandbox: string, ws: string, workspaceOpen = false): string[] {
  const folders = [sandbox, path.join(sandbox, 'outside'), path.join(sandbox, 'cwd'), ws, ...['atlases', 'datasets', 'models', 'edits', 'saes'].map((d) => path.join(ws, d)), path.join(ws, 'atlases', 'a1')];
  const out: string[] = [];
  for (const f of folders) {
    let names: string[] = [];
    try {
      names = readdirSync(f);
    } catch {
      names = ['(missing)'];
    }
    // Files the backend itself rewrites (database, lock, job logs, transfers) are not what a hostile id must not touch.
    for (const n of names) if (!(f === ws && /^(resect\.db|backend\.lock|jobs|tmp)/.test(n))) out.push(path.join(path.relative(sandbox, f), n));
  }
  // workspace.open makes a workspace where the user says (relative: in the working directory, or the sandbox itself).
  return workspaceOpen ? out.filter(keptByOpen) : out;
}
const keptByOpen = (e: string) => e.includes('sentinel') || e.includes('a1') || e.startsWith(`ws${path.sep}`);

describe('every id and path from a client goes through one rule', () => {
  let sandbox: string;
  let ws: string;
  let cwd: string;
  let backend: Backend;
  const oldCwd = process.cwd();

  beforeAll(() => {
    sandbox = mkdtempSync(path.join(tmpdir(), 'resect-paths-'));
    ws = path.join(sandbox, 'ws');
    cwd = path.join(sandbox, 'cwd');
    mkdirSync(path.join(sandbox, 'outside'), { recursive: true });
    writeFileSync(path.join(sandbox, 'outside', 'sentinel.txt'), 'keep me');
    mkdirSync(cwd);
    writeFileSync(path.join(cwd, 'sentinel.txt'), 'keep me too');
    backend = new Backend({ mode: 'serve', workspaceDir: ws, launcher: noWorkers });
    mkdirSync(path.join(ws, 'atlases', 'a1'), { recursive: true });
    writeFileSync(path.join(ws, 'atlases', 'a1', 'meta.json'), '{}');
    writeFileSync(path.join(ws, 'datasets', 'keep.txt'), 'x');
    // A link inside the workspace that points out of it.
    symlinkSync(path.join(sandbox, 'outside'), path.join(ws, 'atlases', 'escape'));
    process.chdir(cwd); // relative user paths resolve here, inside the sandbox
  });
  afterAll(async () => {
    process.chdir(oldCwd);
    await backend.close();
  });

  it('lists exactly the methods that take an id or a path', () => {
    const found = enumerate();
    const expected = Object.fromEntries(Object.entries(TABLE).map(([m, keys]) => [m, Object.keys(keys).filter((k) => found[m]?.includes(k))]));
    // Every listed key exists, and no method takes an id or path that the table forgot.
    for (const [m, keys] of Object.entries(TABLE)) {
      if (!(m in methods)) continue; // a method of a feature not in this build
      for (const k of Object.keys(keys)) expect(found[m], `${m}.${k}`).toContain(k);
    }
    for (const [m, keys] of Object.entries(found)) expect(expected[m]?.sort(), m).toEqual([...keys].sort());
  });

  it('refuses hostile ids and never touches anything outside the target', async () => {
    const hostile = [
      '.', '..', '../x', '../../outside', 'a/../..', '..\\..', '/', path.join(sandbox, 'outside'), path.join(ws, 'atlases'),
      '%2e%2e', '..%2f..', 'escape', '~/..', '.hidden', 'a\0b', 'x'.repeat(5000), `${'a/'.repeat(600)}b`,
    ];
    let before = snapshot(sandbox, ws);
    const methodsWithIds = enumerate();
    let calls = 0;
    for (const [m, keys] of Object.entries(methodsWithIds)) {
      for (const key of keys) {
        for (const v of hostile) {
          // A user path may name any folder; the roots are left out only to keep this test short (a walk of `/` is
          // bounded by MAX_FOLDER_ENTRIES, which has its own test in the data suite).
          if (TABLE[m]?.[key] === 'user' && ['/', '~/..'].includes(v)) continue;
          const isArray = defOf(unwrap((unwrap(methods[m as keyof typeof methods].params as z.ZodType) as unknown as { shape: Record<string, z.ZodType> }).shape[key]!)).type === 'array';
          const params = { ...BASE[m], [key]: isArray ? [v] : v };
          const r = await backend.router.dispatch(m, params);
          calls++;
          if (TABLE[m]?.[key] === 'id') expect(r.ok && m.endsWith('delete'), `${m} ${key}=${JSON.stringify(v).slice(0, 40)}`).toBe(false);
          const open = m === 'workspace.open';
          const after = snapshot(sandbox, ws, open);
          const lost = (open ? before.filter(keptByOpen) : before).filter((k) => !after.includes(k));
          const added = open ? [] : after.filter((k) => !before.includes(k));
          expect({ call: `${m} ${key}=${JSON.stringify(v).slice(0, 40)}`, lost, added }).toEqual({ call: `${m} ${key}=${JSON.stringify(v).slice(0, 40)}`, lost: [], added: [] });
          if (m === 'workspace.open') {
            // Opening a folder the user names creates a workspace there (that is its job); switch back and go on.
            if (backend.workspaceInfo().path !== ws) expect(await backend.router.dispatch('workspace.open', { path: ws })).toMatchObject({ ok: true });
            before = snapshot(sandbox, ws);
          }
        }
      }
    }
    expect(calls).toBeGreaterThan(300);
    expect(existsSync(path.join(sandbox, 'outside', 'sentinel.txt'))).toBe(true);
    expect(existsSync(path.join(ws, 'atlases', 'a1', 'meta.json'))).toBe(true);
    const info = await backend.router.dispatch('app.info', {});
    expect(info.ok).toBe(true);
  });

  it('atlas.delete with ".." or "." is refused and the workspace and its atlases stay', async () => {
    for (const atlas of ['..', '.']) {
      const r = await backend.router.dispatch('atlas.delete', { atlas });
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('invalid_params');
    }
    expect(existsSync(path.join(ws, 'resect.db'))).toBe(true);
    expect(existsSync(path.join(ws, 'atlases', 'a1', 'meta.json'))).toBe(true);
    expect(await backend.router.dispatch('atlas.delete', { atlas: 'a1' })).toMatchObject({ ok: true });
    expect(existsSync(path.join(ws, 'atlases', 'a1'))).toBe(false);
  });
});

describe('resolveUnder', () => {
  const parent = path.join(tmpdir(), 'resect-under');
  it('resolves ids and relative paths inside their folder', () => {
    expect(resolveUnder(parent, 'a1', 'id')).toBe(path.join(parent, 'a1'));
    expect(resolveUnder(parent, 'a..b', 'id')).toBe(path.join(parent, 'a..b'));
    expect(resolveUnder(parent, 'corpus/a/b.jsonl', 'name', 'relative')).toBe(path.join(parent, 'corpus', 'a', 'b.jsonl'));
  });
  it('refuses dot-only, hidden, separators, absolute, control characters and long names, saying what is wrong', () => {
    for (const bad of ['', '.', '..', '.x', 'a/b', 'a\\b', '/abs', 'x'.repeat(81), 'a\0']) expect(() => resolveUnder(parent, bad, 'atlas id'), bad).toThrow(/Not a valid atlas id/);
    for (const bad of ['', '.', '..', '../x', 'a/../../x', 'a/./b', '/abs', 'C:\\x', '\\\\server\\share', 'a//b', 'a/.git/x', 'a\nb', 'x'.repeat(1025)]) {
      expect(() => resolveUnder(parent, bad, 'upload name', 'relative'), JSON.stringify(bad)).toThrow(/Not a valid upload name/);
    }
  });
});

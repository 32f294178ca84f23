import { describe, it, expect, afterEach } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ApiError } from '../../common/api';
import { atomicWrite, atomicWriteSync } from '../../main/workspace/atomic';
import { Workspace, ARTIFACT_DIRS } from '../../main/workspace/workspace';
import { resolveUserPath, isInside } from '../../main/workspace/paths';
import { SCHEMA_VERSION } from '../../main/workspace/migrations';
import { Backend } from '../../main/backend';
import type { WorkerLauncher } from '../../main/jobs/launcher';
import { tempDir } from './helpers';

const noWorkers: WorkerLauncher = {
  launch() {
    throw new Error('no workers in this test');
  },
};

const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

describe('atomicWrite', () => {
  it('writes the content and leaves no temporary file', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'a.json');
    await atomicWrite(file, '{"a":1}');
    await atomicWrite(file, [new Uint8Array([123, 125])]);
    atomicWriteSync(path.join(dir, 'b.txt'), 'sync');
    expect(readFileSync(file, 'utf8')).toBe('{}');
    expect(readFileSync(path.join(dir, 'b.txt'), 'utf8')).toBe('sync');
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'b.txt']);
  });

  it('keeps the old content and removes the temporary file when a write fails', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'weights.bin');
    writeFileSync(file, 'old');
    const bad = [new Uint8Array([1, 2, 3]), 'not bytes' as unknown as Uint8Array];
    await expect(atomicWrite(file, bad)).rejects.toThrow();
    expect(() => atomicWriteSync(file, bad)).toThrow();
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['weights.bin']);
  });

  it('fails cleanly when the rename cannot happen', async () => {
    const dir = tempDir();
    mkdirSync(path.join(dir, 'taken', 'inner'), { recursive: true });
    await expect(atomicWrite(path.join(dir, 'taken'), 'x')).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['taken']);
  });
});

describe('paths', () => {
  it('resolves user paths and rejects bad ones', () => {
    expect(resolveUserPath('a/../b', '/x')).toBe('/x/b');
    expect(resolveUserPath('~/w')).toMatch(/\/w$/);
    expect(() => resolveUserPath('')).toThrow(ApiError);
    expect(() => resolveUserPath('a\0b')).toThrow(/NUL/);
    expect(isInside('/a/b', '/a/b/c')).toBe(true);
    expect(isInside('/a/b', '/a/bc')).toBe(false);
    expect(isInside('/a/b', '/a/b/../c')).toBe(false);
  });
});

describe('Workspace', () => {
  it('creates its folders and a WAL database at the current schema version', () => {
    const dir = path.join(tempDir(), 'ws');
    const ws = Workspace.open(dir);
    opened.push(ws);
    for (const d of ARTIFACT_DIRS) expect(existsSync(path.join(dir, d))).toBe(true);
    expect(ws.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect((ws.db.prepare('SELECT version FROM schema_version').get() as { version: number }).version).toBe(SCHEMA_VERSION);
  });

  it('persists settings and ignores damaged values', () => {
    const dir = tempDir();
    const ws = Workspace.open(dir);
    expect(ws.getSettings()).toEqual({ theme: 'system', device: 'auto', threads: 0, maxHeavyJobs: 1 });
    ws.updateSettings({ theme: 'dark', maxHeavyJobs: 2 });
    ws.db.prepare("INSERT INTO settings (key, value) VALUES ('threads', '\"lots\"') ON CONFLICT(key) DO UPDATE SET value=excluded.value").run();
    ws.close();
    const again = Workspace.open(dir);
    opened.push(again);
    expect(again.getSettings()).toEqual({ theme: 'dark', device: 'auto', threads: 0, maxHeavyJobs: 2 });
  });

  it('reports a corrupt database as workspace_unavailable', () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'resect.db'), 'this is not a database, just text '.repeat(200));
    try {
      Workspace.open(dir);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).code).toBe('workspace_unavailable');
      expect((e as ApiError).message).toMatch(/corrupt/);
    }
  });

  it('reports a database from a newer Resect, a file in place of a folder, and a missing folder', () => {
    const dir = tempDir();
    const db = new Database(path.join(dir, 'resect.db'));
    db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (999);');
    db.close();
    expect(() => Workspace.open(dir)).toThrow(/newer/);
    const file = path.join(tempDir(), 'file');
    writeFileSync(file, 'x');
    expect(() => Workspace.open(file)).toThrow(/not a folder/);
    expect(() => Workspace.open(path.join(tempDir(), 'absent'), { create: false })).toThrow(/does not exist/);
  });
});

describe('Backend with an unusable workspace', () => {
  it('reports it in app.info and recovers through workspace.open', async () => {
    const bad = tempDir();
    writeFileSync(path.join(bad, 'resect.db'), Buffer.alloc(8192, 7));
    const b = new Backend({ mode: 'serve', workspaceDir: bad, launcher: noWorkers });
    opened.push(b);
    const info = (await b.router.call('app.info', {})) as { workspace: { ok: boolean; error: string } };
    expect(info.workspace.ok).toBe(false);
    expect(info.workspace.error).toMatch(/corrupt/);
    await expect(b.router.call('jobs.list', {})).rejects.toMatchObject({ code: 'workspace_unavailable' });
    expect(await b.router.call('settings.get', {})).toMatchObject({ theme: 'system' });

    const events: string[] = [];
    b.subscribe((e) => events.push(e));
    const good = path.join(tempDir(), 'fresh');
    expect(await b.router.call('workspace.open', { path: good })).toEqual({ path: good, ok: true, error: null });
    expect(events).toContain('workspace.changed');
    expect(await b.router.call('jobs.list', {})).toEqual([]);
    // Opening a broken one now keeps the good one.
    await expect(b.router.call('workspace.open', { path: bad })).rejects.toMatchObject({ code: 'workspace_unavailable' });
    expect(((await b.router.call('workspace.info', {})) as { path: string }).path).toBe(good);
  });

  it('validates params and rejects unknown methods', async () => {
    const b = new Backend({ mode: 'serve', workspaceDir: tempDir(), launcher: noWorkers });
    opened.push(b);
    expect(await b.router.dispatch('no.such', {})).toMatchObject({ ok: false, error: { code: 'unknown_method' } });
    const r = await b.router.dispatch('settings.update', { maxHeavyJobs: 0 });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect((r as { error: { details: { issues: { path: string[] }[] } } }).error.details.issues[0]!.path).toEqual(['maxHeavyJobs']);
    expect(await b.router.dispatch('workspace.open', {})).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(await b.router.dispatch('settings.update', { threads: 4 })).toMatchObject({ ok: true, result: { threads: 4 } });
    expect(await b.router.dispatch('jobs.start', { kind: 'demo', params: { steps: 'many' } })).toMatchObject({
      ok: false,
      error: { code: 'invalid_params' },
    });
    expect(await b.router.dispatch('jobs.start', { kind: 'nope' })).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(await b.router.dispatch('jobs.cancel', { id: 'missing' })).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});

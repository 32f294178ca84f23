/**
 * Issue 15: a training checkpoint's temporary folder (`.checkpoint-tmp-<pid>`, a whole checkpoint) does not outlive a
 * kill or a failed save: a save that fails removes it, and the next run's `findCheckpoint` sweeps those whose process
 * is gone, keeping the one of a process still running.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findCheckpoint, saveCheckpoint } from '../../workers/training/checkpoint';

/** The pid of a process that has exited (so no live process has it, barring reuse within the test). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('checkpoint temporary folders', () => {
  it('are swept at start when their process is gone or is this one; a live process keeps its own', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'resect-ckpt-tmp-'));
    const dir = path.join(root, 'checkpoint');
    const dead = `.checkpoint-tmp-${deadPid()}`;
    const mine = `.checkpoint-tmp-${process.pid}`;
    const live = `.checkpoint-tmp-${process.ppid}`; // the test runner: alive
    for (const name of [dead, mine, live, '.other-tmp-1', 'checkpoint-tmp-1']) {
      mkdirSync(path.join(root, name));
      writeFileSync(path.join(root, name, 'model.safetensors'), 'x');
    }
    expect(findCheckpoint(dir)).toBeNull();
    expect(readdirSync(root).sort()).toEqual([live, '.other-tmp-1', 'checkpoint-tmp-1'].sort());
  });

  it('a save that fails removes its temporary folder', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'resect-ckpt-fail-'));
    const dir = path.join(root, 'checkpoint');
    // A tensor whose data does not match its shape makes the writer throw half-way, like a full disk.
    const weights = new Map([['w', { data: new Float32Array(4), shape: [1000, 1000] }]]);
    await expect(saveCheckpoint(dir, { rawConfig: {}, weights })).rejects.toThrow();
    expect(readdirSync(root)).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  });
});

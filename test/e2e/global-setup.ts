/**
 * Starts the real backend for the end-to-end suite: builds Resect, runs `resect serve` on a free port with a fresh
 * workspace (from a snapshot of dist/ in test-results/e2e-dist), and hands its address to the tests through RESECT_E2E_URL (see fixtures.ts). The returned function
 * stops it again.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const READY = /Resect is serving at (http:\/\/\S+)/;

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!process.env.RESECT_E2E_SKIP_BUILD) {
    const built = spawnSync(process.execPath, ['scripts/build.mjs', '--quiet'], { cwd: root, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('node scripts/build.mjs failed');
  }
  // Run from a private copy of the build: other work on this checkout may rebuild dist/ (emptying dist/renderer)
  // while the suite runs. Inside the repo so the bundles still resolve node_modules.
  const snapshot = path.join(root, 'test-results', 'e2e-dist');
  await snapshotBuild(snapshot);
  const cli = path.join(snapshot, 'cli.mjs');
  process.env.RESECT_E2E_CLI = cli;

  const workspace = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-'));
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--workspace', workspace], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RESECT_WORKSPACE: workspace },
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`resect serve did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = READY.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
      process.stderr.write(`[resect serve] ${c.toString()}`);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`resect serve exited with ${code} before it was ready:\n${output}`));
    });
  });
  process.env.RESECT_E2E_URL = url;
  process.env.RESECT_E2E_WORKSPACE = workspace;

  return async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timeout = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timeout);
    }
    rmSync(workspace, { recursive: true, force: true });
  };
}

/** A snapshot is complete when the bundles exist and every asset index.html references was copied. */
function completeSnapshot(dir: string): boolean {
  const index = path.join(dir, 'renderer', 'index.html');
  if (!existsSync(path.join(dir, 'cli.mjs')) || !existsSync(path.join(dir, 'worker.mjs')) || !existsSync(index)) return false;
  const refs = [...readFileSync(index, 'utf8').matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1]!);
  return refs.length > 0 && refs.every((r) => existsSync(path.join(dir, 'renderer', r)));
}

/** Copies dist/ (retrying while a concurrent build is rewriting it). */
async function snapshotBuild(snapshot: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    rmSync(snapshot, { recursive: true, force: true });
    try {
      for (const item of ['cli.mjs', 'worker.mjs', 'renderer']) {
        cpSync(path.join(root, 'dist', item), path.join(snapshot, item), { recursive: true });
      }
    } catch {
      /* a file vanished mid-copy: retry */
    }
    if (completeSnapshot(snapshot)) return;
    await new Promise((r) => setTimeout(r, 2_000));
  }
  throw new Error('dist/ is incomplete (cli.mjs, worker.mjs, renderer/): run node scripts/build.mjs');
}

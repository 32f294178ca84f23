/**
 * Helpers for backend integration tests: build the CLI + worker bundles into a private folder under dist/,
 * start `resect serve` as a child process, and talk to it over its WebSocket.
 */
import { build } from 'esbuild';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { EventMessage, JobInfo, ServerMessage } from '../../common/api';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const BANNER =
  "import { createRequire as __resectCreateRequire } from 'node:module'; const require = __resectCreateRequire(import.meta.url);";

/** Bundles main/cli.ts and workers/host.ts into dist/test-backend-<pid>/ (inside the repo so packages resolve). */
export async function buildBundles(): Promise<{ dir: string; cli: string; cleanup: () => void }> {
  const dir = path.join(root, 'dist', `test-backend-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  await build({
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    logLevel: 'warning',
    banner: { js: BANNER },
    entryPoints: { cli: path.join(root, 'main/cli.ts'), worker: path.join(root, 'workers/host.ts') },
    outdir: dir,
    outExtension: { '.js': '.mjs' },
  });
  return { dir, cli: path.join(dir, 'cli.mjs'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function tempDir(prefix = 'resect-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A tiny stand-in for the built renderer: index.html and one asset. */
export function fakeRenderer(): string {
  const dir = tempDir('resect-renderer-');
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>Resect test</title><script type="module" src="/assets/app.js"></script>');
  writeFileSync(path.join(dir, 'assets', 'app.js'), 'console.log("resect");');
  return dir;
}

export interface Served {
  proc: ChildProcess;
  url: string;
  base: string;
  port: number;
  token: string;
  stdoutLines: string[];
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export function runCli(cli: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export async function startServe(cli: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const proc = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let out = '';
  const stdoutLines: string[] = [];
  proc.stderr!.on('data', (d) => (stderr += d));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const l of lines) {
        stdoutLines.push(l);
        const m = /^Resect is serving at (http:\/\/\S+)$/.exec(l);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }
    });
    proc.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const u = new URL(url);
  return {
    proc,
    url,
    base: `${u.protocol}//${u.host}`,
    port: Number(u.port),
    token: u.searchParams.get('token')!,
    stdoutLines,
    stderr: () => stderr,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill(signal);
      }),
  };
}

export class Client {
  readonly events: EventMessage[] = [];
  private nextId = 1;
  private pending = new Map<number, (m: ServerMessage) => void>();
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString()) as ServerMessage;
      if (m.type === 'response') {
        this.pending.get(m.id)?.(m);
        this.pending.delete(m.id);
      } else {
        this.events.push(m);
        for (const w of this.waiters.splice(0)) w();
      }
    });
  }

  static connect(served: Served, opts: { headers?: Record<string, string>; withToken?: boolean } = {}): Promise<Client> {
    const q = opts.withToken === false ? '' : `?token=${served.token}`;
    const ws = new WebSocket(`ws://127.0.0.1:${served.port}/api${q}`, { headers: opts.headers ?? {} });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new Client(ws)));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Sends a request; resolves with the raw response message. */
  raw(method: string, params: unknown): Promise<ServerMessage & { type: 'response' }> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, (m) => resolve(m as ServerMessage & { type: 'response' }));
      this.ws.send(JSON.stringify({ type: 'request', id, method, params }));
    });
  }

  /** Sends a request; resolves with the result or throws an Error carrying the ApiError shape. */
  async call<T = unknown>(method: string, params: unknown = {}): Promise<T> {
    const m = await this.raw(method, params);
    if (m.ok) return m.result as T;
    throw Object.assign(new Error(m.error.message), m.error);
  }

  /** Waits until an event satisfies `pred` (looking at events already received too). */
  async waitForEvent(pred: (e: EventMessage) => boolean, timeoutMs = 30_000): Promise<EventMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for an event');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitForJob(id: string, pred: (j: JobInfo) => boolean, timeoutMs = 30_000): Promise<JobInfo> {
    return this.waitForEvent((e) => e.event === 'job.update' && (e.data as JobInfo).id === id && pred(e.data as JobInfo), timeoutMs).then(
      (e) => e.data as JobInfo,
    );
  }

  close(): void {
    this.ws.close();
  }
}

export const finished = (j: JobInfo) => j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled';

/**
 * Shared helpers for the end-to-end suite: the address of the `resect serve` started by global-setup.ts, a
 * Node-side API client (to read worker pids and tidy up between tests), and `openApp` for the page.
 */
import { test as base, expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import type { JobInfo, MethodName, Params, Result } from '../../common/api';

export interface Server {
  /** Full address as printed, with ?token=. */
  url: string;
  origin: string;
  token: string;
}

export function serverFromUrl(url: string): Server {
  const u = new URL(url);
  return { url, origin: u.origin, token: u.searchParams.get('token') ?? '' };
}

/** A tiny WebSocket client for the backend, from Node (the tests' side). */
export class NodeApi {
  private constructor(
    private readonly ws: WebSocket,
    private nextId = 1,
  ) {}

  static async connect(server: Server): Promise<NodeApi> {
    const wsUrl = `${server.origin.replace(/^http/, 'ws')}/api?token=${encodeURIComponent(server.token)}`;
    const ws = new WebSocket(wsUrl, { headers: { Origin: server.origin } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new NodeApi(ws);
  }

  request<M extends MethodName>(method: M, params: Params<M>): Promise<Result<M>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onMessage = (raw: WebSocket.RawData) => {
        const msg = JSON.parse(raw.toString()) as { type: string; id?: number; ok?: boolean; result?: unknown; error?: { message: string } };
        if (msg.type !== 'response' || msg.id !== id) return;
        this.ws.off('message', onMessage);
        if (msg.ok) resolve(msg.result as Result<M>);
        else reject(new Error(msg.error?.message ?? 'request failed'));
      };
      this.ws.on('message', onMessage);
      this.ws.send(JSON.stringify({ type: 'request', id, method, params }));
    });
  }

  async job(id: string): Promise<JobInfo | undefined> {
    return (await this.request('jobs.list', {})).find((j) => j.id === id);
  }

  /** Cancels every queued or running job and waits until none is active. */
  async cancelAll(): Promise<void> {
    const active = (await this.request('jobs.list', {})).filter((j) => j.state === 'queued' || j.state === 'running');
    for (const j of active) await this.request('jobs.cancel', { id: j.id }).catch(() => undefined);
    await expect
      .poll(async () => (await this.request('jobs.list', {})).filter((j) => j.state === 'queued' || j.state === 'running').length, {
        timeout: 15_000,
      })
      .toBe(0);
  }

  close() {
    this.ws.close();
  }
}

/** Opens the app at an area (hash route) and waits until it is connected. */
export async function openApp(page: Page, server: Server, route = '/models'): Promise<void> {
  await page.goto(`${server.origin}/?token=${encodeURIComponent(server.token)}#${route}`);
  await expect(page.getByRole('status').filter({ hasText: /^Connected$/ })).toBeVisible();
}

/** Saves a screenshot for looking at (not compared) into $RESECT_SCREENSHOTS_DIR (default /tmp/resect-screens). */
export async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.RESECT_SCREENSHOTS_DIR ?? '/tmp/resect-screens';
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

/** Starts another `resect serve` (for tests that stop or restart a backend). */
export async function startServe(args: string[]): Promise<{ child: ChildProcess; server: Server }> {
  const child = spawn(process.execPath, [process.env.RESECT_E2E_CLI ?? 'dist/cli.mjs', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`resect serve did not start:\n${out}`)), 30_000);
    const on = (c: Buffer) => {
      out += c.toString();
      const m = /Resect is serving at (http:\/\/\S+)/.exec(out);
      if (m?.[1]) {
        clearTimeout(t);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => reject(new Error(`resect serve exited (${code}):\n${out}`)));
  });
  return { child, server: serverFromUrl(url) };
}

export async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(t);
}

export const test = base.extend<{ server: Server; backend: NodeApi }>({
  server: async ({}, use) => {
    const url = process.env.RESECT_E2E_URL;
    if (!url) throw new Error('RESECT_E2E_URL is not set: run the suite with `npx playwright test` (global-setup starts the backend).');
    await use(serverFromUrl(url));
  },
  backend: async ({ server }, use) => {
    const api = await NodeApi.connect(server);
    await use(api);
    // Leave no job running for the next test (the default allows one heavy job at a time).
    await api.cancelAll();
    api.close();
  },
});

export { expect };

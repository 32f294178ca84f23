import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import type { WebSocketRoute } from '@playwright/test';
import { expect, openApp, snap, startServe, stopServe, test } from './fixtures';

test('the app loads with the token and shows the workspace and connection', async ({ page, server }) => {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openApp(page, server);
  await expect(page.getByRole('navigation', { name: 'Areas' })).toBeVisible();
  await expect(page.getByTestId('workspace-path')).toContainText(process.env.RESECT_E2E_WORKSPACE ?? 'resect-e2e-');
  await expect(page.getByRole('heading', { level: 1, name: 'Models' })).toBeVisible();
  expect(errors).toEqual([]);
});

test('without the token the page and the socket are refused with 401', async ({ page, server }) => {
  const res = await page.goto(`${server.origin}/`);
  expect(res?.status()).toBe(401);
  await expect(page.locator('body')).toContainText('token');

  const status = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${server.origin.replace(/^http/, 'ws')}/api`, { headers: { Origin: server.origin } });
    ws.once('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
    ws.once('open', () => reject(new Error('the socket opened without a token')));
    ws.once('error', () => undefined);
  });
  expect(status).toBe(401);

  const wrong = await page.goto(`${server.origin}/?token=not-the-token`);
  expect(wrong?.status()).toBe(401);
});

test('a restarted backend with a new token shows the token banner', async ({ page }) => {
  const ws = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-restart-'));
  let first = await startServe(['--port', '0', '--workspace', ws]);
  const port = new URL(first.server.origin).port;
  try {
    await openApp(page, first.server);
    await stopServe(first.child);
    await expect(page.getByTestId('connection-banner')).toContainText(/lost|reach/i);

    // Same port, new launch: a new token, so the page's token is refused.
    first = await startServe(['--port', port, '--workspace', ws]);
    // Skip the backoff wait if the banner still offers it (the page may already have retried on its own).
    await page.getByRole('button', { name: 'Retry now' }).click({ timeout: 2_000 }).catch(() => undefined);
    const banner = page.getByRole('alert').filter({ hasText: 'This page needs the token printed by' });
    await expect(banner).toBeVisible({ timeout: 20_000 });
    await expect(page.getByRole('status').filter({ hasText: 'Not authorised' })).toBeVisible();
    await snap(page, 'unauthorized');

    // The printed address works again.
    await openApp(page, first.server);
    await expect(page.getByTestId('connection-banner')).toHaveCount(0);
  } finally {
    await stopServe(first.child);
    rmSync(ws, { recursive: true, force: true });
  }
});

test('a dropped connection reconnects and re-fetches what it missed', async ({ page, server, backend }) => {
  const sockets: WebSocketRoute[] = [];
  let holdEvents = false;
  await page.routeWebSocket(/\/api(\?|$)/, (ws) => {
    const upstream = ws.connectToServer();
    upstream.onMessage((m) => {
      if (!holdEvents) ws.send(m);
    });
    sockets.push(ws);
  });
  await openApp(page, server, '/jobs');

  // A job runs and ends while the page hears nothing of it...
  holdEvents = true;
  const job = await backend.request('jobs.start', { kind: 'demo', params: { steps: 7, msPerStep: 10, light: true } });
  await expect.poll(async () => (await backend.job(job.id))?.state).toBe('succeeded');
  await expect(page.getByRole('button', { name: /Demo: 7 steps/ })).toHaveCount(0);

  // ...then the socket drops; the client reconnects by itself and re-fetches the job list.
  holdEvents = false;
  await sockets.at(-1)!.close({ code: 1001, reason: 'test drop' });
  await expect(page.getByRole('status').filter({ hasText: 'Reconnected' })).toBeVisible({ timeout: 15_000 });
  await expect(page.getByRole('status').filter({ hasText: /^Connected$/ })).toBeVisible();
  await page.getByRole('button', { name: /Demo: 7 steps/ }).first().click();
  await expect(page.getByRole('region', { name: 'Job Demo: 7 steps' }).getByTestId('job-state')).toHaveText('Done');
  expect(sockets.length).toBeGreaterThan(1);
});

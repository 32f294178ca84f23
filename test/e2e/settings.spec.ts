import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, openApp, snap, startServe, stopServe, test } from './fixtures';

const background = (page: import('@playwright/test').Page) =>
  page.evaluate(() => getComputedStyle(document.body).backgroundColor);

test('the theme switch changes the colours and is saved', async ({ page, server, backend }) => {
  await openApp(page, server, '/settings');
  const theme = page.getByRole('radiogroup', { name: 'Theme' });

  await theme.getByRole('radio', { name: 'Light' }).check();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await expect.poll(() => background(page)).toBe('rgb(255, 255, 255)');
  await expect.poll(async () => (await backend.request('settings.get', {})).theme).toBe('light');

  await theme.getByRole('radio', { name: 'Dark' }).check();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'dark');
  await expect.poll(() => background(page)).toBe('rgb(17, 19, 24)');

  // System follows prefers-color-scheme.
  await theme.getByRole('radio', { name: 'System' }).check();
  await page.emulateMedia({ colorScheme: 'light' });
  await expect.poll(() => background(page)).toBe('rgb(255, 255, 255)');
  await page.emulateMedia({ colorScheme: 'dark' });
  await expect.poll(() => background(page)).toBe('rgb(17, 19, 24)');

  // Survives a reload.
  await theme.getByRole('radio', { name: 'Light' }).check();
  await expect.poll(async () => (await backend.request('settings.get', {})).theme).toBe('light');
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await backend.request('settings.update', { theme: 'system' });
});

test('an invalid setting shows a readable error and is not saved', async ({ page, server, backend }) => {
  await openApp(page, server, '/settings');
  const before = await backend.request('settings.get', {});
  await page.getByLabel('Threads').fill('999');
  await page.getByRole('button', { name: 'Save' }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'Could not save' });
  await expect(alert).toContainText('threads');
  await expect(alert).toContainText('256');
  await expect(page.getByLabel('Threads')).toHaveAttribute('aria-invalid', 'true');
  expect((await backend.request('settings.get', {})).threads).toBe(before.threads);

  // A valid value saves.
  await page.getByLabel('Threads').fill('2');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Settings saved' })).toBeVisible();
  await expect.poll(async () => (await backend.request('settings.get', {})).threads).toBe(2);
  await backend.request('settings.update', { threads: before.threads });
});

test('the device list comes from the backend, unavailable providers disabled', async ({ page, server, backend }) => {
  await openApp(page, server, '/settings');
  const devices = await backend.request('system.devices', {});
  const select = page.getByLabel('Compute device');
  await expect(select.locator('option[value="auto"]')).toHaveCount(1);
  await expect(select.locator('option[value="cpu"]')).toBeEnabled();
  for (const d of devices.filter((x) => !x.available && x.id !== 'auto' && x.id !== 'cpu')) {
    await expect(select.locator(`option[value="${d.id}"]`)).toBeDisabled();
  }
});

test('opening an unusable workspace shows the reason in words and keeps the current one', async ({ page, server, backend }) => {
  await openApp(page, server, '/settings');
  const original = (await backend.request('workspace.info', {})).path;
  await page.getByLabel('Workspace folder').fill('/proc/version/not-a-folder');
  await page.getByRole('button', { name: 'Open workspace' }).click();
  const alert = page.getByRole('alert').filter({ hasText: /\S/ }).first();
  await expect(alert).toBeVisible();
  expect((await alert.textContent())?.length ?? 0).toBeGreaterThan(10);
  await expect(page.getByTestId('settings-workspace-path')).toHaveText(original);
  await expect(page.getByTestId('workspace-path')).toContainText(original);
});

test('a backend whose workspace cannot be opened shows the error and a way to choose another', async ({ page }) => {
  const good = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-ws-'));
  const { child, server } = await startServe(['--port', '0', '--workspace', '/proc/version/not-a-folder']);
  try {
    await openApp(page, server, '/models');
    const panel = page.getByRole('region', { name: 'The workspace cannot be used' });
    await expect(panel).toBeVisible();
    await expect(panel.getByTestId('workspace-error')).not.toBeEmpty();
    await snap(page, 'workspace-error');
    // Explained once, in place — not again in toasts.
    await expect(page.getByRole('region', { name: 'Notifications' }).getByRole('alert')).toHaveCount(0);
    await panel.getByLabel('Workspace folder').fill(good);
    await panel.getByRole('button', { name: 'Open workspace' }).click();
    await expect(panel).toHaveCount(0);
    await expect(page.getByRole('heading', { level: 2, name: /No models/ })).toBeVisible();
    await expect(page.getByTestId('workspace-path')).toContainText(good);
  } finally {
    await stopServe(child);
    rmSync(good, { recursive: true, force: true });
  }
});

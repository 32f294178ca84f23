import { expect, openApp, test } from './fixtures';
import type { Page } from '@playwright/test';

async function startDemo(page: Page, steps: number, msPerStep: number) {
  const form = page.getByRole('form', { name: 'Start demo job' });
  await form.getByRole('spinbutton', { name: 'Steps', exact: true }).fill(String(steps));
  await form.getByRole('spinbutton', { name: 'Ms per step' }).fill(String(msPerStep));
  await form.getByRole('button', { name: 'Start demo job' }).click();
}

function drawer(page: Page) {
  return page.getByRole('complementary', { name: 'Jobs drawer' });
}

async function openDrawer(page: Page) {
  const toggle = page.getByRole('button', { name: /^Jobs/ });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await expect(drawer(page)).toBeVisible();
}

test('the demo job shows progress, rate and ETA, and can be cancelled from the drawer', async ({ page, server, backend }) => {
  await openApp(page, server, '/jobs');
  await startDemo(page, 301, 100);
  const title = 'Demo: 301 steps';

  await openDrawer(page);
  const bar = drawer(page).getByRole('progressbar', { name: `Progress of ${title}` });
  await expect(bar).toBeVisible();
  await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(0);
  await expect(drawer(page).getByTestId('job-rate').first()).toContainText('steps/s');
  await expect(drawer(page).getByTestId('job-eta').first()).toContainText('left');
  await expect(page.getByTestId('running-badge')).toHaveText('1');

  await drawer(page).getByRole('button', { name: `Cancel ${title}` }).click();
  const item = drawer(page).locator(`[data-job-id]`, { hasText: title });
  await expect(item.getByTestId('job-state')).toHaveText('Cancelled', { timeout: 15_000 });
  await expect(drawer(page).getByRole('button', { name: `Cancel ${title}` })).toHaveCount(0);
  await expect(page.getByTestId('running-badge')).toHaveCount(0);

  // The Jobs view shows its log.
  await page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Jobs', exact: true }).click();
  await page.getByRole('button', { name: new RegExp(title) }).first().click();
  await expect(page.getByTestId('job-log')).toContainText('Cancel requested');
  void backend;
});

test('a killed worker fails its job while the app keeps working', async ({ page, server, backend }) => {
  await openApp(page, server, '/jobs');
  await startDemo(page, 302, 100);
  const title = 'Demo: 302 steps';
  await openDrawer(page);
  const bar = drawer(page).getByRole('progressbar', { name: `Progress of ${title}` });
  await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(0);

  const job = (await backend.request('jobs.list', {})).find((j) => j.title === title && j.state === 'running');
  expect(job?.pid, 'the backend reports the worker pid of a running job').toBeTruthy();
  process.kill(job!.pid!, 'SIGKILL');

  const item = drawer(page).locator('[data-job-id]', { hasText: title });
  await expect(item.getByTestId('job-state')).toHaveText('Failed', { timeout: 15_000 });
  await expect(item.getByTestId('job-error')).not.toBeEmpty();

  // Still alive: navigate, and start another job that runs.
  await page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Settings', exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
  await page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Jobs', exact: true }).click();
  await startDemo(page, 8, 20);
  const next = drawer(page).locator('[data-job-id]', { hasText: 'Demo: 8 steps' }).first();
  await expect(next.getByTestId('job-state')).toHaveText('Done', { timeout: 20_000 });
});

test('a reload re-attaches to a running job', async ({ page, server, backend }) => {
  await openApp(page, server, '/jobs');
  await startDemo(page, 303, 100);
  const title = 'Demo: 303 steps';
  await openDrawer(page);
  const bar = () => drawer(page).getByRole('progressbar', { name: `Progress of ${title}` });
  await expect.poll(async () => Number(await bar().getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(0);
  const before = Number(await bar().getAttribute('aria-valuenow'));

  await page.reload();
  await expect(page.getByRole('status').filter({ hasText: /^Connected$/ })).toBeVisible();
  await expect(page.getByTestId('running-badge')).toHaveText('1');
  await openDrawer(page);
  await expect.poll(async () => Number(await bar().getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(before);
  await expect(drawer(page).getByRole('button', { name: `Cancel ${title}` })).toBeEnabled();
  void backend;
});

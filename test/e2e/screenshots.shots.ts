/**
 * Screenshots of the main screens and the Train view in both themes, for looking at and for the docs (not compared):
 * written to $RESECT_SCREENSHOTS_DIR (default /tmp/resect-screens) by `npm run screenshots`
 * (playwright.screenshots.config.ts). Not part of the test suite: these pages assert nothing of their own; what the
 * screens must show is asserted in the *.spec.ts files.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { expect, openApp, snap, test } from './fixtures';

const dir = process.env.RESECT_SCREENSHOTS_DIR ?? '/tmp/resect-screens';

for (const scheme of ['dark', 'light'] as const) {
  test(`screenshots of the main screens (${scheme})`, async ({ page, server, backend }) => {
    mkdirSync(dir, { recursive: true });
    await backend.request('settings.update', { theme: 'system' });
    await page.emulateMedia({ colorScheme: scheme });
    await openApp(page, server, '/models');
    await page.screenshot({ path: path.join(dir, `models-${scheme}.png`) });

    // A finished, a failed and a running job, with the drawer open.
    await backend.request('jobs.start', { kind: 'demo', params: { steps: 5, msPerStep: 10 } });
    await backend.request('jobs.start', { kind: 'demo', params: { steps: 10, msPerStep: 10, failAt: 3 } });
    await expect.poll(async () => (await backend.request('jobs.list', {})).filter((j) => j.state === 'queued' || j.state === 'running').length).toBe(0);
    await backend.request('jobs.start', { kind: 'demo', params: { steps: 500, msPerStep: 100 } });
    await page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.getByRole('button', { name: /^Jobs/ }).click();
    await expect(page.getByRole('complementary', { name: 'Jobs drawer' }).getByRole('progressbar').first()).toHaveAttribute('aria-valuenow', /[1-9]/);
    await page.waitForTimeout(600);
    await page.screenshot({ path: path.join(dir, `jobs-${scheme}.png`) });
    await page.getByRole('button', { name: 'Close jobs drawer' }).click();

    await page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Settings', exact: true }).click();
    await page.getByLabel('Threads').fill('999');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByRole('alert').first()).toBeVisible();
    await page.screenshot({ path: path.join(dir, `settings-${scheme}.png`) });

    await page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Experts', exact: true }).click();
    await page.screenshot({ path: path.join(dir, `experts-${scheme}.png`) });
  });
}

for (const scheme of ['dark', 'light'] as const) {
  test(`screenshots of the Train view (${scheme})`, async ({ page, server, backend }) => {
    await backend.request('settings.update', { theme: 'system' });
    await page.emulateMedia({ colorScheme: scheme });
    await openApp(page, server, '/train');
    await page.getByRole('form', { name: 'New training run' }).getByLabel('Preset').selectOption('custom');
    const runs = page.getByRole('list', { name: 'Training runs' });
    if (await runs.count()) await runs.getByRole('button').first().click();
    await snap(page, `train-${scheme}`);
  });
}

import { expect, openApp, test } from './fixtures';

const areas = ['Start', 'Models', 'Train', 'Experts', 'Resection', 'Datasets', 'SAEs', 'Jobs', 'Settings'];

test('navigation reaches every area by role and name', async ({ page, server }) => {
  await openApp(page, server);
  const nav = page.getByRole('navigation', { name: 'Areas' });
  for (const area of areas) {
    await nav.getByRole('link', { name: area, exact: true }).click();
    await expect(page.getByRole('heading', { level: 1, name: area, exact: true })).toBeVisible();
    await expect(nav.getByRole('link', { name: area, exact: true })).toHaveAttribute('aria-current', 'page');
    await expect(page).toHaveTitle(`${area} — Resect`);
  }
  // The SAEs area (no longer a placeholder) opens on its training form.
  await nav.getByRole('link', { name: 'SAEs', exact: true }).click();
  await expect(page.getByRole('form', { name: 'Train an SAE' })).toBeVisible();
});

test('areas are reachable with the keyboard and focus is visible', async ({ page, server }) => {
  await openApp(page, server);
  const link = page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Datasets', exact: true });
  for (let i = 0; i < 20 && !(await link.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press('Tab');
  }
  await expect(link).toBeFocused();
  const outline = await link.evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline).not.toBe('none');
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { level: 1, name: 'Datasets' })).toBeVisible();
});

test('a deep link and an unknown address both render', async ({ page, server }) => {
  await openApp(page, server, '/settings');
  await expect(page.getByRole('heading', { level: 1, name: 'Settings' })).toBeVisible();
  await page.goto(`${server.origin}/?token=${server.token}#/no-such-area`);
  await expect(page.getByRole('heading', { name: 'Nothing here' })).toBeVisible();
});

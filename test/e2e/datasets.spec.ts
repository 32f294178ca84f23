/**
 * Datasets in the served UI: a JSONL file dropped on the window (a DataTransfer built in the page) and a Parquet
 * file through the file input are uploaded, previewed, imported as jobs and listed with their domains; the dataset
 * page filters, searches, relabels and exports (download). Screenshots of the list and the page in both themes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { expect, openApp, snap, test } from './fixtures';

const FIXTURES = path.resolve('test/fixtures/data');

async function dropFile(page: Page, name: string, content: Buffer) {
  await page.evaluate(
    ({ name, b64 }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: 'application/octet-stream' }));
      const target = document.querySelector('[data-testid="dropzone"]') ?? document.body;
      for (const type of ['dragenter', 'dragover', 'drop']) {
        target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
      }
    },
    { name, b64: content.toString('base64') },
  );
}

async function importStaged(page: Page) {
  const panel = page.getByRole('region', { name: /New dataset/ });
  await expect(panel.getByTestId('detection')).toContainText('Plain text');
  await expect(panel.getByLabel('Domain', { exact: true })).toHaveValue('field');
  await expect(panel.getByLabel('Domain field')).toHaveValue('domain');
  await expect(panel.getByRole('table', { name: 'Preview of the first samples' })).toContainText('cooking');
  await panel.getByRole('button', { name: 'Import', exact: true }).click();
  const done = page.getByRole('region', { name: /Import finished/ });
  await expect(done.getByTestId('report-imported')).toHaveText('24', { timeout: 30_000 });
  return done;
}

test('drop a JSONL file and pick a Parquet file: both are imported and listed with their domains; the dataset page works', async ({
  page,
  server,
  backend,
}) => {
  for (const d of await backend.request('datasets.list', {})) await backend.request('datasets.delete', { id: d.id });
  await openApp(page, server, '/datasets');
  await expect(page.getByText('No datasets in this workspace yet')).toBeVisible();

  // 1. Drop (browser: the file is uploaded to the backend, then previewed).
  await dropFile(page, 'sample.jsonl', readFileSync(path.join(FIXTURES, 'sample.jsonl')));
  let done = await importStaged(page);
  await done.getByRole('button', { name: 'Close the import' }).click();

  // 2. The file input.
  await page.getByLabel('Files to import').setInputFiles(path.join(FIXTURES, 'sample.parquet'));
  done = await importStaged(page);

  // Both listed, with their domains and counts.
  const list = page.getByRole('table', { name: 'Datasets' });
  await expect(list.getByRole('link', { name: 'sample', exact: true })).toHaveCount(2);
  const rows = list.locator('tbody tr');
  await expect(rows).toHaveCount(2);
  for (let i = 0; i < 2; i++) {
    const domains = rows.nth(i).getByRole('list', { name: /Domains of/ });
    for (const d of ['code', 'cooking', 'law']) await expect(domains).toContainText(d);
    await expect(rows.nth(i)).toContainText('24');
  }
  // The uploads were removed once the imports ended.
  await expect.poll(async () => (await backend.request('datasets.discardUploads', { ids: ['none'] })).removed).toBe(0);
  const datasets = await backend.request('datasets.list', {});
  expect(datasets.map((d) => d.domains.map((x) => `${x.domain}:${x.samples}`).join(' '))).toEqual([
    'code:8 cooking:8 law:8',
    'code:8 cooking:8 law:8',
  ]);

  // Screenshots of the list.
  for (const scheme of ['dark', 'light'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await snap(page, `datasets-list-${scheme}`);
  }

  // 3. The dataset page: virtual list, filter by a domain (the chart or the select), search, relabel, export.
  await done.getByRole('button', { name: 'Open the dataset' }).click();
  await expect(page.getByRole('heading', { level: 2, name: 'sample' })).toBeVisible();
  const samples = page.getByRole('listbox', { name: 'Samples' });
  await expect(samples.getByRole('option').first()).toBeVisible();
  await expect(page.getByTestId('view-count')).toHaveText(/24 samples/);

  await page.getByRole('button', { name: /^Show only law/ }).click();
  await expect(page.getByTestId('view-count')).toHaveText(/8 matching/);
  await expect(page.getByLabel('Domain', { exact: true })).toHaveValue('law');
  await page.getByRole('button', { name: /^Show only law/ }).press('Enter');
  await expect(page.getByTestId('view-count')).toHaveText(/24 samples/);

  await page.getByRole('searchbox', { name: 'Search' }).fill('court');
  await expect(page.getByTestId('view-count')).toHaveText(/^\s*[1-9]\d* matching/);
  await page.getByRole('searchbox', { name: 'Search' }).fill('');
  await expect(page.getByTestId('view-count')).toHaveText(/24 samples/);

  // Keyboard: focus the list, select two samples with Space, relabel them.
  await samples.focus();
  await page.keyboard.press('Space');
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('Space');
  await expect(page.getByTestId('view-count')).toContainText('2 selected');
  await page.getByLabel('Selected').fill('snippets');
  await page.getByRole('button', { name: 'Set domain of 2' }).click();
  await expect(page.getByRole('button', { name: /^Show only snippets: 2 samples/ })).toBeVisible();

  // Open a sample (Enter) and see it whole.
  await samples.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('complementary', { name: /^Sample \d+/ })).toBeVisible();

  for (const scheme of ['dark', 'light'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await snap(page, `datasets-page-list-${scheme}`);
    await page.locator('#main').evaluate((el) => (el.scrollTop = 0));
    await snap(page, `datasets-page-${scheme}`);
  }

  // Export of the whole dataset: a job, then a download.
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Export and download' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('sample.jsonl');
  const text = readFileSync((await file.path())!, 'utf8');
  expect(text.trim().split('\n')).toHaveLength(24);

  // Delete the relabeled samples, with a confirmation.
  await page.getByRole('button', { name: /^Show only snippets/ }).click();
  await page.getByRole('button', { name: 'Delete all 2 shown' }).click();
  await page.getByRole('dialog', { name: 'Delete the filtered samples' }).getByRole('button', { name: 'Delete 2' }).click();
  await expect(page.getByTestId('dataset-samples')).toHaveText('22');
});

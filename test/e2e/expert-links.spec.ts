/**
 * Every expert has its own address in the Experts view: a pasted #/experts?atlas=…&group=…&expert=… opens that
 * expert, opening another pushes a history entry, and Back returns through them; routing groups are numbered from 0.
 * Skew sorting hides experts seen on too few tokens, and says so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyFixtureWithTokenizer } from '../support/tiny-monet';
import { expect, openApp, test } from './fixtures';

const DATA = path.resolve('test/fixtures/data/sample.jsonl');

let tmp: string;
let model: string;
test.beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-expert-links-'));
  model = path.join(tmp, 'tiny-monet');
  copyFixtureWithTokenizer('monet-vd-tiny', model);
});
test.afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test('an expert address opens it; Back returns through the experts opened; skew sorting hides rare experts', async ({ page, server, backend }) => {
  test.setTimeout(120_000);
  const { jobId, atlas } = await backend.request('atlas.build', { model, data: { kind: 'jsonl', path: DATA, textField: 'text' }, name: 'links atlas' });
  await expect.poll(async () => (await backend.job(jobId))?.state, { timeout: 90_000 }).toBe('succeeded');
  try {
    await openApp(page, server, `/experts?atlas=${atlas}&group=1&expert=5`);
    const title = page.getByRole('heading', { name: /· Expert #/ });
    await expect(title).toHaveText(/^G1 · Expert #5/);
    await expect(page.getByLabel('Routing group')).toHaveValue('1');

    // Close, then open another from the list: each is a history entry.
    await page.getByRole('button', { name: 'Close expert' }).click();
    await expect(page).toHaveURL(/[?&]group=1(?!.*expert=)/);
    await page.getByRole('row', { name: 'Open expert 7' }).click();
    await expect(title).toHaveText(/^G1 · Expert #7/);
    await expect(page).toHaveURL(/expert=7/);

    await page.goBack();
    await expect(title).toHaveCount(0);
    await page.goBack();
    await expect(title).toHaveText(/^G1 · Expert #5/);
    await page.goForward();
    await page.goForward();
    await expect(title).toHaveText(/^G1 · Expert #7/);

    // A reload keeps the expert.
    await page.reload();
    await expect(title).toHaveText(/^G1 · Expert #7/);

    // Sorting by skew sets a minimum of active tokens and says why.
    await page.getByRole('button', { name: 'Close expert' }).click();
    await page.getByRole('button', { name: 'Skew', exact: true }).click();
    await expect(page.getByLabel('Minimum active tokens')).toHaveValue('50');
    await expect(page.getByText(/skew of experts seen on fewer than 50 tokens is noise/)).toBeVisible();
    await page.getByRole('button', { name: 'Frequency', exact: true }).click();
    await expect(page.getByLabel('Minimum active tokens')).toHaveValue('1');
  } finally {
    await backend.request('atlas.delete', { atlas });
  }
});

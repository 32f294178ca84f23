/**
 * In the served UI: an exported folder opens edited ("edited: N experts removed (recipe)") and can be opened without
 * its edit; a file that cannot be imported says why in its own words, not "the detection is unsure"; an executable
 * renamed .txt is refused; plain text offers per line / paragraph / whole file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from '@playwright/test';
import { copyFixtureWithTokenizer } from '../support/tiny-monet';
import { exportMasked } from '../../workers/analysis/resection/export';
import { expect, openApp, test } from './fixtures';

let tmp: string;
let exported: string;
test.beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-edits-'));
  const model = path.join(tmp, 'tiny-monet');
  copyFixtureWithTokenizer('monet-vd-tiny', model);
  exported = path.join(tmp, 'tiny-edited');
  // Group 0 of the tiny model is layers 0–1: 3 experts × 2 layers = 6 removed.
  await exportMasked(model, { groups: { 0: [3, 10, 17] } }, exported, {
    recipe: { edits: [{ name: 'Remove code' }], evaluation: { perplexity: { rows: [], target: 'code', targetRelIncrease: 0.5, othersMeanRelIncrease: 0.01 } } },
  });
});
test.afterAll(() => rmSync(tmp, { recursive: true, force: true }));
test.afterEach(async ({ backend }) => {
  for (const m of await backend.request('models.list', {})) if (!m.builtin) await backend.request('models.remove', { id: m.id });
});

test('an exported folder opens with its edit, and without it on request', async ({ page, server }) => {
  await openApp(page, server, '/models');
  await page.getByLabel(/Checkpoint folder/).fill(exported);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  const edit = page.getByTestId('model-edit');
  await expect(edit).toContainText('edited: 6 experts removed (recipe)');
  await expect(edit).toContainText('from Remove code');
  await expect(edit.getByTestId('model-edit-measured')).toHaveText('Measured when exported: code perplexity +50.00 %, other domains +1.00 % on average');
  await expect(page.getByRole('region', { name: 'Models' }).getByText('Edited', { exact: true })).toBeVisible();
  await edit.getByRole('button', { name: 'Open without the edit' }).click();
  await expect(edit).toContainText('Opened without its edit');
  await expect(page.getByRole('region', { name: 'Models' }).getByText('Unedited', { exact: true })).toBeVisible();
  await edit.getByRole('button', { name: 'Apply the edit' }).click();
  await expect(edit).toContainText('edited: 6 experts removed (recipe)');
});

async function drop(page: Page, name: string, bytes: number[]) {
  await page.evaluate(
    ({ name, bytes }) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(bytes)], name, { type: 'application/octet-stream' }));
      const target = document.querySelector('[data-testid="dropzone"]') ?? document.body;
      for (const type of ['dragenter', 'dragover', 'drop']) target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    },
    { name, bytes },
  );
}

test('a refused file says why in the banner; plain text offers lines, paragraphs or the whole file', async ({ page, server }) => {
  await openApp(page, server, '/datasets');
  await drop(page, 'broken.parquet', [...Buffer.from('not a parquet file')]);
  let panel = page.getByRole('region', { name: /New dataset/ });
  await expect(panel.getByTestId('import-refused')).toContainText('broken.parquet');
  await expect(panel.getByTestId('import-refused')).toContainText('footer != PAR1');
  await expect(panel.getByText('The detection is unsure')).toHaveCount(0);
  await panel.getByRole('button', { name: 'Close the import' }).click();

  const elf = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ...Array.from({ length: 200 }, (_, i) => (i * 37) % 256)];
  await drop(page, 'notes.txt', elf);
  panel = page.getByRole('region', { name: /New dataset/ });
  await expect(panel.getByTestId('import-refused')).toContainText('an ELF executable, not text');
  await panel.getByRole('button', { name: 'Close the import' }).click();

  await drop(page, 'snippets.txt', [...Buffer.from('def f(x):\n    return x\n\nclass A:\n    pass\n')]);
  panel = page.getByRole('region', { name: /New dataset/ });
  const samples = panel.getByRole('table', { name: 'Preview of the first samples' });
  await expect(samples.getByRole('row')).toHaveCount(1 + 4);
  await panel.getByLabel('Plain text: one record per').selectOption('paragraph');
  await expect(samples.getByRole('row')).toHaveCount(1 + 2);
  await expect(samples).toContainText('return x');
});

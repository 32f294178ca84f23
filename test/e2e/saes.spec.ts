/**
 * The SAEs area, the acceptance test: train a small GBA SAE on the embedded default model's shipped corpus
 * (tiny sizes), watch its curves (loss, FVE, L0, dead, per-group rate against target) fill while it trains, pause and
 * resume it, see it finish with its evaluation and in the compare table; import an SAE Lens folder; then build a latent atlas of it, open a
 * latent's page (top contexts, bridge to experts) and find a latent by an example sentence. Screenshots for looking.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, openApp, snap, startServe, stopServe, test } from './fixtures';
import type { Page } from '@playwright/test';

/**
 * The suite's shared server runs from a snapshot of dist/ without the embedded default model; this test needs it
 * (and its shipped corpus), so it starts its own server on its own workspace with both named.
 */
async function serveWithDefaultModel() {
  const workspace = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-saes-'));
  const saved = { model: process.env.RESECT_DEFAULT_MODEL, corpus: process.env.RESECT_DEFAULT_CORPUS };
  process.env.RESECT_DEFAULT_MODEL = path.resolve('assets/model');
  process.env.RESECT_DEFAULT_CORPUS = path.resolve('assets/corpus/heldout.jsonl');
  try {
    const s = await startServe(['--port', '0', '--workspace', workspace]);
    return { ...s, workspace };
  } finally {
    for (const [k, v] of [['RESECT_DEFAULT_MODEL', saved.model], ['RESECT_DEFAULT_CORPUS', saved.corpus]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const run = (page: Page, id: string) => page.getByRole('region', { name: `SAE run ${id}` });
const stepOf = async (page: Page, id: string) => Number((await run(page, id).getByTestId('sae-step').textContent())!.split('/')[0]!.trim());
const points = async (page: Page, id: string, chart: string) =>
  Number(/(\d+) points/.exec((await run(page, id).getByRole('img', { name: new RegExp(`^${chart}:`) }).getAttribute('aria-label')) ?? '')?.[1] ?? 0);

test('train a small SAE on the default model, watch its curves, browse its latents and find one by example', async ({ page }) => {
  test.setTimeout(300_000);
  const { child, server, workspace } = await serveWithDefaultModel();
  try {
    await trainAndBrowse(page, server);
  } finally {
    await stopServe(child);
    rmSync(workspace, { recursive: true, force: true });
  }
});

async function trainAndBrowse(page: Page, server: Parameters<typeof openApp>[1]) {
  await openApp(page, server, '/saes');
  const form = page.getByRole('form', { name: 'Train an SAE' });
  // The default model and its shipped corpus are preselected; a middle block's residual stream by default.
  await expect(form.getByLabel('Model', { exact: true })).toHaveValue('default');
  await expect(form.getByLabel('Text', { exact: true })).toHaveValue('corpus');
  await expect(form.getByTestId('sae-hook')).toHaveText('blocks.2.hook_resid_post');
  await expect(form.getByLabel('Method', { exact: true })).toHaveValue('gba');
  await form.getByLabel('SAE name', { exact: true }).fill('e2e-gba');
  await form.getByLabel('Tokens to capture', { exact: true }).fill('4096');
  await form.getByLabel('Latents', { exact: true }).fill('128');
  await form.getByLabel('Steps', { exact: true }).fill('1500');
  await form.getByLabel('Batch size', { exact: true }).fill('128');
  await form.getByLabel('Groups', { exact: true }).fill('4');
  await form.getByLabel('Adapt every', { exact: true }).fill('10');
  await form.getByRole('button', { name: 'Train' }).click();

  const id = 'e2e-gba';
  const panel = run(page, id);
  await expect(panel.getByTestId('sae-run-state')).toHaveText(/Capturing activations|Training/, { timeout: 60_000 });
  await expect.poll(() => stepOf(page, id), { timeout: 120_000 }).toBeGreaterThan(40);
  for (const chart of ['SAE loss', 'FVE', 'L0', 'Dead fraction']) await expect.poll(() => points(page, id, chart), { timeout: 20_000 }).toBeGreaterThan(10);
  await expect.poll(() => points(page, id, 'Per-group realized rate against target'), { timeout: 30_000 }).toBeGreaterThan(4);
  await expect(panel.getByTestId('sae-fve')).not.toHaveText('—');
  await snap(page, 'saes-training');

  // Pause (a checkpointing cancel), then resume from the checkpoint to the end.
  await panel.getByRole('button', { name: 'Pause' }).click();
  await expect(panel.getByTestId('sae-run-state')).toHaveText('Paused', { timeout: 30_000 });
  const resume = panel.getByRole('button', { name: /^Resume from step \d+$/ });
  await expect(resume).toBeVisible({ timeout: 10_000 });
  await resume.click();
  await expect(panel.getByTestId('sae-run-state')).toHaveText('Finished', { timeout: 180_000 });
  await expect(panel.getByTestId('sae-step')).toHaveText('1500 / 1500');
  await expect(panel.getByTestId('sae-eval')).toContainText('FVE');
  await snap(page, 'saes-finished');

  // Import an SAE Lens folder: it joins the list.
  const imp = page.getByRole('form', { name: 'Import' });
  await imp.getByLabel('SAE folder').fill(path.resolve('test/fixtures/sae/saelens-topk'));
  await imp.getByLabel('Imported SAE name').fill('lens-topk');
  await imp.getByRole('button', { name: 'Import' }).click();
  await expect(imp).toContainText('Imported', { timeout: 60_000 });
  await expect(page.getByRole('list', { name: 'SAEs of this workspace' }).getByRole('button', { name: /lens-topk/ })).toBeVisible();
  await page.getByRole('list', { name: 'SAEs of this workspace' }).getByRole('button', { name: /e2e-gba/ }).click();

  await page.getByRole('tab', { name: 'Compare' }).click();
  await expect(page.getByRole('table', { name: 'SAE runs compared' }).getByRole('row', { name: /e2e-gba/ })).toBeVisible();
  await expect(page.getByRole('img', { name: /^FVE against L0: 1 points/ })).toBeVisible();

  // Latents: build a latent atlas of the SAE over part of the corpus.
  await page.getByRole('tab', { name: 'Train' }).click();
  await panel.getByRole('button', { name: 'Browse latents' }).click();
  await expect(page.getByLabel('SAE for the atlas')).toHaveValue(id);
  await page.getByLabel('Samples').fill('12');
  await page.getByRole('button', { name: 'Build', exact: true }).click();
  const list = page.getByRole('table', { name: 'Latents' });
  await expect(list.getByRole('row').nth(1)).toBeVisible({ timeout: 180_000 });
  await list.getByRole('row').nth(1).getByRole('button').click();
  const latent = page.getByTestId('latent-page');
  await expect(latent.getByRole('heading', { name: /^Latent #\d+$/ })).toBeVisible();
  await expect(latent.getByRole('region', { name: 'Top contexts' }).locator('mark').first()).toBeVisible();
  await expect(latent.getByRole('region', { name: 'Bridge' }).getByRole('heading', { name: 'Experts that fire with this latent' })).toBeVisible();
  await snap(page, 'saes-latent');

  // Find a latent by an example sentence: each token lists its latents; one opens its page.
  await page.getByLabel('Search latents').fill('The court ruled that the law applies to every citizen.');
  await page.getByRole('button', { name: 'Find' }).click();
  const tokens = page.getByRole('list', { name: 'Latents per token' });
  await expect(tokens.getByRole('button').first()).toBeVisible({ timeout: 60_000 });
  const chip = tokens.getByRole('button').first();
  const n = (await chip.textContent())!.trim().slice(1);
  await chip.click();
  await expect(latent.getByRole('heading', { name: `Latent #${n}` })).toBeVisible();
  await snap(page, 'saes-example');
}

/**
 * The Models view against the real `resect serve`: open a checkpoint folder by path (a copy of
 * test/fixtures/monet-vd-tiny with a character tokenizer), see its config, run a prompt and watch the tokens stream
 * (job.output frames on the page's WebSocket), then the per-token expert lists. Screenshots in both themes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { copyFixtureWithTokenizer } from '../support/tiny-monet';
import { expect, openApp, snap, test } from './fixtures';


let tmp: string;
let model: string;
test.beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-models-'));
  model = path.join(tmp, 'tiny-monet');
  copyFixtureWithTokenizer('monet-vd-tiny', model);
  writeFileSync(path.join(tmp, 'bad-mask.json'), JSON.stringify({ layers: { 9: [1] } }));
});
test.afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test.afterEach(async ({ backend }) => {
  for (const m of await backend.request('models.list', {})) if (!m.builtin) await backend.request('models.remove', { id: m.id });
});

test('opening a folder that is not a checkpoint says why, in place', async ({ page, server }) => {
  await openApp(page, server, '/models');
  await expect(page.getByRole('heading', { level: 2, name: /No models/ })).toBeVisible();
  const field = page.getByLabel(/Checkpoint folder/);
  await field.fill(tmp);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'has no config.json' })).toBeVisible();
  await expect(field).toHaveAttribute('aria-invalid', 'true');
});

test('open a checkpoint by path, see its config, stream a generation and the experts of each token', async ({ page, server }) => {
  // Count the job.output frames the page receives: the text must arrive in pieces, before the job ends.
  const outputs: string[] = [];
  page.on('websocket', (ws) =>
    ws.on('framereceived', (f) => {
      const text = typeof f.payload === 'string' ? f.payload : f.payload.toString();
      if (text.includes('"job.output"')) outputs.push((JSON.parse(text) as { data: { text: string } }).data.text);
    }),
  );
  await openApp(page, server, '/models');
  await page.getByLabel(/Checkpoint folder/).fill(model);
  await page.getByRole('button', { name: 'Open', exact: true }).click();

  const details = page.getByTestId('model-details');
  await expect(details.getByRole('heading', { name: 'tiny-monet' })).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Areas' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Models' }).getByRole('button', { name: /^tiny-monet/ })).toHaveAttribute('aria-current', 'true');
  await expect(details).toContainText('4 · d 32');
  await expect(details).toContainText('8 × 8 = 64 per layer');
  await expect(details).toContainText('tokenizer.json');
  const config = details.getByRole('table', { name: 'config.json' });
  await expect(config.getByRole('row', { name: /moe_experts/ })).toContainText('8');
  await expect(config.getByRole('row', { name: /model_type/ })).toContainText('monet');

  // A bad mask is explained before anything runs.
  await page.getByLabel('Prompt', { exact: true }).fill('hello wor');
  await page.getByLabel('Mask (optional)').fill(path.join(tmp, 'bad-mask.json'));
  await page.getByRole('button', { name: 'Generate' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'unknown layer 9' })).toBeVisible();
  await page.getByLabel('Mask (optional)').fill('');

  await page.getByLabel('Max tokens').fill('40');
  await page.getByLabel('Temperature').fill('1');
  await page.getByLabel('Seed').fill('7');
  await snap(page, 'models-open');
  await page.getByRole('button', { name: 'Generate' }).click();

  const summary = page.getByTestId('generation-summary');
  await expect(summary).toContainText('tokens generated', { timeout: 45_000 });
  const generated = await page.getByTestId('generated').textContent();
  expect(generated?.length).toBeGreaterThan(0);
  expect(outputs.length).toBeGreaterThan(1);
  expect(outputs.join('')).toBe(generated);

  // Routing of prompt + output follows: per token, per router, the top experts with flat ids and (i, j).
  const experts = page.getByTestId('token-experts');
  await expect(experts).toBeVisible({ timeout: 45_000 });
  await expect(experts.getByRole('region', { name: /Router 0 \(layer 0\)/ })).toBeVisible();
  await expect(experts.getByRole('region', { name: /Router 1 \(layer 2\)/ })).toBeVisible();
  const firstRow = experts.getByRole('region', { name: /Router 0/ }).getByRole('row').nth(1);
  const cells = await firstRow.getByRole('cell').allTextContents();
  const [id, ij, score] = [Number(cells[1]), cells[2]!, cells[3]!];
  const [i, j] = ij.replace(/[()\s]/g, '').split(',').map(Number);
  expect(id).toBe(i! * 8 + j!);
  expect(score).toMatch(/^\s*\d+(\.\d+)?%\s*$/);

  // Tokens are clickable: the prompt's 'h' (token 1, after BOS).
  const tokens = page.getByRole('toolbar', { name: 'Tokens' });
  expect(await tokens.getByRole('button').count()).toBeGreaterThan('hello wor'.length);
  await tokens.getByRole('button', { name: 'Token 1: "h"' }).click();
  await expect(experts.getByRole('heading', { name: /Token 1/ })).toBeVisible();
  await expect(tokens.getByRole('button', { name: 'Token 1: "h"' })).toHaveAttribute('aria-pressed', 'true');
  await snap(page, 'models-run');
});

for (const scheme of ['dark', 'light'] as const) {
  test(`screenshots of the Models view (${scheme})`, async ({ page, server, backend }) => {
    await backend.request('settings.update', { theme: 'system' });
    await page.emulateMedia({ colorScheme: scheme });
    await backend.request('models.add', { path: model });
    await openApp(page, server, '/models');
    await expect(page.getByTestId('model-details')).toContainText('config.json');
    await page.getByLabel('Prompt', { exact: true }).fill('The cat');
    await page.getByLabel('Max tokens').fill('24');
    await page.getByRole('button', { name: 'Generate' }).click();
    await expect(page.getByTestId('token-experts')).toBeVisible({ timeout: 45_000 });
    await snap(page, `models-run-${scheme}`);
    await page.getByTestId('token-experts').scrollIntoViewIfNeeded();
    await snap(page, `models-experts-${scheme}`);
  });
}

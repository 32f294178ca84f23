/**
 * The Train view: a `tiny` training on the sample JSONL with the shipped tokenizer; progress and a loss curve with
 * points; pause (checkpoint), reload (the curves refill from metrics.jsonl), resume from the checkpoint step, cancel;
 * a short run that finishes and is added to Models. Screenshots in both themes.
 */
import path from 'node:path';
import { expect, openApp, snap, test, type Server } from './fixtures';
import type { Page } from '@playwright/test';

const sample = path.resolve('test/fixtures/data/sample.jsonl');

async function startRun(page: Page, name: string, steps: number, domainBalance?: string) {
  const form = page.getByRole('form', { name: 'New training run' });
  await form.getByLabel('Run name').fill(name);
  await form.getByLabel('Training files').fill(sample);
  await form.getByLabel('Preset').selectOption('tiny');
  await form.getByLabel('Steps').fill(String(steps));
  if (domainBalance) await form.getByLabel('Domain balance').selectOption(domainBalance);
  await form.getByRole('button', { name: 'Start training' }).click();
}

const runPanel = (page: Page, key: string) => page.getByRole('region', { name: `Training run ${key}` });
const stepOf = async (page: Page, key: string) => Number((await runPanel(page, key).getByTestId('run-step').textContent())!.split('/')[0]!.trim());
const points = async (page: Page, key: string, chart: string) =>
  Number(/(\d+) points/.exec((await runPanel(page, key).getByRole('img', { name: new RegExp(`^${chart}:`) }).getAttribute('aria-label')) ?? '')?.[1] ?? 0);

async function reopen(page: Page, server: Server) {
  await page.reload();
  await expect(page.getByRole('status').filter({ hasText: /^Connected$/ })).toBeVisible();
  void server;
}

test('train a tiny model: curves, pause, reload, resume, cancel; a finished run is added to Models', async ({ page, server, backend }) => {
  test.setTimeout(180_000);
  await openApp(page, server, '/train');
  await expect(page.getByRole('heading', { level: 1, name: 'Train' })).toBeVisible();
  await startRun(page, 'e2e-long', 5000);
  const key = 'models/e2e-long';
  const panel = runPanel(page, key);
  await expect(panel.getByTestId('run-state')).toHaveText('Running', { timeout: 30_000 });
  await expect.poll(() => stepOf(page, key), { timeout: 60_000 }).toBeGreaterThan(15);
  await expect.poll(() => points(page, key, 'Training loss'), { timeout: 20_000 }).toBeGreaterThan(5);
  await expect.poll(() => points(page, key, 'Validation loss per domain'), { timeout: 20_000 }).toBeGreaterThan(0);
  await expect(panel.getByTestId('run-tps')).not.toHaveText('—');
  await expect(panel.getByRole('progressbar', { name: `Training ${key}` })).toBeVisible();

  // Pause: the trainer checkpoints on cancel.
  await panel.getByRole('button', { name: 'Pause' }).click();
  await expect(panel.getByTestId('run-state')).toHaveText('Paused', { timeout: 30_000 });
  const resumeButton = panel.getByRole('button', { name: /^Resume from step \d+$/ });
  await expect(resumeButton).toBeVisible();
  const ckpt = Number(/(\d+)$/.exec((await resumeButton.textContent())!.trim())![1]);
  expect(ckpt).toBeGreaterThan(0);
  await expect(panel.getByTestId('run-checkpoint')).toHaveText(`step ${ckpt}`);
  const pausedAt = await stepOf(page, key);
  expect(pausedAt).toBe(ckpt);

  // A reload re-attaches: the curves refill from the file.
  await reopen(page, server);
  await expect(panel.getByTestId('run-state')).toHaveText('Paused');
  await expect.poll(() => points(page, key, 'Training loss')).toBeGreaterThan(5);
  await snap(page, 'train-paused');

  // Resume continues from the checkpoint step.
  await panel.getByRole('button', { name: `Resume from step ${ckpt}` }).click();
  await expect(panel.getByTestId('run-state')).toHaveText('Running', { timeout: 30_000 });
  await expect(panel.getByTestId('run-resumes')).toHaveText(`Resumed from step ${ckpt}.`, { timeout: 30_000 });
  await expect.poll(() => stepOf(page, key), { timeout: 60_000 }).toBeGreaterThan(ckpt + 5);
  const jobs = (await backend.request('jobs.list', {})).filter((j) => j.kind === 'monet.train' && j.params.out === key);
  expect(jobs.map((j) => j.params.resume).sort()).toEqual([false, true]);
  const metrics = await backend.request('jobs.metrics', { id: jobs.find((j) => j.params.resume)!.id });
  const resume = metrics.records.find((r) => r.type === 'resume')!;
  expect(resume.step).toBe(ckpt);
  const firstAfter = metrics.records.slice(metrics.records.indexOf(resume)).find((r) => r.type === 'step')!;
  expect(firstAfter.step).toBe(ckpt + 1);

  // Cancel stops for good: no resume offered.
  await panel.getByRole('button', { name: 'Cancel' }).click();
  await expect(panel.getByTestId('run-state')).toHaveText('Cancelled', { timeout: 30_000 });
  await expect(panel.getByRole('button', { name: /^Resume/ })).toHaveCount(0);

  // A short run (every domain of the sample drawn alike) finishes; its model goes to Models.
  await startRun(page, 'e2e-short', 12, 'every domain alike (α 0)');
  const key2 = 'models/e2e-short';
  const panel2 = runPanel(page, key2);
  await expect(panel2.getByTestId('run-state')).toHaveText('Done', { timeout: 90_000 });
  await expect.poll(() => points(page, key2, 'Training loss')).toBe(12);
  const short = (await backend.request('jobs.list', {})).find((j) => j.kind === 'monet.train' && j.params.out === key2)!;
  expect(short.params.domainBalance).toBe(0);
  const start = (await backend.request('jobs.metrics', { id: short.id })).records.find((r) => r.type === 'start') as { hyper?: { domainBalance?: number } };
  expect(start.hyper?.domainBalance).toBe(0);
  await panel2.getByRole('button', { name: 'Add to Models' }).click();
  await expect(panel2.getByRole('link', { name: 'In Models as “e2e-short”' })).toBeVisible();
  const models = await backend.request('models.list', {});
  expect(models.some((m) => m.name === 'e2e-short' && m.path.endsWith(path.join('models', 'e2e-short', 'checkpoint')) && m.summary)).toBe(true);
});

/**
 * The Resection view against the real `resect serve`: a tiny model (test/fixtures/monet-vd-tiny + a character
 * tokenizer) and an expert atlas of it built by the `atlas.build` job on a small labelled JSONL; then in the page:
 * choose the "code" experts by the skew rule, see the counts per group and the list, remove them as an edit, run the
 * before/after evaluation and see the perplexity table and chart, toggle the edit, undo and redo; the issue-8 flow
 * (remove a domain with one click, before/after table, undo, export the Hugging Face folder and see the job listed);
 * and removing / restoring one expert by hand from the Experts view.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, openApp, snap, test } from './fixtures';

const FIXTURE = path.resolve('test/fixtures/monet-vd-tiny');

function charTokenizer() {
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let c = 32; c <= 125; c++) vocab[String.fromCharCode(c)] = 3 + c - 32;
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null, pre_tokenizer: null, post_processor: null, decoder: { type: 'Fuse' },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: false, vocab, merges: [] },
  };
}

const CODE = ['def add(a, b):\n    return a + b', 'for (let i = 0; i < n; i++) { sum += x[i]; }', 'if x == None:\n    raise ValueError("x")', 'int main(void) { return 0; }', 'const f = (x) => x * 2;'];
const PROSE = ['The old man walked slowly to the harbour at dawn.', 'She opened the letter and smiled at the news.', 'Rain fell over the quiet village all night long.', 'A small bird sang on the fence by the garden.', 'He read the book twice before he understood it.'];

let tmp: string;
let model: string;
let data: string;
test.beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'resect-e2e-resection-'));
  model = path.join(tmp, 'tiny-monet');
  cpSync(FIXTURE, model, { recursive: true });
  writeFileSync(path.join(model, 'tokenizer.json'), JSON.stringify(charTokenizer()));
  writeFileSync(path.join(model, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: true, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }));
  data = path.join(tmp, 'labelled.jsonl');
  writeFileSync(data, [...CODE.map((text) => ({ text, domain: 'code' })), ...PROSE.map((text) => ({ text, domain: 'prose' }))].map((r) => JSON.stringify(r)).join('\n') + '\n');
});
test.afterAll(() => rmSync(tmp, { recursive: true, force: true }));

test('choose a domain\'s experts from an atlas, apply them as an edit, measure before/after, undo', async ({ page, server, backend }) => {
  test.setTimeout(120_000);
  const added = await backend.request('models.add', { path: model });
  const { jobId } = await backend.request('atlas.build', { model: added.path, data: { kind: 'jsonl', path: data, textField: 'text' } });
  await expect.poll(async () => (await backend.job(jobId))?.state, { timeout: 60_000 }).toBe('succeeded');

  await openApp(page, server, '/resection');
  await expect(page.getByLabel('Model', { exact: true })).toHaveValue(added.path);
  await page.getByLabel('Domain', { exact: true }).selectOption('code');
  // The closest domain by routing, before anything is previewed; a warning when they share their experts.
  const atlasId = (await backend.request('atlas.list', {})).find((a) => a.model.dir === added.path)!.id;
  const routing = await backend.request('resection.similarity', { atlas: atlasId });
  const cos = routing.groups.reduce((a, t) => a + t[routing.domains.indexOf('code')]![routing.domains.indexOf('prose')]!, 0) / routing.groups.length;
  const hint = page.getByTestId('closest-hint');
  await expect(hint).toContainText(`Routed most like prose (cosine ${cos.toFixed(2)})`);
  await expect(hint).toHaveClass(cos >= 0.97 ? /warn/ : /^(?!.*warn)/);
  await expect(page.getByLabel('Threshold τ')).toHaveCount(0); // the score rule's field belongs to the other rule
  await page.getByRole('button', { name: 'Preview' }).click();
  const counts = page.getByRole('table', { name: 'Experts per domain and group' });
  await expect(counts).toBeVisible();
  await expect(counts.getByRole('row', { name: /code/ })).toBeVisible();
  await expect(counts.getByRole('columnheader', { name: 'Mass removed' })).toBeVisible();
  await expect(page.getByTestId('mass-summary')).toContainText(/of code's routing mass/);
  // How alike the domains are routed, per group.
  // Routing groups are numbered from 0 everywhere (G0, G1), as in the mask JSON.
  const sim = page.getByRole('table', { name: /Cosine similarity of mean routing, G0/ });
  await expect(sim.getByRole('row', { name: /^prose/ })).toBeVisible();
  await page.getByRole('group', { name: 'Routing group' }).getByRole('button', { name: 'G1' }).click();
  await expect(page.getByRole('table', { name: /routing, G1/ })).toBeVisible();
  await page.setViewportSize({ width: 1400, height: 1100 });
  await snap(page, 'resection-preview');
  const remove = page.getByRole('button', { name: /^Remove \d+ experts$/ });
  await expect(remove).toBeEnabled();
  const n = Number(/(\d+)/.exec((await remove.textContent()) ?? '')![1]);
  expect(n).toBeGreaterThan(0);
  await expect(page.getByRole('region', { name: 'Selected experts' }).getByRole('row')).toHaveCount(n + 1);

  await remove.click();
  const stack = page.getByRole('list', { name: 'Edit stack' });
  await expect(stack.getByText(/Remove code experts/)).toBeVisible();
  await expect(page.getByTestId('rs-active')).toContainText(`removes ${2 * n} of 256`); // group scope: 2 layers per group
  // The same choice is not stacked twice: the button says it is applied while that edit is on.
  await expect(page.getByRole('button', { name: `Removed: ${n} experts` })).toBeDisabled();

  await page.getByLabel('Target domain').selectOption('code');
  await page.getByLabel(/Prompts to generate/).fill('def f(x):');
  await page.getByRole('button', { name: 'Evaluate' }).click();
  const table = page.getByRole('table', { name: 'Perplexity before and after' });
  await expect(table).toBeVisible({ timeout: 60_000 });
  await expect(table.getByRole('row', { name: /^code/ })).toBeVisible();
  await expect(table.getByRole('row', { name: /^prose/ })).toBeVisible();
  await expect(table.getByRole('row', { name: /ΔTarget/ })).toContainText('%');
  // Intervals beside each change; the tiny corpus is under the 6,000-token budget, and the panel says so loudly.
  await expect(table.getByRole('row', { name: /^code/ })).toContainText('…');
  await expect(page.getByTestId('evaluation-warnings')).toContainText(/code \(the target\) has only \d+ tokens, under the budget of 6,000/);
  await expect(page.getByTestId('evaluation-draw')).toContainText('6,000 tokens per domain');
  await expect(page.locator('.chart svg')).toBeVisible();
  await expect(page.getByText('before', { exact: true })).toBeVisible();
  await snap(page, 'resection-evaluated');

  // Toggle off and on, then undo everything: the stack is empty again; redo brings the edit back.
  await stack.getByRole('checkbox').uncheck();
  await expect(page.getByTestId('rs-active')).toContainText('removes 0 of 256');
  await expect(page.getByRole('button', { name: `Remove ${n} experts` })).toBeEnabled();
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(page.getByTestId('rs-active')).toContainText(`removes ${2 * n} of 256`);
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(page.getByText(/No edits on this model/)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Undo' })).toBeDisabled();
  await page.getByRole('button', { name: 'Redo' }).click();
  await expect(stack.getByText(/Remove code experts/)).toBeVisible();

  // The stack persists in the workspace.
  const s = await backend.request('resection.edits', { model: added.path });
  expect(s.edits.map((e) => e.name)).toEqual([expect.stringMatching(/Remove code experts/)]);
  await backend.request('resection.undo', { model: added.path });
  await backend.request('models.remove', { id: added.id });
});

test('remove a domain with one click, see the before/after table, undo, export the folder', async ({ page, server, backend }) => {
  test.setTimeout(120_000);
  const added = await backend.request('models.add', { path: model });
  const { jobId } = await backend.request('atlas.build', { model: added.path, data: { kind: 'jsonl', path: data, textField: 'text' }, name: 'rs-flow atlas' });
  await expect.poll(async () => (await backend.job(jobId))?.state, { timeout: 60_000 }).toBe('succeeded');

  await openApp(page, server, '/resection');
  await expect(page.getByLabel('Model', { exact: true })).toHaveValue(added.path);
  const atlasPicker = page.getByLabel('Atlas', { exact: true });
  await atlasPicker.selectOption({ label: (await atlasPicker.locator('option', { hasText: 'rs-flow atlas' }).first().textContent())!.trim() });
  await page.getByLabel('Domain', { exact: true }).selectOption('prose');
  await page.getByRole('button', { name: 'Preview' }).click();
  const remove = page.getByRole('button', { name: /^Remove \d+ experts$/ });
  await expect(remove).toBeEnabled();
  const n = Number(/(\d+)/.exec((await remove.textContent()) ?? '')![1]);
  expect(n).toBeGreaterThan(0);

  // One click removes the domain: the edit is on the stack and active.
  await remove.click();
  const stack = page.getByRole('list', { name: 'Edit stack' });
  await expect(stack.getByText(/Remove prose experts/)).toBeVisible();
  await expect(page.getByTestId('rs-active')).toContainText(`removes ${2 * n} of 256`);

  // Before/after table: one row per domain with both perplexities and ΔTarget / mean ΔOthers.
  await page.getByLabel('Target domain').selectOption('prose');
  await page.getByRole('button', { name: 'Evaluate' }).click();
  const table = page.getByRole('table', { name: 'Perplexity before and after' });
  await expect(table).toBeVisible({ timeout: 60_000 });
  for (const d of ['code', 'prose']) await expect(table.getByRole('row', { name: new RegExp(`^${d}`) })).toContainText('%');
  await expect(table.getByRole('row', { name: /ΔTarget/ })).toContainText('%');
  await expect(table.getByRole('row', { name: /ΔOthers/ })).toContainText('%');

  // Undo takes the removal back; redo restores it for the export.
  await page.getByRole('button', { name: 'Undo' }).click();
  await expect(page.getByText(/No edits on this model/)).toBeVisible();
  await expect(page.getByTestId('rs-active')).toContainText('removes 0 of 256');
  await page.getByRole('button', { name: 'Redo' }).click();
  await expect(page.getByTestId('rs-active')).toContainText(`removes ${2 * n} of 256`);

  // Export the Hugging Face folder (masks + recipe); the job succeeds and is listed in Jobs with its result.
  const out = path.join(tmp, 'exported-prose');
  await page.getByLabel(/Export the edited model to/).fill(out);
  await page.getByRole('button', { name: 'Export', exact: true }).click();
  await expect(page.getByRole('status').filter({ hasText: /^Export:/ })).toContainText('Export: succeeded', { timeout: 60_000 });
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'resect_masks.safetensors', 'resect_recipe.json']) expect(existsSync(path.join(out, f)), f).toBe(true);
  const recipe = JSON.parse(readFileSync(path.join(out, 'resect_recipe.json'), 'utf8')) as { edits: { name: string }[]; evaluation?: unknown };
  expect(recipe.edits.map((e) => e.name)).toEqual([expect.stringMatching(/Remove prose experts/)]);
  expect(recipe.evaluation).toBeTruthy();
  const jobs = await backend.request('jobs.list', {});
  const exportJob = jobs.find((j) => j.kind === 'resection.export' && j.state === 'succeeded' && JSON.stringify(j.result ?? {}).includes('exported-prose'));
  expect(exportJob).toBeTruthy();
  await page.getByRole('navigation', { name: 'Areas' }).getByRole('link', { name: 'Jobs', exact: true }).click();
  await page.getByRole('button', { name: new RegExp(`Export .*exported-prose`) }).first().click();
  const detail = page.getByRole('region', { name: new RegExp(`Job Export .*exported-prose`) });
  await expect(detail).toContainText('resection.export');
  await expect(detail).toContainText('resect_masks.safetensors'); // the job's log: "Wrote …"
  await expect(page.getByRole('button', { name: new RegExp(`Export .*exported-prose`) }).first()).toContainText(/succeeded|done/i);

  while ((await backend.request('resection.edits', { model: added.path })).canUndo) await backend.request('resection.undo', { model: added.path });
  await backend.request('models.remove', { id: added.id });
});

test('run the paper\'s domain-masking experiment: per-domain table, verdict and selectivity plot; the stack untouched', async ({ page, server, backend }) => {
  test.setTimeout(120_000);
  const added = await backend.request('models.add', { path: model });
  await openApp(page, server, '/resection');
  await expect(page.getByLabel('Model', { exact: true })).toHaveValue(added.path);
  const panel = page.getByRole('region', { name: 'Domain-masking experiment' });
  await panel.getByLabel(/^Labelled text/).fill(data);
  await panel.getByLabel('Tokens per domain').fill('100');
  await panel.getByRole('button', { name: 'Run experiment' }).click();

  const table = panel.getByRole('table', { name: /Perplexity after removing each domain's experts/ });
  await expect(table).toBeVisible({ timeout: 90_000 });
  const job = (await backend.request('jobs.list', {})).find((j) => j.kind === 'resection.experiment' && j.state === 'succeeded')!;
  const r = job.result as { domains: Record<string, { experts_removed: number; target_rel_increase: number }>; summary: { passing: string[] } };
  for (const d of ['code', 'prose']) {
    const row = table.getByRole('row', { name: new RegExp(`^${d}`) });
    await expect(row).toContainText(String(r.domains[d]!.experts_removed));
    await expect(row).toContainText(`${r.domains[d]!.target_rel_increase >= 0 ? '+' : ''}${(r.domains[d]!.target_rel_increase * 100).toFixed(2)}%`);
  }
  await expect(panel.getByTestId('job-state')).toHaveText('Done');
  // The verdict is the job's, and the plot has one point per domain, marked as the verdict says.
  await expect(panel.getByTestId('experiment-summary')).toContainText(`${r.summary.passing.length} of 2 domains`);
  const points = panel.getByTestId('selectivity-point');
  await expect(points).toHaveCount(2);
  await expect(panel.locator('[data-testid="selectivity-point"] line.err')).toHaveCount(4); // 95% intervals, both axes
  await expect(panel.getByTestId('experiment-summary')).toContainText(/\(95% CI \d+–\d+\).*Median ratio/);
  await expect(panel.locator('[data-testid="selectivity-point"].pass')).toHaveCount(r.summary.passing.length);
  await expect(panel.getByRole('img', { name: 'Selectivity per domain' })).toBeVisible();
  // Copy as Markdown: the same figures, pasteable into notes.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await panel.getByRole('button', { name: 'Copy as Markdown' }).click();
  await expect(panel.getByRole('button', { name: 'Copied' })).toBeVisible();
  const md = await page.evaluate(() => navigator.clipboard.readText());
  expect(md).toContain('| Domain | Experts | Tokens | ppl before | ppl after | ΔTarget | 95% CI | ΔOthers | 95% CI | Ratio | 95% CI | Pass | Most hit other |');
  expect(md).toMatch(new RegExp(`\\| code \\| ${r.domains.code!.experts_removed} \\|`));
  expect(md).toContain(`${r.summary.passing.length} of 2 domains`);
  await panel.getByText(/Experts per domain and routing group/).click();
  await expect(panel.getByRole('table', { name: 'Experts per domain and routing group' }).getByRole('row', { name: /^code/ })).toBeVisible();
  await page.setViewportSize({ width: 1400, height: 1100 });
  await panel.scrollIntoViewIfNeeded();
  await snap(page, 'resection-experiment');
  // After a reload the model's latest experiment is shown again (it does not depend on the edit stack).
  await page.reload();
  await expect(page.getByRole('region', { name: 'Domain-masking experiment' }).getByTestId('experiment-summary')).toContainText(`${r.summary.passing.length} of 2 domains`);

  // Each domain was a temporary mask: the model's edit stack is still empty.
  expect((await backend.request('resection.edits', { model: added.path })).edits).toEqual([]);
  await backend.request('models.remove', { id: added.id });
});

test('remove and restore one expert by hand from its page in Experts', async ({ page, server, backend }) => {
  test.setTimeout(120_000);
  const added = await backend.request('models.add', { path: model });
  const { jobId } = await backend.request('atlas.build', { model: added.path, data: { kind: 'jsonl', path: data, textField: 'text' }, name: 'rs-hand atlas' });
  await expect.poll(async () => (await backend.job(jobId))?.state, { timeout: 60_000 }).toBe('succeeded');

  await openApp(page, server, '/experts');
  const atlasPicker = page.getByLabel('Atlas', { exact: true });
  await atlasPicker.selectOption({ label: (await atlasPicker.locator('option', { hasText: 'rs-hand atlas' }).first().textContent())!.trim() });
  const rows = page.getByRole('table').getByRole('row', { name: /Open expert/ });
  await rows.first().click();
  const expertPage = page.getByTestId('expert-page');
  await expect(expertPage).toBeVisible();
  const id = Number(/#(\d+)/.exec((await expertPage.getByRole('heading', { level: 2 }).textContent()) ?? '')![1]);

  await expertPage.getByRole('button', { name: `Remove expert ${id} from the model` }).click();
  await expect(expertPage.getByRole('status').filter({ hasText: `Removed #${id}` })).toContainText('removes 2 (layer, expert) pairs');
  await expertPage.getByRole('button', { name: `Restore expert ${id}` }).click();
  await expect(expertPage.getByRole('status').filter({ hasText: `Restored #${id}` })).toContainText('removes 0 (layer, expert) pairs');

  const s = await backend.request('resection.edits', { model: added.path });
  expect(s.edits.map((e) => e.name)).toEqual([expect.stringMatching(new RegExp(`^Remove G\\d/#${id}$`)), expect.stringMatching(new RegExp(`^Restore G\\d/#${id}$`))]);
  while ((await backend.request('resection.edits', { model: added.path })).canUndo) await backend.request('resection.undo', { model: added.path });
  await backend.request('models.remove', { id: added.id });
});

/**
 * The resection API in process (a Backend whose jobs run in this process): selection from routing statistics,
 * edits (apply, hand remove/restore, toggle, undo/redo, events), the evaluation job before/after and the export job
 * with the recipe naming the edits and the evaluation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { JobInfo, MethodName, Params, Result } from '../../common/api';
import { Backend } from '../../main/backend';
import { InProcessLauncher } from '../../main/jobs/in-process';
import { MonetModel } from '../../workers/models/monet/model';
import { loadTokenizer } from '../../workers/tokenizer';
import { parseMaskJson } from '../../workers/models/monet/mask';
import { perplexity } from '../../workers/models/monet/perplexity';
import { collectRoutingStats, saveRoutingStats } from '../../workers/analysis/resection/routing';
import { tempDir } from '../backend/helpers';
import { fixtureWithTokenizer } from '../monet/helpers';
import { labelledSamples, writeLabelledJsonl } from './helpers';

/** Runs jobs in this process, speaking the worker protocol. */
const inProcess = new InProcessLauncher();


let model: string;
let work: string;
let statsDir: string;
let data: string;
let backend: Backend;
const events: { event: string; data: unknown }[] = [];
const call = <M extends MethodName>(m: M, p: Params<M>) => backend.router.call(m, p) as Promise<Result<M>>;
const waitJob = async (id: string): Promise<JobInfo> => {
  for (let i = 0; i < 2000; i++) {
    const j = (await call('jobs.list', {})).find((x) => x.id === id)!;
    if (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') return j;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('job did not finish');
};

beforeAll(async () => {
  model = await fixtureWithTokenizer('monet-vd-tiny');
  work = tempDir('resect-rs-api-');
  data = path.join(work, 'data.jsonl');
  await writeLabelledJsonl(data);
  const m = await MonetModel.load(model, { intraOpThreads: 1 });
  try {
    const tok = await loadTokenizer(model, { bosTokenId: 1, eosTokenId: 2 });
    const samples = labelledSamples().map((s, k) => ({ ...s, scores: { toxicity: k % 3 === 0 ? 1 : 0 } }));
    statsDir = path.join(work, 'stats');
    await saveRoutingStats(statsDir, await collectRoutingStats(m, tok, samples, { scoreNames: ['toxicity'] }));
  } finally {
    await m.dispose();
  }
  backend = new Backend({ mode: 'serve', workspaceDir: path.join(work, 'ws'), launcher: inProcess });
  backend.subscribe((event, d) => events.push({ event, data: d }));
  await call('settings.update', { device: 'cpu', threads: 1 });
});
afterAll(async () => {
  await backend?.close();
  rmSync(work, { recursive: true, force: true });
  rmSync(path.dirname(model), { recursive: true, force: true });
});

describe('resection API', () => {
  it('selects, applies, edits by hand, toggles, undoes, evaluates and exports', async () => {
    const sel = await call('resection.select', { atlas: statsDir, rule: { kind: 'domain', domain: 'code' }, limit: 3 });
    expect(sel.counts!.domains).toEqual(['code', 'prose']);
    expect(sel.total).toBeGreaterThan(0);
    expect(sel.experts.length).toBe(Math.min(3, sel.total));
    // Code's experts carry more of code's routing mass than of prose's, in every group that has any.
    const [codeShare, proseShare] = sel.massShare.table;
    expect(codeShare!.some((v) => v > 0)).toBe(true);
    codeShare!.forEach((v, g) => expect(v).toBeGreaterThanOrEqual(proseShare![g]!));
    expect(sel.scoreNames).toEqual(['toxicity']);
    // Two domains routed differently: similar to themselves, less to each other.
    const sim = await call('resection.similarity', { atlas: statsDir });
    expect(sim.domains).toEqual(['code', 'prose']);
    for (const t of sim.groups) {
      expect(t[0]![0]).toBeCloseTo(1, 9);
      expect(t[0]![1]).toBeLessThan(1);
      expect(t[0]![1]).toBe(t[1]![0]);
    }
    await expect(call('resection.similarity', { atlas: 'no-such-atlas' })).rejects.toMatchObject({ code: 'not_found' });
    const tox = await call('resection.select', { atlas: statsDir, rule: { kind: 'score', score: 'toxicity', tau: 0.05 } });
    expect(tox.experts.every((e) => (e.value ?? 0) > 0.05)).toBe(true);
    await expect(call('resection.select', { atlas: statsDir, rule: { kind: 'domain', domain: 'nope' } })).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(call('resection.select', { atlas: 'no-such-atlas', rule: { kind: 'domain' } })).rejects.toMatchObject({ code: 'not_found' });

    let s = await call('resection.apply', { model, name: 'code', atlas: statsDir, rule: { kind: 'domain', domain: 'code' } });
    expect(s.edits).toHaveLength(1);
    expect(s.edits[0]!.recipe).toMatchObject({ rule: { kind: 'domain', domain: 'code', ratio: 2 }, atlas: statsDir });
    expect(s.removed).toBe(2 * sel.total);
    expect(events.some((e) => e.event === 'resection.changed')).toBe(true);
    const one = s.mask.layers!['0']![0]!;
    s = await call('resection.expert', { model, group: 0, expert: one, action: 'restore' });
    expect(s.removed).toBe(2 * sel.total - 2);
    expect(s.edits[1]!.name).toBe(`Restore G1/#${one}`);
    s = await call('resection.toggle', { id: s.edits[1]!.id, enabled: false });
    expect(s.removed).toBe(2 * sel.total);
    s = await call('resection.undo', { model });
    expect(s.removed).toBe(2 * sel.total - 2);
    s = await call('resection.undo', { model });
    expect(s.edits).toHaveLength(1);
    expect(s.canRedo).toBe(true);

    const ev = await call('resection.evaluate', {
      model, data: { kind: 'jsonl', path: data, textField: 'text' }, target: 'code', prompts: ['int x'], maxTokens: 4,
      toxicity: { prompts: ['you '], scorer: 'lexicon', k: 2, n: 4 },
    });
    const job = await waitJob(ev.jobId);
    expect(job.state, job.error ?? '').toBe('succeeded');
    // Every domain measured, with its tokens; the tiny corpus is under the default budget, and the edit's atlas (a
    // routing pass, named by the edit's recipe: the API passes it on) does
    // not record its text: both said with the figures, not only in the log.
    const w = job.result as { draw: { tokens_per_domain: number; domains: { domain: string; tokens: number; short: boolean }[] }; warnings: string[] };
    expect(w.draw.tokens_per_domain).toBe(6000);
    expect(w.draw.domains.map((x) => [x.domain, x.short])).toEqual([['code', true], ['prose', true]]);
    expect(w.warnings.join('\n')).toMatch(/code \(the target\) has only \d+ tokens, under the budget of 6,000/);
    expect(w.warnings.join('\n')).toMatch(/does not say what text it was built on/);
    const r = job.result as { perplexity: { rows: { domain: string; pplBefore: number; pplAfter: number }[]; targetRelIncrease: number }; chart: string; generations: unknown[]; toxicity: { before: { prompts: number } } };
    expect(r.perplexity.rows.map((x) => x.domain)).toEqual(['code', 'prose']);
    // The figures are the perplexities of the whole corpus (under the budget: every sample) without and with the
    // edit stack's mask, recomputed here from the model.
    const m = await MonetModel.load(model, { intraOpThreads: 1 });
    try {
      const tok = await loadTokenizer(model, { bosTokenId: 1, eosTokenId: 2 });
      const before = await perplexity(m, tok, labelledSamples());
      const after = await perplexity(m, tok, labelledSamples(), { masks: parseMaskJson(m.config, s.mask) });
      for (const row of r.perplexity.rows) {
        expect(row.pplBefore, row.domain).toBeCloseTo(before.domains[row.domain]!.ppl, 9);
        expect(row.pplAfter, row.domain).toBeCloseTo(after.domains[row.domain]!.ppl, 9);
      }
      const code = r.perplexity.rows[0]!;
      expect(code.pplAfter).not.toBeCloseTo(code.pplBefore, 3);
      expect(r.perplexity.targetRelIncrease).toBeCloseTo((code.pplAfter - code.pplBefore) / code.pplBefore, 12);
    } finally {
      await m.dispose();
    }
    expect(r.chart).toMatch(/^<svg/);
    expect(r.generations).toHaveLength(1);
    expect(r.toxicity.before.prompts).toBe(1);

    const out = path.join(work, 'exported');
    const ex = await call('resection.export', { model, out });
    expect(ex.bakeable).toBe(false);
    expect(ex.reason).toMatch(/composite/);
    expect((await waitJob(ex.jobId)).state).toBe('succeeded');
    const recipe = JSON.parse(readFileSync(path.join(out, 'resect_recipe.json'), 'utf8'));
    expect(recipe.edits[0]).toMatchObject({ name: 'code', recipe: { rule: { kind: 'domain', domain: 'code' } } });
    expect(recipe.evaluation.perplexity.targetRelIncrease).toBe(r.perplexity.targetRelIncrease);
    expect(existsSync(path.join(out, 'resect_masks.safetensors'))).toBe(true);
    await expect(call('resection.export', { model, out: path.join(work, 'baked'), baked: true })).rejects.toMatchObject({ code: 'invalid_params' });
  });

  it('runs the domain-masking experiment as a job (atlas built in the workspace)', async () => {
    // Under the default budget (6,000 tokens per domain) the tiny corpus is refused; with a smaller one it runs.
    const refused = await waitJob((await call('jobs.start', { kind: 'resection.experiment', params: { model, data: { kind: 'jsonl', path: data, textField: 'text' } } })).id);
    expect(refused.state).toBe('failed');
    expect(refused.error).toMatch(/under the budget of 6,000 per domain/);
    const job = await call('jobs.start', { kind: 'resection.experiment', params: { model, data: { kind: 'jsonl', path: data, textField: 'text' }, tokensPerDomain: 100 } });
    const done = await waitJob(job.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    const r = done.result as {
      domains: Record<string, { experts_removed: number; ppl_before: number; target_rel_increase: number }>; counts: { domains: string[] }; source: string;
      summary: { passing: string[]; mean_target_rel_increase: number }; bar: { ratio: number; minTarget: number }; atlas: string; evaluated: number;
    };
    expect(Object.keys(r.domains)).toEqual(['code', 'prose']);
    // The verdict travels with the numbers, so the UI shows what the CLI prints.
    expect(r.bar).toEqual({ ratio: 10, minTarget: 0.01 });
    expect(r.summary.mean_target_rel_increase).toBeCloseTo((r.domains.code!.target_rel_increase + r.domains.prose!.target_rel_increase) / 2, 12);
    expect(r.atlas).toBe(path.join(work, 'ws', 'atlases', `experiment-${job.id}`));
    expect(r.evaluated).toBeGreaterThan(0);
    expect(r.counts.domains.sort()).toEqual(['code', 'prose']);
    expect((done.result as { draw: { domains: { domain: string }[] } }).draw.domains.map((x) => x.domain)).toEqual(['code', 'prose']);
    expect((r.domains.code as unknown as { ci: { pass_share: number } }).ci.pass_share).toBeGreaterThanOrEqual(0);
    expect(r.source).toMatch(/^atlas:/);
    expect(existsSync(path.join(work, 'ws', 'atlases', `experiment-${job.id}`, 'meta.json'))).toBe(true);
  });
});

/** The CLI (`resect mask`, `resect experiment domain-masking`, `resect export`) built into a private bundle, on a tiny model. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { fixtureWithTokenizer } from '../monet/helpers';
import { writeLabelledJsonl } from './helpers';
import { formatClosest, formatCounts } from '../../main/cli/commands/experiment';
import { closestDomains } from '../../workers/analysis/resection/similarity';
import { formatDomainMasking, summarizeDomainMasking, type DomainMaskingResult } from '../../workers/analysis/resection/experiment';

const run = promisify(execFile);
const ROOT = path.join(import.meta.dirname, '..', '..');
const OUT = path.join(ROOT, 'dist', `test-resection-${process.pid}`);
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [path.join(OUT, 'cli.mjs'), ...args], { cwd: ROOT, maxBuffer: 1 << 26, env: { ...process.env, ...env } });

let tmp: string;
let model: string;
let data: string;

beforeAll(async () => {
  await build({
    entryPoints: [path.join(ROOT, 'main', 'cli.ts')], outfile: path.join(OUT, 'cli.mjs'), bundle: true, platform: 'node', target: 'node20',
    format: 'esm', packages: 'external', logLevel: 'warning', alias: { '@common': path.join(ROOT, 'common') },
    banner: { js: "import { createRequire as __resectCreateRequire } from 'node:module'; const require = __resectCreateRequire(import.meta.url);" },
  });
  tmp = await mkdtemp(path.join(tmpdir(), 'resect-rs-cli-'));
  model = await fixtureWithTokenizer('monet-vd-tiny');
  data = path.join(tmp, 'data.jsonl');
  await writeLabelledJsonl(data, (_s, k) => ({ toxicity: (k % 4) / 3 }));
}, 120_000);
afterAll(async () => {
  await rm(OUT, { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
  await rm(path.dirname(model), { recursive: true, force: true });
});

describe('resect experiment domain-masking', () => {
  it('--json prints the per-domain table from an atlas it builds', async () => {
    const atlas = path.join(tmp, 'atlas');
    // The tiny corpus has about 240 tokens per domain: the default budget (6,000) is refused, naming the domains.
    await expect(cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas', path.join(tmp, 'unused'), '--threads', '1'])).rejects.toThrow(/code has only \d+ tokens, under the budget of 6,000 per domain[\s\S]*--allow-short/);
    const T = ['--tokens-per-domain', '100'];
    const { stdout, stderr } = await cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas', atlas, ...T, '--json', '--threads', '1']);
    // stdout is the JSON alone; progress still goes to stderr.
    expect(stderr).toMatch(/resect: evaluation text: 100 tokens per domain, seed 0[\s\S]*resect: building an atlas[\s\S]*resect: evaluating on \d+ samples/);
    const r = JSON.parse(stdout) as { domains: Record<string, Record<string, number> & { others_rel_increase: Record<string, number> }> };
    expect(Object.keys(r.domains)).toEqual(['code', 'prose']);
    for (const [name, d] of Object.entries(r.domains)) {
      expect(Object.keys(d).sort()).toEqual(['ci', 'experts_removed', 'others_mean_rel_increase', 'others_rel_increase', 'ppl_after', 'ppl_before', 'selectivity', 'target_rel_increase', 'tokens']);
      // 95 % bootstrap intervals travel in --json and bracket the figures.
      const ci = (d as unknown as { ci: { target_rel_increase: [number, number]; others_mean_rel_increase: [number, number]; pass_share: number } }).ci;
      expect(ci.target_rel_increase[0]).toBeLessThanOrEqual(d.target_rel_increase! + 1e-12);
      expect(ci.target_rel_increase[1]).toBeGreaterThanOrEqual(d.target_rel_increase! - 1e-12);
      expect(ci.others_mean_rel_increase[0]).toBeLessThanOrEqual(d.others_mean_rel_increase! + 1e-12);
      expect(ci.pass_share).toBeGreaterThanOrEqual(0);
      expect(d.tokens).toBeGreaterThanOrEqual(100);
      // The breakdown names every other domain, and ΔOthers is its mean.
      const others = Object.values(d.others_rel_increase);
      expect(Object.keys(d.others_rel_increase)).toEqual(['code', 'prose'].filter((x) => x !== name));
      expect(d.others_mean_rel_increase).toBeCloseTo(others.reduce((a, b) => a + b, 0) / others.length, 12);
      expect(d.ppl_before).toBeGreaterThan(1);
      if (d.experts_removed! > 0) expect(d.ppl_after).not.toBe(d.ppl_before);
    }
    expect(existsSync(path.join(atlas, 'meta.json'))).toBe(true);
    // The summary: both readings of the bar, from the rows above.
    const summary = (JSON.parse(stdout) as { summary: { passing: string[]; mean_target_rel_increase: number; mean_others_rel_increase: number } }).summary;
    const rows = Object.values(r.domains);
    expect(summary.mean_target_rel_increase).toBeCloseTo(rows.reduce((a, x) => a + x.target_rel_increase!, 0) / rows.length, 12);
    expect(summary.mean_others_rel_increase).toBeCloseTo(rows.reduce((a, x) => a + x.others_mean_rel_increase!, 0) / rows.length, 12);
    expect(summary.passing).toEqual(Object.keys(r.domains).filter((d) => r.domains[d]!.target_rel_increase! >= 0.01 && r.domains[d]!.target_rel_increase! >= 10 * Math.max(0, r.domains[d]!.others_mean_rel_increase!)));
    const sim = (JSON.parse(stdout) as { similarity: { domains: string[]; groups: number[][][] } }).similarity;
    expect(sim.domains.sort()).toEqual(['code', 'prose']);
    expect(sim.groups).toHaveLength(2);
    // The atlas is built on the documents not evaluated, never on the evaluated ones; the draw is reported per domain.
    const j = JSON.parse(stdout) as { atlas: { samples: number; overlap: { known: boolean; overlapping: number } }; evaluation: { samples: number; draw: { domains: { domain: string; tokens: number; short: boolean }[] } }; summary: { passing_ci: number[]; median_selectivity_ci: unknown[] } };
    expect(j.evaluation.draw.domains.map((x) => x.domain)).toEqual(['code', 'prose']);
    expect(j.evaluation.draw.domains.every((x) => x.tokens >= 100 && !x.short)).toBe(true);
    expect(j.atlas.overlap).toMatchObject({ known: true, overlapping: 0 });
    expect(j.summary.passing_ci).toHaveLength(2);
    expect(j.summary.median_selectivity_ci).toHaveLength(2);
    const atlasTexts = (await readFile(path.join(atlas, 'atlas-samples.jsonl'), 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { text: string }).text);
    expect(atlasTexts.length + j.evaluation.samples).toBeLessThanOrEqual(12);
    // An atlas built on the evaluated file is refused (item 4), at build time and when reused.
    await expect(cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas-data', data, ...T, '--threads', '1'])).rejects.toThrow(/evaluated samples are in the text the atlas .* in-sample[\s\S]*--allow-overlap/);
    const inSample = path.join(tmp, 'atlas-in-sample');
    await cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas-data', data, '--atlas', inSample, '--allow-overlap', ...T, '--json', '--threads', '1']);
    await expect(cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas', inSample, ...T, '--threads', '1'])).rejects.toThrow(/in-sample/);
    // A grid of settings shares the atlas and the unmasked pass.
    const grid = JSON.parse((await cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas', atlas, ...T, '--ratio', '1.5,2', '--json', '--threads', '1'])).stdout) as { grid: { ratio: number; domains: object }[] };
    expect(grid.grid.map((g) => g.ratio)).toEqual([1.5, 2]);
    expect(grid.grid[1]!.domains).toEqual(r.domains);
    // --domains removes only those domains' experts (the row equals the full run's); an unknown name is refused.
    const one = JSON.parse((await cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas', atlas, ...T, '--domains', 'prose', '--json', '--threads', '1'])).stdout) as { domains: object };
    expect(one.domains).toEqual({ prose: r.domains.prose });
    await expect(cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas', atlas, ...T, '--domains', 'prose,poetry', '--threads', '1'])).rejects.toThrow(/--domains: poetry not among the evaluated domains \(code, prose\)/);
    // The text form prints Tables 9–10 and the Table 11 shape.
    const text = await cli(['experiment', 'domain-masking', '--model', model, '--data', data, '--atlas', atlas, ...T, '--threads', '1']);
    expect(text.stdout).toMatch(/Experts per domain and routing group/);
    expect(text.stdout).toMatch(/ΔTarget\s+95% CI/);
    expect(text.stdout).toMatch(/^mean /m);
    expect(text.stdout).toMatch(/^median /m);
    expect(text.stdout).toMatch(/\d+ of 2 domains at ΔTarget ≥ 10 × ΔOthers \(95% CI \d+–\d+\).*median ratio/);
    expect(text.stdout).toMatch(/most hit other/);
    expect(text.stdout).toMatch(/Closest domain by routing/);
    expect(text.stdout).toMatch(/^code\s+prose\s+\d\.\d\d \/ \d\.\d\d$/m);
  });

  it('without --model/--data uses the embedded default model and corpus, and says so when there is none', async () => {
    const { stdout } = await cli(['experiment', 'domain-masking', '--json', '--tokens-per-domain', '100', '--threads', '1'], { RESECT_DEFAULT_MODEL: model, RESECT_DEFAULT_CORPUS: data });
    expect(Object.keys((JSON.parse(stdout) as { domains: object }).domains).sort()).toEqual(['code', 'prose']);
    await expect(cli(['experiment', 'domain-masking', '--json'], { RESECT_DEFAULT_MODEL: '' })).rejects.toThrow(/no embedded default model/);
  });
});

describe('resect perplexity --tokens-per-domain', () => {
  it('scores the same stratified draw as the experiment: every domain, its budget, the draw in --json', async () => {
    const { stdout, stderr } = await cli(['perplexity', '--model', model, '--data', data, '--tokens-per-domain', '60', '--json', '--threads', '1']);
    const r = JSON.parse(stdout) as { domains: Record<string, { tokens: number }>; draw: { domains: { domain: string; tokens: number }[] } };
    expect(Object.keys(r.domains).sort()).toEqual(['code', 'prose']);
    for (const d of r.draw.domains) expect(r.domains[d.domain]!.tokens).toBe(d.tokens);
    expect(r.draw.domains.every((d) => d.tokens >= 60)).toBe(true);
    expect(stderr).toMatch(/60 tokens per domain, seed 0/);
    const all = JSON.parse((await cli(['perplexity', '--model', model, '--data', data, '--json', '--threads', '1'])).stdout) as { domains: Record<string, { tokens: number }> };
    expect(all.domains.code!.tokens).toBeGreaterThan(r.domains.code!.tokens);
  });
});

describe('resect mask and resect export', () => {
  it('writes a domain mask and a score mask from the atlas, and exports a model with it', async () => {
    const atlas = path.join(tmp, 'atlas');
    const out = path.join(tmp, 'code.mask.json');
    const { stdout } = await cli(['mask', '--atlas', atlas, '--domain', 'code', '--out', out]);
    expect(stdout).toMatch(/experts \(per group/);
    const mask = JSON.parse(await readFile(out, 'utf8')) as { groups: Record<string, number[]> };
    expect(Object.keys(mask.groups).length).toBeGreaterThan(0);
    const layer = path.join(tmp, 'layer.mask.json');
    await cli(['mask', '--atlas', atlas, '--domain', 'code', '--scope', 'layer', '--layer', '1', '--out', layer]);
    expect(Object.keys(JSON.parse(await readFile(layer, 'utf8')).layers ?? {})).toEqual(['1']);

    await expect(cli(['mask', '--atlas', atlas, '--score-field', 'toxicity', '--tau', '0.1', '--out', path.join(tmp, 't.json')])).rejects.toThrow(/no correlation sums for score "toxicity"/);
    await expect(cli(['mask', '--atlas', atlas, '--domain', 'nope', '--out', path.join(tmp, 'n.json')])).rejects.toThrow(/unknown domain "nope"/);

    // An atlas built with a score: the toxicity rule (Pearson r > τ) writes a group mask.
    const scored = path.join(tmp, 'atlas-scored');
    await cli(['atlas', '--model', model, '--data', data, '--score-field', 'toxicity', '--out', scored, '--threads', '1']);
    const tox = path.join(tmp, 'tox.mask.json');
    const t = await cli(['mask', '--atlas', scored, '--score-field', 'toxicity', '--tau', '0.05', '--out', tox, '--json']);
    const summary = JSON.parse(t.stdout) as { experts: number; rule: { kind: string; tau: number } };
    expect(summary.rule).toMatchObject({ kind: 'score', tau: 0.05 });
    expect(summary.experts).toBeGreaterThan(0);
    expect(Object.keys(JSON.parse(await readFile(tox, 'utf8')).groups ?? {}).length).toBeGreaterThan(0);

    // resect score: a lexicon score into a field, then an atlas on it.
    const rude = path.join(tmp, 'rude.jsonl');
    await writeFile(rude, ['you damn idiot', 'what a nice day', 'hell no, damn it', 'the cat sat'].map((text, k) => JSON.stringify({ text, domain: k % 2 ? 'a' : 'b' })).join('\n') + '\n');
    const scoredJsonl = path.join(tmp, 'rude.scored.jsonl');
    const sc = await cli(['score', '--data', rude, '--out', scoredJsonl, '--scorer', 'lexicon:presence']);
    expect(sc.stdout).toMatch(/scored 4 records with lexicon:presence/);
    expect((await readFile(scoredJsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l).toxicity)).toEqual([1, 0, 1, 0]);

    const exp = path.join(tmp, 'exported');
    await writeFile(path.join(tmp, 'recipe.json'), JSON.stringify({ why: 'test' }));
    const e = await cli(['export', '--model', model, '--mask', out, '--out', exp, '--recipe', path.join(tmp, 'recipe.json')]);
    expect(e.stdout).toMatch(/exported to/);
    expect(existsSync(path.join(exp, 'resect_masks.safetensors'))).toBe(true);
    expect(JSON.parse(await readFile(path.join(exp, 'resect_recipe.json'), 'utf8'))).toMatchObject({ why: 'test', kind: 'masked' });
    await expect(cli(['export', '--model', model, '--mask', out, '--out', path.join(tmp, 'baked'), '--baked'])).rejects.toThrow(/cannot bake/);
  });
});

describe('summarizeDomainMasking and the table\'s mean row', () => {
  const row = (t: number, o: number) => ({ experts_removed: 5, ppl_before: 10, ppl_after: 10 * (1 + t), target_rel_increase: t, others_mean_rel_increase: o, others_rel_increase: {}, selectivity: o > 0 ? t / o : null });
  it('reads the bar per domain and over domains', () => {
    const domains = { a: row(0.5, 0.01), b: row(0.02, 0.01), c: row(0.005, 0), d: row(0.3, -0.01) };
    const s = summarizeDomainMasking(domains);
    // a: 50×; b: 2×; c: under the 1 % floor; d: others got better, so any ΔTarget ≥ 1 % clears it.
    expect(s.passing).toEqual(['a', 'd']);
    expect(s.mean_target_rel_increase).toBeCloseTo((0.5 + 0.02 + 0.005 + 0.3) / 4, 12);
    expect(s.mean_others_rel_increase).toBeCloseTo(0.01 / 4, 12);
    expect(s.mean_selectivity).toBeCloseTo(0.825 / 0.01, 9);
    const table = formatDomainMasking({ domains, counts: [], ratio: 2, minMass: 0, scope: 'group', layer: null, source: 'atlas' } as unknown as DomainMaskingResult);
    expect(table.trim().split('\n').at(-1)!.trim().split(/\s+/)).toEqual(['mean', '5.0', '+20.63%', '+0.25%', '82.5×']);
  });
  it('has no mean ratio when the others did not get worse on average', () => {
    expect(summarizeDomainMasking({ a: row(0.1, -0.01) }).mean_selectivity).toBeNull();
    expect(summarizeDomainMasking({})).toEqual({ passing: [], mean_target_rel_increase: 0, mean_others_rel_increase: 0, mean_selectivity: null, median_selectivity: null });
  });
  it('leads with the median ratio over domains, which one large ΔTarget does not drag (issue 20.7)', () => {
    const s = summarizeDomainMasking({ a: row(0.5, 0.01), b: row(0.02, 0.01), e: row(0.1, 0.02) });
    expect(s.median_selectivity).toBeCloseTo(5, 12); // 50×, 2×, 5×
    expect(s.mean_selectivity).toBeCloseTo((0.62 / 3) / (0.04 / 3), 9); // 15.5×: the mean-over-mean follows a
  });
});

describe('formatCounts', () => {
  it('prints Tables 9–10 with domains by name, whatever order the atlas met them in', () => {
    const text = formatCounts({ domains: ['prose', 'code'], table: [[1, 2], [3, 4]], totals: [3, 7] });
    expect(text.trim().split('\n').map((l) => l.split(/\s+/))).toEqual([['domain', 'G0', 'G1', 'total'], ['code', '3', '4', '7'], ['prose', '1', '2', '3']]);
  });
});

describe('formatClosest', () => {
  it('names each domain\'s most alike other domain by the mean cosine over groups', () => {
    const matrix = { domains: ['news', 'c', 'science'], groups: [[[1, 0.4, 0.9], [0.4, 1, 0.3], [0.9, 0.3, 1]], [[1, 0.5, 0.7], [0.5, 1, 0.2], [0.7, 0.2, 1]]] };
    const sim = { ...matrix, closest: closestDomains(matrix) };
    expect(formatClosest(sim).trim().split('\n').map((l) => l.split(/\s+/).join(' '))).toEqual(['c news 0.40 / 0.50', 'news science 0.90 / 0.70', 'science news 0.90 / 0.70']);
  });
});

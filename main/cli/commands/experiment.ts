import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MonetModel } from '../../../workers/models/monet/model';
import type { Sample } from '../../../workers/models/monet/perplexity';
import { parseDevice } from '../../../workers/models/monet/session';
import { loadTokenizer } from '../../../workers/tokenizer';
import { atlasRoutingStats } from '../../../workers/analysis/resection/atlas-adapter';
import { routingSimilarity, type RoutingSimilarity } from '../../../workers/analysis/resection/similarity';
import {
  buildSelectionAtlas, domainMaskingGrid, formatDomainMasking, formatVerdict, middleChars, readLabelledJsonl, splitPerDomain, summarizeDomainMasking,
  SELECTIVITY_BAR, type DomainMaskingConfig, type DomainMaskingResult,
} from '../../../workers/analysis/resection/experiment';
import { atlasOverlap, overlapMessage, samplesOverlap, type AtlasOverlap } from '../../../workers/analysis/resection/overlap';
import {
  DEFAULT_SEED, DEFAULT_TOKENS_PER_DOMAIN, describeDraw, drawProblems, drawSummary, stratifiedSample,
} from '../../../workers/analysis/resection/sampling';
import { defaultModelDir, shippedCorpus } from '../../models/registry';
import { printJson } from '../shared';

interface Opts {
  model?: string; data?: string; ratio: string; minMass: string; scope: string; layer?: string; json?: boolean; atlas?: string; domains?: string;
  atlasData?: string; atlasSamplesPerDomain: string; tokensPerDomain: string; seed: string; bootstrap: string; maxChars?: string;
  allowShort?: boolean; allowOverlap?: boolean; textField: string; domainField: string; docField: string; context?: string; device: string; threads?: string;
}

const list = (v: string, what: string, ok: (x: number) => boolean): number[] => {
  const xs = v.split(',').map((x) => Number(x.trim()));
  if (!xs.length || xs.some((x) => !ok(x))) throw new InvalidArgumentError(`${what}: bad value "${v}"`);
  return xs;
};
const count = (v: string | undefined, what: string): number | undefined => {
  if (v === undefined || v === 'all') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer or "all"`);
  return n;
};

/** Experts per domain (rows) and routing group (columns), as the paper's Tables 9–10. */
export function formatCounts(c: { domains: string[]; table: number[][]; totals: number[] }): string {
  const G = c.table[0]?.length ?? 0;
  const head = `${'domain'.padEnd(16)}${Array.from({ length: G }, (_, g) => `G${g}`.padStart(8)).join('')}${'total'.padStart(9)}\n`;
  // Sorted by name, like the perplexity table below it (an atlas keeps its domains in the order it met them).
  const order = c.domains.map((d, k) => [d, k] as const).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return head + order.map(([d, k]) => `${d.padEnd(16)}${c.table[k]!.map((n) => String(n).padStart(8)).join('')}${String(c.totals[k]).padStart(9)}\n`).join('');
}

/** Per domain, the other domain routed most alike (by the mean cosine over groups), with its cosine in each group. */
export function formatClosest(sim: RoutingSimilarity): string {
  const names = sim.domains.map((d, k) => [d, k] as const).sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return names.map(([d, k]) => {
    const c = sim.closest[k];
    const j = c ? sim.domains.indexOf(c.domain) : -1;
    return j < 0 ? `${d.padEnd(16)}—\n` : `${d.padEnd(16)}${c!.domain.padEnd(16)}${sim.groups.map((t) => t[k]![j]!.toFixed(2)).join(' / ')}\n`;
  }).join('');
}

export function registerExperiment(program: Command): void {
  const exp = program.command('experiment').description('the paper\'s knowledge-resection experiments');
  exp
    .command('domain-masking')
    .description('for every domain: build an atlas on a split disjoint from the evaluation samples, choose the domain\'s experts (skew rule), mask them, and compare per-domain perplexity (ΔTarget, mean ΔOthers)')
    .option('--model <dir>', 'checkpoint folder (default: the embedded default model, assets/model)')
    .option('--data <file>', 'labelled JSONL to evaluate on (default: the shipped held-out corpus, assets/corpus/heldout.jsonl)')
    .option('--ratio <r>', 'skew rule ratio; a comma list runs each (default 2, the paper)', '2')
    .option('--min-mass <m>', 'skew rule minimum mean routing probability (heads summed); a comma list runs each (default 0)', '0')
    .option('--scope <s>', 'group (the paper) or layer; a comma list runs each', 'group')
    .option('--layer <l>', 'scope layer: the layers to try, comma list (default every layer)')
    .option('--tokens-per-domain <n>', 'evaluation text per domain: whole documents drawn with --seed until this many tokens (every domain gets the same budget; a domain with less is refused unless --allow-short)', String(DEFAULT_TOKENS_PER_DOMAIN))
    .option('--seed <n>', 'seed of the evaluation draw and of the bootstrap', String(DEFAULT_SEED))
    .option('--bootstrap <n>', 'bootstrap replicates (resampling the evaluated documents) for the 95% intervals', '1000')
    .option('--allow-short', 'evaluate a domain with fewer tokens than --tokens-per-domain (on all it has) instead of refusing')
    .option('--allow-overlap', 'run even when the atlas was built on evaluated text (in-sample; the output says so)')
    .option('--max-chars <n>', 'cut each text (evaluation and atlas) to its middle n characters')
    .option('--atlas-data <file>', 'corpus the atlas is built on: a JSONL(.gz) file, "rest" (the --data samples not evaluated) or "same" (the evaluation samples: in-sample, for comparison only). Default: the shipped training corpus (assets/corpus/train.jsonl.gz) with the shipped held-out corpus, else "rest"')
    .option('--atlas-samples-per-domain <n>', 'atlas samples per domain (spread evenly over each domain), or "all"', '50')
    .option('--atlas <dir>', 'use this built atlas (or build one into it when it has none) instead of a temporary one')
    .option('--domains <list>', 'remove only these domains\' experts, comma list (default every domain; ΔOthers still averages over all other domains)')
    .option('--text-field <f>', 'field holding the text', 'text')
    .option('--domain-field <f>', 'field holding the domain', 'domain')
    .option('--doc-field <f>', 'field naming the document a sample was cut from (samples of one document stay on one side of the evaluation / atlas split); without it, runs of 8 consecutive samples', 'source')
    .option('--context <n>', 'window length in tokens')
    .option('--json', 'print {"domains": {NAME: {experts_removed, tokens, ppl_before, ppl_after, target_rel_increase, others_mean_rel_increase, others_rel_increase: {OTHER: x}, selectivity, ci: {target_rel_increase: [lo, hi], others_mean_rel_increase: [lo, hi], selectivity: [lo, hi] (null = unbounded), pass_share}}}, "summary": {passing, passing_ci, median_selectivity, median_selectivity_ci, mean_target_rel_increase, mean_others_rel_increase, mean_selectivity, bootstrap}, "evaluation": {…, draw: {tokens_per_domain, seed, domains: [{domain, tokens, samples, documents, short}]}}, "atlas": {…, overlap}}; several settings: {"grid": [{ratio, min_mass, scope, layer, domains, summary}], …}')
    .option('--device <device>', 'auto, cpu, webgpu, cuda, dml or coreml (falls back to cpu)', 'cpu')
    .option('--threads <n>', 'intra-op threads')
    .action(async (o: Opts) => {
      const modelDir = o.model ? path.resolve(o.model) : defaultModelDir();
      if (!modelDir) throw new InvalidArgumentError('no embedded default model (assets/model has no config.json): pass --model DIR');
      const shipped = o.data ? null : shippedCorpus();
      const data = o.data ? path.resolve(o.data) : shipped?.heldout ?? null;
      if (!data) throw new InvalidArgumentError('no shipped evaluation corpus (assets/corpus/heldout.jsonl): pass --data FILE');
      const ratios = list(o.ratio, '--ratio', (x) => x >= 1);
      const floors = list(o.minMass, '--min-mass', (x) => x >= 0);
      const scopes = o.scope.split(',').map((x) => x.trim());
      if (scopes.some((x) => x !== 'group' && x !== 'layer')) throw new InvalidArgumentError('--scope must be group or layer (or a comma list)');
      // The atlas (selection statistics) comes from texts the evaluation does not score, unless asked otherwise.
      const atlasChoice = o.atlasData ?? shipped?.train ?? 'rest';
      const tokensPerDomain = count(o.tokensPerDomain, '--tokens-per-domain') ?? DEFAULT_TOKENS_PER_DOMAIN;
      const seed = Number(o.seed);
      if (!Number.isInteger(seed) || seed < 0) throw new InvalidArgumentError('--seed must be a non-negative integer');
      const replicates = count(o.bootstrap, '--bootstrap') ?? 1000;
      const atlasPerDomain = count(o.atlasSamplesPerDomain, '--atlas-samples-per-domain');
      const maxChars = count(o.maxChars, '--max-chars');
      // Progress goes to stderr in every mode: with --json, stdout carries only the JSON, and a run of half an hour
      // still says where it is.
      const say = (l: string) => { process.stderr.write(`resect: ${l}\n`); };
      const model = await MonetModel.load(modelDir, {
        provider: parseDevice(o.device), ...(o.threads ? { intraOpThreads: Number(o.threads) } : {}),
        log: (m) => process.stderr.write(`resect: ${m}\n`),
      });
      let tmp: string | null = null;
      try {
        const c = model.config;
        const layers = o.layer ? list(o.layer, '--layer', (x) => Number.isInteger(x) && x >= 0 && x < c.num_hidden_layers) : Array.from({ length: c.num_hidden_layers }, (_, l) => l);
        const configs: DomainMaskingConfig[] = [];
        for (const scope of scopes) for (const ratio of ratios) for (const minMass of floors) {
          if (scope === 'group') configs.push({ ratio, minMass, scope: 'group' });
          else for (const layer of layers) configs.push({ ratio, minMass, scope: 'layer', layer });
        }
        const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
        const tokenizer = await loadTokenizer(modelDir, { bosTokenId: c.bos_token_id, eosTokenId: eos ?? null });
        const cut = <T extends Sample>(x: T): T => middleChars(x, maxChars);
        const all = (await readLabelledJsonl(data, o.textField, o.domainField, o.docField)).map(cut);
        // One sampling for the CLI, the experiment job and the Evaluate job: a token budget per domain, whole documents.
        // Spread over as many documents as the budget reaches, or whole documents when the rest of the file builds the atlas.
        const draw = stratifiedSample(all, { tokensPerDomain, seed, wholeDocuments: atlasChoice === 'rest', countTokens: (t) => Math.max(0, tokenizer.encode(t).length - 1) });
        const samples = draw.taken;
        say(`evaluation text: ${describeDraw(draw)}`);
        const targets = o.domains?.split(',').map((x) => x.trim()).filter(Boolean);
        const known = new Set(draw.domains.map((d) => d.domain));
        const unknown = targets?.filter((d) => !known.has(d)) ?? [];
        if (unknown.length) throw new InvalidArgumentError(`--domains: ${unknown.join(', ')} not among the evaluated domains (${[...known].sort().join(', ')})`);
        const problems = drawProblems(draw);
        if (problems.length && !o.allowShort) {
          throw new InvalidArgumentError(`${problems.join('; ')}. Lower --tokens-per-domain (every domain needs the same budget for ΔOthers to weigh them alike), or pass --allow-short`);
        }
        for (const p of problems) say(`WARNING: ${p}`);
        let atlasSamples: Sample[];
        let atlasDesc: string;
        if (atlasChoice === 'same') {
          atlasSamples = samples; atlasDesc = 'the evaluation samples (in-sample)';
        } else if (atlasChoice === 'rest') {
          // Whole documents the evaluation did not touch (draw.rest), so no neighbour of an evaluated chunk.
          atlasSamples = splitPerDomain(draw.rest, atlasPerDomain).taken; atlasDesc = `the documents of ${data} not evaluated`;
          if (!atlasSamples.length) throw new InvalidArgumentError(`--atlas-data rest: every document of ${data} is evaluated; lower --tokens-per-domain or pass --atlas-data FILE`);
        } else {
          const f = path.resolve(atlasChoice);
          atlasSamples = splitPerDomain((await readLabelledJsonl(f, o.textField, o.domainField, o.docField)).map(cut), atlasPerDomain).taken; atlasDesc = f;
        }
        const missing = [...known].filter((d) => !atlasSamples.some((s) => String(s.domain ?? 'default') === d));
        if (missing.length && !o.atlas) say(`the atlas corpus has no samples of ${missing.join(', ')}: those domains get no experts`);
        let lastProgress = 0;
        let atlasDir = o.atlas ? path.resolve(o.atlas) : null;
        if (!atlasDir) atlasDir = path.join((tmp = await mkdtemp(path.join(tmpdir(), 'resect-experiment-'))), 'atlas');
        if (!existsSync(path.join(atlasDir, 'meta.json')) && !existsSync(path.join(atlasDir, 'routing.json'))) {
          say(`building an atlas of ${path.basename(modelDir)} on ${atlasSamples.length} samples of ${atlasDesc}`);
          await buildSelectionAtlas({
            model, tokenizer, modelDir, samples: atlasSamples, dir: atlasDir,
            ...(o.context ? { context: Number(o.context) } : {}),
            onProgress: (p) => {
              const now = Date.now();
              if (now - lastProgress < 5000) return;
              lastProgress = now;
              say(`atlas: ${p.samples}/${atlasSamples.length} samples, ${p.tokens} tokens, ${p.tokensPerSecond.toFixed(0)} tokens/s`);
            },
          });
        } else atlasDesc = `the atlas in ${atlasDir}`;
        // An atlas built on evaluated text gives an in-sample result: refuse unless asked (then say so everywhere).
        const overlap: AtlasOverlap = o.atlas && atlasDesc.startsWith('the atlas in')
          ? await atlasOverlap(atlasDir, samples)
          : samplesOverlap(atlasSamples, samples, atlasDesc);
        const overlapNote = atlasChoice === 'same' && !o.atlas ? null : overlapMessage(overlap);
        if (overlapNote && overlap.known && !o.allowOverlap) throw new InvalidArgumentError(`${overlapNote}. Use an atlas built on other text, or pass --allow-overlap`);
        if (overlapNote) say(`WARNING: ${overlapNote}`);
        const stats = await atlasRoutingStats(atlasDir);
        say(`evaluating on ${samples.length} samples of ${data}; ${configs.length} setting${configs.length > 1 ? 's' : ''}`);
        const t0 = Date.now();
        const rs = await domainMaskingGrid(model, tokenizer, samples, configs, {
          stats, ...(targets?.length ? { targets } : {}), ...(o.context ? { context: Number(o.context) } : {}), log: say, bootstrap: { replicates, seed },
        });
        const info = {
          atlas: { data: atlasDesc, samples: atlasChoice === 'same' || !o.atlas ? atlasSamples.length : null, tokens: stats.domainTokens.reduce((a, b) => a + b, 0), overlap, in_sample: overlapNote !== null && overlap.known || atlasChoice === 'same' },
          evaluation: { data, samples: samples.length, draw: drawSummary(draw), max_chars: maxChars ?? null, context: o.context ? Number(o.context) : null },
          seconds: (Date.now() - t0) / 1000,
        };
        const setting = (r: DomainMaskingResult) => ({ ratio: r.ratio, min_mass: r.minMass, scope: r.scope, layer: r.layer });
        const similarity = routingSimilarity(stats);
        const summaryOf = (r: DomainMaskingResult) => summarizeDomainMasking(r.domains, SELECTIVITY_BAR, r.bootstrap);
        if (o.json) {
          if (rs.length === 1) return printJson({ domains: rs[0]!.domains, summary: summaryOf(rs[0]!), ...setting(rs[0]!), similarity, ...info });
          return printJson({ grid: rs.map((r) => { const summary = summaryOf(r); return { ...setting(r), domains: r.domains, passing: summary.passing, summary }; }), similarity, ...info });
        }
        process.stdout.write(`Closest domain by routing (cosine of mean routing vectors, ${similarity.groups.map((_, g) => `G${g}`).join(' / ')}):\n${formatClosest(similarity)}\n`);
        for (const r of rs) {
          const head = `skew ≥ ${r.ratio}×${r.minMass ? `, mass ≥ ${r.minMass}` : ''}, ${r.scope === 'group' ? 'group scope' : `layer ${r.layer}`}`;
          process.stdout.write(`Experts per domain and routing group (${head}, from ${r.source} on ${atlasDesc}):\n${formatCounts(r.counts)}\n`);
          process.stdout.write(`Perplexity after removing each domain's experts (relative increase; ΔOthers = mean over the other domains; ratio = ΔTarget / ΔOthers; 95% CI: bootstrap over evaluated documents, ${replicates} replicates; pass = share of replicates that clear the bar):\n${formatDomainMasking(r)}`);
          process.stdout.write(`${formatVerdict(r)}${overlapNote ? `IN-SAMPLE: ${overlapNote}\n` : ''}\n`);
        }
      } finally {
        await model.dispose();
        if (tmp) await rm(tmp, { recursive: true, force: true });
      }
    });
}

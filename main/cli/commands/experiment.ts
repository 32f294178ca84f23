import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MonetModel } from '../../../workers/models/monet/model';
import { readJsonlSamples, type Sample } from '../../../workers/models/monet/perplexity';
import { parseDevice } from '../../../workers/models/monet/session';
import { loadTokenizer } from '../../../workers/tokenizer';
import { atlasRoutingStats } from '../../../workers/analysis/resection/atlas-adapter';
import { domainMasking, formatDomainMasking } from '../../../workers/analysis/resection/experiment';
import { defaultModelCandidates, defaultModelDir } from '../../models/registry';
import { printJson } from '../shared';

interface Opts {
  model?: string; data?: string; ratio: string; minMass: string; json?: boolean; atlas?: string; maxSamples?: string;
  textField: string; domainField: string; context?: string; device: string; threads?: string;
}

/** Experts per domain (rows) and routing group (columns), as the paper's Tables 9–10. */
export function formatCounts(c: { domains: string[]; table: number[][]; totals: number[] }): string {
  const G = c.table[0]?.length ?? 0;
  const head = `${'domain'.padEnd(16)}${Array.from({ length: G }, (_, g) => `g${g + 1}`.padStart(8)).join('')}${'total'.padStart(9)}\n`;
  return head + c.domains.map((d, k) => `${d.padEnd(16)}${c.table[k]!.map((n) => String(n).padStart(8)).join('')}${String(c.totals[k]).padStart(9)}\n`).join('');
}

/** The shipped evaluation corpus beside the embedded default model (assets/corpus/heldout.jsonl). */
export function defaultCorpus(): string | null {
  if (process.env.RESECT_DEFAULT_CORPUS) return path.resolve(process.env.RESECT_DEFAULT_CORPUS);
  const saved = process.env.RESECT_DEFAULT_MODEL;
  try {
    delete process.env.RESECT_DEFAULT_MODEL; // the corpus ships with the app even when the model is overridden
    return defaultModelCandidates().map((d) => path.join(path.dirname(d), 'corpus', 'heldout.jsonl')).find((f) => existsSync(f)) ?? null;
  } finally {
    if (saved !== undefined) process.env.RESECT_DEFAULT_MODEL = saved;
  }
}

export function registerExperiment(program: Command): void {
  const exp = program.command('experiment').description('the paper\'s knowledge-resection experiments');
  exp
    .command('domain-masking')
    .description('for every domain: build an atlas, choose the domain\'s experts (skew rule), mask them, and compare per-domain perplexity (ΔTarget, mean ΔOthers)')
    .option('--model <dir>', 'checkpoint folder (default: the embedded default model, assets/model)')
    .option('--data <file>', 'labelled JSONL (default: the shipped evaluation corpus, assets/corpus/heldout.jsonl)')
    .option('--ratio <r>', 'skew rule ratio (default 2)', '2')
    .option('--min-mass <m>', 'skew rule minimum mean routing probability (default 0)', '0')
    .option('--atlas <dir>', 'use this built atlas (or build one into it when it has none) instead of a temporary one')
    .option('--max-samples <n>', 'use at most this many samples')
    .option('--text-field <f>', 'field holding the text', 'text')
    .option('--domain-field <f>', 'field holding the domain', 'domain')
    .option('--context <n>', 'window length in tokens')
    .option('--json', 'print {"domains": {NAME: {experts_removed, ppl_before, ppl_after, target_rel_increase, others_mean_rel_increase}}}')
    .option('--device <device>', 'auto, cpu, webgpu, cuda, dml or coreml (falls back to cpu)', 'cpu')
    .option('--threads <n>', 'intra-op threads')
    .action(async (o: Opts) => {
      const modelDir = o.model ? path.resolve(o.model) : defaultModelDir();
      if (!modelDir) throw new InvalidArgumentError('no embedded default model (assets/model has no config.json): pass --model DIR');
      const data = o.data ? path.resolve(o.data) : defaultCorpus();
      if (!data) throw new InvalidArgumentError('no shipped evaluation corpus (assets/corpus/heldout.jsonl): pass --data FILE');
      const ratio = Number(o.ratio);
      if (!(ratio >= 1)) throw new InvalidArgumentError('--ratio must be a number ≥ 1');
      const max = o.maxSamples ? Number(o.maxSamples) : Infinity;
      const say = (l: string) => { if (!o.json) process.stderr.write(`resect: ${l}\n`); };
      const model = await MonetModel.load(modelDir, {
        provider: parseDevice(o.device), ...(o.threads ? { intraOpThreads: Number(o.threads) } : {}),
        log: (m) => process.stderr.write(`resect: ${m}\n`),
      });
      let tmp: string | null = null;
      try {
        const c = model.config;
        const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
        const tokenizer = await loadTokenizer(modelDir, { bosTokenId: c.bos_token_id, eosTokenId: eos ?? null });
        const samples: Sample[] = [];
        for await (const s of readJsonlSamples(data, o.textField, o.domainField)) {
          if (samples.length >= max) break;
          samples.push(s);
        }
        let atlasDir = o.atlas ? path.resolve(o.atlas) : null;
        if (!atlasDir) atlasDir = path.join((tmp = await mkdtemp(path.join(tmpdir(), 'resect-experiment-'))), 'atlas');
        if (!existsSync(path.join(atlasDir, 'meta.json')) && !existsSync(path.join(atlasDir, 'routing.json'))) {
          const { buildAtlas } = await import('../../../workers/analysis/atlas/build');
          say(`building an atlas of ${path.basename(modelDir)} on ${samples.length} samples of ${data}`);
          await buildAtlas({
            model, tokenizer, modelDir, outDir: atlasDir, checkpointEvery: 0, topK: 0,
            source: { data: { kind: 'jsonl', path: data, textField: o.textField }, filter: {}, domainField: o.domainField },
            ...(Number.isFinite(max) ? { maxSamples: max } : {}), ...(o.context ? { context: Number(o.context) } : {}),
          });
        }
        const stats = await atlasRoutingStats(atlasDir);
        const r = await domainMasking(model, tokenizer, samples, {
          stats, ratio, minMass: Number(o.minMass), ...(o.context ? { context: Number(o.context) } : {}), log: say,
        });
        if (o.json) return printJson({ domains: r.domains });
        process.stdout.write(`Experts per domain and routing group (skew ≥ ${ratio}×, from ${r.source}):\n${formatCounts(r.counts)}\n`);
        process.stdout.write(`Perplexity after removing each domain's experts (relative increase; ΔOthers = mean over the other domains):\n${formatDomainMasking(r)}`);
      } finally {
        await model.dispose();
        if (tmp) await rm(tmp, { recursive: true, force: true });
      }
    });
}

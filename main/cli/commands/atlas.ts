/**
 * `resect atlas`: builds an expert atlas (workers/analysis/atlas) of a Monet model over a JSONL file or a workspace
 * dataset (by id or name), in this process. Progress (tokens, tokens/s) goes to stderr; a summary to stdout.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { tokenizerForModel } from '../../../workers/models/monet/session';
import { buildAtlas } from '../../../workers/analysis/atlas/build';
import type { AtlasData } from '../../../workers/analysis/atlas/source';
import { defaultWorkspaceDir } from '../../workspace/paths';
import { cliProgress } from '../progress';
import { loadModelForCli, printJson, withDeviceOptions, type DeviceOpts } from '../shared';

interface Opts extends DeviceOpts {
  model: string; data: string; out: string; domainField?: string; scoreField?: string; textField: string; topK: string; threshold: string;
  maxSamples?: string; context?: string; checkpointEvery: string; resume?: boolean; workspace?: string; domain?: string; search?: string;
  json?: boolean; name?: string;
}

const int = (name: string, v: string, min: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${v}`);
  return n;
};

/** A JSONL file when the path exists, else a dataset of the workspace by id or name (also `resect sae`). */
export async function resolveData(o: { data: string; textField: string; workspace?: string }): Promise<{ data: AtlasData; workspace?: string }> {
  if (existsSync(o.data) && statSync(o.data).isFile()) return { data: { kind: 'jsonl', path: path.resolve(o.data), textField: o.textField } };
  const workspace = path.resolve(o.workspace ?? defaultWorkspaceDir());
  const { openDatasetStore, listDatasets } = await import('../../../workers/data');
  const db = await openDatasetStore(workspace, { readonly: true });
  try {
    const all = listDatasets(db);
    const ds = /^\d+$/.test(o.data) ? all.find((d) => d.id === Number(o.data)) : all.find((d) => d.name === o.data);
    if (!ds) throw new Error(`--data ${o.data}: no such file, and no dataset with that id or name in ${workspace} (${all.map((d) => `${d.id} ${d.name}`).join(', ') || 'none'})`);
    return { data: { kind: 'dataset', datasetId: ds.id }, workspace };
  } finally {
    db.close();
  }
}

export function registerAtlas(program: Command): void {
  withDeviceOptions(program
    .command('atlas')
    .description('build an expert atlas: per routing group and expert, usage, scores, per-domain means, top contexts, histograms')
    .requiredOption('--model <dir>', 'checkpoint folder with tokenizer.json')
    .requiredOption('--data <file|dataset>', 'JSONL file, or a dataset id or name of the workspace')
    .requiredOption('--out <dir>', 'atlas folder to write (meta.json, stats.safetensors, contexts.sqlite)')
    .option('--text-field <f>', 'JSONL: field holding the text', 'text')
    .option('--domain-field <f>', 'JSONL: field holding the domain (default "domain")')
    .option('--score-field <f>', 'score to correlate experts with (JSONL field or dataset score name)')
    .option('--domain <name>', 'only samples of this domain')
    .option('--search <text>', 'only samples containing this text')
    .option('--top-k <n>', 'top activating contexts kept per expert', '20')
    .option('--threshold <s>', 'an expert is active on a token when its score exceeds this', '0.01')
    .option('--max-samples <n>', 'stop after this many samples')
    .option('--context <n>', 'chunk length in tokens (default min(256, max positions))')
    .option('--checkpoint-every <n>', 'checkpoint every N samples (0 = never)', '1000')
    .option('--resume', 'continue from the checkpoint in --out')
    .option('--name <name>', 'atlas name')
    .option('--workspace <dir>', 'workspace holding the dataset (default: $RESECT_WORKSPACE, else the app-data folder)')
    .option('--json', 'print the summary as JSON'))
    .action(async (o: Opts) => {
      const threshold = Number(o.threshold);
      if (!(threshold >= 0)) throw new Error(`--threshold must be a number ≥ 0, got ${o.threshold}`);
      const topK = int('top-k', o.topK, 0);
      const { data, workspace } = await resolveData(o);
      const model = await loadModelForCli(o.model, o);
      const abort = new AbortController();
      const onSignal = () => abort.abort(new Error('interrupted (the last checkpoint is kept; --resume continues)'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const tokenizer = await tokenizerForModel(o.model, model.config);
        const progress = cliProgress('atlas', 'samples');
        const meta = await buildAtlas({
          model, tokenizer, modelDir: o.model, outDir: path.resolve(o.out), ...(o.name ? { name: o.name } : {}),
          source: {
            data, filter: { ...(o.domain !== undefined ? { domain: o.domain } : {}), ...(o.search ? { search: o.search } : {}) },
            ...(workspace ? { workspace } : {}), ...(o.domainField ? { domainField: o.domainField } : {}), ...(o.scoreField ? { scoreField: o.scoreField } : {}),
          },
          topK, threshold, checkpointEvery: int('checkpoint-every', o.checkpointEvery, 0), resume: !!o.resume,
          ...(o.maxSamples ? { maxSamples: int('max-samples', o.maxSamples, 1) } : {}),
          ...(o.context ? { context: int('context', o.context, 2) } : {}),
          signal: abort.signal,
          log: (l) => process.stderr.write(`resect: ${l}\n`),
          onProgress: (p) => progress.update(p.samples, p.totalSamples, `${p.tokens.toLocaleString('en-US')} tokens · ${Math.round(p.tokensPerSecond)} tokens/s`),
        });
        progress.end();
        const summary = { out: path.resolve(o.out), tokens: meta.tokens, samples: meta.samples, groups: meta.model.routerLayers.length, experts: meta.model.E ** 2, domains: meta.domains, tokensPerSecond: meta.tokensPerSecond };
        if (o.json) printJson(summary);
        else {
          process.stdout.write(`resect: atlas of ${meta.tokens} tokens (${meta.samples} samples, ${meta.domains.length} domains) over ${summary.groups} groups × ${summary.experts} experts → ${summary.out} (${meta.tokensPerSecond.toFixed(1)} tokens/s)\n`);
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await model.dispose();
      }
    });
}

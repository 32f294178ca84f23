/**
 * `resect sae atlas --sae DIR|ID --data FILE_OR_DATASET --out DIR`: a latent atlas (docs/sae.md "Browse"): the expert
 * atlas of the SAE's model over the text with the SAE's latents recorded on the same tokens as one more group, and the
 * latent–expert co-activations. Open it in the app's SAEs › Latents, or read it with the atlas reader.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { cliProgress } from '../progress';
import { loadModelForCli, printJson, withDeviceOptions, type DeviceOpts } from '../shared';
import { resolveData } from './atlas';
import { loadSaeArg, modelFor } from './sae-args';

interface Opts extends DeviceOpts {
  sae: string; data: string; out: string; model?: string; hookpoint?: string; textField: string; domainField?: string; topK: string; threshold: string;
  maxSamples?: string; context?: string; name?: string; workspace?: string; json?: boolean;
}

const int = (name: string, v: string, min: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got ${v}`);
  return n;
};

export function registerSaeAtlas(sae: Command): void {
  withDeviceOptions(sae.command('atlas')
    .description("a latent atlas: per latent its frequency, activation histogram, per-domain mean, top contexts, and the experts that fire with it")
    .requiredOption('--sae <dir|id>', 'SAE folder or an SAE id of the workspace')
    .requiredOption('--data <file|dataset>', 'JSONL file, or a dataset id or name of the workspace')
    .requiredOption('--out <dir>', 'atlas folder to write')
    .option('--model <dir>', 'the model (default: the model the SAE records)')
    .option('--hookpoint <name>', 'sparsify run folder: the hookpoint')
    .option('--text-field <f>', 'JSONL: field holding the text', 'text')
    .option('--domain-field <f>', 'JSONL: field holding the domain (default "domain")')
    .option('--top-k <n>', 'top activating contexts kept per latent and expert', '20')
    .option('--threshold <s>', 'an expert is active on a token when its score exceeds this (a latent: when above 0)', '0.01')
    .option('--max-samples <n>', 'stop after this many samples')
    .option('--context <n>', 'chunk length in tokens (default min(256, max positions))')
    .option('--name <name>', 'atlas name')
    .option('--workspace <dir>', 'workspace holding SAE ids and datasets')
    .option('--json', 'print the summary as JSON'))
    .action(async (o: Opts) => {
      const threshold = Number(o.threshold);
      if (!(threshold >= 0)) throw new Error(`--threshold must be a number ≥ 0, got ${o.threshold}`);
      const loaded = await loadSaeArg(o.sae, o);
      const modelDir = modelFor(loaded.sae, o.model);
      const { data, workspace } = await resolveData(o);
      const model = await loadModelForCli(modelDir, o);
      const abort = new AbortController();
      const onSignal = () => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const { latentAtlasHook } = await import('../../../workers/analysis/atlas/latents');
        const { buildAtlas } = await import('../../../workers/analysis/atlas/build');
        const { tokenizerForModel } = await import('../../../workers/models/monet/session');
        const hook = latentAtlasHook(loaded.sae, loaded.dir, model.config.num_hidden_layers, model.config.hidden_size);
        const tokenizer = await tokenizerForModel(modelDir, model.config);
        const progress = cliProgress('sae atlas', 'samples');
        const meta = await buildAtlas({
          model, tokenizer, modelDir, outDir: path.resolve(o.out), ...(o.name ? { name: o.name } : {}),
          source: { data, filter: {}, ...(workspace ? { workspace } : {}), ...(o.domainField ? { domainField: o.domainField } : {}) },
          topK: int('top-k', o.topK, 0), threshold, checkpointEvery: 0,
          ...(o.maxSamples ? { maxSamples: int('max-samples', o.maxSamples, 1) } : {}),
          ...(o.context ? { context: int('context', o.context, 2) } : {}),
          sae: { sae: loaded.sae, id: path.basename(loaded.dir), dir: loaded.dir, hook, ...(o.threads ? { threads: Number(o.threads) } : {}) },
          signal: abort.signal,
          log: (l) => process.stderr.write(`resect: ${l}\n`),
          onProgress: (p) => progress.update(p.samples, p.totalSamples, `${p.tokens.toLocaleString('en-US')} tokens · ${Math.round(p.tokensPerSecond)} tokens/s`),
        });
        progress.end();
        const summary = {
          out: path.resolve(o.out), sae: loaded.dir, hook: meta.sae!.hook, latents: meta.sae!.latents, group: meta.sae!.group, tokens: meta.tokens,
          samples: meta.samples, domains: meta.domains, bridgePairs: meta.sae!.bridgePairs, tokensPerSecond: meta.tokensPerSecond,
        };
        if (o.json) printJson(summary);
        else process.stdout.write(`resect: latent atlas of ${summary.latents} latents (${summary.hook}) over ${meta.tokens} tokens (${meta.samples} samples) → ${summary.out}; latents are group ${summary.group}; ${summary.bridgePairs} latent–expert pairs co-fire (${meta.tokensPerSecond.toFixed(1)} tokens/s)\n`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await model.dispose();
      }
    });
}

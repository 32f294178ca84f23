/**
 * `resect sae eval --sae DIR --data FILE [--json]`: normalized MSE, FVE, L0, dead fraction and GBA group rates on
 * activations (a cache folder or a .npy / safetensors array) or on a model's hook over text (JSONL or a dataset), where
 * it also measures the next-token loss with the SAE spliced in (loss recovered vs clean and zero ablation);
 * `--against DIR` adds the cross-seed max cosine similarity against another SAE.
 */
import type { Command } from 'commander';
import { defaultWorkspaceDir, resolveUserPath } from '../../workspace/paths';
import { loadModelForCli, printJson, withDeviceOptions, type DeviceOpts } from '../shared';
import { resolveData } from './atlas';
import { dataKind, loadSaeArg, modelFor } from './sae-args';

interface Opts extends DeviceOpts {
  sae: string; data: string; model?: string; hookpoint?: string; tensor?: string; textField: string; context?: string; maxTokens?: string;
  activationsOnly?: boolean; against?: string; alpha?: string; workspace?: string; json?: boolean;
}

const f = (x: number, digits = 4) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

export function registerSaeEval(sae: Command): void {
  withDeviceOptions(sae.command('eval')
    .description('measure an SAE: NMSE, FVE, L0, dead fraction, group rates; on text also the loss with the SAE spliced in')
    .requiredOption('--sae <dir|id>', 'SAE folder (SAE Lens, Resect or sparsify layout) or an SAE id of the workspace')
    .requiredOption('--data <file|dataset>', 'activation cache folder, .npy / .safetensors [tokens, d] array, JSONL file, or a dataset id or name')
    .option('--model <dir>', 'model for text data (default: the model the SAE records)')
    .option('--hookpoint <name>', 'sparsify run folder: the hookpoint to evaluate')
    .option('--tensor <name>', 'safetensors data: the tensor to read')
    .option('--text-field <f>', 'JSONL: field holding the text', 'text')
    .option('--context <n>', 'text: window length in tokens (default min(256, max positions))')
    .option('--max-tokens <n>', 'evaluate at most this many tokens', '65536')
    .option('--activations-only', 'text: skip the spliced-loss forwards')
    .option('--against <dir|id>', 'another SAE (another seed): cross-seed max cosine similarity')
    .option('--alpha <a>', 'with --against: only the top-α most active latents (0 < α ≤ 1)')
    .option('--workspace <dir>', 'workspace for SAE ids, caches and datasets (default: $RESECT_WORKSPACE, else the app-data folder)')
    .option('--json', 'print the result as JSON'))
    .action(async (o: Opts) => {
      const { evaluateOnActivations, evaluateOnText, crossSeedConsistency } = await import('../../../workers/sae/eval');
      const { sae: s, dir } = await loadSaeArg(o.sae, o);
      const maxTokens = Number(o.maxTokens);
      if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error(`--max-tokens must be a positive integer, got ${o.maxTokens}`);
      const alpha = o.alpha === undefined ? undefined : Number(o.alpha);
      if (alpha !== undefined && !(alpha > 0 && alpha <= 1)) throw new Error(`--alpha must be in (0, 1], got ${o.alpha}`);
      const threads = o.threads ? Number(o.threads) : undefined;
      const common = { maxTokens, ...(threads ? { threads } : {}), onProgress: (t: number) => process.stderr.write(`\r${t} tokens`) };
      const kind = dataKind(o.data);
      let result;
      if (kind === 'text') {
        const workspace = resolveUserPath(o.workspace ?? defaultWorkspaceDir());
        const { data } = await resolveData({ data: o.data, textField: o.textField, workspace });
        const modelDir = modelFor(s, o.model);
        const model = await loadModelForCli(modelDir, o);
        try {
          const { tokenizerForModel } = await import('../../../workers/models/monet/session');
          const { openSource } = await import('../../../workers/analysis/atlas/source');
          const samples = (async function* () { for await (const x of openSource({ data, filter: {}, workspace })) yield { text: x.text }; })();
          result = await evaluateOnText(s, model, await tokenizerForModel(modelDir, model.config), samples, {
            ...common, ...(o.context ? { context: Number(o.context) } : {}), activationsOnly: !!o.activationsOnly,
          });
        } finally {
          await model.dispose();
        }
      } else {
        const batches = kind === 'cache'
          ? (await import('../../../workers/sae/cache')).ActivationCache.open(resolveUserPath(o.data)).sequential(4096)
          : (await import('../../../workers/sae/activations-import')).readActivationRows(resolveUserPath(o.data), { ...(o.tensor ? { tensor: o.tensor } : {}) });
        result = { metrics: await evaluateOnActivations(s, batches, common), loss: null };
      }
      process.stderr.write('\n');
      let crossSeed = null;
      if (o.against) {
        const other = await loadSaeArg(o.against, { ...(o.workspace ? { workspace: o.workspace } : {}) });
        const c = await crossSeedConsistency(s, other.sae, { ...(alpha !== undefined ? { alpha, frequency: result.metrics.frequency } : {}), ...(threads ? { threads } : {}) });
        crossSeed = { against: other.dir, latents: c.latents, threshold: c.threshold, fractionAbove: c.fractionAbove, meanMcs: c.meanMcs, alpha: c.alpha };
      }
      const { frequency, ...metrics } = result.metrics;
      void frequency;
      const out = { sae: dir, method: s.config.method, hook: s.config.hook.name, latents: s.config.dSae, data: o.data, metrics, loss: result.loss, crossSeed };
      if (o.json) return printJson(out);
      const m = metrics;
      const lines = [
        `${dir}: ${s.config.method}, ${s.config.dSae} latents, ${s.config.hook.name}`,
        `tokens ${m.tokens}   NMSE ${f(m.nmse)}   FVE ${f(m.fve)}   L0 ${f(m.l0, 1)} (${f(100 * m.l0Fraction, 2)} % of latents)   dead ${m.dead} (${f(100 * m.deadFraction, 1)} %)`,
        ...(m.groups ?? []).map((g) => `  group ${g.group}: target ${g.target.toPrecision(3)}, realized ${g.realized.toPrecision(3)} (${g.latents} latents)`),
        ...(result.loss ? [`next-token loss (nats): clean ${f(result.loss.clean)}, SAE ${f(result.loss.spliced)}, zero ablation ${f(result.loss.zero)}; loss recovered ${f(result.loss.lossRecovered, 3)} over ${result.loss.tokens} tokens`] : []),
        ...(crossSeed ? [`cross-seed vs ${crossSeed.against}: ${f(100 * crossSeed.fractionAbove, 1)} % of ${crossSeed.latents} latents above ${crossSeed.threshold}, mean MCS ${f(crossSeed.meanMcs, 3)}`] : []),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}

// `resect sae train`: trains a GBA, BA, TopK or ReLU + L1 SAE (workers/sae/train.ts) on an activation cache or an
// imported activation file, with the input normalization fitted over the whole cache, metrics per step in
// <out>/metrics.jsonl and a resumable checkpoint in <out> (Ctrl-C stops after the current step and keeps it).
import { type Command, InvalidArgumentError } from 'commander';
import { appendFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { importActivations } from '../../../workers/sae/activations-import';
import { ActivationCache } from '../../../workers/sae/cache';
import { saveSaeLens } from '../../../workers/sae/io/saelens';
import { parseSaeTrainConfig, SaeTrainConfigSchema } from '../../../workers/sae/model';
import { trainSae } from '../../../workers/sae/train';
import type { NormalizeMode } from '../../../workers/sae/train-source';
import { printJson } from '../shared';
import { captureFromCli, withCaptureOptions, type CaptureCliOpts } from './sae-capture';

const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
};

/** An activation cache folder as is, or a .safetensors / .npy [tokens, d] file imported into `<out>/activations`
 * first (streamed, fp16 on disk; reused when the file has not changed). */
async function openActivations(spec: string, out: string, tensor: string | undefined, normalize: NormalizeMode): Promise<ActivationCache> {
  const full = path.resolve(spec);
  if (!existsSync(full)) throw new Error(`${full} does not exist`);
  const read = { normalize: { mode: normalize, target: 1 } };
  if (statSync(full).isDirectory()) return ActivationCache.open(full, read);
  const dir = path.join(out, 'activations');
  if (!existsSync(path.join(dir, 'manifest.json'))) {
    process.stderr.write(`resect: importing ${full} into ${dir}\n`);
    await importActivations({ file: full, ...(tensor ? { tensor } : {}) }, dir);
  }
  return ActivationCache.open(dir, read);
}

const Cli = z.object({
  activations: z.string().min(1).optional(), out: z.string().min(1), tensor: z.string().optional(), resume: z.boolean().optional(),
  json: z.boolean().optional(), threads: z.number().int().min(0).optional(), checkpointEvery: z.number().int().min(0).optional(),
  logEvery: z.number().int().positive().default(100),
});

export function registerSaeTrain(sae: Command): void {
  withCaptureOptions(sae
    .command('train')
    .description("train an SAE on activations (an activation cache, a .safetensors / .npy [tokens, d] file, or a model's hook over text captured first); resumable checkpoints in --out")
    .option('--activations <file-or-cache>', 'an activation cache folder, or a .safetensors / .npy file holding one [tokens, d] array (or --model, --hook and --data)'), false)
    .requiredOption('--out <dir>', 'output folder: checkpoint.safetensors, metrics.jsonl, and when finished the SAE in SAE Lens layout (cfg.json, sae_weights.safetensors)')
    .option('--tensor <name>', 'which tensor of the file, when it holds several')
    .option('--method <m>', 'gba | ba | topk | relu-l1', 'gba')
    .option('--latents <M>', 'dictionary size (default 16 × d)', num)
    .option('--groups <K>', 'GBA groups (default 10)', num)
    .option('--htf <p>', 'highest target frequency (default 0.5)', num)
    .option('--ltf <p>', 'lowest target frequency (default 1e-3)', num)
    .option('--target <p>', 'BA: the single target frequency', num)
    .option('--adapt-every <T>', 'steps between bias updates (default 50)', num)
    .option('--gamma-minus <g>', 'bias decrease step (default 0.01)', num)
    .option('--gamma-plus <g>', 'bias increase step (default 0.01)', num)
    .option('--dead-rate <eps>', 'window rate below which a latent is revived (default 1e-6)', num)
    .option('--gate <g>', 'GBA gate: jumprelu (z·1[z+b>0]) or relu (max(0, z+b))')
    .option('--untied', 'GBA with a separate encoder matrix')
    .option('--freeze-pre-bias', 'keep b_pre at the data mean')
    .option('--k <K>', 'TopK: active latents per token (default 32)', num)
    .option('--aux-k <n>', 'TopK: AuxK latents (default d/2; 0 off)', num)
    .option('--l1 <lambda>', 'ReLU + L1: penalty (default 0.01)', num)
    .option('--steps <n>', 'optimizer steps (default 10000)', num)
    .option('--batch <L>', 'tokens per step (default 512)', num)
    .option('--lr <x>', 'Adam learning rate (default 1e-4)', num)
    .option('--warmup <n>', 'linear learning-rate warmup steps (default 0)', num)
    .option('--normalize <n>', 'dataset | dataset-centered | per-token | none (default dataset: E‖x‖ = 1)')
    .option('--seed <n>', 'seed (init, data order)', num)
    .option('--threads <n>', 'ONNX Runtime intra-op threads', num)
    .option('--checkpoint-every <n>', 'periodic checkpoints (steps)', num)
    .option('--log-every <n>', 'metrics line every n steps', num)
    .option('--resume', 'continue the checkpoint in --out')
    .option('--json', 'print the final metrics as JSON')
    .action(async (o: Record<string, unknown>) => {
      const cli = Cli.parse(o);
      const out = path.resolve(cli.out);
      mkdirSync(out, { recursive: true });
      const normalize = (o.normalize ?? 'dataset') as NormalizeMode;
      if (!['dataset', 'dataset-centered', 'per-token', 'none'].includes(normalize)) throw new InvalidArgumentError(`--normalize: ${normalize}`);
      // The capture front: a model's hook over text goes into the workspace's activation cache first (reused when there).
      const activations = cli.activations ?? (o.model || o.hook || o.data ? (await captureFromCli(o as unknown as CaptureCliOpts)).dir : undefined);
      if (!activations || (cli.activations && o.model)) throw new InvalidArgumentError('give either --activations, or --model, --hook and --data');
      const source = await openActivations(activations, out, cli.tensor, normalize);
      const config = parseSaeTrainConfig(Object.fromEntries(Object.entries({
        method: o.method, latents: o.latents ?? 16 * source.dIn, groups: o.groups, htf: o.htf, ltf: o.ltf, targetFrequency: o.target,
        adaptEvery: o.adaptEvery, gammaMinus: o.gammaMinus, gammaPlus: o.gammaPlus, deadRate: o.deadRate, gate: o.gate,
        tied: o.untied ? false : undefined, trainPreBias: o.freezePreBias ? false : undefined, k: o.k, auxK: o.auxK, l1: o.l1,
        steps: o.steps, batchSize: o.batch, lr: o.lr, warmupSteps: o.warmup, normalize: o.normalize, seed: o.seed,
      }).filter(([, v]) => v !== undefined)) as z.input<typeof SaeTrainConfigSchema>);
      const metrics = path.join(out, 'metrics.jsonl');
      const ac = new AbortController();
      process.once('SIGINT', () => { process.stderr.write('resect: stopping after this step (checkpoint kept)…\n'); ac.abort(); });
      const r = await trainSae(config, source, {
        checkpointDir: out, resume: cli.resume ?? false, signal: ac.signal, every: cli.logEvery,
        ...(cli.threads ? { threads: cli.threads } : {}), ...(cli.checkpointEvery ? { checkpointEvery: cli.checkpointEvery } : {}),
        log: (l) => process.stderr.write(`resect: ${l}\n`),
        onStep: (m) => {
          appendFileSync(metrics, `${JSON.stringify(m)}\n`);
          if (!cli.json) {
            const groups = m.groups ? `  rate/target ${m.groups.realized.map((v, k) => (v / m.groups!.target[k]!).toFixed(2)).join(' ')}` : '';
            process.stderr.write(`step ${m.step}/${m.totalSteps}  loss ${m.loss.toFixed(5)}  fve ${m.fve.toFixed(3)}  L0 ${m.l0.toFixed(1)}  dead ${(100 * m.dead).toFixed(1)}%${groups}\n`);
          }
        },
      });
      // A finished run is saved in SAE Lens's layout (cfg.json + sae_weights.safetensors + GBA state) beside its checkpoint.
      if (r.outcome === 'finished') await saveSaeLens(r.sae, out);
      const summary = { outcome: r.outcome, step: r.step, checkpoint: r.checkpoint, sae: r.outcome === 'finished' ? out : null, seconds: r.elapsedMs / 1000, last: r.last };
      if (cli.json) printJson(summary);
      else process.stdout.write(`${r.outcome} at step ${r.step}; checkpoint ${r.checkpoint}${r.outcome === 'finished' ? `; SAE Lens folder ${out}` : ' (--resume continues it)'} (${(r.elapsedMs / 1000).toFixed(0)} s)\n`);
    });
}

import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { bundleDir } from '../shared';
import type { TrainHyper } from '../../../workers/training/presets';

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
};
const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
};

/** assets/tokenizer next to the working folder, else next to the bundle. */
export function defaultTokenizerDir(): string {
  const candidates = [path.resolve('assets/tokenizer'), path.join(bundleDir(), '..', 'assets', 'tokenizer')];
  return candidates.find((c) => existsSync(path.join(c, 'tokenizer.json'))) ?? candidates[0]!;
}

interface TrainCliOptions {
  data: string[]; out: string; preset: string; config?: string; heldout?: string[]; tokenizer?: string; steps?: number; batch?: number;
  seqLen?: number; accumulate?: number; lr?: number; lambda?: number; embedStd?: number; domainBalance?: number; evalEvery?: number; checkpointEvery?: number; seed?: number; device: string;
  threads?: number; resume?: boolean; dtype: string; maxMinutes?: number; quiet?: boolean;
}

export function registerTrain(program: Command): void {
  registerTrainCommand(program);
  registerTrainEval(program);
}

function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a Monet model from scratch on text/JSONL corpora (checkpoints in Hugging Face layout, resumable)')
    .requiredOption('--data <files...>', 'training corpora: .txt, .jsonl (a "text" field, optional "domain"), optionally .gz')
    .requiredOption('--out <dir>', 'output folder (checkpoint/, metrics.jsonl, train.log)')
    .option('--preset <name>', 'model + optimisation preset (tiny, default)', 'default')
    .option('--config <file>', 'a config.json with MonetConfig keys instead of the preset\'s model')
    .option('--heldout <files...>', 'held-out corpora for per-domain validation (default: hold out a fraction of each domain)')
    .option('--tokenizer <dir>', 'folder with tokenizer.json (default: assets/tokenizer)')
    .option('--steps <n>', 'optimizer steps', int)
    .option('--batch <n>', 'sequences per micro-batch', int)
    .option('--seq-len <n>', 'tokens per sequence', int)
    .option('--accumulate <n>', 'micro-batches per step (gradient accumulation)', int)
    .option('--lr <x>', 'peak learning rate', num)
    .option('--lambda <x>', 'weight of the uniformity and ambiguity losses (default 1e-3, the Monet paper; docs/training.md)', num)
    .option('--embed-std <x>', 'std of the embedding initialisation', num)
    .option('--domain-balance <alpha>', 'sample training windows per domain ∝ (domain tokens)^alpha: 1 by size, 0 every domain alike, 0.5 in between (default: uniform windows over all documents)', num)
    .option('--eval-every <n>', 'validation interval in steps', int)
    .option('--checkpoint-every <n>', 'checkpoint interval in steps', int)
    .option('--seed <n>', 'seed (init, data order)', int)
    .option('--device <d>', 'execution provider: cpu, cuda, dml, coreml, webgpu, auto', 'cpu')
    .option('--threads <n>', 'ONNX Runtime intra-op threads (0: all cores)', int)
    .option('--resume', 'continue the checkpoint in --out')
    .option('--dtype <t>', 'weights dtype in model.safetensors: F32, BF16, F16', 'F32')
    .option('--max-minutes <m>', 'stop with a checkpoint after this many minutes (continue with --resume)', num)
    .option('--quiet', 'print only evals and checkpoints')
    .action(async (opts: TrainCliOptions) => {
      const { train, fmtDuration } = await import('../../../workers/training/train');
      if (!['F32', 'BF16', 'F16'].includes(opts.dtype)) throw new InvalidArgumentError('--dtype must be F32, BF16 or F16');
      const hyper: Partial<TrainHyper> = {};
      if (opts.steps !== undefined) hyper.steps = opts.steps;
      if (opts.batch !== undefined) hyper.batch = opts.batch;
      if (opts.seqLen !== undefined) hyper.seqLen = opts.seqLen;
      if (opts.accumulate !== undefined) hyper.accumulate = Math.max(1, opts.accumulate);
      if (opts.lr !== undefined) hyper.lr = opts.lr;
      if (opts.lambda !== undefined) hyper.lambda = opts.lambda;
      if (opts.embedStd !== undefined) hyper.embedStd = opts.embedStd;
      if (opts.domainBalance !== undefined) {
        if (!(opts.domainBalance >= 0 && opts.domainBalance <= 1)) throw new InvalidArgumentError(`--domain-balance must lie in [0, 1], got ${opts.domainBalance}`);
        hyper.domainBalance = opts.domainBalance;
      }
      if (opts.evalEvery !== undefined) hyper.evalEvery = opts.evalEvery;
      if (opts.checkpointEvery !== undefined) hyper.checkpointEvery = opts.checkpointEvery;
      if (opts.seed !== undefined) hyper.seed = opts.seed;
      const ac = new AbortController();
      const stop = (sig: string) => {
        if (ac.signal.aborted) process.exit(130);
        process.stderr.write(`\n${sig}: saving a checkpoint, then stopping (again to quit at once)\n`);
        ac.abort(new Error(sig));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      const start = Date.now();
      const r = await train({
        data: opts.data, heldout: opts.heldout, out: opts.out, preset: opts.preset, configFile: opts.config, hyper,
        tokenizerDir: opts.tokenizer ?? defaultTokenizerDir(), device: opts.device as never, threads: opts.threads, resume: opts.resume,
        saveDtype: opts.dtype as 'F32', maxMinutes: opts.maxMinutes, signal: ac.signal,
        log: (line) => {
          if (!opts.quiet || !line.startsWith('step ')) process.stdout.write(`${line}\n`);
        },
      });
      process.stdout.write(`${r.outcome} at step ${r.step}/${r.totalSteps} after ${fmtDuration(Date.now() - start)}; checkpoint ${r.checkpoint}${r.outcome !== 'finished' ? ' (continue with --resume)' : ''}\n`);
    });
}

/** `resect train-eval`: per-domain perplexity and routing statistics of a trained checkpoint (eval mode). */
export function registerTrainEval(program: Command): void {
  program
    .command('train-eval')
    .description('evaluate a Monet checkpoint on labelled held-out text: per-domain perplexity and expert routing statistics')
    .requiredOption('--model <dir>', 'checkpoint folder (config.json, model.safetensors, tokenizer.json)')
    .requiredOption('--heldout <files...>', 'labelled JSONL (text, domain)')
    .option('--out <file>', 'write the report as JSON')
    .option('--seq-len <n>', 'window length', int, 256)
    .option('--max-seqs <n>', 'windows per domain (default: all)', int)
    .action(async (opts: { model: string; heldout: string[]; out?: string; seqLen: number; maxSeqs?: number }) => {
      const { evaluateModel } = await import('../../../workers/training/analyze');
      const { writeFile } = await import('node:fs/promises');
      const r = await evaluateModel({ modelDir: opts.model, heldout: opts.heldout, seqLen: opts.seqLen, maxSeqsPerDomain: opts.maxSeqs, log: (l) => process.stdout.write(`${l}\n`) });
      process.stdout.write(`mean loss ${r.mean.loss.toFixed(4)} ppl ${r.mean.ppl.toFixed(2)}\n`);
      for (const x of r.routers) {
        process.stdout.write(`router ${x.router} (layer ${x.layer}): uniformity ${x.uniformity.toFixed(3)} (min ${r.logE.toFixed(3)}), ambiguity ${x.ambiguity.toFixed(3)}, selected ${x.meanSelected.toFixed(2)}, dead sub-experts ${x.deadSubExperts.side1}+${x.deadSubExperts.side2}/${2 * x.deadSubExperts.of}, dead (head, sub-expert) ${x.deadHeadSubExperts.side1}+${x.deadHeadSubExperts.side2}/${2 * x.deadHeadSubExperts.of}\n`);
        process.stdout.write(`  concentration: ${Object.entries(x.concentration).map(([d, v]) => `${d} ${(100 * v.share).toFixed(1)}%`).join(', ')}\n`);
        process.stdout.write(`  experts passing the 2x rule / ${x.activeExperts} active: ${Object.entries(x.concentration).map(([d, v]) => `${d} ${v.experts} (${(100 * v.expertShare).toFixed(1)}%)`).join(', ')}\n`);
      }
      if (opts.out) await writeFile(opts.out, `${JSON.stringify(r, null, 2)}\n`);
    });
}

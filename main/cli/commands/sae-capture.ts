/**
 * `resect sae capture` (a model's hook over text into the workspace's activation cache, reused when the same model,
 * hook, data and options were captured before) and `resect sae import-activations` (a [tokens, d] .npy or
 * safetensors array into the same cache layout). `captureFromCli` is the capture front `resect sae train --model` uses.
 */
import path from 'node:path';
import type { Command } from 'commander';
import type { CacheManifest } from '../../../workers/sae/cache';
import { defaultWorkspaceDir, resolveUserPath } from '../../workspace/paths';
import { printJson, withDeviceOptions, type DeviceOpts } from '../shared';
import { resolveData } from './atlas';

export interface CaptureCliOpts extends Partial<DeviceOpts> {
  model: string;
  hook: string;
  data: string;
  textField: string;
  context?: string;
  maxTokens?: string;
  includeBos?: boolean;
  workspace?: string;
}

const positiveInt = (name: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${v}`);
  return n;
};

/** Adds the capture options (`--model`, `--hook`, `--data`, …; not the device options) to a command. */
export function withCaptureOptions(cmd: Command, required: boolean): Command {
  const opt = (flags: string, text: string) => (required ? cmd.requiredOption(flags, text) : cmd.option(flags, text));
  opt('--model <dir>', 'Monet checkpoint folder with tokenizer.json');
  opt('--hook <name>', 'blocks.L.hook_resid_post, blocks.L.hook_attn_out or blocks.L.hook_mlp_out');
  opt('--data <file|dataset>', 'JSONL file, or a dataset id or name of the workspace');
  return cmd
    .option('--text-field <f>', 'JSONL: field holding the text', 'text')
    .option('--context <n>', 'window length in tokens (default min(256, max positions))')
    .option('--max-tokens <n>', 'stop capturing after this many tokens')
    .option('--include-bos', 'keep the BOS position (left out by default)')
    .option('--workspace <dir>', 'workspace holding the activation cache and datasets (default: $RESECT_WORKSPACE, else the app-data folder)');
}

/** Captures (or reuses) the activation cache the options describe; progress on stderr. */
export async function captureFromCli(o: CaptureCliOpts): Promise<{ dir: string; manifest: CacheManifest; reused: boolean }> {
  const missing = (['model', 'hook', 'data'] as const).filter((k) => !o[k]);
  if (missing.length) throw new Error(`capturing activations needs --model, --hook and --data (missing ${missing.map((k) => `--${k}`).join(', ')})`);
  const { ensureActivationCache } = await import('../../../workers/sae/activations');
  const { parseDevice } = await import('../../../workers/models/monet/session');
  const workspace = resolveUserPath(o.workspace ?? defaultWorkspaceDir());
  const { data } = await resolveData({ data: o.data, textField: o.textField, workspace });
  const threads = positiveInt('threads', o.threads === undefined ? undefined : String(o.threads));
  const maxTokens = positiveInt('max-tokens', o.maxTokens);
  const context = positiveInt('context', o.context);
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error('interrupted (the unfinished cache is discarded)'));
  process.once('SIGINT', onSignal);
  let last = 0;
  try {
    return await ensureActivationCache({
      workspace, modelDir: resolveUserPath(o.model), hook: o.hook, data, excludeBos: !o.includeBos, signal: abort.signal,
      ...(maxTokens ? { maxTokens } : {}), ...(context ? { context } : {}),
      load: { provider: parseDevice(o.device ?? 'cpu'), ...(threads ? { intraOpThreads: threads } : {}), log: (m) => process.stderr.write(`resect: ${m}\n`) },
      log: (l) => process.stderr.write(`${last ? '\n' : ''}${l}\n`),
      onProgress: (p) => {
        if (Date.now() - last < 1000) return;
        last = Date.now();
        process.stderr.write(`\r${p.tokens} tokens, ${p.samples} samples, ${p.tokensPerSecond.toFixed(0)} tokens/s   `);
      },
    });
  } finally {
    process.removeListener('SIGINT', onSignal);
    if (last) process.stderr.write('\n');
  }
}

const summary = (dir: string, m: CacheManifest, reused: boolean) => ({
  cache: path.basename(dir), dir, reused, hook: m.hook.name, tokens: m.numTokens, dIn: m.dIn, samples: m.samples,
  tokensPerSecond: Math.round(m.tokensPerSecond), meanNorm: m.stats?.meanNorm ?? null, clipped: m.stats?.clipped ?? 0,
});

export function registerSaeCapture(sae: Command): void {
  withDeviceOptions(withCaptureOptions(sae.command('capture').description("capture a model's hook over text into the workspace's activation cache (fp16 chunks; reused when the same capture exists)"), true))
    .option('--json', 'print the summary as JSON')
    .action(async (o: CaptureCliOpts & { json?: boolean }) => {
      const { dir, manifest, reused } = await captureFromCli(o);
      const s = summary(dir, manifest, reused);
      if (o.json) printJson(s);
      else process.stdout.write(`${reused ? 'reused' : 'captured'} ${s.tokens} tokens × ${s.dIn} of ${s.hook} → ${dir}${reused ? '' : ` (${s.tokensPerSecond} tokens/s)`}\n`);
    });

  sae.command('import-activations')
    .description('import activations computed elsewhere ([tokens, d] .npy or safetensors; f32, f16, bf16) into the activation cache')
    .argument('<file>', '.npy or .safetensors file')
    .option('--tensor <name>', 'safetensors: the tensor to read (default: the only 2-D one)')
    .option('--hook-name <name>', 'what the activations are (recorded with SAEs trained on them)', 'external')
    .option('--source-model <name>', 'the model they came from (recorded)')
    .option('--bos-included', 'the activations include BOS positions (recorded)')
    .option('--workspace <dir>', 'workspace (default: $RESECT_WORKSPACE, else the app-data folder)')
    .option('--json', 'print the summary as JSON')
    .action(async (file: string, o: { tensor?: string; hookName: string; sourceModel?: string; bosIncluded?: boolean; workspace?: string; json?: boolean }) => {
      const { importActivations, importSource } = await import('../../../workers/sae/activations-import');
      const { cacheKey, cacheRoot } = await import('../../../workers/sae/cache');
      const workspace = resolveUserPath(o.workspace ?? defaultWorkspaceDir());
      const opts = { file: resolveUserPath(file), ...(o.tensor ? { tensor: o.tensor } : {}), hookName: o.hookName, ...(o.sourceModel ? { model: o.sourceModel } : {}), excludeBos: !o.bosIncluded };
      const dir = path.join(cacheRoot(workspace), cacheKey(importSource(opts)));
      const m = await importActivations({ ...opts, onProgress: (r, t) => process.stderr.write(`\r${r} / ${t} rows`) }, dir);
      process.stderr.write('\n');
      const s = summary(dir, m, false);
      if (o.json) printJson(s);
      else process.stdout.write(`imported ${s.tokens} × ${s.dIn} → ${dir} (cache ${s.cache})\n`);
    });
}

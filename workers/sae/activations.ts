/**
 * Capturing a Monet model's activations at one hook over a corpus into the activation cache (cache.ts).
 *
 * Texts are tokenized (with BOS when the tokenizer adds it), cut into windows of at most `context` tokens (each token
 * once, no overlap) and packed into right-padded batches; the layered model returns the hook's value per position
 * (MonetModel.forward `hooks`), and the real tokens are appended to the cache in corpus order. The BOS position is
 * left out by default: its activations are outliers that no SAE should spend latents on (spec gba.md §5.9 test 5).
 */
import path from 'node:path';
import type { AtlasData, AtlasFilter } from '../analysis/atlas/schema';
import type { Provider } from '../engine';
import { padRows } from '../models/monet/batch';
import { hookName, parseHookName, type HookPoint } from '../models/monet/hooks';
import type { MonetModel } from '../models/monet/model';
import type { TextTokenizer } from '../tokenizer';
import { ActivationCacheWriter, cacheKey, type CacheManifest } from './cache';
import type { SaeHook } from './types';

export interface TextSample { text: string }

export interface BatchingOptions {
  /** Window length in tokens (default min(256, max_position_embeddings)). */
  context?: number;
  /** Padded tokens per batch (default 2048). */
  batchTokens?: number;
  /** Rows per batch (default 16). */
  batchRows?: number;
  /** Leave out the BOS position (default true). */
  excludeBos?: boolean;
  /** Stop after this many kept tokens. */
  maxTokens?: number;
  signal?: AbortSignal;
}

/** One packed batch: ids and padding, and for each kept token its flat position b·time + t and its id. */
export interface TokenBatch {
  ids: BigInt64Array;
  attention: Uint8Array;
  batch: number;
  time: number;
  /** Flat positions (b·time + t) of the tokens to use (real, not BOS when excluded), in corpus order. */
  keep: Int32Array;
  /** Windows of this batch (token ids), for next-token targets. */
  windows: number[][];
  /** Samples read so far. */
  samples: number;
}

/**
 * Tokenized, windowed, packed batches of a corpus (what capture and the spliced-loss evaluation share). A window's
 * first token is BOS only in a sample's first window; later windows start mid-text.
 */
export async function* tokenBatches(
  model: MonetModel,
  tokenizer: TextTokenizer,
  samples: Iterable<TextSample> | AsyncIterable<TextSample>,
  o: BatchingOptions = {},
): AsyncGenerator<TokenBatch> {
  const maxPos = model.config.max_position_embeddings;
  const context = Math.min(o.context ?? Math.min(256, maxPos), maxPos);
  if (context < 1) throw new RangeError(`context must be at least 1 token, got ${context}`);
  const batchTokens = Math.max(o.batchTokens ?? 2048, context);
  const batchRows = o.batchRows ?? 16;
  const excludeBos = o.excludeBos ?? true;
  const maxTokens = o.maxTokens ?? Infinity;
  let pending: { ids: number[]; bos: boolean }[] = [];
  let kept = 0;
  let read = 0;

  const pack = (): TokenBatch => {
    const batch = padRows(pending.map((w) => w.ids), tokenizer.padId);
    const keep: number[] = [];
    for (const [b, w] of pending.entries()) {
      for (let t = 0; t < w.ids.length && kept < maxTokens; t++) {
        if (t === 0 && w.bos && excludeBos) continue;
        keep.push(b * batch.time + t);
        kept++;
      }
    }
    const out = { ...batch, keep: Int32Array.from(keep), windows: pending.map((w) => w.ids), samples: read };
    pending = [];
    return out;
  };

  for await (const sample of samples) {
    o.signal?.throwIfAborted();
    read++;
    const ids = tokenizer.encode(sample.text);
    const hasBos = tokenizer.bosId !== null && ids[0] === tokenizer.bosId && tokenizer.addBos;
    for (let s = 0; s < ids.length; s += context) {
      const w = ids.slice(s, s + context);
      const rows = pending.length + 1;
      const width = Math.max(w.length, ...pending.map((p) => p.ids.length));
      if (pending.length > 0 && (rows > batchRows || rows * width > batchTokens)) {
        yield pack();
        if (kept >= maxTokens) return;
      }
      pending.push({ ids: w, bos: s === 0 && hasBos });
    }
  }
  if (pending.length > 0 && kept < maxTokens) yield pack();
}

export interface CaptureOptions extends BatchingOptions {
  model: MonetModel;
  tokenizer: TextTokenizer;
  /** The model folder (recorded in the manifest and the key). */
  modelDir: string;
  hook: HookPoint;
  samples: Iterable<TextSample> | AsyncIterable<TextSample>;
  /** The cache folder to write. */
  outDir: string;
  /** What the key was computed from (cacheSourceFor), recorded in the manifest. */
  source: Record<string, unknown>;
  description: string;
  onProgress?: (p: { tokens: number; samples: number; tokensPerSecond: number }) => void;
}

/** The record an activation cache of a model is keyed by: same record, same activations. */
export function cacheSourceFor(o: { modelDir: string; hook: HookPoint; data: unknown; context: number; excludeBos: boolean; maxTokens: number | null }): Record<string, unknown> {
  return { kind: 'model', model: o.modelDir, hook: hookName(o.hook), data: o.data, context: o.context, excludeBos: o.excludeBos, maxTokens: o.maxTokens };
}

export function saeHookFor(modelDir: string, hook: HookPoint): SaeHook {
  return { model: modelDir, name: hookName(hook), layer: hook.layer, kind: hook.kind };
}

/** Runs the model over the samples and writes the hook's activations to `outDir` (a complete cache at the end). */
export async function captureActivations(o: CaptureOptions): Promise<CacheManifest> {
  const d = o.model.config.hidden_size;
  const writer = new ActivationCacheWriter(o.outDir, {
    key: cacheKey(o.source), source: o.source, description: o.description, hook: saeHookFor(o.modelDir, o.hook), excludeBos: o.excludeBos ?? true, dIn: d,
  });
  const started = performance.now();
  let samples = 0;
  const name = hookName(o.hook);
  try {
    for await (const batch of tokenBatches(o.model, o.tokenizer, o.samples, o)) {
      o.signal?.throwIfAborted();
      const out = await o.model.forward({ ids: batch.ids, attention: batch.attention, batch: batch.batch, time: batch.time, hooks: [o.hook], logits: 'none', lastLayer: o.hook.layer });
      await writer.append(out.hooks!.get(name)!, batch.keep);
      samples = batch.samples;
      const seconds = (performance.now() - started) / 1000;
      o.onProgress?.({ tokens: writer.tokens, samples, tokensPerSecond: seconds > 0 ? writer.tokens / seconds : 0 });
    }
    return await writer.finish(samples, o.signal);
  } catch (e) {
    writer.abort();
    throw e;
  }
}

export interface EnsureCacheOptions extends Omit<BatchingOptions, 'context'> {
  workspace: string;
  /** Model folder (resolved). */
  modelDir: string;
  /** `blocks.L.hook_*`. */
  hook: string;
  /** The text: a JSONL file or a workspace dataset (the atlas's data shape), optionally filtered. */
  data: AtlasData;
  filter?: AtlasFilter;
  context?: number;
  /** A model already loaded from `modelDir` (else one is loaded, and disposed after). */
  model?: MonetModel;
  load?: { provider?: Provider; intraOpThreads?: number; log?: (m: string) => void };
  log?: (line: string) => void;
  onProgress?: CaptureOptions['onProgress'];
}

/** The record of a text source as the cache key sees it (absolute path, or dataset id). */
export function dataRecord(d: AtlasData, filter: AtlasFilter = {}): Record<string, unknown> {
  const base = d.kind === 'jsonl' ? { kind: 'jsonl', path: path.resolve(d.path), textField: d.textField } : { kind: 'dataset', datasetId: d.datasetId };
  return filter.domain !== undefined || filter.search ? { ...base, filter } : base;
}

/**
 * The complete activation cache of (model, hook, data, options) in the workspace: reused when one exists, else
 * captured now. The CLI (`resect sae capture`, `resect sae train --model`) and the capture job share it.
 */
export async function ensureActivationCache(o: EnsureCacheOptions): Promise<{ dir: string; manifest: CacheManifest; reused: boolean }> {
  const { cacheRoot, readManifest } = await import('./cache');
  const hook = parseHookName(o.hook);
  const { loadMonetConfig } = await import('../models/monet/config');
  const config = (await loadMonetConfig(path.join(o.modelDir, 'config.json'))).config;
  parseHookName(o.hook, config.num_hidden_layers);
  const context = Math.min(o.context ?? 256, config.max_position_embeddings);
  const excludeBos = o.excludeBos ?? true;
  const source = cacheSourceFor({ modelDir: o.modelDir, hook, data: dataRecord(o.data, o.filter), context, excludeBos, maxTokens: o.maxTokens ?? null });
  const dir = path.join(cacheRoot(o.workspace), cacheKey(source));
  try {
    const m = readManifest(dir);
    if (m.complete) {
      o.log?.(`Activations: reusing ${dir} (${m.numTokens} tokens)`);
      return { dir, manifest: m, reused: true };
    }
  } catch {
    /* none yet, or unreadable: capture */
  }
  const { MonetModel } = await import('../models/monet/model');
  const model = o.model ?? (await MonetModel.load(o.modelDir, { ...(o.load ?? {}), ...(o.signal ? { signal: o.signal } : {}) }));
  try {
    const { tokenizerForModel } = await import('../models/monet/session');
    const { openSource, describeData } = await import('../analysis/atlas/source');
    const tokenizer = await tokenizerForModel(o.modelDir, model.config);
    const description = `${path.basename(o.modelDir)} ${o.hook} on ${path.basename(describeData({ data: o.data, filter: o.filter ?? {} }))}`;
    o.log?.(`Activations: capturing ${description} into ${dir}`);
    const samples = (async function* () {
      for await (const s of openSource({ data: o.data, filter: o.filter ?? {}, workspace: o.workspace })) yield { text: s.text };
    })();
    const manifest = await captureActivations({ ...o, model, tokenizer, modelDir: o.modelDir, hook, samples, outDir: dir, source, description, context, excludeBos });
    o.log?.(`Activations: ${manifest.numTokens} tokens of width ${manifest.dIn} from ${manifest.samples} samples (${manifest.tokensPerSecond.toFixed(0)} tokens/s)`);
    return { dir, manifest, reused: false };
  } finally {
    if (!o.model) await model.dispose();
  }
}

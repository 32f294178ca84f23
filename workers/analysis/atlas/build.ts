/**
 * Building an expert atlas: run a Monet model in eval mode over a corpus and stream every token's routing into the
 * accumulators (accumulator.ts), checkpointing them every N samples; at the end write
 *
 *   <out>/meta.json            model, data, filter, options, tokens, samples, domains, score totals, timings
 *   <out>/stats.safetensors    per group g<r>: count, sum, domain_sum [D,E,E], hist [E,E,B], corr_* (F64/I32),
 *                              dir_i / dir_j [E, d] (output direction of sub-experts, for promoted tokens)
 *   <out>/contexts.sqlite      occ (token occurrences with decoded context), top (group, expert, rank, score, occ),
 *                              occ_fts (full-text index of the contexts)
 *   <out>/vocab.json           decoded token strings (for promoted-token lists without a tokenizer)
 *
 * Samples are tokenized (with BOS when the tokenizer adds it; BOS itself is not counted), split into chunks of at
 * most `context` tokens (each token counted once), and packed into right-padded batches of whole samples. Because
 * a checkpoint is only taken between batches, at a sample boundary, a resumed run forms exactly the batches the
 * uninterrupted run would have formed, and its results are identical.
 */
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { padRows } from '../../models/monet/batch';
import type { MonetModel } from '../../models/monet/model';
import type { TextTokenizer } from '../../tokenizer';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../../engine/safetensors';
import { AtlasAccumulator, DEFAULT_ACCUMULATOR_OPTIONS, histogramEdges, type AccumulatorOptions, type AccumulatorState, type UnitGroup } from './accumulator';
import { hookName, type HookPoint } from '../../models/monet/hooks';
import type { Sae } from '../../sae/types';
import { bridgePairs, decoderDirections, latentRecorder, writeBridge, type Bridge } from './latents';
import { CONTEXTS_INDEXES, CONTEXTS_TABLES, INSERT_OCC, INSERT_TOP } from './contexts-db';
import { countSamples, describeData, openSource, type SourceOptions } from './source';

export const ATLAS_FORMAT = 1;

export interface BuildAtlasOptions {
  model: MonetModel;
  tokenizer: TextTokenizer;
  /** The model folder (recorded, and used later for promoted tokens). */
  modelDir: string;
  source: SourceOptions;
  outDir: string;
  id?: string;
  name?: string;
  threshold?: number;
  topK?: number;
  bins?: number;
  /** Chunk length in tokens (default min(256, max_position_embeddings)). */
  context?: number;
  batchTokens?: number;
  batchRows?: number;
  maxSamples?: number;
  /** Checkpoint every N samples (0 = never). Default 1000. */
  checkpointEvery?: number;
  /** Continue from `<out>/checkpoint.*` if present. */
  resume?: boolean;
  /** Context window around a top token: tokens before and after. */
  window?: [number, number];
  /** After each batch: tokens and samples so far, of `totalSamples` (counted before the run). */
  onProgress?: (p: { tokens: number; samples: number; totalSamples: number; tokensPerSecond: number }) => void;
  log?: (line: string) => void;
  signal?: AbortSignal;
  /** Tests: throw after this many samples are consumed (a simulated crash after a checkpoint). */
  crashAfterSamples?: number;
  /**
   * Also record an SAE's latents on the same tokens (a latent atlas, docs/sae.md "Browse"): the latents become the
   * atlas's last group (after the routing groups) with the experts' statistics, and every token's co-activations of
   * latents and experts are counted (the bridge, in contexts.sqlite's `bridge` table). No checkpoints then.
   */
  sae?: { sae: Sae; id: string; dir: string; hook: HookPoint; provider?: string; threads?: number };
}

/** A latent atlas's histogram range: codes from 1e-3 to 100 in the atlas's bins (normalized inputs give codes ≈ 0.01–10; larger ones fall in the last bin). */
export const LATENT_HIST: Omit<UnitGroup, 'units'> = { histMin: 1e-3, histMax: 100, threshold: 0 };

export interface AtlasMeta {
  format: number;
  id: string;
  name: string;
  createdAt: number;
  model: { dir: string; decompose: string; layers: number; groups: number; routerLayers: number[]; H: number; E: number; d: number; vocab: number };
  data: { description: string; kind: 'dataset' | 'jsonl'; datasetId?: number; path?: string };
  filter: { domain?: string; search?: string };
  options: { threshold: number; topK: number; bins: number; histMin: number; histEdges: number[]; context: number; maxSamples: number | null; domainField: string | null; scoreField: string | null; window: [number, number] };
  tokens: number;
  samples: number;
  domains: { name: string; tokens: number }[];
  score: { name: string; n: number; sy: number; syy: number } | null;
  durationMs: number;
  tokensPerSecond: number;
  outputDirection: string;
  /** Set when the atlas was expanded from a compact pack (compact.ts): top contexts trimmed to contextsPerExpert. */
  compact?: { format: number; contextsPerExpert: number; fullBytes: number; modelDigest?: string };
  /** A latent atlas: the SAE whose latents are group `group` (= the number of routing groups). */
  /** bridgePairs: distinct (latent, expert) pairs that fired together (the best BRIDGE_KEEP per unit are stored). */
  sae?: { id: string; dir: string; method: string; latents: number; hook: string; group: number; histEdges: number[]; threshold: number; bridgePairs: number };
}

interface Chunk { sample: number; start: number; ids: number[]; domain: number; y: number; skipFirst: boolean }

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(value));
  await rename(tmp, file);
}

export async function buildAtlas(o: BuildAtlasOptions): Promise<AtlasMeta> {
  const { model, tokenizer } = o;
  const c = model.config;
  const routerLayers = [...model.ckpt.dims.routerLayers];
  const shape = { groups: routerLayers.length, H: c.moe_heads, E: c.moe_experts };
  const accOpts: AccumulatorOptions = {
    ...DEFAULT_ACCUMULATOR_OPTIONS,
    threshold: o.threshold ?? DEFAULT_ACCUMULATOR_OPTIONS.threshold,
    topK: o.topK ?? DEFAULT_ACCUMULATOR_OPTIONS.topK,
    bins: o.bins ?? DEFAULT_ACCUMULATOR_OPTIONS.bins,
    scores: !!o.source.scoreField,
  };
  const context = Math.max(2, Math.min(o.context ?? 256, c.max_position_embeddings));
  const batchTokens = Math.max(o.batchTokens ?? 2048, context);
  const batchRows = o.batchRows ?? 16;
  const maxSamples = o.maxSamples ?? Number.POSITIVE_INFINITY;
  const checkpointEvery = o.sae ? 0 : o.checkpointEvery ?? 1000;
  const window = o.window ?? [12, 6];
  mkdirSync(o.outDir, { recursive: true });
  const ckptJson = path.join(o.outDir, 'checkpoint.json');
  const ckptFile = path.join(o.outDir, 'checkpoint.safetensors');
  const fingerprint = JSON.stringify({ model: path.resolve(o.modelDir), data: o.source.data, filter: o.source.filter, accOpts, context, batchTokens, batchRows, domainField: o.source.domainField ?? null });

  const saeOpt = o.sae;
  const units: UnitGroup | undefined = saeOpt ? { units: saeOpt.sae.config.dSae, ...LATENT_HIST } : undefined;
  if (saeOpt && o.resume) throw new Error('a latent atlas cannot be resumed (its latents are not checkpointed): build it again');
  const acc = new AtlasAccumulator(shape, accOpts, units);
  let elapsedBefore = 0;
  if (o.resume && existsSync(ckptJson) && existsSync(ckptFile)) {
    const saved = JSON.parse(readFileSync(ckptJson, 'utf8')) as { fingerprint: string; state: AccumulatorState; elapsedMs: number };
    if (saved.fingerprint !== fingerprint) throw new Error(`${ckptJson}: the checkpoint was made with other settings (model, data, filter or options); start a new atlas instead`);
    const h = await openSafetensors(ckptFile);
    try {
      await acc.restore(saved.state, (name) => h.read(name));
    } finally {
      await h.close();
    }
    elapsedBefore = saved.elapsedMs;
    o.log?.(`Resuming after ${acc.samples} samples (${acc.tokens} tokens)`);
  } else if (!o.resume) {
    rmSync(ckptJson, { force: true });
    rmSync(ckptFile, { force: true });
  }

  // Counted first (one quick pass over the text) so that progress is a share of the real work, not an open count.
  const totalSamples = o.onProgress ? await countSamples(o.source, maxSamples) : 0;
  const t0 = performance.now();
  const elapsed = () => elapsedBefore + (performance.now() - t0);
  const startTokens = acc.tokens;
  const rate = () => {
    const s = (performance.now() - t0) / 1000;
    return s > 0 ? (acc.tokens - startTokens) / s : 0;
  };
  let lastCheckpoint = acc.samples;

  const checkpoint = async () => {
    await writeSafetensors(ckptFile, acc.tensors(true));
    await writeJsonAtomic(ckptJson, { fingerprint, state: acc.state(), elapsedMs: elapsed() });
    lastCheckpoint = acc.samples;
    o.log?.(`Checkpoint: ${acc.samples} samples, ${acc.tokens} tokens`);
  };

  const padId = tokenizer.padId;
  const latents = saeOpt ? await latentRecorder({ sae: saeOpt.sae, ...(saeOpt.provider ? { provider: saeOpt.provider } : {}), ...(saeOpt.threads ? { threads: saeOpt.threads } : {}) }, acc) : null;
  const runBatch = async (rows: Chunk[]) => {
    o.signal?.throwIfAborted();
    const batch = padRows(rows.map((r) => r.ids), padId);
    const T = batch.time;
    const out = await model.forward({ ...batch, gates: true, logits: 'none', ...(saeOpt ? { hooks: [saeOpt.hook] } : {}) });
    const gates = out.gates!;
    const codes = latents ? await latents.encode(out.hooks!.get(hookName(saeOpt!.hook))!, rows, T) : null;
    let k = 0;
    rows.forEach((r, b) => {
      for (let t = r.skipFirst ? 1 : 0; t < r.ids.length; t++) {
        acc.addToken(gates, b * T + t, r.domain, r.sample, r.start + t, r.y);
        if (latents) latents.add(codes!, k++, r.domain, r.sample, r.start + t, r.y);
      }
    });
  };

  let pending: Chunk[] = [];
  const fits = (rows: number, width: number) => rows <= batchRows && rows * width <= batchTokens;
  const flush = async () => {
    // Greedy slices in order, each within the row and token budgets.
    let slice: Chunk[] = [];
    let width = 0;
    for (const ch of pending) {
      const w = Math.max(width, ch.ids.length);
      if (slice.length > 0 && !fits(slice.length + 1, w)) {
        await runBatch(slice);
        slice = [];
      }
      slice.push(ch);
      width = Math.max(...slice.map((x) => x.ids.length));
    }
    if (slice.length) await runBatch(slice);
    pending = [];
  };

  let ordinal = 0;
  const addBos = tokenizer.addBos && tokenizer.bosId !== null;
  const afterFlush = async (consumed: number) => {
    acc.samples = consumed;
    o.onProgress?.({ tokens: acc.tokens, samples: acc.samples, totalSamples, tokensPerSecond: rate() });
    if (checkpointEvery > 0 && acc.samples - lastCheckpoint >= checkpointEvery) await checkpoint();
    if (o.crashAfterSamples !== undefined && acc.samples >= o.crashAfterSamples) throw new Error(`simulated crash after ${acc.samples} samples`);
  };
  for await (const s of openSource({ ...o.source, workspace: o.source.workspace })) {
    if (ordinal >= maxSamples) break;
    const n = ordinal++;
    if (n < acc.samples) continue; // resumed: already counted
    const ids = tokenizer.encode(s.text);
    const first = addBos && ids[0] === tokenizer.bosId ? 1 : 0;
    if (ids.length <= first) continue;
    const domain = acc.domainOf(s.domain);
    const chunks: Chunk[] = [];
    for (let start = 0; start < ids.length; start += context) {
      chunks.push({ sample: n, start, ids: ids.slice(start, start + context), domain, y: s.score, skipFirst: start === 0 && first === 1 });
    }
    const width = Math.max(...pending.map((p) => p.ids.length), ...chunks.map((x) => x.ids.length));
    if (pending.length > 0 && !fits(pending.length + chunks.length, width)) {
      await flush();
      await afterFlush(n);
    }
    pending.push(...chunks);
    const w2 = Math.max(...pending.map((p) => p.ids.length));
    if (!fits(pending.length + 1, w2)) {
      await flush();
      await afterFlush(n + 1);
    }
  }
  if (pending.length) await flush();
  acc.samples = ordinal;
  o.onProgress?.({ tokens: acc.tokens, samples: acc.samples, totalSamples, tokensPerSecond: rate() });
  const durationMs = elapsed();
  o.log?.(`Accumulated ${acc.tokens} tokens of ${acc.samples} samples (${rate().toFixed(1)} tokens/s this run)`);

  // Output directions and the stats file.
  const dirs = await outputDirections(model, routerLayers);
  const tensors: TensorToWrite[] = [...acc.tensors(false)];
  dirs.forEach((d, r) => {
    tensors.push({ name: `g${r}.dir_i`, dtype: 'F32', shape: [shape.E, c.hidden_size], data: d.dirI });
    tensors.push({ name: `g${r}.dir_j`, dtype: 'F32', shape: [shape.E, c.hidden_size], data: d.dirJ });
  });
  if (saeOpt) tensors.push({ name: `g${shape.groups}.dir_i`, dtype: 'F32', shape: [saeOpt.sae.config.dSae, c.hidden_size], data: decoderDirections(saeOpt.sae) });
  await writeSafetensors(path.join(o.outDir, 'stats.safetensors'), tensors, { metadata: { format: String(ATLAS_FORMAT) } });

  await writeContexts(o, acc, window, maxSamples, latents?.bridge ?? null);
  // Partial UTF-8 tokens as byte tokens (<0xE2>), not the "�" decoding them alone gives.
  const { tokenLabel } = await import('../../tokenizer/display');
  const vocab = Array.from({ length: c.vocab_size }, (_, id) => tokenLabel(tokenizer, id));
  await writeJsonAtomic(path.join(o.outDir, 'vocab.json'), vocab);

  const id = o.id ?? path.basename(o.outDir);
  const d = o.source.data;
  const meta: AtlasMeta = {
    format: ATLAS_FORMAT,
    id,
    name: o.name ?? `${path.basename(o.modelDir)} on ${path.basename(describeData(o.source))}`,
    createdAt: Date.now(),
    model: {
      dir: path.resolve(o.modelDir), decompose: c.moe_decompose, layers: c.num_hidden_layers, groups: c.moe_groups, routerLayers,
      H: shape.H, E: shape.E, d: c.hidden_size, vocab: c.vocab_size,
    },
    data: d.kind === 'jsonl' ? { description: describeData(o.source), kind: 'jsonl', path: path.resolve(d.path) } : { description: describeData(o.source), kind: 'dataset', datasetId: d.datasetId },
    filter: { ...o.source.filter },
    options: {
      threshold: accOpts.threshold, topK: accOpts.topK, bins: accOpts.bins, histMin: accOpts.histMin, histEdges: histogramEdges(accOpts.bins, accOpts.histMin, shape.H),
      context, maxSamples: Number.isFinite(maxSamples) ? maxSamples : null, domainField: o.source.domainField ?? null, scoreField: o.source.scoreField ?? null, window,
    },
    tokens: acc.tokens,
    samples: acc.samples,
    domains: acc.domains.map((name, k) => ({ name, tokens: acc.domainTokens[k]! })),
    score: acc.score && o.source.scoreField ? { name: o.source.scoreField, ...acc.score } : null,
    durationMs,
    tokensPerSecond: durationMs > 0 ? (acc.tokens / durationMs) * 1000 : 0,
    outputDirection:
      'sum over the group\'s layers of the expert\'s output with every hidden unit at 1 (the sum of its V columns) plus its bias; through the final RMSNorm weight and lm_head',
    ...(saeOpt ? {
      sae: {
        id: saeOpt.id, dir: path.resolve(saeOpt.dir), method: saeOpt.sae.config.method, latents: saeOpt.sae.config.dSae, hook: hookName(saeOpt.hook),
        group: shape.groups, histEdges: histogramEdges(accOpts.bins, LATENT_HIST.histMin, LATENT_HIST.histMax), threshold: LATENT_HIST.threshold,
        bridgePairs: bridgePairs(latents!.bridge),
      },
    } : {}),
  };
  await latents?.dispose();
  await writeJsonAtomic(path.join(o.outDir, 'meta.json'), meta);
  rmSync(ckptJson, { force: true });
  rmSync(ckptFile, { force: true });
  return meta;
}

/**
 * Per group, the output direction of each sub-expert side, so that expert (i, j) has direction dir_i[i] + dir_j[j]:
 * its output with every hidden unit at 1 (VD: [V¹¹_i·1 + V¹²_i·1 + b¹²_i ; V²¹_j·1 + V²²_j·1 + b²²_j]; HD: V_j·1 + b2_j),
 * summed over the G layers that share the group's routing. A static stand-in for E_ij(x), which depends on x.
 */
export async function outputDirections(model: MonetModel, routerLayers: number[]): Promise<{ dirI: Float32Array; dirJ: Float32Array }[]> {
  const c = model.config;
  const d = c.hidden_size;
  const E = c.moe_experts;
  const m = c.moe_dim;
  const L = c.num_hidden_layers;
  const out: { dirI: Float32Array; dirJ: Float32Array }[] = [];
  for (const r0 of routerLayers) {
    const dirI = new Float32Array(E * d);
    const dirJ = new Float32Array(E * d);
    for (let l = r0; l < Math.min(L, r0 + c.moe_groups); l++) {
      const p = `model.layers.${l}.moe`;
      // Adds Σ over the columns of block e (width w) of W [rows, E·w] into dst[e][off + row].
      const colSums = (W: Float32Array, rows: number, w: number, dst: Float32Array, off: number) => {
        for (let row = 0; row < rows; row++) {
          const base = row * E * w;
          for (let e = 0; e < E; e++) {
            let s = 0;
            for (let k = 0; k < w; k++) s += W[base + e * w + k]!;
            dst[e * d + off + row]! += s;
          }
        }
      };
      const addBias = (b: Float32Array, width: number, dst: Float32Array, off: number) => {
        for (let e = 0; e < E; e++) for (let k = 0; k < width; k++) dst[e * d + off + k]! += b[e * width + k]!;
      };
      if (c.moe_decompose === 'vertical') {
        const half = m / 2;
        colSums(await model.ckpt.read(`${p}.v11.weight`), d / 2, half, dirI, 0);
        colSums(await model.ckpt.read(`${p}.v12.weight`), d / 2, half, dirI, 0);
        colSums(await model.ckpt.read(`${p}.v21.weight`), d / 2, half, dirJ, d / 2);
        colSums(await model.ckpt.read(`${p}.v22.weight`), d / 2, half, dirJ, d / 2);
        addBias(await model.ckpt.read(`${p}.b1`), d / 2, dirI, 0);
        addBias(await model.ckpt.read(`${p}.b2`), d / 2, dirJ, d / 2);
      } else {
        colSums(await model.ckpt.read(`${p}.v.weight`), d, m, dirJ, 0);
        addBias(await model.ckpt.read(`${p}.b`), d, dirJ, 0);
      }
    }
    out.push({ dirI, dirJ });
  }
  return out;
}

async function writeContexts(o: BuildAtlasOptions, acc: AtlasAccumulator, window: [number, number], maxSamples: number, bridge: Bridge | null): Promise<void> {
  const { default: Sqlite } = await import('better-sqlite3');
  // Occurrences needed, per sample ordinal.
  const need = new Map<number, Set<number>>();
  for (const g of acc.groups) {
    for (let id = 0; id < g.units; id++) {
      const n = g.heapSize[id]!;
      for (let k = 0; k < n; k++) {
        const s = g.heapSample[id * acc.o.topK + k]!;
        let set = need.get(s);
        if (!set) need.set(s, (set = new Set()));
        set.add(g.heapPos[id * acc.o.topK + k]!);
      }
    }
  }
  const file = path.join(o.outDir, 'contexts.sqlite');
  const tmp = `${file}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const db = new Sqlite(tmp);
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec(CONTEXTS_TABLES);
    const occId = new Map<string, number>();
    const insOcc = db.prepare(INSERT_OCC);
    const { tokenizer } = o;
    let next = 1;
    const tx = db.transaction((rows: unknown[][]) => { for (const r of rows) insOcc.run(...r); });
    let rows: unknown[][] = [];
    let ordinal = 0;
    if (need.size > 0) {
      for await (const s of openSource(o.source)) {
        if (ordinal >= maxSamples) break;
        const n = ordinal++;
        const positions = need.get(n);
        if (!positions) continue;
        const ids = tokenizer.encode(s.text);
        const dec = (xs: number[], skip: boolean) => (xs.length ? tokenizer.decode(xs, { skipSpecialTokens: skip }) : '');
        for (const pos of [...positions].sort((a, b) => a - b)) {
          const left = dec(ids.slice(Math.max(0, pos - window[0]), pos), true);
          const token = dec([ids[pos]!], false);
          const right = dec(ids.slice(pos + 1, pos + 1 + window[1]), true);
          occId.set(`${n}:${pos}`, next);
          rows.push([next++, n, s.ref, pos, s.domain ?? '(none)', left, token, right, ids[pos]!]);
        }
        need.delete(n);
        if (rows.length >= 5000) {
          tx(rows);
          rows = [];
        }
        if (need.size === 0) break;
      }
    }
    tx(rows);
    if (need.size > 0) throw new Error(`the data changed while the atlas was built: ${need.size} samples with top contexts were not found again`);
    const insTop = db.prepare(INSERT_TOP);
    db.transaction(() => {
      acc.groups.forEach((g, r) => {
        for (let id = 0; id < g.units; id++) {
          if (g.heapSize[id] === 0) continue;
          g.top(id).forEach((t, rank) => insTop.run(r, id, rank, t.score, occId.get(`${t.sample}:${t.pos}`)!));
        }
      });
    })();
    if (bridge) writeBridge(db, bridge, acc);
    db.exec(CONTEXTS_INDEXES);
  } finally {
    db.close();
  }
  await rename(tmp, file);
}

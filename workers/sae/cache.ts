/**
 * The activation cache: activations of one hook of one model over one dataset (or imported from a file), stored once
 * in the workspace and read by every SAE trained or evaluated on them.
 *
 *   <dir>/manifest.json            what the activations are (CacheManifest), chunk list, statistics
 *   <dir>/chunk-000000.safetensors `activations` F16 [tokens, dIn] (fp16 on disk; fp32 for every computation)
 *
 * Writing streams: the writer holds one chunk (≈ CHUNK_BYTES) at a time, so memory does not grow with the corpus. The
 * manifest says `complete: false` until `finish()`; an incomplete cache is never read as a source.
 *
 * Reading (`ActivationCache.batches`) shuffles across chunks with bounded memory: chunks are visited in a seeded
 * order, `poolChunks` at a time, and the tokens of each pool are shuffled together (seeded) into full batches. The
 * tokens of a pool that do not fill a last batch are left out of that epoch (another seed leaves out others), which
 * makes the batch sequence a pure function of (seed, batchSize) and lets `startBatch` skip whole pools unread.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { float16BitsToFloat32, float32ToFloat16Bit, openSafetensors, writeSafetensors } from '../engine/safetensors';
import { writeJsonAtomic } from './io/json';
import { permutation, type NormalizeMode } from './train-source';
import type { ActivationSource, SaeHook, SaeNormalization } from './types';

export const CACHE_FORMAT = 1;
/** Target size of one chunk file (fp16). */
export const CHUNK_BYTES = 16 * 1024 * 1024;
const TENSOR = 'activations';

/** Statistics over every cached token, fp32 as read back from fp16. */
export interface CacheStats {
  /** [dIn] mean activation. */
  mean: number[];
  /** E‖x‖ */
  meanNorm: number;
  /** E‖x − mean‖ (a second pass over the cache, once the mean is known). */
  meanCenteredNorm: number;
  /** Largest |x| stored, and how many values overflowed fp16's range (stored as ±65504). */
  maxAbs: number;
  clipped: number;
}

export interface CacheManifest {
  format: number;
  key: string;
  createdAt: number;
  complete: boolean;
  /** Where the activations came from, as the key was computed (model folder, hook, data description, params). */
  source: Record<string, unknown>;
  /** One-line description for lists. */
  description: string;
  hook: SaeHook;
  excludeBos: boolean;
  dIn: number;
  dtype: 'F16';
  chunks: { file: string; tokens: number }[];
  numTokens: number;
  /** Samples (texts) read; 0 for imports. */
  samples: number;
  stats: CacheStats | null;
  durationMs: number;
  tokensPerSecond: number;
}

/** The cache key: a hash of everything that determines the activations (stable key order). */
export function cacheKey(source: Record<string, unknown>): string {
  const stable = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, stable((v as Record<string, unknown>)[k])]))
      : v;
  return createHash('sha256').update(JSON.stringify(stable(source))).digest('hex').slice(0, 16);
}

/** `<workspace>/sae/activations`: every cache of a workspace. */
export function cacheRoot(workspace: string): string {
  return path.join(workspace, 'sae', 'activations');
}

export function readManifest(dir: string): CacheManifest {
  const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as CacheManifest;
  if (m.format !== CACHE_FORMAT) throw new Error(`${dir}: activation cache format ${m.format} is not ${CACHE_FORMAT}`);
  return m;
}

function readManifestOrNull(dir: string): CacheManifest | null {
  try {
    return readManifest(dir);
  } catch {
    return null;
  }
}

/** Complete caches under `root`, newest first (damaged or unfinished ones are skipped). */
export function listCaches(root: string): (CacheManifest & { dir: string })[] {
  if (!existsSync(root)) return [];
  const out: (CacheManifest & { dir: string })[] = [];
  for (const name of readdirSync(root)) {
    const dir = path.join(root, name);
    try {
      const m = readManifest(dir);
      if (m.complete) out.push({ ...m, dir });
    } catch {
      /* not a cache, or damaged */
    }
  }
  return out.sort((a, b) => b.createdAt - a.createdAt);
}

/**
 * Appends rows to a cache chunk by chunk, in a private folder beside `dir` (`<dir>.partial-…`); `finish()` computes the
 * statistics, marks the manifest complete and renames the folder to `dir`, so a reader never sees a cache being
 * written and two captures of the same key cannot mix their chunks. `abort()` removes the private folder.
 */
export class ActivationCacheWriter {
  private readonly chunkTokens: number;
  private buffer: Uint16Array;
  private filled = 0;
  private readonly chunks: { file: string; tokens: number }[] = [];
  private numTokens = 0;
  private readonly sum: Float64Array;
  private normSum = 0;
  private maxAbs = 0;
  private clipped = 0;
  private readonly started = Date.now();
  /** Where chunks go until `finish()` publishes them as `dir`. */
  private readonly work: string;

  constructor(
    readonly dir: string,
    private readonly meta: Pick<CacheManifest, 'key' | 'source' | 'description' | 'hook' | 'excludeBos' | 'dIn'>,
    chunkTokens?: number,
  ) {
    const d = meta.dIn;
    if (!Number.isInteger(d) || d <= 0) throw new RangeError(`activation width must be a positive integer, got ${d}`);
    this.chunkTokens = chunkTokens ?? Math.max(64, Math.floor(CHUNK_BYTES / (2 * d)));
    this.buffer = new Uint16Array(this.chunkTokens * d);
    this.sum = new Float64Array(d);
    this.work = `${dir}.partial-${process.pid}-${randomBytes(4).toString('hex')}`;
    mkdirSync(this.work, { recursive: true });
  }

  /** Drops what was written (a cancelled or failed capture). */
  abort(): void {
    rmSync(this.work, { recursive: true, force: true });
  }

  get tokens(): number { return this.numTokens; }

  /** Appends rows [n, dIn] (row-major), or the rows of `data` picked by `rows` (token indices). */
  async append(data: Float32Array, rows?: ArrayLike<number>): Promise<void> {
    const d = this.meta.dIn;
    const n = rows ? rows.length : data.length / d;
    if (!rows && data.length % d !== 0) throw new RangeError(`append: ${data.length} values are not rows of ${d}`);
    const bits = new Uint32Array(data.buffer, data.byteOffset, data.length);
    const buf = this.buffer;
    const sum = this.sum;
    for (let i = 0; i < n; i++) {
      const src = (rows ? rows[i]! : i) * d;
      const base = this.filled * d;
      let sq = 0;
      for (let j = 0; j < d; j++) {
        const x = bits[src + j]!;
        const e = (x >>> 23) & 0xff;
        let h: number;
        if (e > 112 && e < 142) {
          // Normal fp16 range (|x| in [2^-14, 2^15)): rebias the exponent and round to nearest even, inline (the hot path).
          h = ((x >>> 16) & 0x8000) | (((x & 0x7fffffff) - 0x38000000 + 0xfff + ((x >>> 13) & 1)) >>> 13);
        } else {
          let v = data[src + j]!;
          if (Math.abs(v) > 65504) {
            // fp16 would store ±Inf; keep the largest finite value and count it (the manifest reports it).
            v = Math.sign(v) * 65504;
            this.clipped++;
          }
          h = float32ToFloat16Bit(v);
        }
        buf[base + j] = h;
        // Statistics from the stored (rounded) value, so that they describe what readers get.
        const back = HALF[h]!;
        const a = back < 0 ? -back : back;
        if (a > this.maxAbs) this.maxAbs = a;
        sum[j]! += back;
        sq += back * back;
      }
      this.normSum += Math.sqrt(sq);
      this.filled++;
      this.numTokens++;
      if (this.filled === this.chunkTokens) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    if (this.filled === 0) return;
    const d = this.meta.dIn;
    const file = `chunk-${String(this.chunks.length).padStart(6, '0')}.safetensors`;
    const data = this.buffer.subarray(0, this.filled * d);
    await writeSafetensors(path.join(this.work, file), [{ name: TENSOR, dtype: 'F16', shape: [this.filled, d], data }], { metadata: { hook: this.meta.hook.name } });
    this.chunks.push({ file, tokens: this.filled });
    this.filled = 0;
    await writeJsonAtomic(path.join(this.work, 'manifest.json'), this.manifest(false, 0, null));
  }

  private manifest(complete: boolean, samples: number, stats: CacheStats | null): CacheManifest {
    const durationMs = Date.now() - this.started;
    return {
      format: CACHE_FORMAT, createdAt: this.started, complete, ...this.meta, dtype: 'F16',
      chunks: this.chunks, numTokens: this.numTokens, samples, stats, durationMs,
      tokensPerSecond: durationMs > 0 ? (this.numTokens * 1000) / durationMs : 0,
    };
  }

  /** Writes the last chunk, a second pass for E‖x − mean‖, and the complete manifest. */
  async finish(samples = 0, signal?: AbortSignal): Promise<CacheManifest> {
    await this.flush();
    if (this.numTokens === 0) throw new Error('no activations were collected (empty data, or every token was excluded)');
    const d = this.meta.dIn;
    const mean = Float64Array.from(this.sum, (s) => s / this.numTokens);
    let centered = 0;
    for (const c of this.chunks) {
      signal?.throwIfAborted();
      const x = await readChunkBits(this.work, c.file);
      for (let r = 0; r < c.tokens; r++) {
        let s = 0;
        for (let j = 0, at = r * d; j < d; j++) {
          const v = HALF[x[at + j]!]! - mean[j]!;
          s += v * v;
        }
        centered += Math.sqrt(s);
      }
    }
    const stats: CacheStats = { mean: Array.from(mean), meanNorm: this.normSum / this.numTokens, meanCenteredNorm: centered / this.numTokens, maxAbs: this.maxAbs, clipped: this.clipped };
    const m = this.manifest(true, samples, stats);
    await writeJsonAtomic(path.join(this.work, 'manifest.json'), m);
    // Publish: replace an unfinished or stale folder of the same key; if another capture published first, keep its.
    try {
      if (existsSync(this.dir) && readManifestOrNull(this.dir)?.complete) {
        this.abort();
        return readManifest(this.dir);
      }
      rmSync(this.dir, { recursive: true, force: true });
      renameSync(this.work, this.dir);
    } catch (e) {
      if (!readManifestOrNull(this.dir)?.complete) throw e;
      this.abort();
      return readManifest(this.dir);
    }
    return m;
  }
}

/** fp16 bits → value, for statistics of the stored values. */
const HALF = float16BitsToFloat32(Uint16Array.from({ length: 65536 }, (_, i) => i));

async function readChunkBits(dir: string, file: string): Promise<Uint16Array> {
  const h = await openSafetensors(path.join(dir, file));
  try {
    return (await h.read(TENSOR)) as Uint16Array;
  } finally {
    await h.close();
  }
}

async function readChunk(dir: string, file: string): Promise<Float32Array> {
  return float16BitsToFloat32(await readChunkBits(dir, file));
}

export interface CacheReadOptions {
  /** Chunks shuffled together (default 4: ≈ 64 MiB of fp16). */
  poolChunks?: number;
  /**
   * Offer the trainer a normalization fitted over the whole cache in the trainer's mode (train-source.ts
   * NormalizeMode), instead of its fit on a sample: `dataset` E‖x‖ → target, `dataset-centered` E‖x − mean‖ → target,
   * `per-token`, `none`.
   */
  normalize?: { mode: NormalizeMode; target: number };
}

/**
 * A complete cache, read as the trainer's activation source (`{ dIn, numTokens, batches }`, workers/sae/types.ts
 * ActivationSource) and sequentially for evaluation.
 */
export class ActivationCache implements ActivationSource {
  readonly dIn: number;
  readonly numTokens: number;
  /** The fitted normalization when `normalize` was asked for (the trainer then uses it as is). */
  readonly normalization?: SaeNormalization;
  private readonly poolChunks: number;

  private constructor(readonly dir: string, readonly manifest: CacheManifest, o: CacheReadOptions) {
    this.dIn = manifest.dIn;
    this.numTokens = manifest.numTokens;
    this.poolChunks = Math.max(1, o.poolChunks ?? 4);
    if (o.normalize) this.normalization = cacheNormalization(manifest, o.normalize.mode, o.normalize.target);
  }

  static open(dir: string, o: CacheReadOptions = {}): ActivationCache {
    if (!existsSync(path.join(dir, 'manifest.json'))) throw new Error(`${dir} is not an activation cache (no manifest.json)`);
    const m = readManifest(dir);
    if (!m.complete) throw new Error(`${dir}: the activation cache is incomplete (its capture was cancelled or failed); capture it again`);
    return new ActivationCache(dir, m, o);
  }

  get hook(): SaeHook { return this.manifest.hook; }
  get excludeBos(): boolean { return this.manifest.excludeBos; }

  /** One epoch of full batches [batchSize, dIn], shuffled across chunks (see the file comment); `startBatch` skips. */
  async *batches(batchSize: number, seed: number, startBatch = 0): AsyncIterable<Float32Array> {
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
    const d = this.dIn;
    const chunks = this.manifest.chunks;
    const order = permutation(chunks.length, (seed >>> 0) ^ 0x5bd1e995);
    let batch = 0;
    for (let p = 0; p * this.poolChunks < chunks.length; p++) {
      const members = Array.from(order.subarray(p * this.poolChunks, (p + 1) * this.poolChunks), (i) => chunks[i]!);
      const tokens = members.reduce((s, c) => s + c.tokens, 0);
      const count = Math.floor(tokens / batchSize);
      if (batch + count <= startBatch) {
        batch += count; // a pool entirely before startBatch is not read
        continue;
      }
      const pool = new Uint16Array(tokens * d);
      let at = 0;
      for (const c of members) {
        pool.set(await readChunkBits(this.dir, c.file), at);
        at += c.tokens * d;
      }
      const perm = permutation(tokens, (seed * 0x9e3779b1 + p + 1) >>> 0);
      for (let b = 0; b < count; b++, batch++) {
        if (batch < startBatch) continue;
        const out = new Float32Array(batchSize * d);
        for (let i = 0; i < batchSize; i++) {
          const r = perm[b * batchSize + i]!;
          float16BitsToFloat32(pool.subarray(r * d, (r + 1) * d), out.subarray(i * d, (i + 1) * d));
        }
        yield out;
      }
    }
  }

  /** Every token once, in stored order, in batches of at most `batchSize` rows (the last may be shorter). */
  async *sequential(batchSize: number, limit = Infinity): AsyncIterable<Float32Array> {
    const d = this.dIn;
    let left = limit;
    for (const c of this.manifest.chunks) {
      if (left <= 0) return;
      const x = await readChunk(this.dir, c.file);
      const rows = Math.min(c.tokens, left);
      for (let s = 0; s < rows; s += batchSize) yield x.subarray(s * d, Math.min(rows, s + batchSize) * d);
      left -= rows;
    }
  }
}

/** A normalization from a cache's statistics (whole cache, not a sample), in the trainer's modes:
 * `dataset`: x·scale with E‖x‖·scale = target; `dataset-centered`: (x − mean)·scale with E‖x − mean‖·scale = target;
 * `per-token`: every row to norm target; `none`. */
export function cacheNormalization(m: Pick<CacheManifest, 'stats'>, mode: NormalizeMode, target: number): SaeNormalization {
  if (mode === 'none') return { kind: 'none', scale: 1 };
  if (mode === 'per-token') return { kind: 'per-token', scale: target };
  if (!m.stats) throw new Error('the activation cache has no statistics (incomplete capture)');
  const center = mode === 'dataset-centered';
  const norm = center ? m.stats.meanCenteredNorm : m.stats.meanNorm;
  const scale = norm > 0 ? target / norm : 1;
  return center ? { kind: 'dataset-scale', mean: Float32Array.from(m.stats.mean), scale } : { kind: 'dataset-scale', scale };
}

// An in-memory activation source (tests, the synthetic experiment, small imported arrays) and the input
// normalization the trainer fits and applies (spec gba.md §5.3: GBA's bias range assumes inputs of norm ≈ 1).
import { mulberry32 } from '../engine';
import type { ActivationSource, SaeHook, SaeNormalization } from './types';

/** Token order of one epoch: a seeded Fisher–Yates permutation. */
export function permutation(n: number, seed: number): Uint32Array {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(seed * 2654435761 + 1);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Rows of a [numTokens, dIn] array, shuffled per seed. */
export class MemoryActivationSource implements ActivationSource {
  readonly numTokens: number;
  constructor(
    readonly data: Float32Array,
    readonly dIn: number,
    readonly extra: { normalization?: SaeNormalization; hook?: SaeHook; excludeBos?: boolean } = {},
  ) {
    if (!Number.isInteger(dIn) || dIn <= 0 || data.length % dIn !== 0) throw new Error(`MemoryActivationSource: ${data.length} values are not rows of ${dIn}`);
    this.numTokens = data.length / dIn;
  }

  get normalization(): SaeNormalization | undefined { return this.extra.normalization; }
  get hook(): SaeHook | undefined { return this.extra.hook; }

  async *batches(batchSize: number, seed: number, startBatch = 0): AsyncIterable<Float32Array> {
    const order = permutation(this.numTokens, seed);
    const d = this.dIn;
    for (let b = startBatch; (b + 1) * batchSize <= this.numTokens; b++) {
      const out = new Float32Array(batchSize * d);
      for (let i = 0; i < batchSize; i++) {
        const r = order[b * batchSize + i]!;
        out.set(this.data.subarray(r * d, (r + 1) * d), i * d);
      }
      yield out;
    }
  }
}

export type NormalizeMode = 'dataset' | 'dataset-centered' | 'per-token' | 'none';

/** Fits a normalization on sample rows [n, dIn]: `dataset` scales so that E‖x‖ = target; `dataset-centered`
 * subtracts the mean first; `per-token` maps every row to norm target (no centering). */
export function fitNormalization(mode: NormalizeMode, sample: Float32Array, dIn: number, target: number): SaeNormalization {
  if (mode === 'none') return { kind: 'none', scale: 1 };
  if (mode === 'per-token') return { kind: 'per-token', scale: target };
  const n = sample.length / dIn;
  let mean: Float32Array | undefined;
  if (mode === 'dataset-centered') {
    mean = new Float32Array(dIn);
    for (let r = 0; r < n; r++) for (let j = 0; j < dIn; j++) mean[j]! += sample[r * dIn + j]! / n;
  }
  let norms = 0;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) s += (sample[r * dIn + j]! - (mean?.[j] ?? 0)) ** 2;
    norms += Math.sqrt(s);
  }
  const avg = norms / n;
  return { kind: 'dataset-scale', ...(mean ? { mean } : {}), scale: avg > 0 ? target / avg : 1 };
}

/** Applies a normalization to rows [n, dIn] in place. */
export function normalizeRowsInPlace(norm: SaeNormalization, x: Float32Array, dIn: number): Float32Array {
  if (norm.kind === 'none') return x;
  const n = x.length / dIn;
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < dIn; j++) {
      const v = x[r * dIn + j]! - (norm.mean?.[j] ?? 0);
      x[r * dIn + j] = v;
      s += v * v;
    }
    const k = norm.kind === 'per-token' ? norm.scale / Math.max(Math.sqrt(s), 1e-12) : norm.scale;
    for (let j = 0; j < dIn; j++) x[r * dIn + j]! *= k;
  }
  return x;
}

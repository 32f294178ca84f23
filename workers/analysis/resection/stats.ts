/**
 * The two selection statistics of the paper (spec §5), pure and in float64:
 *
 * - the **skew rule** (§5.1–5.2): an expert belongs to domain d* when its mean routing probability for d* is at least
 *   `ratio` × that of the next domain (ratio 2 in the paper), optionally with a minimum-mass floor (not in the paper:
 *   an expert seen in one domain only passes trivially because the second value is 0);
 * - **Pearson correlation from streamed sums** (§5.3): n, Σx, Σy, Σxy, Σx², Σy² → r, computed from the centred sums
 *   Sxx = Σx² − (Σx)²/n, Syy, Sxy in float64, with zero (or round-off-level) variance guarded to r = 0.
 */

export interface SkewOptions {
  /** d* must have at least ratio × the second domain's mean (default 2). */
  ratio?: number;
  /** And at least this mean routing probability itself (default 0: any positive mass). */
  minMass?: number;
}

export interface SkewResult {
  /** Per expert: the domain index it belongs to, or −1 (generalist / never routed). */
  domain: Int32Array;
  /** Per expert: top mean / second mean (Infinity when the second is 0, 0 when never routed). */
  skew: Float64Array;
  /** Per expert: the top domain's mean. */
  top: Float64Array;
}

/**
 * `means[d][e]`: mean routing probability of expert e over domain d's tokens. Every domain's array has the same
 * length (the number of experts). Ties for the top go to the lower domain index and then never pass (ratio ≥ 1 > …
 * only when ratio ≤ 1, which the rule does not allow).
 */
export function skewAssign(means: readonly ArrayLike<number>[], o: SkewOptions = {}): SkewResult {
  const ratio = o.ratio ?? 2;
  const floor = o.minMass ?? 0;
  if (!(ratio >= 1)) throw new RangeError(`ratio must be at least 1, got ${ratio}`);
  if (!(floor >= 0)) throw new RangeError(`minMass must be ≥ 0, got ${floor}`);
  const D = means.length;
  const N = D > 0 ? means[0]!.length : 0;
  for (const m of means) if (m.length !== N) throw new RangeError('every domain needs one mean per expert');
  const domain = new Int32Array(N).fill(-1);
  const skew = new Float64Array(N);
  const top = new Float64Array(N);
  for (let e = 0; e < N; e++) {
    let best = -1;
    let v1 = 0;
    let v2 = 0;
    for (let d = 0; d < D; d++) {
      const v = +means[d]![e]!;
      if (v > v1) { v2 = v1; v1 = v; best = d; } else if (v > v2) v2 = v;
    }
    top[e] = v1;
    if (best < 0 || v1 <= 0) continue;
    skew[e] = v2 > 0 ? v1 / v2 : Infinity;
    if (v1 >= ratio * v2 && v1 >= floor && (ratio > 1 || v1 > v2)) domain[e] = best;
  }
  return { domain, skew, top };
}

/** Streamed sums for the correlation of each expert's routing score x with a per-token score y. */
export interface CorrSums {
  /** Tokens. */
  n: number;
  sy: number;
  syy: number;
  /** Per expert. */
  sx: ArrayLike<number>;
  sxy: ArrayLike<number>;
  sxx: ArrayLike<number>;
}

/** Relative size below which a centred sum of squares counts as zero variance (round-off of the uncentred form). */
const VAR_EPS = 1e-12;

/** Pearson r of one expert from its sums; 0 when either side has no variance. Clamped to [−1, 1]. */
export function pearsonFromSums(n: number, sx: number, sy: number, sxy: number, sxx: number, syy: number): number {
  return pearsonOrNull(n, sx, sy, sxy, sxx, syy) ?? 0;
}

/**
 * The same r, null where it is undefined (fewer than 2 tokens, or no variance up to round-off): what the atlas
 * browser shows, so that browsing and selection rank experts by one formula with one epsilon.
 */
export function pearsonOrNull(n: number, sx: number, sy: number, sxy: number, sxx: number, syy: number): number | null {
  if (!(n >= 2)) return null;
  // Centred forms: Sxx = Σ(x − x̄)² = Σx² − (Σx)²/n, and likewise; float64 throughout.
  const cxx = sxx - (sx * sx) / n;
  const cyy = syy - (sy * sy) / n;
  const cxy = sxy - (sx * sy) / n;
  if (!(cxx > VAR_EPS * Math.max(sxx, Number.MIN_VALUE)) || !(cyy > VAR_EPS * Math.max(syy, Number.MIN_VALUE))) return null;
  const r = cxy / Math.sqrt(cxx * cyy);
  if (!Number.isFinite(r)) return null;
  return Math.max(-1, Math.min(1, r));
}

/** Pearson r for every expert. */
export function pearsonAll(s: CorrSums): Float64Array {
  const N = s.sx.length;
  const r = new Float64Array(N);
  for (let e = 0; e < N; e++) r[e] = pearsonFromSums(s.n, +s.sx[e]!, s.sy, +s.sxy[e]!, +s.sxx[e]!, s.syy);
  return r;
}

/** Two-pass reference (mean first, then centred products): what the tests compare the streamed form against. */
export function pearsonTwoPass(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2) return 0;
  let mx = 0;
  let my = 0;
  for (let t = 0; t < n; t++) { mx += x[t]!; my += y[t]!; }
  mx /= n;
  my /= n;
  let cxx = 0;
  let cyy = 0;
  let cxy = 0;
  for (let t = 0; t < n; t++) {
    const dx = x[t]! - mx;
    const dy = y[t]! - my;
    cxx += dx * dx;
    cyy += dy * dy;
    cxy += dx * dy;
  }
  if (cxx <= 0 || cyy <= 0) return 0;
  return cxy / Math.sqrt(cxx * cyy);
}

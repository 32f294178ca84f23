/**
 * The atlas accumulators: per routing group and per composite expert (i, j) (flat id i·E + j), streamed over tokens.
 *
 * Per token and group only the active pairs are visited: S[i, j] = Σ_h g1[h, i]·g2[h, j] is non-zero only on the
 * union of the per-head gate supports A_h × B_h (spec §2.4; about H·k² pairs), so a token costs O(active pairs),
 * never E×E. A reusable scratch array (E² float64 + a touched list) sums the heads of one token, exactly like the
 * dense Σ_h, in head order, in float64.
 *
 * Per group (dense E×E arrays, float64 sums, so results are exact and independent of corpus size):
 *   count    tokens with S > threshold ("active", the README's 0.01)
 *   sum      Σ S over all tokens (S = 0 tokens add nothing)
 *   dom[d]   Σ S over the tokens of domain d (mean = dom[d] / domainTokens[d], spec §5.1 step 2)
 *   hist     counts of S > 0 in fixed log-spaced bins (edges below), [E², B]
 *   corr     with a sample score y: over tokens with S > 0 and a score, Σx, Σy, Σxy, Σx², Σy², n (x = S);
 *            with the global Σy, Σy², n over every scored token the Pearson r over all tokens is exact (x = 0 elsewhere)
 *   heaps    the top-K occurrences (S > threshold) per expert: score, sample ordinal, token position (a min-heap
 *            of size K; ties keep the earlier occurrence)
 */
import type { TensorToWrite } from '../../engine/safetensors';

export interface AtlasShape {
  groups: number;
  H: number;
  E: number;
}

/**
 * A group of units other than a router's E×E composite experts: an SAE's latents (workers/sae/atlas.ts), recorded with
 * the same statistics (count, sum, per-domain sums, histogram, top-K occurrences) and stored as the atlas's last group.
 */
export interface UnitGroup {
  /** Units (latents). */
  units: number;
  /** Histogram range: log-spaced from histMin to histMax. */
  histMin: number;
  histMax: number;
  /** A unit is active (counted, kept in the top-K) when its value is above this. */
  threshold: number;
}

export interface AccumulatorOptions {
  threshold: number;
  topK: number;
  /** Histogram bins (log-spaced from histMin to H). */
  bins: number;
  histMin: number;
  /** Keep correlation sums against a sample score. */
  scores: boolean;
  /** More distinct domains than this are pooled into "(other)". */
  maxDomains: number;
}

export const DEFAULT_ACCUMULATOR_OPTIONS: AccumulatorOptions = { threshold: 0.01, topK: 20, bins: 24, histMin: 1e-4, scores: false, maxDomains: 64 };
export const OTHER_DOMAIN = '(other)';
export const NO_DOMAIN = '(none)';

/** Histogram edges: bins + 1 log-spaced values from histMin to H; values below the first edge go to bin 0, above the last to the last bin. */
export function histogramEdges(bins: number, histMin: number, H: number): number[] {
  const lo = Math.log10(histMin);
  const hi = Math.log10(H);
  return Array.from({ length: bins + 1 }, (_, k) => 10 ** (lo + ((hi - lo) * k) / bins));
}

/** The bin of a score s > 0: the number of inner edges (edges 1 … bins−1) that are ≤ s. */
export function histogramBin(s: number, bins: number, histMin: number, H: number): number {
  const edges = histogramEdges(bins, histMin, H);
  let b = 0;
  for (let k = 1; k < bins; k++) if (edges[k]! <= s) b = k;
  return b;
}

export class GroupAccumulator {
  /** Units of the group: E² composite experts, or an SAE's latents. */
  readonly units: number;
  /** Ids active (value > threshold) on the last token, when `trackActive` (the latent–expert bridge reads them). */
  active: Int32Array;
  activeCount = 0;
  trackActive = false;
  readonly count: Float64Array;
  readonly sum: Float64Array;
  readonly dom: Float64Array[] = [];
  readonly hist: Int32Array;
  readonly corr: { sx: Float64Array; sy: Float64Array; sxy: Float64Array; sxx: Float64Array; syy: Float64Array; n: Float64Array } | null;
  readonly heapScore: Float64Array;
  readonly heapSample: Int32Array;
  readonly heapPos: Int32Array;
  readonly heapSize: Int32Array;
  // Scratch for one token.
  private readonly scratch: Float64Array;
  private touched: Int32Array;
  private readonly sideA: Int32Array;
  private readonly sideB: Int32Array;
  /** Edges 1 … bins−1 (the bin of s is the number of these ≤ s). */
  private readonly innerEdges: Float64Array;

  constructor(readonly shape: AtlasShape, readonly o: AccumulatorOptions, units?: number) {
    const EE = units ?? shape.E * shape.E;
    this.units = EE;
    this.active = new Int32Array(Math.min(EE, 1024));
    this.count = new Float64Array(EE);
    this.sum = new Float64Array(EE);
    this.hist = new Int32Array(EE * o.bins);
    const f = () => new Float64Array(EE);
    this.corr = o.scores ? { sx: f(), sy: f(), sxy: f(), sxx: f(), syy: f(), n: f() } : null;
    this.heapScore = new Float64Array(EE * o.topK);
    this.heapSample = new Int32Array(EE * o.topK);
    this.heapPos = new Int32Array(EE * o.topK);
    this.heapSize = new Int32Array(EE);
    this.scratch = new Float64Array(EE);
    this.touched = new Int32Array(Math.min(EE, 4096));
    this.sideA = new Int32Array(shape.E);
    this.sideB = new Int32Array(shape.E);
    this.innerEdges = Float64Array.from(histogramEdges(o.bins, o.histMin, shape.H).slice(1, o.bins));
  }

  addDomain(): void {
    this.dom.push(new Float64Array(this.units));
  }

  /**
   * One token: gates g1, g2 laid out [.., H, E] with this token's rows at `base` (= n·H·E). `y` is the sample
   * score (NaN when absent). Returns the number of active pairs (S > 0).
   */
  addToken(g1: Float32Array, g2: Float32Array, base: number, domain: number, sample: number, pos: number, y: number): number {
    const { H, E } = this.shape;
    const scratch = this.scratch;
    let touched = this.touched;
    let nt = 0;
    const a = this.sideA;
    const bIdx = this.sideB;
    // scratch is all zeros between tokens; a visited pair always gets a product > 0, so 0 means "not touched yet".
    for (let h = 0; h < H; h++) {
      const off = base + h * E;
      let na = 0;
      let nb = 0;
      for (let e = 0; e < E; e++) {
        if (g1[off + e]! > 0) a[na++] = e;
        if (g2[off + e]! > 0) bIdx[nb++] = e;
      }
      if (nt + na * nb > touched.length) {
        const t2 = new Int32Array(Math.max(touched.length * 2, nt + na * nb));
        t2.set(touched.subarray(0, nt));
        touched = this.touched = t2;
      }
      for (let x = 0; x < na; x++) {
        const i = a[x]!;
        const gi = g1[off + i]!;
        const row = i * E;
        for (let z = 0; z < nb; z++) {
          const j = bIdx[z]!;
          const id = row + j;
          const prev = scratch[id]!;
          if (prev === 0) touched[nt++] = id;
          scratch[id] = prev + gi * g2[off + j]!;
        }
      }
    }
    this.activeCount = 0;
    for (let k = 0; k < nt; k++) {
      const id = touched[k]!;
      const s = scratch[id]!;
      scratch[id] = 0;
      this.record(id, s, domain, sample, pos, y);
    }
    return nt;
  }

  /**
   * One token's sparse values of a unit group (an SAE's latents): `values[base + u]` for every unit u, only those
   * above 0 recorded (a zero adds nothing to any statistic). Returns the number of non-zero units.
   */
  addValues(values: Float32Array, base: number, domain: number, sample: number, pos: number, y: number): number {
    this.activeCount = 0;
    let nz = 0;
    for (let u = 0; u < this.units; u++) {
      const s = values[base + u]!;
      if (s > 0) {
        nz++;
        this.record(u, s, domain, sample, pos, y);
      }
    }
    return nz;
  }

  /** Adds one unit's value s > 0 on one token to every statistic (shared by experts and latents). */
  private record(id: number, s: number, domain: number, sample: number, pos: number, y: number): void {
    const { threshold, bins, topK } = this.o;
    const edges = this.innerEdges;
    this.sum[id]! += s;
    this.dom[domain]![id]! += s;
    // Bin = number of inner edges ≤ s (binary search over the fixed log-spaced edges).
    let lo = 0;
    let hi = bins - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (edges[mid]! <= s) lo = mid + 1;
      else hi = mid;
    }
    this.hist[id * bins + lo]!++;
    const corr = this.corr;
    if (corr !== null && !Number.isNaN(y)) {
      corr.sx[id]! += s;
      corr.sy[id]! += y;
      corr.sxy[id]! += s * y;
      corr.sxx[id]! += s * s;
      corr.syy[id]! += y * y;
      corr.n[id]! += 1;
    }
    if (s > threshold) {
      this.count[id]! += 1;
      if (topK > 0) this.push(id, s, sample, pos);
      if (this.trackActive) {
        if (this.activeCount === this.active.length) {
          const a = new Int32Array(this.active.length * 2);
          a.set(this.active);
          this.active = a;
        }
        this.active[this.activeCount++] = id;
      }
    }
  }

  /** Min-heap push (root = worst: lowest score, ties: latest occurrence). Occurrences arrive in order, so a tie never replaces. */
  private push(id: number, s: number, sample: number, pos: number): void {
    const K = this.o.topK;
    const base = id * K;
    const sc = this.heapScore;
    const sa = this.heapSample;
    const po = this.heapPos;
    const n = this.heapSize[id]!;
    if (n < K) {
      // Sift up from the end.
      let c = base + n;
      this.heapSize[id] = n + 1;
      while (c > base) {
        const p = base + ((c - base - 1) >> 1);
        const ps = sc[p]!;
        // The new item (s, sample, pos) is later than every stored one, so on a tie it is the worse one: it rises.
        if (s > ps) break;
        sc[c] = ps; sa[c] = sa[p]!; po[c] = po[p]!;
        c = p;
      }
      sc[c] = s; sa[c] = sample; po[c] = pos;
      return;
    }
    if (!(s > sc[base]!)) return;
    // Replace the root and sift down.
    let c = base;
    const end = base + K;
    for (;;) {
      const l = base + 2 * (c - base) + 1;
      if (l >= end) break;
      let m = l;
      const r = l + 1;
      if (r < end && this.worse(r, l)) m = r;
      // Is child m worse than the new item? (the new item is the latest occurrence: worse on ties)
      if (!(sc[m]! < s)) break;
      sc[c] = sc[m]!; sa[c] = sa[m]!; po[c] = po[m]!;
      c = m;
    }
    sc[c] = s; sa[c] = sample; po[c] = pos;
  }

  private worse(x: number, y: number): boolean {
    const sc = this.heapScore;
    const sa = this.heapSample;
    if (sc[x]! !== sc[y]!) return sc[x]! < sc[y]!;
    if (sa[x]! !== sa[y]!) return sa[x]! > sa[y]!;
    return this.heapPos[x]! > this.heapPos[y]!;
  }

  /** The expert's top occurrences, best first. */
  top(id: number): { score: number; sample: number; pos: number }[] {
    const K = this.o.topK;
    const out: { score: number; sample: number; pos: number }[] = [];
    for (let k = 0; k < this.heapSize[id]!; k++) out.push({ score: this.heapScore[id * K + k]!, sample: this.heapSample[id * K + k]!, pos: this.heapPos[id * K + k]! });
    return out.sort((x, y) => y.score - x.score || x.sample - y.sample || x.pos - y.pos);
  }
}

export interface AccumulatorState {
  tokens: number;
  samples: number;
  domains: string[];
  domainTokens: number[];
  score: { n: number; sy: number; syy: number } | null;
}

export class AtlasAccumulator {
  readonly groups: GroupAccumulator[];
  readonly domains: string[] = [];
  readonly domainTokens: number[] = [];
  private readonly domainIndex = new Map<string, number>();
  tokens = 0;
  /** Samples fully consumed (the resume point). */
  samples = 0;
  score: { n: number; sy: number; syy: number } | null;
  activePairs = 0;

  /** The unit group (an SAE's latents) when there is one: `groups[shape.groups]`, after the routing groups. */
  readonly unitGroup: GroupAccumulator | null;

  constructor(readonly shape: AtlasShape, readonly o: AccumulatorOptions, units?: UnitGroup) {
    this.groups = Array.from({ length: shape.groups }, () => new GroupAccumulator(shape, o));
    this.unitGroup = units
      ? new GroupAccumulator({ ...shape, H: units.histMax }, { ...o, threshold: units.threshold, histMin: units.histMin }, units.units)
      : null;
    if (this.unitGroup) this.groups.push(this.unitGroup);
    this.score = o.scores ? { n: 0, sy: 0, syy: 0 } : null;
  }

  domainOf(name: string | null | undefined): number {
    const key = name === null || name === undefined || name === '' ? NO_DOMAIN : name;
    let d = this.domainIndex.get(key);
    if (d !== undefined) return d;
    if (this.domains.length >= this.o.maxDomains - 1 && key !== OTHER_DOMAIN) return this.domainOf(OTHER_DOMAIN);
    d = this.domains.length;
    this.domains.push(key);
    this.domainTokens.push(0);
    this.domainIndex.set(key, d);
    for (const g of this.groups) g.addDomain();
    return d;
  }

  /**
   * One token of every group: `gates[r]` = { g1, g2 } flat [N, H, E], token row n. `y` = sample score or NaN.
   */
  addToken(gates: readonly { g1: Float32Array; g2: Float32Array }[], n: number, domain: number, sample: number, pos: number, y: number): void {
    const base = n * this.shape.H * this.shape.E;
    for (let r = 0; r < this.shape.groups; r++) this.activePairs += this.groups[r]!.addToken(gates[r]!.g1, gates[r]!.g2, base, domain, sample, pos, y);
    this.tokens++;
    this.domainTokens[domain]!++;
    if (this.score && !Number.isNaN(y)) {
      this.score.n++;
      this.score.sy += y;
      this.score.syy += y * y;
    }
  }

  state(): AccumulatorState {
    return { tokens: this.tokens, samples: this.samples, domains: [...this.domains], domainTokens: [...this.domainTokens], score: this.score ? { ...this.score } : null };
  }

  /** Every array, for a checkpoint (heaps included) or the final stats file (heaps left out). */
  tensors(withHeaps: boolean): TensorToWrite[] {
    const { E } = this.shape;
    const out: TensorToWrite[] = [];
    const D = this.domains.length;
    this.groups.forEach((g, r) => {
      const p = `g${r}`;
      const U = g.units;
      // Routing groups keep their [E, E] layout; a unit group (latents) is flat [units].
      const shape = g === this.unitGroup ? [U] : [E, E];
      out.push({ name: `${p}.count`, dtype: 'F64', shape, data: g.count });
      out.push({ name: `${p}.sum`, dtype: 'F64', shape, data: g.sum });
      if (D > 0) {
        out.push({
          name: `${p}.domain_sum`, dtype: 'F64', shape: [D, ...shape],
          data: () => {
            const all = new Float64Array(D * U);
            g.dom.forEach((a, d) => all.set(a, d * U));
            return all;
          },
        });
      }
      out.push({ name: `${p}.hist`, dtype: 'I32', shape: [...shape, this.o.bins], data: g.hist });
      if (g.corr) for (const [k, a] of Object.entries(g.corr)) out.push({ name: `${p}.corr_${k}`, dtype: 'F64', shape, data: a });
      if (withHeaps) {
        out.push({ name: `${p}.heap_score`, dtype: 'F64', shape: [U, this.o.topK], data: g.heapScore });
        out.push({ name: `${p}.heap_sample`, dtype: 'I32', shape: [U, this.o.topK], data: g.heapSample });
        out.push({ name: `${p}.heap_pos`, dtype: 'I32', shape: [U, this.o.topK], data: g.heapPos });
        out.push({ name: `${p}.heap_size`, dtype: 'I32', shape: [U], data: g.heapSize });
      }
    });
    return out;
  }

  /** Restores a checkpoint written by `tensors(true)` and `state()`. */
  async restore(state: AccumulatorState, read: (name: string) => Promise<ArrayBufferView>): Promise<void> {
    for (const name of state.domains) this.domainOf(name);
    this.domainTokens.splice(0, this.domainTokens.length, ...state.domainTokens);
    this.tokens = state.tokens;
    this.samples = state.samples;
    this.score = state.score ? { ...state.score } : null;
    for (let r = 0; r < this.groups.length; r++) {
      const g = this.groups[r]!;
      const EE = g.units;
      const p = `g${r}`;
      const copy = async (name: string, dst: Float64Array | Int32Array) => dst.set((await read(`${p}.${name}`)) as Float64Array & Int32Array);
      await copy('count', g.count);
      await copy('sum', g.sum);
      if (state.domains.length > 0) {
        const all = (await read(`${p}.domain_sum`)) as Float64Array;
        g.dom.forEach((a, d) => a.set(all.subarray(d * EE, (d + 1) * EE)));
      }
      await copy('hist', g.hist);
      if (g.corr) for (const [k, a] of Object.entries(g.corr)) await copy(`corr_${k}`, a);
      await copy('heap_score', g.heapScore);
      await copy('heap_sample', g.heapSample);
      await copy('heap_pos', g.heapPos);
      await copy('heap_size', g.heapSize);
    }
  }
}

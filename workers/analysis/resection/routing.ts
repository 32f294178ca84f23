/**
 * What expert selection needs from an atlas, as one interface (`RoutingStats`), and a minimal routing pass that
 * produces it on its own (`collectRoutingStats`): per routing group and composite expert (flat id i·E + j),
 *
 * - the mean routing probability per domain: mean over the domain's tokens of S[i,j] = Σ_h g1[h,i]·g2[h,j]
 *   (spec §5.1 step 2, heads summed), and
 * - per per-sample score (toxicity, …): the streamed sums n, Σx, Σy, Σxy, Σx², Σy² of x = S[i,j] and y = the score of
 *   the token's text (each token carries its text's score, spec §5.3 step 1), accumulated in float64.
 *
 * The expert atlas (workers/analysis/atlas) is the app's main producer of these figures; `atlas-adapter.ts` turns
 * its reader into a `RoutingStats`. The pass here is the fallback behind the same interface (used by tests and by
 * `resect experiment` when no atlas is given), saved as `routing.json` + `routing.safetensors`.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../../engine/safetensors';
import { writeFileAtomic } from '../../engine/safetensors/writer';
import { padRows } from '../../models/monet/batch';
import type { MonetModel } from '../../models/monet/model';
import type { TextTokenizer } from '../../tokenizer';
import type { CorrSums } from './stats';

export interface RoutingStats {
  /** Where the figures came from ('atlas' or 'routing-pass'), for recipes. */
  source: string;
  /** Sub-experts per side E (composite experts per group: E²). */
  experts: number;
  layers: number;
  /** Layers per routing group G. */
  groupSize: number;
  groups: number;
  domains: string[];
  /** Tokens counted per domain. */
  domainTokens: number[];
  /** Mean routing probability of every composite expert of `group` over domain `d`'s tokens (length E²). */
  domainMeans(group: number, d: number): Float64Array;
  scoreNames: string[];
  /** Correlation sums of `group`'s experts against a score, or null when that score was not collected. */
  corrSums(group: number, score: string): CorrSums | null;
}

export interface RoutingSample { text: string; domain?: string | null; scores?: Record<string, number> | null }

export interface RoutingPassOptions {
  /** Window length in tokens (default max_position_embeddings). */
  context?: number;
  /** Rows per batch (default 8). */
  batchRows?: number;
  /** Scores to correlate (default: none). Samples without a score are left out of that score's sums. */
  scoreNames?: readonly string[];
  /** Stop after this many tokens (default: all). */
  maxTokens?: number;
  defaultDomain?: string;
  onProgress?: (tokens: number, samples: number) => void;
  signal?: AbortSignal;
}

interface ScoreAcc { n: number; sy: number; syy: number; sx: Float64Array; sxy: Float64Array; sxx: Float64Array }

/** An in-memory `RoutingStats` (what the pass returns and what `loadRoutingStats` reads back). */
export class RoutingTables implements RoutingStats {
  source = 'routing-pass';
  /** [group][domain] → Σ S over the domain's tokens (length E²). */
  readonly sums: Float64Array[][] = [];
  /** [group] → score name → sums. */
  readonly scores: Map<string, ScoreAcc>[] = [];
  domainTokens: number[] = [];

  constructor(
    readonly experts: number,
    readonly layers: number,
    readonly groupSize: number,
    public domains: string[] = [],
    public scoreNames: string[] = [],
  ) {
    for (let g = 0; g < this.groups; g++) {
      this.sums.push([]);
      const m = new Map<string, ScoreAcc>();
      const N = experts * experts;
      for (const s of scoreNames) m.set(s, { n: 0, sy: 0, syy: 0, sx: new Float64Array(N), sxy: new Float64Array(N), sxx: new Float64Array(N) });
      this.scores.push(m);
    }
  }

  get groups(): number { return Math.ceil(this.layers / this.groupSize); }

  domainIndex(name: string): number {
    let d = this.domains.indexOf(name);
    if (d < 0) {
      d = this.domains.push(name) - 1;
      this.domainTokens.push(0);
      for (const g of this.sums) g.push(new Float64Array(this.experts * this.experts));
    }
    return d;
  }

  domainMeans(group: number, d: number): Float64Array {
    const sum = this.sums[group]![d]!;
    const n = this.domainTokens[d]!;
    const out = new Float64Array(sum.length);
    if (n > 0) for (let e = 0; e < sum.length; e++) out[e] = sum[e]! / n;
    return out;
  }

  corrSums(group: number, score: string): CorrSums | null {
    return this.scores[group]?.get(score) ?? null;
  }
}

/**
 * Adds one token's routing of one group: S over the union of per-head supports (gates are exact zeros outside
 * them), into `scratch` (dense E², zero on entry and on exit) and the touched ids into `touched`.
 */
export function tokenScores(g1: Float32Array, g2: Float32Array, n: number, H: number, E: number, scratch: Float64Array, touched: number[]): void {
  touched.length = 0;
  const a: number[] = [];
  const b: number[] = [];
  for (let h = 0; h < H; h++) {
    const base = (n * H + h) * E;
    a.length = 0;
    b.length = 0;
    for (let e = 0; e < E; e++) {
      if (g1[base + e]! > 0) a.push(e);
      if (g2[base + e]! > 0) b.push(e);
    }
    for (const i of a) {
      const gi = g1[base + i]!;
      for (const j of b) {
        const id = i * E + j;
        if (scratch[id] === 0) touched.push(id);
        scratch[id]! += gi * g2[base + j]!;
      }
    }
  }
}

/** Runs the model over labelled samples and accumulates `RoutingTables` (no weights change, no masks). */
export async function collectRoutingStats(
  model: MonetModel,
  tokenizer: TextTokenizer,
  samples: Iterable<RoutingSample> | AsyncIterable<RoutingSample>,
  o: RoutingPassOptions = {},
): Promise<RoutingTables> {
  const c = model.config;
  const E = c.moe_experts;
  const H = c.moe_heads;
  const context = Math.min(o.context ?? c.max_position_embeddings, c.max_position_embeddings);
  const batchRows = o.batchRows ?? 8;
  const tables = new RoutingTables(E, c.num_hidden_layers, c.moe_groups, [], [...(o.scoreNames ?? [])]);
  const groups = tables.groups;
  const scratch = new Float64Array(E * E);
  const touched: number[] = [];
  const bos = c.bos_token_id;
  // Only a BOS the tokenizer prepended is left out (position 0 of a sample's first window): a token that merely has
  // BOS's id elsewhere in the text (an end-of-text separator when BOS = EOS) is routed like any other.
  let pending: { ids: number[]; domain: number; scores: (number | null)[]; skipFirst: boolean }[] = [];
  let tokens = 0;
  let nSamples = 0;

  const flush = async () => {
    if (pending.length === 0) return;
    o.signal?.throwIfAborted();
    const batch = padRows(pending.map((w) => w.ids));
    const T = batch.time;
    const out = await model.forward({ ...batch, logits: 'none', gates: true });
    for (let g = 0; g < groups; g++) {
      const { g1, g2 } = out.gates![g]!;
      const sums = tables.sums[g]!;
      const accs = tables.scoreNames.map((s) => tables.scores[g]!.get(s)!);
      for (const [b, w] of pending.entries()) {
        const dsum = sums[w.domain]!;
        for (let t = w.skipFirst ? 1 : 0; t < w.ids.length; t++) {
          tokenScores(g1, g2, b * T + t, H, E, scratch, touched);
          for (const id of touched) dsum[id]! += scratch[id]!;
          for (const [k, acc] of accs.entries()) {
            const y = w.scores[k];
            if (y === null || y === undefined) continue;
            acc.n++;
            acc.sy += y;
            acc.syy += y * y;
            for (const id of touched) {
              const x = scratch[id]!;
              acc.sx[id]! += x;
              acc.sxy[id]! += x * y;
              acc.sxx[id]! += x * x;
            }
          }
          for (const id of touched) scratch[id] = 0;
        }
      }
    }
    for (const w of pending) {
      const counted = w.ids.length - (w.skipFirst ? 1 : 0);
      tables.domainTokens[w.domain]! += counted;
      tokens += counted;
    }
    pending = [];
    o.onProgress?.(tokens, nSamples);
  };

  for await (const s of samples) {
    if (o.maxTokens !== undefined && tokens >= o.maxTokens) break;
    const domain = tables.domainIndex(String(s.domain ?? o.defaultDomain ?? 'default'));
    const scores = tables.scoreNames.map((k) => {
      const v = s.scores?.[k];
      return typeof v === 'number' && Number.isFinite(v) ? v : null;
    });
    const ids = tokenizer.encode(s.text);
    for (let st = 0; st < ids.length; st += context) {
      pending.push({ ids: ids.slice(st, st + context), domain, scores, skipFirst: st === 0 && bos !== null && bos !== undefined && ids[0] === bos });
      if (pending.length >= batchRows) await flush();
    }
    nSamples++;
  }
  await flush();
  return tables;
}

/** Writes `routing.json` (meta) and `routing.safetensors` (F64 sums) into `dir`. */
export async function saveRoutingStats(dir: string, t: RoutingTables, extra: Record<string, unknown> = {}): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors: TensorToWrite[] = [];
  const N = t.experts * t.experts;
  for (let g = 0; g < t.groups; g++) {
    const all = new Float64Array(t.domains.length * N);
    t.sums[g]!.forEach((s, d) => all.set(s, d * N));
    tensors.push({ name: `domain_sums.${g}`, dtype: 'F64', shape: [t.domains.length, N], data: all });
    for (const [name, a] of t.scores[g]!) {
      tensors.push({ name: `score.${name}.${g}.sx`, dtype: 'F64', shape: [N], data: a.sx });
      tensors.push({ name: `score.${name}.${g}.sxy`, dtype: 'F64', shape: [N], data: a.sxy });
      tensors.push({ name: `score.${name}.${g}.sxx`, dtype: 'F64', shape: [N], data: a.sxx });
    }
  }
  await writeSafetensors(path.join(dir, 'routing.safetensors'), tensors);
  const meta = {
    format: 'resect-routing/1', source: t.source, experts: t.experts, layers: t.layers, groupSize: t.groupSize,
    domains: t.domains, domainTokens: t.domainTokens,
    scores: Object.fromEntries(t.scoreNames.map((s) => [s, t.scores.map((m) => { const a = m.get(s)!; return { n: a.n, sy: a.sy, syy: a.syy }; })])),
    ...extra,
  };
  await writeFileAtomic(path.join(dir, 'routing.json'), async (fh) => { await fh.writeFile(`${JSON.stringify(meta, null, 1)}\n`); });
}

/** Reads what `saveRoutingStats` wrote. */
export async function loadRoutingStats(dir: string): Promise<RoutingTables> {
  const meta = JSON.parse(await readFile(path.join(dir, 'routing.json'), 'utf8')) as {
    format: string; source: string; experts: number; layers: number; groupSize: number; domains: string[]; domainTokens: number[];
    scores: Record<string, { n: number; sy: number; syy: number }[]>;
  };
  if (meta.format !== 'resect-routing/1') throw new Error(`${dir}: not a routing-statistics folder (format ${JSON.stringify(meta.format)})`);
  const t = new RoutingTables(meta.experts, meta.layers, meta.groupSize, [], Object.keys(meta.scores));
  t.source = meta.source;
  const h = await openSafetensors(path.join(dir, 'routing.safetensors'));
  try {
    const N = meta.experts * meta.experts;
    for (const d of meta.domains) t.domainIndex(d);
    t.domainTokens = [...meta.domainTokens];
    for (let g = 0; g < t.groups; g++) {
      const all = (await h.read(`domain_sums.${g}`)) as Float64Array;
      meta.domains.forEach((_, d) => t.sums[g]![d]!.set(all.subarray(d * N, (d + 1) * N)));
      for (const [name, per] of Object.entries(meta.scores)) {
        const a = t.scores[g]!.get(name)!;
        Object.assign(a, per[g]);
        a.sx.set((await h.read(`score.${name}.${g}.sx`)) as Float64Array);
        a.sxy.set((await h.read(`score.${name}.${g}.sxy`)) as Float64Array);
        a.sxx.set((await h.read(`score.${name}.${g}.sxx`)) as Float64Array);
      }
    }
  } finally {
    await h.close();
  }
  return t;
}

/**
 * Reading a built atlas (build.ts): open it, per-expert stats, per-domain means, top contexts, sorted/filtered expert
 * lists, the E×E map of a group, text/token search over top contexts, and promoted output tokens.
 *
 *   const atlas = await openAtlas(dir);
 *   atlas.expert(group, id)            → counts, scores, domain means, dominant domain and skew, histogram, correlation
 *   atlas.topContexts(group, id)       → [{ rank, score, left, token, right, domain, sample, ref, pos }]
 *   atlas.list(group, { sort, ... })   → a page of experts with their summary
 *   atlas.close()
 *
 * Arrays of a group are read on first use and kept (one group of the 1.4B model: ≈ 60 MB); contexts stay in SQLite.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Database } from 'better-sqlite3';
import { openSafetensors, type SafetensorsHandle } from '../../engine/safetensors';
import type { AtlasMeta } from './build';
import { BRIDGE_KEEP } from './latents';
import { pearsonOrNull } from '../resection/stats';

export interface DomainMean { domain: string; mean: number; tokens: number }

export interface ExpertSummary {
  group: number;
  id: number;
  i: number;
  j: number;
  /** Tokens with S > threshold. */
  count: number;
  /** count / tokens. */
  frequency: number;
  /** Σ S over all tokens. */
  totalScore: number;
  /** Mean S over all tokens. */
  meanScore: number;
  dominant: string | null;
  /** Top domain mean / second (Infinity when the second is 0 and the first is not; 0 when unused). */
  skew: number;
  /** Pearson r with the atlas score over every scored token (null without a score or when undefined). */
  correlation: number | null;
}

export interface ExpertStats extends ExpertSummary {
  domains: DomainMean[];
  histogram: { edges: number[]; counts: number[] };
  corrSums: { sx: number; sy: number; sxy: number; sxx: number; syy: number; n: number } | null;
}

/** One unit on the other side of the bridge (docs/sae.md "Browse"). */
export interface BridgeEntry { group: number; id: number; count: number; jaccard: number; share: number }

export interface TopContext { rank: number; score: number; left: string; token: string; right: string; domain: string; sample: number; ref: number; pos: number }

export type SortKey = 'id' | 'count' | 'score' | 'skew' | 'correlation';

export interface ListQuery {
  sort?: SortKey;
  dir?: 'asc' | 'desc';
  offset?: number;
  limit?: number;
  /** Only experts whose dominant domain is this. */
  domain?: string;
  /** Only experts with at least this many active tokens. */
  minCount?: number;
  /** Only experts with skew ≥ this. */
  minSkew?: number;
  /** Only these flat ids. */
  ids?: number[];
}

interface GroupArrays {
  count: Float64Array;
  sum: Float64Array;
  domainSum: Float64Array | null;
  hist: Int32Array;
  corr: Record<'sx' | 'sy' | 'sxy' | 'sxx' | 'syy' | 'n', Float64Array> | null;
  dirI: Float32Array;
  /** Absent for a latent group (a latent's direction is dir_i alone). */
  dirJ: Float32Array | null;
  /** Derived: dominant domain index (−1 = none) and skew per expert. */
  dominant: Int16Array;
  skew: Float32Array;
  correlation: Float64Array | null;
}

/** Top contexts asked for before contexts.sqlite exists (the first start writes a shipped atlas's contexts last). */
export class ContextsPendingError extends Error {
  constructor() {
    super('The top contexts of this atlas are still being prepared (the first start writes them after the statistics, about half a minute); try again in a moment.');
  }
}

export class Atlas {
  private readonly groupCache = new Map<number, GroupArrays>();
  private db: Database | null = null;
  private vocab: string[] | null = null;
  private lmHead: { W: Float32Array; norm: Float32Array; V: number } | null = null;

  constructor(readonly dir: string, readonly meta: AtlasMeta, private readonly stats: SafetensorsHandle) {}

  get E(): number { return this.meta.model.E; }
  /** Routing groups, plus one for a latent atlas's latents (group `meta.sae.group`, the last). */
  get groups(): number { return this.meta.model.routerLayers.length + (this.meta.sae ? 1 : 0); }
  /** Whether `group` is a latent atlas's latent group. */
  isLatentGroup(group: number): boolean { return this.meta.sae !== undefined && group === this.meta.sae.group; }
  /** Units of a group: E² composite experts, or the SAE's latents. */
  units(group: number): number { return this.isLatentGroup(group) ? this.meta.sae!.latents : this.E * this.E; }

  async close(): Promise<void> {
    this.db?.close();
    this.db = null;
    await this.stats.close();
  }

  /** Whether contexts.sqlite is there: a shipped atlas gets it a little after its statistics (compact.ts, expandContexts). */
  get contextsReady(): boolean {
    return this.db !== null || existsSync(path.join(this.dir, 'contexts.sqlite'));
  }

  private async sqlite(): Promise<Database> {
    if (!this.db) {
      if (!this.contextsReady) throw new ContextsPendingError();
      const { default: Sqlite } = await import('better-sqlite3');
      this.db = new Sqlite(path.join(this.dir, 'contexts.sqlite'), { readonly: true, fileMustExist: true });
    }
    return this.db;
  }

  checkGroup(group: number): void {
    if (!Number.isInteger(group) || group < 0 || group >= this.groups) throw new RangeError(`group ${group} is out of range (0…${this.groups - 1})`);
  }

  checkExpert(id: number, group = 0): void {
    const n = this.units(group);
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new RangeError(`${this.isLatentGroup(group) ? 'latent' : 'expert'} ${id} is out of range (0…${n - 1})`);
  }

  async group(group: number): Promise<GroupArrays> {
    this.checkGroup(group);
    const hit = this.groupCache.get(group);
    if (hit) return hit;
    const p = `g${group}`;
    const has = (n: string) => this.stats.tensors.has(`${p}.${n}`);
    const f64 = async (n: string) => (await this.stats.read(`${p}.${n}`)) as Float64Array;
    const count = await f64('count');
    const sum = await f64('sum');
    const domainSum = has('domain_sum') ? await f64('domain_sum') : null;
    const hist = (await this.stats.read(`${p}.hist`)) as Int32Array;
    const corr = has('corr_n')
      ? { sx: await f64('corr_sx'), sy: await f64('corr_sy'), sxy: await f64('corr_sxy'), sxx: await f64('corr_sxx'), syy: await f64('corr_syy'), n: await f64('corr_n') }
      : null;
    const dirI = (await this.stats.read(`${p}.dir_i`)) as Float32Array;
    const dirJ = has('dir_j') ? ((await this.stats.read(`${p}.dir_j`)) as Float32Array) : null;
    const EE = this.units(group);
    const D = this.meta.domains.length;
    const dominant = new Int16Array(EE).fill(-1);
    const skew = new Float32Array(EE);
    if (domainSum) {
      const toks = this.meta.domains.map((d) => d.tokens);
      for (let id = 0; id < EE; id++) {
        let best = -1;
        let m1 = 0;
        let m2 = 0;
        for (let d = 0; d < D; d++) {
          const m = toks[d]! > 0 ? domainSum[d * EE + id]! / toks[d]! : 0;
          if (m > m1) {
            m2 = m1;
            m1 = m;
            best = d;
          } else if (m > m2) m2 = m;
        }
        dominant[id] = best;
        skew[id] = m1 === 0 ? 0 : m2 === 0 ? Infinity : m1 / m2;
      }
    }
    let correlation: Float64Array | null = null;
    if (corr && this.meta.score) {
      correlation = new Float64Array(EE);
      for (let id = 0; id < EE; id++) correlation[id] = this.pearson(corr, id) ?? Number.NaN;
    }
    const g: GroupArrays = { count, sum, domainSum, hist, corr, dirI, dirJ, dominant, skew, correlation };
    this.groupCache.set(group, g);
    return g;
  }

  /** Pearson r over every scored token: x = S (0 where the expert is inactive), y = the sample score. */
  private pearson(corr: NonNullable<GroupArrays['corr']>, id: number): number | null {
    const s = this.meta.score;
    if (!s) return null;
    // The selection's formula and epsilon (resection/stats.ts), so browse-time rankings equal the ones masks use.
    return pearsonOrNull(s.n, corr.sx[id]!, s.sy, corr.sxy[id]!, corr.sxx[id]!, s.syy);
  }

  private summary(g: GroupArrays, group: number, id: number): ExpertSummary {
    const tokens = this.meta.tokens;
    const d = g.dominant[id]!;
    const r = g.correlation ? g.correlation[id]! : Number.NaN;
    const latent = this.isLatentGroup(group);
    return {
      group, id, i: latent ? id : Math.floor(id / this.E), j: latent ? 0 : id % this.E,
      count: g.count[id]!, frequency: tokens ? g.count[id]! / tokens : 0,
      totalScore: g.sum[id]!, meanScore: tokens ? g.sum[id]! / tokens : 0,
      dominant: d >= 0 ? this.meta.domains[d]!.name : null,
      skew: g.skew[id]!,
      correlation: Number.isNaN(r) ? null : r,
    };
  }

  async expert(group: number, id: number): Promise<ExpertStats> {
    this.checkGroup(group);
    this.checkExpert(id, group);
    const g = await this.group(group);
    const EE = this.units(group);
    const B = this.meta.options.bins;
    const domains = this.meta.domains.map((d, k) => ({ domain: d.name, tokens: d.tokens, mean: g.domainSum && d.tokens > 0 ? g.domainSum[k * EE + id]! / d.tokens : 0 }));
    const c = g.corr;
    return {
      ...this.summary(g, group, id),
      domains,
      histogram: { edges: this.isLatentGroup(group) ? this.meta.sae!.histEdges : this.meta.options.histEdges, counts: Array.from(g.hist.subarray(id * B, (id + 1) * B)) },
      corrSums: c ? { sx: c.sx[id]!, sy: c.sy[id]!, sxy: c.sxy[id]!, sxx: c.sxx[id]!, syy: c.syy[id]!, n: c.n[id]! } : null,
    };
  }

  async domainMeans(group: number, id: number): Promise<DomainMean[]> {
    return (await this.expert(group, id)).domains;
  }

  async topContexts(group: number, id: number, limit = 1000): Promise<TopContext[]> {
    this.checkGroup(group);
    this.checkExpert(id, group);
    if (!this.contextsReady) return []; // still being written: the statistics are there, the contexts follow
    const db = await this.sqlite();
    return db
      .prepare(`SELECT t.rank, t.score, o.left, o.token, o.right, o.domain, o.sample, o.ref, o.pos FROM top t JOIN occ o ON o.id = t.occ
                WHERE t.grp = ? AND t.expert = ? ORDER BY t.rank LIMIT ?`)
      .all(group, id, limit) as TopContext[];
  }

  /** Summaries of experts, filtered and sorted (ties by id), a page at a time. */
  async list(group: number, q: ListQuery = {}): Promise<{ total: number; experts: ExpertSummary[] }> {
    const g = await this.group(group);
    const EE = this.units(group);
    const domainIdx = q.domain !== undefined ? this.meta.domains.findIndex((d) => d.name === q.domain) : null;
    let ids: number[] = [];
    const src = q.ids ?? null;
    const keep = (id: number) =>
      (domainIdx === null || g.dominant[id] === domainIdx) && (q.minCount === undefined || g.count[id]! >= q.minCount) && (q.minSkew === undefined || g.skew[id]! >= q.minSkew);
    if (src) ids = src.filter((id) => Number.isInteger(id) && id >= 0 && id < EE && keep(id));
    else for (let id = 0; id < EE; id++) if (keep(id)) ids.push(id);
    const sort = q.sort ?? 'count';
    const sign = (q.dir ?? (sort === 'id' ? 'asc' : 'desc')) === 'asc' ? 1 : -1;
    const key: (id: number) => number =
      sort === 'id' ? (id) => id
      : sort === 'count' ? (id) => g.count[id]!
      : sort === 'score' ? (id) => g.sum[id]!
      : sort === 'skew' ? (id) => g.skew[id]!
      : (id) => (g.correlation ? g.correlation[id]! : Number.NaN);
    const keys = new Float64Array(EE);
    for (const id of ids) {
      const k = key(id);
      keys[id] = Number.isNaN(k) ? -Infinity * sign : k;
    }
    ids.sort((a, b) => {
      const ka = keys[a]!;
      const kb = keys[b]!;
      return ka < kb ? -sign : ka > kb ? sign : a - b;
    });
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 100;
    return { total: ids.length, experts: ids.slice(offset, offset + limit).map((id) => this.summary(g, group, id)) };
  }

  /** The group's map: counts (float32), dominant domain index (−1 none) and skew per expert, row-major [i][j]. */
  async map(group: number): Promise<{ E: number; counts: Float32Array; dominant: Int16Array; skew: Float32Array }> {
    if (this.isLatentGroup(group)) throw new RangeError(`group ${group} holds an SAE's latents: it has no E×E map`);
    const g = await this.group(group);
    return { E: this.E, counts: Float32Array.from(g.count), dominant: g.dominant, skew: g.skew };
  }

  /** Experts whose top contexts contain `text` (full-text match on the whole context), most matching contexts first. */
  async searchText(text: string, o: { group?: number; limit?: number } = {}): Promise<{ group: number; id: number; matches: number }[]> {
    const words = text.match(/[\p{L}\p{N}_]+/gu) ?? [];
    if (words.length === 0) return [];
    const fts = words.map((w) => `"${w.replace(/"/g, '""')}"`).join(' ');
    const db = await this.sqlite();
    const where = o.group !== undefined ? 'AND t.grp = ?' : '';
    const args: unknown[] = [fts];
    if (o.group !== undefined) args.push(o.group);
    args.push(o.limit ?? 200);
    const rows = db
      .prepare(`SELECT t.grp AS grp, t.expert AS id, COUNT(*) AS matches FROM top t
                WHERE t.occ IN (SELECT rowid FROM occ_fts WHERE occ_fts MATCH ?) ${where}
                GROUP BY t.grp, t.expert ORDER BY matches DESC, t.grp, t.expert LIMIT ?`)
      .all(...args) as { grp: number; id: number; matches: number }[];
    return rows.map((r) => ({ group: r.grp, id: r.id, matches: r.matches }));
  }

  /** Experts whose top tokens are exactly `token` (surrounding spaces ignored), most occurrences first. */
  async searchToken(token: string, o: { group?: number; limit?: number } = {}): Promise<{ group: number; id: number; matches: number }[]> {
    const db = await this.sqlite();
    const where = o.group !== undefined ? 'AND t.grp = ?' : '';
    const args: unknown[] = [token, token.trim()];
    if (o.group !== undefined) args.push(o.group);
    args.push(o.limit ?? 200);
    const rows = db
      .prepare(`SELECT t.grp AS grp, t.expert AS id, COUNT(*) AS matches FROM top t JOIN occ o ON o.id = t.occ
                WHERE (o.token = ? OR trim(o.token) = ?) ${where}
                GROUP BY t.grp, t.expert ORDER BY matches DESC, t.grp, t.expert LIMIT ?`)
      .all(...args) as { grp: number; id: number; matches: number }[];
    return rows.map((r) => ({ group: r.grp, id: r.id, matches: r.matches }));
  }

  /** Output tokens the expert promotes: lm_head · (norm ⊙ (dir_i[i] + dir_j[j])), top `k` (and bottom `k`). */
  async promotedTokens(group: number, id: number, k = 10): Promise<{ top: { id: number; text: string; logit: number }[]; bottom: { id: number; text: string; logit: number }[] } | null> {
    this.checkGroup(group);
    this.checkExpert(id, group);
    const g = await this.group(group);
    const head = await this.head();
    if (!head) return null;
    const d = this.meta.model.d;
    // A latent's direction is its decoder row (dir_i alone); an expert's is dir_i[i] + dir_j[j].
    const latent = this.isLatentGroup(group);
    const i = latent ? id : Math.floor(id / this.E);
    const j = id % this.E;
    const v = new Float32Array(d);
    for (let x = 0; x < d; x++) v[x] = (g.dirI[i * d + x]! + (g.dirJ && !latent ? g.dirJ[j * d + x]! : 0)) * head.norm[x]!;
    const logits = new Float32Array(head.V);
    for (let t = 0; t < head.V; t++) {
      let s = 0;
      const base = t * d;
      for (let x = 0; x < d; x++) s += head.W[base + x]! * v[x]!;
      logits[t] = s;
    }
    const order = Array.from(logits.keys()).sort((a, b) => logits[b]! - logits[a]! || a - b);
    const vocab = this.vocabulary();
    const top = order.slice(0, k);
    const bottom = order.slice(-k).reverse();
    const stored = (t: number) => vocab[t] ?? `<${t}>`;
    const relabel = [...top, ...bottom].some((t) => stored(t).includes('\uFFFD')) ? await this.byteLabels() : null;
    const item = (t: number) => {
      const v = stored(t);
      return { id: t, text: relabel && v.includes('\uFFFD') ? relabel(t) : v, logit: logits[t]! };
    };
    return { top: top.map(item), bottom: bottom.map(item) };
  }

  /**
   * A latent atlas's bridge: for a latent, the experts (of every routing group) active on most of the same tokens; for
   * an expert, the latents. Ranked by Jaccard overlap |A ∩ B| / |A ∪ B| of their active tokens (so an expert active
   * everywhere does not top every list); `share` = |A ∩ B| / |A| (of this unit's active tokens, the part the other is
   * active on). Null on an atlas without latents.
   */
  async bridge(group: number, id: number, limit = 20): Promise<BridgeEntry[] | null> {
    const sae = this.meta.sae;
    if (!sae) return null;
    this.checkGroup(group);
    this.checkExpert(id, group);
    const db = await this.sqlite();
    const latent = this.isLatentGroup(group);
    const rows = (latent
      ? db.prepare('SELECT grp, expert AS unit, count FROM bridge WHERE latent = ?').all(id)
      : db.prepare('SELECT ? AS grp, latent AS unit, count FROM bridge WHERE grp = ? AND expert = ?').all(sae.group, group, id)) as { grp: number; unit: number; count: number }[];
    const self = (await this.group(group)).count[id]!;
    const out: BridgeEntry[] = [];
    for (const r of rows) {
      const other = (await this.group(r.grp)).count[r.unit]!;
      const union = self + other - r.count;
      out.push({ group: r.grp, id: r.unit, count: r.count, jaccard: union > 0 ? r.count / union : 0, share: self > 0 ? r.count / self : 0 });
    }
    // Rows kept for the other side's lists are a partial tail here: only the first BRIDGE_KEEP are this unit's best.
    return out.sort((a, b) => b.jaccard - a.jaccard || b.count - a.count || a.group - b.group || a.id - b.id).slice(0, Math.min(limit, BRIDGE_KEEP));
  }

  /**
   * Atlases built before vocab.json named partial UTF-8 tokens as byte tokens hold "�" for them: relabel those from
   * the model's tokenizer (null when it cannot be read; the stored text is shown then).
   */
  private byteLabelsOnce: Promise<((id: number) => string) | null> | null = null;
  private byteLabels(): Promise<((id: number) => string) | null> {
    this.byteLabelsOnce ??= (async () => {
      try {
        const { loadTokenizer } = await import('../../tokenizer');
        const { tokenLabel } = await import('../../tokenizer/display');
        const tok = await loadTokenizer(this.meta.model.dir, { addBos: false });
        return (id: number) => tokenLabel(tok, id);
      } catch {
        return null;
      }
    })();
    return this.byteLabelsOnce;
  }

  private vocabulary(): string[] {
    if (!this.vocab) {
      const f = path.join(this.dir, 'vocab.json');
      this.vocab = existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as string[]) : [];
    }
    return this.vocab;
  }

  private async head(): Promise<{ W: Float32Array; norm: Float32Array; V: number } | null> {
    if (this.lmHead) return this.lmHead;
    const dir = this.meta.model.dir;
    if (!existsSync(dir)) return null;
    const { openWeights } = await import('../../engine/safetensors');
    const w = await openWeights(dir);
    try {
      const name = w.tensors.has('lm_head.weight') ? 'lm_head.weight' : 'model.embed_tokens.weight';
      const W = await w.readAsFloat32(name);
      const norm = await w.readAsFloat32('model.norm.weight');
      this.lmHead = { W, norm, V: W.length / this.meta.model.d };
    } finally {
      await w.close();
    }
    return this.lmHead;
  }
}

export async function readAtlasMeta(dir: string): Promise<AtlasMeta> {
  const file = path.join(dir, 'meta.json');
  if (!existsSync(file)) throw new Error(`${dir} is not a built atlas (no meta.json)`);
  return JSON.parse(readFileSync(file, 'utf8')) as AtlasMeta;
}

export async function openAtlas(dir: string): Promise<Atlas> {
  const meta = await readAtlasMeta(dir);
  const stats = await openSafetensors(path.join(dir, 'stats.safetensors'));
  return new Atlas(dir, meta, stats);
}

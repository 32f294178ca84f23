/**
 * Atlas statistics against a brute-force computation on the tiny VD and HD fixtures: for every token, the dense
 * S[t, i, j] = Σ_h g1[h, i]·g2[h, j] from the model's gates (one forward per chunk, no batching), accumulated into
 * counts, sums, per-domain means, histograms, correlation sums and the full ranking of occurrences; then a resumed
 * build against an uninterrupted one.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonetModel } from '../../workers/models/monet/model';
import { loadTokenizer, type TextTokenizer } from '../../workers/tokenizer';
import { buildAtlas, type BuildAtlasOptions } from '../../workers/analysis/atlas/build';
import { histogramBin } from '../../workers/analysis/atlas/accumulator';
import { openAtlas } from '../../workers/analysis/atlas/reader';
import { openSafetensors } from '../../workers/engine/safetensors';
import { FIXTURES, fixtureWithTokenizer } from '../monet/helpers';

const CONTEXT = 40;
const THRESHOLD = 0.01;
const TOPK = 5;
const BINS = 24;

interface Occ { score: number; sample: number; pos: number }

interface Brute {
  tokens: number;
  domains: Map<string, number>;
  count: Float64Array[];
  sum: Float64Array[];
  dom: Map<string, Float64Array>[];
  hist: Int32Array[];
  occ: Occ[][][];
  xs: Float64Array[][]; // per group, per expert: S per scored token (dense, zeros included)
  ys: number[];
}

let model: MonetModel;
let tokenizer: TextTokenizer;
let dir: string;
let data: string;
let work: string;
let brute: Brute;
let samples: { text: string; domain: string; toxicity: number }[];

async function bruteForce(): Promise<Brute> {
  const c = model.config;
  const H = c.moe_heads;
  const E = c.moe_experts;
  const R = model.ckpt.dims.routerLayers.length;
  const b: Brute = {
    tokens: 0, domains: new Map(),
    count: Array.from({ length: R }, () => new Float64Array(E * E)),
    sum: Array.from({ length: R }, () => new Float64Array(E * E)),
    dom: Array.from({ length: R }, () => new Map()),
    hist: Array.from({ length: R }, () => new Int32Array(E * E * BINS)),
    occ: Array.from({ length: R }, () => Array.from({ length: E * E }, () => [])),
    xs: Array.from({ length: R }, () => []),
    ys: [],
  };
  for (const [n, s] of samples.entries()) {
    const ids = tokenizer.encode(s.text);
    for (let start = 0; start < ids.length; start += CONTEXT) {
      const chunk = ids.slice(start, start + CONTEXT);
      const out = await model.forward({ ids: chunk, batch: 1, time: chunk.length, gates: true, logits: 'none' });
      for (let t = start === 0 ? 1 : 0; t < chunk.length; t++) {
        b.tokens++;
        b.domains.set(s.domain, (b.domains.get(s.domain) ?? 0) + 1);
        b.ys.push(s.toxicity);
        for (let r = 0; r < R; r++) {
          const { g1, g2 } = out.gates![r]!;
          const x = new Float64Array(E * E);
          for (let i = 0; i < E; i++) {
            for (let j = 0; j < E; j++) {
              let S = 0;
              for (let h = 0; h < H; h++) S += g1[(t * H + h) * E + i]! * g2[(t * H + h) * E + j]!;
              const id = i * E + j;
              x[id] = S;
              if (S === 0) continue;
              b.sum[r]![id]! += S;
              let d = b.dom[r]!.get(s.domain);
              if (!d) b.dom[r]!.set(s.domain, (d = new Float64Array(E * E)));
              d[id]! += S;
              b.hist[r]![id * BINS + histogramBin(S, BINS, 1e-4, H)]!++;
              if (S > THRESHOLD) {
                b.count[r]![id]!++;
                b.occ[r]![id]!.push({ score: S, sample: n, pos: start + t });
              }
            }
          }
          b.xs[r]!.push(x);
        }
      }
    }
  }
  for (const per of b.occ) for (const list of per) list.sort((x, y) => y.score - x.score || x.sample - y.sample || x.pos - y.pos);
  return b;
}

const options = (out: string, extra: Partial<BuildAtlasOptions> = {}): BuildAtlasOptions => ({
  model, tokenizer, modelDir: dir, outDir: out,
  source: { data: { kind: 'jsonl', path: data, textField: 'text' }, filter: {}, domainField: 'domain', scoreField: 'toxicity' },
  threshold: THRESHOLD, topK: TOPK, bins: BINS, context: CONTEXT, batchRows: 1, checkpointEvery: 0,
  ...extra,
});

for (const fixture of ['monet-vd-tiny', 'monet-hd-tiny']) {
describe(`atlas statistics vs brute force (${fixture})`, () => {
beforeAll(async () => {
  dir = await fixtureWithTokenizer(fixture);
  work = await mkdtemp(path.join(tmpdir(), 'resect-atlas-'));
  const src = await readFile(path.join(FIXTURES, 'data', 'sample.jsonl'), 'utf8');
  samples = src.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { text: string; domain: string; toxicity: number });
  // Vary the score so correlations are defined.
  samples = samples.map((s, k) => ({ ...s, toxicity: ((k * 7) % 5) / 4 }));
  data = path.join(work, 'data.jsonl');
  await writeFile(data, samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
  model = await MonetModel.load(dir);
  tokenizer = await loadTokenizer(dir, { bosTokenId: 1, eosTokenId: 2 });
  brute = await bruteForce();
}, 120_000);

afterAll(async () => {
  await model?.dispose();
});

  it('matches counts, sums, domain means, histograms, top-K and correlations exactly (unbatched)', async () => {
    const out = path.join(work, `exact-${fixture}`);
    const meta = await buildAtlas(options(out));
    expect(meta.tokens).toBe(brute.tokens);
    expect(meta.samples).toBe(samples.length);
    expect(Object.fromEntries(meta.domains.map((d) => [d.name, d.tokens]))).toEqual(Object.fromEntries(brute.domains));
    const atlas = await openAtlas(out);
    try {
      const E = model.config.moe_experts;
      let active = 0;
      for (let r = 0; r < atlas.groups; r++) {
        for (let id = 0; id < E * E; id++) {
          const s = await atlas.expert(r, id);
          expect(s.count).toBe(brute.count[r]![id]);
          expect(s.totalScore).toBe(brute.sum[r]![id]);
          expect(s.histogram.counts).toEqual(Array.from(brute.hist[r]!.subarray(id * BINS, (id + 1) * BINS)));
          for (const dm of s.domains) {
            const want = (brute.dom[r]!.get(dm.domain)?.[id] ?? 0) / brute.domains.get(dm.domain)!;
            expect(dm.mean).toBe(want);
          }
          // Dominant domain and skew from the means.
          const means = s.domains.map((x) => x.mean).sort((a, b) => b - a);
          if (means[0]! > 0) {
            expect(s.domains.find((x) => x.domain === s.dominant)!.mean).toBe(means[0]);
            expect(s.skew).toBeCloseTo(means[1]! > 0 ? means[0]! / means[1]! : Infinity, 5);
          }
          // Pearson r over every token, x = 0 where inactive.
          const xs = brute.xs[r]!.map((x) => x[id]!);
          const n = xs.length;
          const mx = xs.reduce((a, b) => a + b, 0) / n;
          const my = brute.ys.reduce((a, b) => a + b, 0) / n;
          let cxy = 0, cxx = 0, cyy = 0;
          for (let t = 0; t < n; t++) {
            cxy += (xs[t]! - mx) * (brute.ys[t]! - my);
            cxx += (xs[t]! - mx) ** 2;
            cyy += (brute.ys[t]! - my) ** 2;
          }
          if (cxx > 1e-20) expect(s.correlation!).toBeCloseTo(cxy / Math.sqrt(cxx * cyy), 9);
          // Active-term sums only (x ≠ 0).
          const act = xs.map((x, t) => [x, brute.ys[t]!] as const).filter(([x]) => x !== 0);
          expect(s.corrSums!.n).toBe(act.length);
          expect(s.corrSums!.sy).toBeCloseTo(act.reduce((a, [, y]) => a + y, 0), 9);
          expect(s.corrSums!.sxy).toBeCloseTo(act.reduce((a, [x, y]) => a + x * y, 0), 9);
          // Top-K contents: the brute-force ranking's first K.
          const top = await atlas.topContexts(r, id);
          const want = brute.occ[r]![id]!.slice(0, TOPK);
          expect(top.map((t) => [t.score, t.sample, t.pos])).toEqual(want.map((o) => [o.score, o.sample, o.pos]));
          for (const t of top) {
            const ids = tokenizer.encode(samples[t.sample]!.text);
            expect(t.token).toBe(tokenizer.decode([ids[t.pos]!]));
            expect(t.domain).toBe(samples[t.sample]!.domain);
          }
          if (s.count > 0) active++;
        }
      }
      expect(active).toBeGreaterThan(10);
      // Lists sort and filter.
      const byCount = await atlas.list(0, { sort: 'count', limit: 5 });
      expect(byCount.total).toBe(E * E);
      const counts = byCount.experts.map((x) => x.count);
      expect(counts).toEqual([...counts].sort((a, b) => b - a));
      const codeExperts = await atlas.list(0, { domain: 'code', limit: 1000 });
      for (const x of codeExperts.experts) expect(x.dominant).toBe('code');
      // Search over contexts and promoted tokens.
      const found = await atlas.searchText('court');
      expect(found.length).toBeGreaterThan(0);
      const promoted = await atlas.promotedTokens(0, byCount.experts[0]!.id, 5);
      expect(promoted!.top).toHaveLength(5);
    } finally {
      await atlas.close();
    }
  }, 120_000);

  it('batched, padded runs agree with brute force to float tolerance', async () => {
    const out = path.join(work, 'batched');
    const meta = await buildAtlas(options(out, { batchRows: 4, batchTokens: 160 }));
    expect(meta.tokens).toBe(brute.tokens);
    const atlas = await openAtlas(out);
    try {
      const E = model.config.moe_experts;
      for (let r = 0; r < atlas.groups; r++) {
        const m = await atlas.map(r);
        for (let id = 0; id < E * E; id++) {
          expect(m.counts[id]).toBe(brute.count[r]![id]);
          const s = await atlas.expert(r, id);
          expect(Math.abs(s.totalScore - brute.sum[r]![id]!)).toBeLessThan(1e-4);
        }
      }
    } finally {
      await atlas.close();
    }
  }, 120_000);

  it('a resumed build is identical to an uninterrupted one', async () => {
    const full = path.join(work, 'full');
    const part = path.join(work, 'part');
    const base = { batchRows: 2, batchTokens: 120, checkpointEvery: 4 };
    await buildAtlas(options(full, base));
    await expect(buildAtlas(options(part, { ...base, crashAfterSamples: 11 }))).rejects.toThrow(/simulated crash/);
    const resumed = await buildAtlas(options(part, { ...base, resume: true }));
    expect(resumed.samples).toBe(samples.length);
    const a = await openSafetensors(path.join(full, 'stats.safetensors'));
    const b = await openSafetensors(path.join(part, 'stats.safetensors'));
    try {
      expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
      for (const name of a.tensors.keys()) expect(Buffer.from(await b.readBytes(name)).equals(Buffer.from(await a.readBytes(name)))).toBe(true);
    } finally {
      await a.close();
      await b.close();
    }
    const A = await openAtlas(full);
    const B = await openAtlas(part);
    try {
      const E = model.config.moe_experts;
      for (let r = 0; r < A.groups; r++) for (let id = 0; id < E * E; id++) expect(await B.topContexts(r, id)).toEqual(await A.topContexts(r, id));
    } finally {
      await A.close();
      await B.close();
    }
  }, 120_000);
});
}

/**
 * A latent atlas (docs/sae.md "Browse") against a brute-force computation on the tiny VD fixture: an SAE's codes at
 * its hook for every counted token (one forward per chunk, the SAE run per token row), accumulated into each latent's
 * count, sum, per-domain means, top occurrence and the bridge (co-activation counts with every expert above the
 * threshold); the reader and the API shape (the latents as the group after the routing groups) read them back.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MonetModel } from '../../workers/models/monet/model';
import { loadTokenizer, type TextTokenizer } from '../../workers/tokenizer';
import { buildAtlas } from '../../workers/analysis/atlas/build';
import { openAtlas } from '../../workers/analysis/atlas/reader';
import { BRIDGE_KEEP } from '../../workers/analysis/atlas/latents';
import { SaeRunner } from '../../workers/sae/encode';
import { mulberry32 } from '../../workers/engine';
import type { Sae } from '../../workers/sae/types';
import { FIXTURES, fixtureWithTokenizer } from '../monet/helpers';

const CONTEXT = 40;
const THRESHOLD = 0.01;
const M = 12;
let model: MonetModel;
let tokenizer: TextTokenizer;
let dir: string;
let data: string;
let work: string;
let sae: Sae;
let samples: { text: string; domain: string }[];

function randomSae(d: number): Sae {
  const rand = mulberry32(5);
  const g = (n: number, s: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * s);
  return {
    config: {
      method: 'relu-l1', activation: { kind: 'relu' }, dIn: d, dSae: M, excludeBos: true, hyper: {},
      hook: { model: '', name: 'blocks.1.hook_resid_post', layer: 1, kind: 'resid_post' }, normalization: { kind: 'dataset-scale', scale: 0.5 },
    },
    // A negative encoder bias keeps each latent off on part of the tokens.
    weights: { W_enc: g(d * M, 2), b_enc: Float32Array.from({ length: M }, (_, m) => -0.2 - 0.05 * m), W_dec: g(M * d, 1), b_dec: new Float32Array(d) },
  };
}

beforeAll(async () => {
  dir = await fixtureWithTokenizer('monet-vd-tiny');
  work = await mkdtemp(path.join(tmpdir(), 'resect-latents-'));
  const src = await readFile(path.join(FIXTURES, 'data', 'sample.jsonl'), 'utf8');
  samples = src.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { text: string; domain: string });
  data = path.join(work, 'data.jsonl');
  await writeFile(data, samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
  model = await MonetModel.load(dir);
  tokenizer = await loadTokenizer(dir, { bosTokenId: 1, eosTokenId: 2 });
  sae = randomSae(model.config.hidden_size);
}, 120_000);
afterAll(async () => { await model?.dispose(); });

describe('latent atlas', () => {
  it('records latents and the latent–expert bridge exactly as a brute-force pass', async () => {
    const c = model.config;
    const H = c.moe_heads;
    const E = c.moe_experts;
    const R = model.ckpt.dims.routerLayers.length;
    const runner = await SaeRunner.create(sae);
    const count = new Float64Array(M);
    const sum = new Float64Array(M);
    const domSum = new Map<string, Float64Array>();
    const domTokens = new Map<string, number>();
    const best = Array.from({ length: M }, () => ({ score: 0, sample: -1, pos: -1 }));
    const pairs = new Map<string, number>();
    for (const [n, s] of samples.entries()) {
      const ids = tokenizer.encode(s.text);
      for (let start = 0; start < ids.length; start += CONTEXT) {
        const chunk = ids.slice(start, start + CONTEXT);
        const out = await model.forward({ ids: chunk, batch: 1, time: chunk.length, gates: true, logits: 'none', hooks: [{ layer: 1, kind: 'resid_post' }] });
        const hook = out.hooks!.get('blocks.1.hook_resid_post')!;
        for (let t = start === 0 ? 1 : 0; t < chunk.length; t++) {
          const codes = (await runner.run(hook.slice(t * c.hidden_size, (t + 1) * c.hidden_size), ['codes'])).codes;
          domTokens.set(s.domain, (domTokens.get(s.domain) ?? 0) + 1);
          const ds = domSum.get(s.domain) ?? new Float64Array(M);
          domSum.set(s.domain, ds);
          const experts: [number, number][] = [];
          for (let r = 0; r < R; r++) {
            const { g1, g2 } = out.gates![r]!;
            for (let i = 0; i < E; i++) for (let j = 0; j < E; j++) {
              let S = 0;
              for (let h = 0; h < H; h++) S += g1[(t * H + h) * E + i]! * g2[(t * H + h) * E + j]!;
              if (S > THRESHOLD) experts.push([r, i * E + j]);
            }
          }
          for (let m = 0; m < M; m++) {
            const v = codes[m]!;
            if (!(v > 0)) continue;
            count[m]!++;
            sum[m]! += v;
            ds[m]! += v;
            if (v > best[m]!.score) best[m] = { score: v, sample: n, pos: start + t };
            for (const [r, e] of experts) pairs.set(`${m}:${r}:${e}`, (pairs.get(`${m}:${r}:${e}`) ?? 0) + 1);
          }
        }
      }
    }
    await runner.dispose();
    expect(count.some((x) => x > 0)).toBe(true);

    const out = path.join(work, 'latents');
    const meta = await buildAtlas({
      model, tokenizer, modelDir: dir, outDir: out, source: { data: { kind: 'jsonl', path: data, textField: 'text' }, filter: {}, domainField: 'domain' },
      threshold: THRESHOLD, topK: 3, context: CONTEXT, batchRows: 3, sae: { sae, id: 'toy', dir: work, hook: { layer: 1, kind: 'resid_post' } },
    });
    expect(meta.sae).toMatchObject({ id: 'toy', latents: M, hook: 'blocks.1.hook_resid_post', group: R, bridgePairs: pairs.size });
    const atlas = await openAtlas(out);
    try {
      expect(atlas.groups).toBe(R + 1);
      expect(atlas.isLatentGroup(R)).toBe(true);
      expect(atlas.units(R)).toBe(M);
      for (let m = 0; m < M; m++) {
        const s = await atlas.expert(R, m);
        expect(s.count).toBe(count[m]);
        expect(s.totalScore).toBeCloseTo(sum[m]!, 4);
        expect(s.i).toBe(m);
        for (const d of s.domains) expect(d.mean).toBeCloseTo((domSum.get(d.domain)?.[m] ?? 0) / domTokens.get(d.domain)!, 5);
        expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(count[m]);
        const top = await atlas.topContexts(R, m);
        if (count[m]! > 0) expect(top[0]).toMatchObject({ sample: best[m]!.sample, pos: best[m]!.pos });
        expect(top[0]?.score ?? 0).toBeCloseTo(best[m]!.score, 4);
        // The bridge keeps each latent's BRIDGE_KEEP best experts by Jaccard overlap of active tokens.
        const bridge = (await atlas.bridge(R, m, 10_000))!;
        const mine: number[] = [];
        for (const [k, n] of pairs) {
          const [lm, r, e] = k.split(':').map(Number) as [number, number, number];
          if (lm !== m) continue;
          const other = (await atlas.expert(r, e)).count;
          mine.push(n / (count[m]! + other - n));
        }
        mine.sort((a, b) => b - a);
        expect(bridge).toHaveLength(Math.min(BRIDGE_KEEP, mine.length));
        for (const b of bridge) {
          expect(b.count).toBe(pairs.get(`${m}:${b.group}:${b.id}`));
          const other = (await atlas.expert(b.group, b.id)).count;
          expect(b.jaccard).toBeCloseTo(b.count / (count[m]! + other - b.count), 12);
        }
        bridge.forEach((b, k) => expect(b.jaccard).toBeCloseTo(mine[k]!, 12));
      }
      // The other direction: an expert lists the latents it co-fires with.
      const [key, n] = [...pairs][0]!;
      const [m, r, e] = key.split(':').map(Number) as [number, number, number];
      const back = (await atlas.bridge(r, e, 10_000))!;
      expect(back.find((b) => b.group === R && b.id === m)?.count).toBe(n);
      // Latents have a promoted-token list through their decoder direction, and no E×E map.
      await expect(atlas.map(R)).rejects.toThrow('no E×E map');
      expect(await atlas.searchToken(' ', { group: R })).toBeInstanceOf(Array);
      await expect(atlas.expert(R, M)).rejects.toThrow('latent 12 is out of range');
    } finally {
      await atlas.close();
    }
  }, 180_000);
});

// The activation cache (fp16 chunks + manifest, shuffled reads across chunks) and capturing a Monet hook into it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../workers/engine/safetensors';
import { MonetModel } from '../../workers/models/monet/model';
import { tokenizerForModel } from '../../workers/models/monet/session';
import { captureActivations, cacheSourceFor } from '../../workers/sae/activations';
import { ActivationCache, ActivationCacheWriter, cacheKey, listCaches } from '../../workers/sae/cache';
import { fixtureWithTokenizerSync } from '../support/tiny-monet';

const tmp = mkdtempSync(path.join(tmpdir(), 'resect-sae-cache-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const hook = { model: 'x', name: 'blocks.0.hook_resid_post', layer: 0, kind: 'resid_post' as const };
/** Uniform in (−1, 1), seeded. */
const rand32 = (seed: number) => () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
const fp16 = (x: Float32Array) => float16BitsToFloat32(float32ToFloat16Bits(x));

async function collect(it: AsyncIterable<Float32Array>): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for await (const b of it) out.push(b.slice());
  return out;
}

/** Row r of data as a string key (to find which stored row a batch row is). */
const rowKey = (x: Float32Array, r: number, d: number) => Array.from(x.subarray(r * d, (r + 1) * d)).join(',');

describe('activation cache', () => {
  const d = 6;
  const n = 1000;
  const data = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i * 0.37) * 3 + (i % d));
  let dir: string;
  beforeAll(async () => {
    dir = path.join(tmp, 'c1');
    const w = new ActivationCacheWriter(dir, { key: cacheKey({ a: 1 }), source: { a: 1 }, description: 'test', hook, excludeBos: true, dIn: d }, 64);
    await w.append(data.subarray(0, 300 * d));
    await w.append(data, Int32Array.from({ length: n - 300 }, (_, i) => 300 + i)); // the rest, by row index
    await w.finish(3);
  });

  it('stores fp16 chunks and a manifest; reads every token back in order', async () => {
    const c = ActivationCache.open(dir);
    expect(c.numTokens).toBe(n);
    expect(c.dIn).toBe(d);
    expect(c.manifest.chunks.length).toBe(Math.ceil(n / 64));
    expect(readdirSync(dir).filter((f) => f.endsWith('.safetensors')).length).toBe(c.manifest.chunks.length);
    const back = await collect(c.sequential(100));
    const flat = new Float32Array(n * d);
    let at = 0;
    for (const b of back) { flat.set(b, at); at += b.length; }
    expect(at).toBe(n * d);
    expect(flat).toEqual(fp16(data));
    expect(listCaches(tmp).map((m) => m.key)).toContain(c.manifest.key);
  });

  it('statistics and the dataset normalizations fitted over the whole cache describe the stored values', () => {
    const c = ActivationCache.open(dir);
    const x = fp16(data);
    const mean = new Float64Array(d);
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) mean[j]! += x[r * d + j]! / n;
    let centered = 0;
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[r * d + j]! - mean[j]!) ** 2;
      centered += Math.sqrt(s) / n;
    }
    c.manifest.stats!.mean.forEach((m, j) => expect(m).toBeCloseTo(mean[j]!, 9));
    expect(c.manifest.stats!.meanCenteredNorm).toBeCloseTo(centered, 9);
    expect(c.normalization).toBeUndefined(); // the trainer fits its own unless asked
    const norm = ActivationCache.open(dir, { normalize: { mode: 'dataset-centered', target: 1 } }).normalization!;
    expect(norm.kind).toBe('dataset-scale');
    expect(norm.scale * centered).toBeCloseTo(1, 9);
    expect(Array.from(norm.mean!)).toEqual(c.manifest.stats!.mean.map(Math.fround));
    let plain = 0;
    for (let r = 0; r < n; r++) plain += Math.hypot(...x.subarray(r * d, (r + 1) * d)) / n;
    expect(ActivationCache.open(dir, { normalize: { mode: 'dataset', target: 2 } }).normalization!.scale * plain).toBeCloseTo(2, 9);
  });

  it('batches: full batches of stored rows, shuffled across chunks, fixed by the seed, resumable at any batch', async () => {
    const c = ActivationCache.open(dir, { poolChunks: 3 });
    const stored = new Map<string, number>();
    const x = fp16(data);
    for (let r = 0; r < n; r++) stored.set(rowKey(x, r, d), r);
    const a = await collect(c.batches(32, 7));
    expect(a.every((b) => b.length === 32 * d)).toBe(true);
    const seen = new Set<number>();
    for (const b of a) for (let r = 0; r < 32; r++) {
      const row = stored.get(rowKey(b, r, d));
      expect(row).toBeDefined();
      seen.add(row!);
    }
    // Each token at most once per epoch, and almost all of them (a pool's remainder < 32 is left out).
    expect(seen.size).toBe(a.length * 32);
    expect(seen.size).toBeGreaterThan(n - 32 * Math.ceil(Math.ceil(n / 64) / 3));
    // The first batch mixes chunks (rows far apart in storage order).
    const first = Array.from({ length: 32 }, (_, r) => Math.floor(stored.get(rowKey(a[0]!, r, d))! / 64));
    expect(new Set(first).size).toBeGreaterThan(1);
    expect(await collect(c.batches(32, 7))).toEqual(a);
    expect(await collect(c.batches(32, 8))).not.toEqual(a);
    for (const start of [1, 9, a.length - 1]) expect(await collect(c.batches(32, 7, start))).toEqual(a.slice(start));
  });

  it('stores fp16 exactly as the reference conversion rounds (normal, subnormal, tie, large and clipped values)', async () => {
    const r = rand32(5);
    const edge = [0, -0, 1e-8, -3e-6, 6.1e-5, 6.103515625e-5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2047.5, 32767, 40000.5, 65504, 65519, 70000, -1e6, 2 ** -24, 2 ** -25];
    const values = Float32Array.from([...edge, ...Array.from({ length: 2000 - edge.length }, () => r() * 10 ** Math.floor(r() * 12 - 7))]);
    const w = new ActivationCacheWriter(path.join(tmp, 'edges'), { key: 'e', source: {}, description: '', hook, excludeBos: true, dIn: 1 });
    await w.append(values);
    const m = await w.finish();
    const back = (await collect(ActivationCache.open(path.join(tmp, 'edges')).sequential(5000)))[0]!;
    const clipped = values.map((v) => (Math.abs(v) > 65504 ? Math.sign(v) * 65504 : v));
    expect(Array.from(back)).toEqual(Array.from(fp16(clipped)));
    expect(m.stats!.clipped).toBe(values.filter((v) => Math.abs(v) > 65504).length);
  });

  it('a cache being written is invisible until finished; an aborted one leaves nothing', async () => {
    const dir2 = path.join(tmp, 'c2');
    const w = new ActivationCacheWriter(dir2, { key: 'k', source: {}, description: '', hook, excludeBos: true, dIn: d }, 8);
    await w.append(data.subarray(0, 20 * d));
    expect(() => ActivationCache.open(dir2)).toThrow(/not an activation cache/);
    expect(readdirSync(tmp).filter((f) => f.startsWith('c2.partial-')).length).toBe(1);
    w.abort();
    expect(readdirSync(tmp).filter((f) => f.startsWith('c2'))).toEqual([]);
    // Two writers of the same key: the first to finish publishes, the second keeps it.
    const a = new ActivationCacheWriter(dir2, { key: 'k', source: {}, description: 'a', hook, excludeBos: true, dIn: d }, 8);
    const b = new ActivationCacheWriter(dir2, { key: 'k', source: {}, description: 'b', hook, excludeBos: true, dIn: d }, 8);
    await a.append(data.subarray(0, 20 * d));
    await b.append(data.subarray(0, 30 * d));
    await a.finish();
    expect((await b.finish()).description).toBe('a');
    expect(ActivationCache.open(dir2).numTokens).toBe(20);
    expect(readdirSync(tmp).filter((f) => f.startsWith('c2'))).toEqual(['c2']);
  });
});

describe('capturing a Monet hook', () => {
  let model: MonetModel;
  let modelDir: string;
  beforeAll(async () => {
    modelDir = fixtureWithTokenizerSync('monet-vd-tiny');
    model = await MonetModel.load(modelDir, { provider: 'cpu', intraOpThreads: 1 });
  });
  afterAll(async () => {
    await model.dispose();
  });
  const texts = ['The cat sat on the mat.', 'def f(x):\n    return x * 2', 'A third, somewhat longer sample of plain prose for the window split.'];

  it.each([
    { kind: 'mlp_out' as const, excludeBos: true },
    { kind: 'attn_out' as const, excludeBos: false },
  ])('writes $kind of every real token (excludeBos $excludeBos) as a per-text forward computes it', async ({ kind, excludeBos }) => {
    const tokenizer = await tokenizerForModel(modelDir, model.config);
    const hp = { layer: 1, kind };
    const outDir = path.join(tmp, `cap-${kind}`);
    const progress: number[] = [];
    const m = await captureActivations({
      model, tokenizer, modelDir, hook: hp, samples: texts.map((text) => ({ text })), outDir, excludeBos,
      source: cacheSourceFor({ modelDir, hook: hp, data: 'texts', context: 16, excludeBos, maxTokens: null }), description: 'texts',
      context: 16, batchTokens: 64, onProgress: (p) => progress.push(p.tokens),
    });
    const lengths = texts.map((t) => tokenizer.encode(t).length);
    expect(m.numTokens).toBe(lengths.reduce((s, l) => s + l - (excludeBos ? 1 : 0), 0));
    expect(m.hook).toMatchObject({ name: `blocks.1.hook_${kind}`, layer: 1, kind });
    expect(progress.at(-1)).toBe(m.numTokens);
    // Reference: each text alone, cut into the same 16-token windows.
    const d = model.config.hidden_size;
    const ref: number[] = [];
    for (const t of texts) {
      const ids = tokenizer.encode(t);
      for (let s = 0; s < ids.length; s += 16) {
        const w = ids.slice(s, s + 16);
        const out = await model.forward({ ids: w, batch: 1, time: w.length, hooks: [hp], logits: 'none' });
        const h = out.hooks!.get(`blocks.1.hook_${kind}`)!;
        for (let i = s === 0 && excludeBos ? 1 : 0; i < w.length; i++) ref.push(...h.subarray(i * d, (i + 1) * d));
      }
    }
    const got = (await collect(ActivationCache.open(outDir).sequential(1000))).flatMap((b) => Array.from(b));
    expect(got.length).toBe(ref.length);
    let worst = 0;
    for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!) / Math.max(1, Math.abs(ref[i]!)));
    expect(worst).toBeLessThan(2e-3); // fp16 storage
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compile, clearSessionCache } from '../../workers/engine';
import { openSafetensors, writeSafetensors } from '../../workers/engine/safetensors';
import { openMonetCheckpoint } from '../../workers/models/monet/checkpoint';
import { buildMonetForward, maskFeeds } from '../../workers/models/monet/forward';

/**
 * Parity fixtures (test/fixtures/monet-{vd,hd}-tiny): tiny random-weight checkpoints and what an independent PyTorch
 * reference of the published Monet forward computes for them (logits, router gates, masked logits from a brute-force
 * composite-expert evaluator). Their generator sits beside the steering copy, ../shared/fixtures/generate.py
 * (`python3 generate.py public OUT_DIR`, fixed seeds; its README says how the reference was checked against the
 * published modeling_monet.py); the files here are byte-identical to the ones it wrote. Agreement bar: 1e-4.
 */
const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

afterAll(async () => {
  await clearSessionCache();
});

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('Monet forward parity: %s', (name) => {
  it('matches the reference logits and router gates, unmasked and with masks.json', async () => {
    const dir = path.join(FIXTURES, name);
    const ckpt = await openMonetCheckpoint(dir);
    const expected = await openSafetensors(path.join(dir, 'expected.safetensors'));
    const ids = (await expected.read('input_ids')) as BigInt64Array;
    const dimsOf = (n: string) => expected.tensors.get(n)!.shape;
    const masks = JSON.parse(await readFile(path.join(dir, 'masks.json'), 'utf8')) as { layers: Record<string, number[]> };

    const graph = await buildMonetForward(ckpt, { masking: true });
    const run = await compile(graph, { provider: 'cpu' });
    const feeds = { input_ids: { data: ids, dims: dimsOf('input_ids') } };
    const report: Record<string, number> = {};

    const plain = await run.run({ ...feeds, ...maskFeeds(ckpt, new Map()) });
    report.logits = maxAbsDiff(plain.logits!.data as Float32Array, await expected.readAsFloat32('logits'));
    for (let r = 0; r < ckpt.dims.routerLayers.length; r++) {
      for (const s of ['g1', 'g2']) {
        const key = `router.${r}.${s}`;
        expect(plain[key]!.dims).toEqual(dimsOf(key));
        report[key] = maxAbsDiff(plain[key]!.data as Float32Array, await expected.readAsFloat32(key));
      }
    }
    const maskMap = new Map(Object.entries(masks.layers).map(([l, list]) => [Number(l), list]));
    const masked = await run.run({ ...feeds, ...maskFeeds(ckpt, maskMap) });
    report.logits_masked = maxAbsDiff(masked.logits!.data as Float32Array, await expected.readAsFloat32('logits_masked'));
    // The masks must actually change the output for the comparison to mean something.
    const effect = maxAbsDiff(masked.logits!.data as Float32Array, plain.logits!.data as Float32Array);

    console.log(`${name}: max |Δ| ${JSON.stringify(report)}; mask effect ${effect.toExponential(2)}`);
    for (const [k, v] of Object.entries(report)) expect([k, v < 1e-4]).toEqual([k, true]);
    expect(effect).toBeGreaterThan(1e-3);

    // Without mask inputs, the same logits.
    const lean = await compile(await buildMonetForward(ckpt, { routerOutputs: false }), { provider: 'cpu' });
    const out = await lean.run(feeds);
    expect(maxAbsDiff(out.logits!.data as Float32Array, plain.logits!.data as Float32Array)).toBeLessThan(1e-5);
    await expected.close();
    await ckpt.close();
  });
});

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('Monet masking, every expert removed: %s', (name) => {
  it('equals the model whose expert output weights and biases are zero', async () => {
    // Removing all E² composite experts of every layer must cancel the whole MoE output exactly, through the
    // sparse correction alone (every row and column, K = E²); zeroing v*/b* gives that model directly.
    const tmp = await mkdtemp(path.join(tmpdir(), 'resect-mask-'));
    try {
      const src = path.join(FIXTURES, name);
      const zeroed = path.join(tmp, 'zeroed');
      await cp(src, zeroed, { recursive: true });
      const st = await openSafetensors(path.join(src, 'model.safetensors'));
      const isExpertOut = (n: string) => /\.moe\.(v\w*\.weight|b\d?)$/.test(n);
      await writeSafetensors(path.join(zeroed, 'model.safetensors'), [...st.tensors].map(([n, info]) => ({
        name: n, dtype: info.dtype, shape: info.shape,
        data: async () => (isExpertOut(n) ? new Float32Array(info.numel) : st.read(n)),
      })));
      await st.close();

      const ckpt = await openMonetCheckpoint(src);
      const E = ckpt.config.moe_experts;
      const all = Array.from({ length: E * E }, (_, id) => id);
      const masks = new Map(Array.from({ length: ckpt.config.num_hidden_layers }, (_, l) => [l, all] as const));
      const ids = { data: BigInt64Array.from({ length: 10 }, (_, t) => BigInt((t * 7 + 3) % ckpt.config.vocab_size)), dims: [1, 10] };
      const masked = await (await compile(await buildMonetForward(ckpt, { masking: true, routerOutputs: false }), { provider: 'cpu' }))
        .run({ input_ids: ids, ...maskFeeds(ckpt, masks) });
      const ref = await openMonetCheckpoint(zeroed);
      const plain = await (await compile(await buildMonetForward(ref, { routerOutputs: false }), { provider: 'cpu' })).run({ input_ids: ids });
      expect(maxAbsDiff(masked.logits!.data as Float32Array, plain.logits!.data as Float32Array)).toBeLessThan(1e-5);
      await ckpt.close();
      await ref.close();
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});

import { afterAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { compile, clearSessionCache } from '../../workers/engine';
import { openSafetensors } from '../../workers/engine/safetensors';
import { openMonetCheckpoint } from '../../workers/models/monet/checkpoint';
import { buildMonetForward, maskFeeds } from '../../workers/models/monet/forward';

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

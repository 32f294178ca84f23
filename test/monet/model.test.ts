import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openSafetensors, type SafetensorsHandle } from '../../workers/engine/safetensors';
import { MonetModel } from '../../workers/models/monet/model';
import { parseMaskJson } from '../../workers/models/monet/mask';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('layered Monet model: %s', (name) => {
  const dir = path.join(FIXTURES, name);
  let model: MonetModel;
  let expected: SafetensorsHandle;
  let ids: BigInt64Array;
  let B: number;
  let T: number;
  beforeAll(async () => {
    model = await MonetModel.load(dir, { provider: 'cpu', intraOpThreads: 1 });
    expected = await openSafetensors(path.join(dir, 'expected.safetensors'));
    ids = (await expected.read('input_ids')) as BigInt64Array;
    [B, T] = expected.tensors.get('input_ids')!.shape as [number, number];
  });
  afterAll(async () => {
    await model.dispose();
    await expected.close();
  });

  it('matches the reference logits, gates and masked logits', async () => {
    const out = await model.forward({ ids, batch: B, time: T, gates: true });
    const report: Record<string, number> = { logits: maxAbsDiff(out.logits!, await expected.readAsFloat32('logits')) };
    for (const [r, g] of out.gates!.entries()) {
      report[`router.${r}.g1`] = maxAbsDiff(g.g1, await expected.readAsFloat32(`router.${r}.g1`));
      report[`router.${r}.g2`] = maxAbsDiff(g.g2, await expected.readAsFloat32(`router.${r}.g2`));
    }
    const masks = parseMaskJson(model.config, JSON.parse(await readFile(path.join(dir, 'masks.json'), 'utf8')));
    const masked = await model.forward({ ids, batch: B, time: T, masks });
    report.logits_masked = maxAbsDiff(masked.logits!, await expected.readAsFloat32('logits_masked'));
    console.log(`${name} layered: max |Δ| ${JSON.stringify(report)}`);
    for (const [k, v] of Object.entries(report)) expect([k, v < 1e-5]).toEqual([k, true]);
  });
});

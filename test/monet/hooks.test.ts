// Hook points (blocks.{l}.hook_resid_post / hook_attn_out / hook_mlp_out) of the layered model against the single
// forward graph's hook outputs, and splicing a replacement in at a hook (the SAE's next-token-loss evaluation).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { compile, clearSessionCache } from '../../workers/engine';
import { openSafetensors } from '../../workers/engine/safetensors';
import { openMonetCheckpoint } from '../../workers/models/monet/checkpoint';
import { buildMonetForward } from '../../workers/models/monet/forward';
import { allHooks, hookName, parseHookName } from '../../workers/models/monet/hooks';
import { MonetModel } from '../../workers/models/monet/model';
import { FIXTURES, maxAbsDiff } from './helpers';

afterAll(async () => {
  await clearSessionCache();
});

describe('hook names', () => {
  it('parses and names blocks.L.hook_KIND, and refuses others with what is accepted', () => {
    expect(parseHookName('blocks.3.hook_mlp_out')).toEqual({ layer: 3, kind: 'mlp_out' });
    expect(hookName({ layer: 0, kind: 'attn_out' })).toBe('blocks.0.hook_attn_out');
    expect(() => parseHookName('blocks.3.hook_resid_pre')).toThrow(/expected blocks.L.hook_resid_post/);
    expect(() => parseHookName('blocks.4.hook_resid_post', 4)).toThrow(/4 blocks \(0…3\)/);
    expect(allHooks(2).map(hookName)).toHaveLength(6);
  });
});

describe.each(['monet-vd-tiny', 'monet-hd-tiny'])('Monet hooks: %s', (name) => {
  const dir = path.join(FIXTURES, name);
  let model: MonetModel;
  let ids: BigInt64Array;
  let B: number;
  let T: number;
  beforeAll(async () => {
    model = await MonetModel.load(dir, { provider: 'cpu', intraOpThreads: 1 });
    const expected = await openSafetensors(path.join(dir, 'expected.safetensors'));
    ids = (await expected.read('input_ids')) as BigInt64Array;
    [B, T] = expected.tensors.get('input_ids')!.shape as [number, number];
    await expected.close();
  });
  afterAll(async () => {
    await model.dispose();
  });

  it('the layered model returns every hook as the single forward graph computes it', async () => {
    const ckpt = await openMonetCheckpoint(dir);
    const run = await compile(await buildMonetForward(ckpt, { hookOutputs: true, routerOutputs: false }), { provider: 'cpu' });
    const ref = await run.run({ input_ids: { data: ids, dims: [B, T] } });
    const hooks = allHooks(model.config.num_hidden_layers);
    const out = await model.forward({ ids, batch: B, time: T, hooks, hidden: [0], logits: 'none' });
    const d = model.config.hidden_size;
    for (const h of hooks) {
      const key = hookName(h);
      expect(ref[key]!.dims).toEqual([B, T, d]);
      expect([key, maxAbsDiff(out.hooks!.get(key)!, ref[key]!.data as Float32Array) < 1e-5]).toEqual([key, true]);
    }
    expect(out.hooks!.get('blocks.0.hook_resid_post')).toEqual(out.hidden!.get(0));
    // resid_post(l) = resid_post(l−1) + attn_out(l) + mlp_out(l): the three hooks are the parts of one sum.
    const [r0, a1, m1, r1] = ['blocks.0.hook_resid_post', 'blocks.1.hook_attn_out', 'blocks.1.hook_mlp_out', 'blocks.1.hook_resid_post'].map((k) => out.hooks!.get(k)!);
    expect(maxAbsDiff(r0!.map((v, i) => v + a1![i]! + m1![i]!), r1!)).toBeLessThan(1e-5);
    await run.dispose();
    await ckpt.close();
  });

  it('splicing the clean value back in changes nothing; splicing zeros at each kind of hook ablates it', async () => {
    const clean = await model.forward({ ids, batch: B, time: T, logits: 'all' });
    for (const kind of ['resid_post', 'attn_out', 'mlp_out'] as const) {
      const hook = { layer: 1, kind };
      const same = await model.forward({ ids, batch: B, time: T, logits: 'all', splice: { hook, replace: (x) => x.slice() } });
      expect([kind, maxAbsDiff(same.logits!, clean.logits!) < 1e-5]).toEqual([kind, true]);
      const ablated = await model.forward({
        ids, batch: B, time: T, logits: 'all', hooks: [hook, { layer: 1, kind: 'resid_post' }],
        splice: { hook, replace: (x) => new Float32Array(x.length) },
      });
      expect([kind, maxAbsDiff(ablated.logits!, clean.logits!) > 1e-3]).toEqual([kind, true]);
      // The spliced hook reports its clean value; resid_post after an inner splice is the stream the model continued with.
      const cleanHooks = await model.forward({ ids, batch: B, time: T, logits: 'none', hooks: [hook, { layer: 0, kind: 'resid_post' }, { layer: 1, kind: 'resid_post' }, { layer: 1, kind: 'attn_out' }, { layer: 1, kind: 'mlp_out' }] });
      expect(ablated.hooks!.get(hookName(hook))).toEqual(cleanHooks.hooks!.get(hookName(hook)));
      if (kind === 'mlp_out') {
        const get = (k: string) => cleanHooks.hooks!.get(k)!;
        const expected = get('blocks.0.hook_resid_post').map((v, i) => v + get('blocks.1.hook_attn_out')[i]!);
        expect(maxAbsDiff(ablated.hooks!.get('blocks.1.hook_resid_post')!, expected)).toBeLessThan(1e-5);
      }
    }
  });
});

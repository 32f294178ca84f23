import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseMonetConfig, sigmaStar, routerLayerOf, MonetConfigError } from '../../workers/models/monet/config';
import { inverseNormalCdf } from '../../workers/models/monet/normal';
import { openMonetCheckpoint, expectedTensors, MonetCheckpointError } from '../../workers/models/monet/checkpoint';
import {
  openSafetensors, writeSafetensors, writeShardedSafetensors, float32ToBfloat16Bits, type TensorToWrite,
} from '../../workers/engine/safetensors';

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');

/** The 1.4B-VD config of spec §7.2. */
const CONFIG_1_4B = {
  architectures: ['MonetForCausalLM'], model_type: 'monet', hidden_act: 'relu2',
  hidden_size: 2048, num_hidden_layers: 24, num_attention_heads: 16, num_key_value_heads: 16,
  moe_decompose: 'vertical', moe_dim: 16, moe_experts: 512, moe_groups: 4, moe_heads: 8, moe_topk: 8,
  vocab_size: 32000, max_position_embeddings: 2048, rms_norm_eps: 1e-6, rope_theta: 10000.0, rope_scaling: null,
  attention_bias: false, attention_dropout: 0.0, mlp_bias: null, intermediate_size: null, pretraining_tp: 1,
  tie_word_embeddings: false, bos_token_id: 1, eos_token_id: 2, initializer_range: 0.02, output_router_probs: false,
  use_cache: true, torch_dtype: 'bfloat16', transformers_version: '4.42.3',
};

describe('Monet config', () => {
  it('computes σ* in float64 (AS241), matching the spec and Python\'s NormalDist', () => {
    expect(sigmaStar(8, 512)).toBeCloseTo(2.153875, 6);
    expect(sigmaStar(32, 512)).toBeCloseTo(1.534121, 6);
    // Reference values from Python's statistics.NormalDist().inv_cdf (also AS241).
    const ref: [number, number][] = [
      [1 - 8 / 512, 2.1538746940614555], [0.9375, 1.5341205443525459], [0.6, 0.2533471031357998],
      [0.975, 1.9599639845400536], [1e-10, -6.361340902404056], [0.02425, -1.9729610513118845],
      [1 - 1e-12, 7.0344869100478356], [0.3, -0.5244005127080407],
    ];
    for (const [p, x] of ref) expect(Math.abs(inverseNormalCdf(p) - x)).toBeLessThan(1e-14 * Math.max(1, Math.abs(x)));
    expect(inverseNormalCdf(0.5)).toBe(0);
  });

  it('keeps the checkpoint\'s values and derives head_dim, router layers and σ*', () => {
    const { config, dims, defaulted } = parseMonetConfig(CONFIG_1_4B);
    expect(config.moe_topk).toBe(8); // not the code default 32
    expect(dims.headDim).toBe(128);
    expect(dims.routerLayers).toEqual([0, 4, 8, 12, 16, 20]);
    expect(dims.sigmaStar).toBeCloseTo(2.153875, 6);
    expect(dims.vertical).toBe(true);
    expect(defaulted).toEqual(['pad_token_id']);
    expect(routerLayerOf(config, 7)).toBe(4);
  });

  it('uses the spec\'s code defaults only for absent keys', () => {
    const { config, defaulted } = parseMonetConfig({
      hidden_size: 64, num_hidden_layers: 3, num_attention_heads: 2, moe_decompose: 'horizontal', moe_experts: 64, moe_groups: 2,
    });
    expect(config).toMatchObject({
      moe_dim: 8, moe_heads: 8, moe_topk: 32, vocab_size: 32000, rms_norm_eps: 1e-6,
      rope_theta: 10000, tie_word_embeddings: false, num_key_value_heads: 2, bos_token_id: 1, eos_token_id: 2,
    });
    expect(defaulted).toContain('moe_topk');
  });

  it('gives clear errors naming the key and the value', () => {
    const bad = (patch: Record<string, unknown>) => () => parseMonetConfig({ ...CONFIG_1_4B, ...patch });
    expect(bad({ moe_experts: -3 })).toThrow('config.json: moe_experts must be a positive integer, got -3');
    expect(bad({ moe_experts: 2.5 })).toThrow('moe_experts must be a positive integer, got 2.5');
    expect(bad({ moe_decompose: 'diagonal' })).toThrow('moe_decompose must be "vertical" or "horizontal", got "diagonal"');
    expect(bad({ hidden_act: 'silu' })).toThrow('hidden_act must be "relu2"');
    expect(bad({ rope_scaling: { type: 'linear' } })).toThrow('rope_scaling must be null');
    expect(bad({ num_key_value_heads: 4 })).toThrow('num_key_value_heads must equal num_attention_heads');
    expect(bad({ hidden_size: 2050 })).toThrow('hidden_size 2050 must be divisible by num_attention_heads 16');
    expect(bad({ moe_topk: 600 })).toThrow('moe_topk must be at most moe_experts (512), got 600');
    const { moe_groups: _, ...noGroups } = CONFIG_1_4B;
    expect(() => parseMonetConfig(noGroups)).toThrow('moe_groups must be a positive integer, got nothing (the key is missing and has no default)');
    expect(() => parseMonetConfig([1])).toThrow(MonetConfigError);
  });
});

describe('Monet checkpoint', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'resect-ckpt-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the spec §7.3 tensors with the 1.4B shapes', () => {
    const { config, dims } = parseMonetConfig(CONFIG_1_4B);
    const specs = new Map(expectedTensors(config, dims).map((s) => [s.name, s.shape]));
    expect(specs.get('model.layers.3.moe.u1.weight')).toEqual([4096, 2048]);
    expect(specs.get('model.layers.3.moe.v12.weight')).toEqual([1024, 4096]);
    expect(specs.get('model.layers.3.moe.b2')).toEqual([512, 1024]);
    expect(specs.get('model.layers.20.router.w1.weight')).toEqual([4096, 2048]);
    expect(specs.has('model.layers.21.router.w1.weight')).toBe(false);
    // Parameter count of spec §2.7: 1,465,157,632.
    const total = [...specs.values()].reduce((s, shape) => s + shape.reduce((a, b) => a * b, 1), 0) - 12; // num_batches_tracked
    expect(total - 6 * 4 * 8).toBe(1_465_157_632); // minus the BN statistics (buffers, not parameters)
    const hd = parseMonetConfig({ ...CONFIG_1_4B, moe_decompose: 'horizontal' });
    const hdSpecs = new Map(expectedTensors(hd.config, hd.dims).map((s) => [s.name, s.shape]));
    expect(hdSpecs.get('model.layers.0.moe.u.weight')).toEqual([8192, 2048]);
    expect(hdSpecs.get('model.layers.0.moe.v.weight')).toEqual([2048, 8192]);
  });

  it('opens the VD and HD fixtures and computes router thresholds', async () => {
    for (const name of ['monet-vd-tiny', 'monet-hd-tiny']) {
      const ckpt = await openMonetCheckpoint(path.join(FIXTURES, name));
      expect(ckpt.dims.routerLayers).toEqual([0, 2]);
      expect([...ckpt.thresholds.keys()]).toEqual([0, 2]);
      expect(ckpt.unused).toEqual([]);
      const mean = await ckpt.weights.readAsFloat32('model.layers.2.router.norm2.running_mean');
      const variance = await ckpt.weights.readAsFloat32('model.layers.2.router.norm2.running_var');
      const tau = ckpt.thresholds.get(2)!.tau2;
      for (let h = 0; h < 2; h++) expect(tau[h]).toBeCloseTo(mean[h]! + Math.sqrt(variance[h]! + 1e-5) * sigmaStar(2, 8), 12);
      expect((await ckpt.read('model.norm.weight')).length).toBe(32);
      await ckpt.close();
    }
  });

  it('loads BF16 and sharded checkpoints', async () => {
    const src = await openSafetensors(path.join(FIXTURES, 'monet-hd-tiny', 'model.safetensors'));
    const tensors: TensorToWrite[] = [...src.tensors].map(([name, info]) => ({
      name, shape: info.shape, dtype: info.dtype === 'F32' ? 'BF16' : info.dtype,
      data: async () => (info.dtype === 'F32' ? float32ToBfloat16Bits((await src.read(name)) as Float32Array) : src.read(name)),
    }));
    const out = path.join(dir, 'bf16-sharded');
    await cp(path.join(FIXTURES, 'monet-hd-tiny'), out, { recursive: true });
    await rm(path.join(out, 'model.safetensors'));
    await import('node:fs/promises').then((fs) => fs.rm(path.join(out, 'expected.safetensors')));
    await writeShardedSafetensors(out, tensors, { maxShardBytes: 20_000 });
    const ckpt = await openMonetCheckpoint(out);
    const w = await ckpt.read('model.layers.1.moe.v.weight');
    const ref = (await src.read('model.layers.1.moe.v.weight')) as Float32Array;
    for (let i = 0; i < ref.length; i++) expect(Math.abs(w[i]! - ref[i]!)).toBeLessThanOrEqual(Math.abs(ref[i]!) * 2 ** -8);
    await ckpt.close();
    await src.close();
  });

  it('names missing and misshapen tensors', async () => {
    const out = path.join(dir, 'broken');
    await cp(path.join(FIXTURES, 'monet-vd-tiny'), out, { recursive: true });
    const src = await openSafetensors(path.join(out, 'model.safetensors'));
    const tensors: TensorToWrite[] = [];
    for (const [name, info] of src.tensors) {
      if (name === 'model.layers.2.router.w1.weight') continue;
      const data = await src.read(name);
      if (name === 'model.layers.1.moe.b1') tensors.push({ name, dtype: 'F32', shape: [16, 8], data });
      else tensors.push({ name, dtype: info.dtype, shape: info.shape, data });
    }
    await src.close();
    await writeSafetensors(path.join(out, 'model.safetensors'), tensors);
    const err = await openMonetCheckpoint(out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MonetCheckpointError);
    expect((err as Error).message).toContain('model.layers.1.moe.b1: shape [16,8], expected [8,16]');
    expect((err as Error).message).toContain('model.layers.2.router.w1.weight: missing (expected shape [16,32])');

    const cfg = JSON.parse(await readFile(path.join(out, 'config.json'), 'utf8'));
    await writeFile(path.join(out, 'config.json'), JSON.stringify({ ...cfg, moe_heads: 0 }));
    await expect(openMonetCheckpoint(out)).rejects.toThrow(/config\.json: moe_heads must be a positive integer, got 0/);
  });
});

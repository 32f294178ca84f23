/**
 * Synthetic random-weight Monet checkpoints for the benches, written tensor by tensor through the streamed
 * safetensors writer (never the whole checkpoint in memory): uniform weights of variance 1/fan-in from a seeded
 * LCG, small biases, unit norms and running variances, zero running means.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeSafetensors, float32ToBfloat16Bits, type TensorToWrite } from '../workers/engine/safetensors';
import { expectedTensors } from '../workers/models/monet/checkpoint';
import { parseMonetConfig } from '../workers/models/monet/config';

export async function generateSynthetic(dir: string, config: Record<string, unknown>, o: { dtype: 'F32' | 'BF16'; seed?: number }): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  const { config: c, dims } = parseMonetConfig(config);
  let seed = o.seed ?? 12345;
  const tensors: TensorToWrite[] = expectedTensors(c, dims).filter((s) => !s.optional).map((s) => ({
    name: s.name, dtype: o.dtype, shape: s.shape,
    data: () => {
      const n = s.shape.reduce((a, b) => a * b, 1);
      const f = new Float32Array(n);
      if (s.name.endsWith('running_var') || s.name.endsWith('layernorm.weight') || s.name === 'model.norm.weight') f.fill(1);
      else if (!s.name.endsWith('running_mean')) {
        const scale = s.name.includes('moe.b') || s.name.endsWith('.bias') ? 0.01 : 1 / Math.sqrt(s.shape[s.shape.length - 1]!);
        for (let i = 0; i < n; i++) {
          seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
          f[i] = (seed / 2 ** 32 - 0.5) * 2 * Math.sqrt(3) * scale;
        }
      }
      return o.dtype === 'BF16' ? float32ToBfloat16Bits(f) : f;
    },
  }));
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}

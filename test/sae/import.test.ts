// Importing [tokens, d] activations from .npy (f32, f16, Fortran order) and safetensors (f32, bf16) into the cache.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from '../../workers/engine/safetensors';
import { importActivations } from '../../workers/sae/activations-import';
import { ActivationCache } from '../../workers/sae/cache';
import { NpyMatrix } from '../../workers/sae/io/npy';
import { FIXTURES } from '../support/tiny-monet';

const DIR = path.join(FIXTURES, 'sae');
const tmp = mkdtempSync(path.join(tmpdir(), 'resect-sae-import-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function all(c: ActivationCache): Promise<Float32Array> {
  const out = new Float32Array(c.numTokens * c.dIn);
  let at = 0;
  for await (const b of c.sequential(7)) { out.set(b, at); at += b.length; }
  return out;
}

describe('importing activations', () => {
  it('reads the reference .npy (f32, C order) as numpy wrote it', async () => {
    const m = await NpyMatrix.open(path.join(DIR, 'activations-f32.npy'));
    expect([m.rows, m.cols, m.header.dtype, m.header.fortranOrder]).toEqual([40, 8, 'f4', false]);
    await m.close();
  });

  it.each([
    { file: 'activations-f32.npy', round: (x: Float32Array) => x },
    { file: 'activations-f32-fortran.npy', round: (x: Float32Array) => x },
    { file: 'activations-f16.npy', round: (x: Float32Array) => float16BitsToFloat32(float32ToFloat16Bits(x)) },
    { file: 'activations.safetensors', tensor: 'acts_f32', round: (x: Float32Array) => x },
    { file: 'activations.safetensors', tensor: 'acts_bf16', round: (x: Float32Array) => bfloat16BitsToFloat32(float32ToBfloat16Bits(x)) },
  ])('$file $tensor → a cache holding the same rows (fp16)', async ({ file, tensor, round }) => {
    const ref = await NpyMatrix.open(path.join(DIR, 'activations-f32.npy'));
    const want = float16BitsToFloat32(float32ToFloat16Bits(round(await ref.readRows(0, 40))));
    await ref.close();
    const out = path.join(tmp, `${file}-${tensor ?? ''}`);
    const progress: number[] = [];
    const m = await importActivations({ file: path.join(DIR, file), ...(tensor ? { tensor } : {}), hookName: 'model.layers.3', rowsPerRead: 16, onProgress: (r) => progress.push(r) }, out);
    expect([m.numTokens, m.dIn]).toEqual([40, 8]);
    expect(m.hook).toMatchObject({ name: 'model.layers.3', kind: 'external' });
    expect(progress).toEqual([16, 32, 40]);
    expect(await all(ActivationCache.open(out))).toEqual(want);
  });

  it('names the choice when a safetensors file holds several arrays, and refuses other shapes', async () => {
    await expect(importActivations({ file: path.join(DIR, 'activations.safetensors') }, path.join(tmp, 'x'))).rejects.toThrow(/several 2-D tensors \(acts_bf16, acts_f32\)/);
    const bad = path.join(tmp, 'bad.npy');
    const header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }";
    const pad = ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
    writeFileSync(bad, Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]), Buffer.from(Uint16Array.from([header.length + pad.length]).buffer), Buffer.from(header + pad), Buffer.alloc(16)]));
    await expect(importActivations({ file: bad }, path.join(tmp, 'y'))).rejects.toThrow(/dtype <i4 is not supported/);
  });
});

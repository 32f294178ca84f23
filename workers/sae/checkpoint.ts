// Resumable SAE checkpoints: one safetensors file holding the parameters, Adam's moments, the bias rule's state
// (biases and the open window's statistics), the per-latent dead-latent clocks and the normalization; the step,
// configuration and counters go in its metadata. Written atomically, so a crash never leaves half a checkpoint.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../engine/safetensors';
import type { SaeNormalization } from './types';
import type { SaeTrainConfig } from './model';

export const CHECKPOINT_FILE = 'checkpoint.safetensors';

export interface SaeCheckpoint {
  config: SaeTrainConfig;
  dIn: number;
  step: number;
  tokensSeen: number;
  elapsedMs: number;
  normalization: SaeNormalization;
  /** Runner buffers: params and `<param>:m` / `<param>:v`. */
  buffers: Map<string, Float32Array>;
  /** Everything else, by name (`gba.bias`, `gba.count`, `dead.sinceFired`, `frozen.b_pre`, ...). */
  state: Map<string, Float32Array | Float64Array>;
}

export const checkpointPath = (dir: string): string => path.join(dir, CHECKPOINT_FILE);
export const hasCheckpoint = (dir: string): boolean => existsSync(checkpointPath(dir));

export async function saveSaeCheckpoint(dir: string, c: SaeCheckpoint): Promise<string> {
  const tensors: TensorToWrite[] = [];
  for (const [name, data] of c.buffers) tensors.push({ name: `buf/${name}`, dtype: 'F32', shape: [data.length], data });
  for (const [name, data] of c.state) {
    tensors.push({ name: `state/${name}`, dtype: data instanceof Float64Array ? 'F64' : 'F32', shape: [data.length], data });
  }
  if (c.normalization.mean) tensors.push({ name: 'norm/mean', dtype: 'F32', shape: [c.normalization.mean.length], data: c.normalization.mean });
  const file = checkpointPath(dir);
  await writeSafetensors(file, tensors, {
    metadata: {
      format: 'resect-sae-checkpoint/1',
      config: JSON.stringify(c.config), dIn: String(c.dIn), step: String(c.step), tokensSeen: String(c.tokensSeen),
      elapsedMs: String(c.elapsedMs), normKind: c.normalization.kind, normScale: String(c.normalization.scale),
    },
  });
  return file;
}

export async function loadSaeCheckpoint(dir: string): Promise<SaeCheckpoint> {
  const h = await openSafetensors(checkpointPath(dir));
  try {
    const md = h.metadata;
    if (md.format !== 'resect-sae-checkpoint/1') throw new Error(`${h.path} is not a Resect SAE checkpoint`);
    const buffers = new Map<string, Float32Array>();
    const state = new Map<string, Float32Array | Float64Array>();
    let mean: Float32Array | undefined;
    for (const [name, info] of h.tensors) {
      const data = await h.read(name);
      if (name.startsWith('buf/')) buffers.set(name.slice(4), data as Float32Array);
      else if (name.startsWith('state/')) state.set(name.slice(6), info.dtype === 'F64' ? (data as Float64Array) : (data as Float32Array));
      else if (name === 'norm/mean') mean = data as Float32Array;
    }
    const normalization: SaeNormalization = { kind: md.normKind as SaeNormalization['kind'], scale: Number(md.normScale), ...(mean ? { mean } : {}) };
    return {
      config: JSON.parse(md.config!) as SaeTrainConfig, dIn: Number(md.dIn), step: Number(md.step), tokensSeen: Number(md.tokensSeen),
      elapsedMs: Number(md.elapsedMs), normalization, buffers, state,
    };
  } finally {
    await h.close();
  }
}

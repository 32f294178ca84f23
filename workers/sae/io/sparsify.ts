/**
 * EleutherAI sparsify folders (sparsify/sparse_coder.py `save_to_disk` / `load_from_disk`): one folder per hookpoint,
 * each with
 *
 *   cfg.json         the SparseCoderConfig (activation "topk", k, num_latents or expansion_factor, normalize_decoder,
 *                    multi_topk, skip_connection, transcode, …) plus d_in
 *   sae.safetensors  encoder.weight [num_latents, d_in], encoder.bias [num_latents], W_dec [num_latents, d_in], b_dec [d_in]
 *
 * and, in the run folder above them, the trainer's config.json (model, dataset, …). Encoding is
 * top-k of relu(encoder(x − b_dec)), decoding f·W_dec + b_dec: SAE Lens's TopK form with W_enc = encoder.weightᵀ.
 * Hookpoint folders `layers.N` (the decoder layer's output) map to `blocks.N.hook_resid_post`, `layers.N.mlp` to
 * hook_mlp_out and `layers.N.self_attn` to hook_attn_out; others are kept as external hooks under their own name.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openSafetensors } from '../../engine/safetensors';
import type { Sae, SaeHook } from '../types';
import { hookFromName, type LoadedSae } from './saelens';

export const SPARSIFY_CFG_FILE = 'cfg.json';
export const SPARSIFY_WEIGHTS_FILE = 'sae.safetensors';

/** Whether `dir` is one sparsify hookpoint folder. */
export function isSparsifyFolder(dir: string): boolean {
  return existsSync(path.join(dir, SPARSIFY_CFG_FILE)) && existsSync(path.join(dir, SPARSIFY_WEIGHTS_FILE));
}

/** The hookpoint folders of a sparsify run folder (or `[dir]` when it is one), in natural order. */
export function sparsifyHookpoints(dir: string): string[] {
  if (isSparsifyFolder(dir)) return [dir];
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return [];
  return readdirSync(dir)
    .map((n) => path.join(dir, n))
    .filter((p) => statSync(p).isDirectory() && isSparsifyFolder(p))
    .sort((a, b) => path.basename(a).localeCompare(path.basename(b), undefined, { numeric: true }));
}

/** A sparsify hookpoint name as a hook: `layers.N[.mlp|.self_attn]` → the Monet hook point, else external. */
export function hookFromSparsifyName(model: string, folder: string): SaeHook {
  const m = /^(?:.*\.)?layers[._](\d+)(?:\.(mlp|self_attn|attn))?$/.exec(folder);
  if (!m) return hookFromName(model, folder);
  const layer = Number(m[1]);
  const kind = m[2] === undefined ? 'resid_post' : m[2] === 'mlp' ? 'mlp_out' : 'attn_out';
  return hookFromName(model, `blocks.${layer}.hook_${kind}`);
}

export async function loadSparsify(dir: string): Promise<LoadedSae> {
  const cfgFile = path.join(dir, SPARSIFY_CFG_FILE);
  const weightsFile = path.join(dir, SPARSIFY_WEIGHTS_FILE);
  if (!isSparsifyFolder(dir)) throw new Error(`${dir}: not a sparsify hookpoint folder (needs ${SPARSIFY_CFG_FILE} and ${SPARSIFY_WEIGHTS_FILE})`);
  const cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
  const notes: string[] = [];
  const dIn = cfg.d_in;
  if (typeof dIn !== 'number' || !Number.isInteger(dIn) || dIn <= 0) throw new Error(`${cfgFile}: d_in must be a positive integer, got ${JSON.stringify(dIn)}`);
  const activation = cfg.activation ?? 'topk';
  if (activation !== 'topk') throw new Error(`${cfgFile}: activation "${String(activation)}" is not supported (topk only)`);
  if (cfg.transcode === true) throw new Error(`${cfgFile}: a transcoder (transcode true) predicts another hook's output; Resect reads autoencoders only`);
  if (cfg.skip_connection === true) throw new Error(`${cfgFile}: skip_connection (W_skip) is not supported`);
  const k = cfg.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k <= 0) throw new Error(`${cfgFile}: k must be a positive integer, got ${JSON.stringify(k)}`);
  const numLatents = typeof cfg.num_latents === 'number' && cfg.num_latents > 0 ? cfg.num_latents : dIn * Number(cfg.expansion_factor ?? 32);

  const h = await openSafetensors(weightsFile);
  let sae: Sae;
  try {
    const need = (name: string, shapes: number[][]): readonly number[] => {
      const t = h.tensors.get(name);
      if (!t) throw new Error(`${weightsFile}: tensor ${name} is missing`);
      if (!shapes.some((s) => s.length === t.shape.length && s.every((v, i) => v === t.shape[i]))) {
        throw new Error(`${weightsFile}: ${name} has shape [${t.shape.join(', ')}], expected ${shapes.map((s) => `[${s.join(', ')}]`).join(' or ')}`);
      }
      return t.shape;
    };
    need('encoder.weight', [[numLatents, dIn]]);
    need('encoder.bias', [[numLatents]]);
    need('b_dec', [[dIn]]);
    // sparsify stores W_dec as [num_latents, d_in]; accept the transpose too (some converters write it).
    const decShape = need('W_dec', [[numLatents, dIn], [dIn, numLatents]]);
    const enc = await h.readAsFloat32('encoder.weight');
    const W_enc = new Float32Array(dIn * numLatents);
    for (let m = 0; m < numLatents; m++) for (let j = 0; j < dIn; j++) W_enc[j * numLatents + m] = enc[m * dIn + j]!;
    let W_dec = await h.readAsFloat32('W_dec');
    if (decShape[0] !== numLatents) {
      const t = new Float32Array(W_dec.length);
      for (let j = 0; j < dIn; j++) for (let m = 0; m < numLatents; m++) t[m * dIn + j] = W_dec[j * numLatents + m]!;
      W_dec = t;
      notes.push('W_dec was stored as [d_in, num_latents]; transposed');
    }
    const folder = path.basename(dir);
    const runCfgFile = path.join(path.dirname(dir), 'config.json');
    const runCfg = existsSync(runCfgFile) ? (JSON.parse(await readFile(runCfgFile, 'utf8')) as Record<string, unknown>) : {};
    const model = typeof runCfg.model === 'string' ? runCfg.model : path.basename(path.dirname(dir));
    if (cfg.multi_topk === true) notes.push('trained with Multi-TopK; encoded here with its k');
    sae = {
      config: {
        method: 'topk', activation: { kind: 'topk', k }, dIn, dSae: numLatents,
        hook: hookFromSparsifyName(model, folder),
        normalization: { kind: 'none', scale: 1 }, excludeBos: true,
        hyper: { imported: 'sparsify', k, hookpoint: folder },
      },
      weights: { W_enc, b_enc: await h.readAsFloat32('encoder.bias'), W_dec, b_dec: await h.readAsFloat32('b_dec') },
    };
  } finally {
    await h.close();
  }
  return { sae, origin: 'sparsify', notes };
}

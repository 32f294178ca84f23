/**
 * SAEs in the folder layout SAE Lens saves and loads (sae_lens/saes/sae.py `save_model` / `load_from_disk`):
 *
 *   cfg.json                 SAE Lens ≥ 6: d_in, d_sae, dtype, device, apply_b_dec_to_input, normalize_activations,
 *                            reshape_activations, metadata {model_name, hook_name, prepend_bos, context_size,
 *                            dataset_path, sae_lens_version, …}, architecture ("standard" | "jumprelu" | "topk"),
 *                            and k / rescale_acts_by_decoder_norm for topk. Older flat configs (hook_point,
 *                            activation_fn_str, activation_fn_kwargs.k) are read too.
 *   sae_weights.safetensors  W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in], threshold [d_sae]
 *                            (jumprelu); F32, F16 or BF16.
 *
 * Resect writes the SAE's dataset normalization folded into the weights, so that SAE Lens (normalize_activations
 * "none") computes the same codes and reconstruction on raw activations: with x_norm = (x − μ)·s,
 *   W_enc' = s·W_enc, W_dec' = W_dec/s, b_dec' = μ + b_dec/s   (b_enc and threshold unchanged).
 * What SAE Lens has no field for goes beside them: `resect_sae.json` (method, hyperparameters, hook, normalization,
 * BOS) and, for GBA/BA, `resect_gba.safetensors` (group, target_frequency, bias, scale). Loading a folder with
 * `resect_sae.json` unfolds the weights again, so a Resect SAE round-trips to its normalized form.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { openSafetensors, writeSafetensors, type TensorToWrite } from '../../engine/safetensors';
import { parseHookName } from '../../models/monet/hooks';
import { writeJsonAtomic } from './json';
import type { GbaState, Sae, SaeActivation, SaeConfig, SaeHook, SaeMethod, SaeNormalization, SaeWeights } from '../types';

export const SAE_CFG_FILE = 'cfg.json';
export const SAE_WEIGHTS_FILE = 'sae_weights.safetensors';
export const RESECT_SAE_FILE = 'resect_sae.json';
export const RESECT_GBA_FILE = 'resect_gba.safetensors';
/** The SAE Lens cfg.json layout written (metadata.sae_lens_version ≥ 6.0 tells SAE Lens it is the nested form). */
export const SAE_LENS_LAYOUT_VERSION = '6.0.0';
const RESECT_FORMAT = 1;

/** Extra information a save records in SAE Lens's metadata. */
export interface SaveInfo {
  /** Model name for metadata.model_name (default: the hook's model). */
  modelName?: string;
  contextSize?: number;
  datasetPath?: string;
}

const architectureOf = (a: SaeActivation): 'jumprelu' | 'standard' | 'topk' => (a.kind === 'relu' ? 'standard' : a.kind);

/**
 * The uniform scale and mean that SAE Lens does not apply itself: dataset scale (s, μ); per-token maps to SAE Lens's
 * constant_norm_rescale (‖x‖ → √d_in), leaving the factor s/√d_in to fold (no mean: SAE Lens does not center).
 */
function foldable(n: SaeNormalization, dIn: number): { s: number; mean?: Float32Array } {
  if (n.kind === 'none') return { s: 1, ...(n.mean ? { mean: n.mean } : {}) };
  if (n.kind === 'per-token') {
    if (n.mean) throw new Error('a centered per-token normalization has no SAE Lens equivalent (constant_norm_rescale does not subtract a mean)');
    return { s: n.scale / Math.sqrt(dIn) };
  }
  return { s: n.scale, ...(n.mean ? { mean: n.mean } : {}) };
}

/** The weights with the normalization folded in (see the file comment). */
export function foldNormalization(sae: Sae): SaeWeights {
  const { dIn } = sae.config;
  const w = sae.weights;
  const { s, mean } = foldable(sae.config.normalization, dIn);
  if (s === 1 && !mean) return w;
  return {
    ...w,
    W_enc: w.W_enc.map((v) => v * s),
    W_dec: w.W_dec.map((v) => v / s),
    b_dec: Float32Array.from({ length: dIn }, (_, j) => (mean?.[j] ?? 0) + w.b_dec[j]! / s),
  };
}

/** Inverse of foldNormalization. */
function unfoldNormalization(w: SaeWeights, n: SaeNormalization, dIn: number): SaeWeights {
  const { s, mean } = foldable(n, dIn);
  if (s === 1 && !mean) return w;
  return {
    ...w,
    W_enc: w.W_enc.map((v) => v / s),
    W_dec: w.W_dec.map((v) => v * s),
    b_dec: Float32Array.from({ length: dIn }, (_, j) => (w.b_dec[j]! - (mean?.[j] ?? 0)) * s),
  };
}

/** Writes `sae` into `dir` (created) in SAE Lens's layout plus Resect's state. Files are replaced atomically. */
export async function saveSaeLens(sae: Sae, dir: string, info: SaveInfo = {}): Promise<void> {
  const c = sae.config;
  await mkdir(dir, { recursive: true });
  const w = foldNormalization(sae);
  const tensors: TensorToWrite[] = [
    { name: 'W_dec', dtype: 'F32', shape: [c.dSae, c.dIn], data: w.W_dec },
    { name: 'W_enc', dtype: 'F32', shape: [c.dIn, c.dSae], data: w.W_enc },
    { name: 'b_dec', dtype: 'F32', shape: [c.dIn], data: w.b_dec },
    { name: 'b_enc', dtype: 'F32', shape: [c.dSae], data: w.b_enc },
  ];
  if (c.activation.kind === 'jumprelu') {
    if (!w.threshold) throw new Error('a JumpReLU SAE needs a threshold');
    tensors.push({ name: 'threshold', dtype: 'F32', shape: [c.dSae], data: w.threshold });
  }
  await writeSafetensors(path.join(dir, SAE_WEIGHTS_FILE), tensors, { metadata: { format: 'pt' } });

  const cfg: Record<string, unknown> = {
    d_in: c.dIn, d_sae: c.dSae, dtype: 'float32', device: 'cpu', apply_b_dec_to_input: true,
    normalize_activations: c.normalization.kind === 'per-token' ? 'constant_norm_rescale' : 'none',
    reshape_activations: 'none',
    metadata: {
      sae_lens_version: SAE_LENS_LAYOUT_VERSION, sae_lens_training_version: null,
      model_name: info.modelName ?? c.hook.model, hook_name: c.hook.name, hook_head_index: null,
      prepend_bos: true, exclude_special_tokens: c.excludeBos,
      ...(info.contextSize ? { context_size: info.contextSize } : {}), ...(info.datasetPath ? { dataset_path: info.datasetPath } : {}),
      trained_with: `Resect (${c.method})`,
    },
    architecture: architectureOf(c.activation),
    ...(c.activation.kind === 'topk' ? { k: c.activation.k, rescale_acts_by_decoder_norm: false } : {}),
  };
  await writeJsonAtomic(path.join(dir, SAE_CFG_FILE), cfg);

  const { mean, ...normRest } = c.normalization;
  const resect = { format: RESECT_FORMAT, method: c.method, activation: c.activation, hook: c.hook, excludeBos: c.excludeBos, hyper: c.hyper, normalization: { ...normRest, centered: !!mean }, gba: !!sae.gba, folded: true };
  const extra: TensorToWrite[] = [];
  if (mean) extra.push({ name: 'normalization_mean', dtype: 'F32', shape: [c.dIn], data: Float32Array.from(mean) });
  if (sae.gba) {
    const g = sae.gba;
    extra.push(
      { name: 'group', dtype: 'I32', shape: [c.dSae], data: g.group },
      { name: 'target_frequency', dtype: 'F32', shape: [g.targetFrequency.length], data: g.targetFrequency },
      { name: 'bias', dtype: 'F32', shape: [c.dSae], data: g.bias },
      { name: 'scale', dtype: 'F32', shape: [c.dSae], data: g.scale },
    );
  }
  if (extra.length) await writeSafetensors(path.join(dir, RESECT_GBA_FILE), extra);
  await writeJsonAtomic(path.join(dir, RESECT_SAE_FILE), resect);
}

const ResectSaeJson = z.object({
  format: z.literal(RESECT_FORMAT),
  method: z.enum(['gba', 'ba', 'topk', 'relu-l1']),
  activation: z.union([z.object({ kind: z.literal('jumprelu') }), z.object({ kind: z.literal('relu') }), z.object({ kind: z.literal('topk'), k: z.number().int().positive() })]),
  hook: z.object({ model: z.string(), name: z.string(), layer: z.number().int(), kind: z.enum(['resid_post', 'attn_out', 'mlp_out', 'external']) }),
  excludeBos: z.boolean(),
  hyper: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  normalization: z.object({ kind: z.enum(['none', 'dataset-scale', 'per-token']), scale: z.number().positive(), centered: z.boolean() }),
  gba: z.boolean(),
  folded: z.boolean(),
});

/** What a loaded folder said and what Resect had to assume. */
export interface LoadedSae {
  sae: Sae;
  /** Where it came from: 'resect' (saved by Resect), 'sae-lens' or 'sparsify'. */
  origin: 'resect' | 'sae-lens' | 'sparsify';
  /** Things the user should know (a field ignored, an assumption made). */
  notes: string[];
}

const num = (v: unknown, what: string, file: string): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${file}: ${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
};

/** A hook name as Resect reads it: a Monet hook point when it is one, else `external` (activations from elsewhere). */
export function hookFromName(model: string, name: string | null | undefined, layerHint?: number): SaeHook {
  if (name) {
    try {
      const h = parseHookName(name);
      return { model, name, layer: h.layer, kind: h.kind };
    } catch {
      /* another library's hook name */
    }
  }
  return { model, name: name ?? 'external', layer: layerHint ?? -1, kind: 'external' };
}

async function readWeights(file: string, names: readonly string[]): Promise<Map<string, { data: Float32Array; shape: readonly number[] }>> {
  const h = await openSafetensors(file);
  try {
    const out = new Map<string, { data: Float32Array; shape: readonly number[] }>();
    for (const n of names) {
      const info = h.tensors.get(n);
      if (info) out.set(n, { data: await h.readAsFloat32(n), shape: info.shape });
    }
    return out;
  } finally {
    await h.close();
  }
}

function expectShape(file: string, name: string, t: { shape: readonly number[] } | undefined, shape: number[]): void {
  if (!t) throw new Error(`${file}: tensor ${name} is missing`);
  if (t.shape.length !== shape.length || t.shape.some((v, i) => v !== shape[i])) throw new Error(`${file}: ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
}

/** Loads an SAE Lens folder (or one Resect saved). Architectures other than standard, jumprelu and topk are refused. */
export async function loadSaeLens(dir: string): Promise<LoadedSae> {
  const cfgFile = path.join(dir, SAE_CFG_FILE);
  const weightsFile = path.join(dir, SAE_WEIGHTS_FILE);
  if (!existsSync(cfgFile)) throw new Error(`${dir}: no ${SAE_CFG_FILE} (not an SAE Lens folder)`);
  if (!existsSync(weightsFile)) throw new Error(`${dir}: no ${SAE_WEIGHTS_FILE} (not an SAE Lens folder)`);
  const raw = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
  const meta = (raw.metadata && typeof raw.metadata === 'object' ? raw.metadata : {}) as Record<string, unknown>;
  const notes: string[] = [];
  // Pre-6.0 configs are flat and use other names (sae_lens/loading/pretrained_sae_loaders.py handle_pre_6_0_config).
  const field = (k: string, old?: string) => meta[k] ?? raw[k] ?? (old ? raw[old] : undefined);
  const dIn = num(raw.d_in, 'd_in', cfgFile);
  const dSae = num(raw.d_sae, 'd_sae', cfgFile);
  let architecture = typeof raw.architecture === 'string' ? raw.architecture : 'standard';
  const fnKwargs = (raw.activation_fn_kwargs ?? {}) as Record<string, unknown>;
  const fn = field('activation_fn', 'activation_fn_str');
  if (fn === 'topk' && fnKwargs.k !== undefined) architecture = 'topk';
  let activation: SaeActivation;
  if (architecture === 'standard') activation = { kind: 'relu' };
  else if (architecture === 'jumprelu') activation = { kind: 'jumprelu' };
  else if (architecture === 'topk') activation = { kind: 'topk', k: num(raw.k ?? fnKwargs.k, 'k', cfgFile) };
  else throw new Error(`${cfgFile}: architecture "${architecture}" is not supported (Resect reads standard, jumprelu and topk)`);
  if (architecture === 'standard' && fn !== undefined && fn !== 'relu') throw new Error(`${cfgFile}: activation function "${String(fn)}" is not supported for a standard SAE (relu only)`);
  if (raw.apply_b_dec_to_input === false) throw new Error(`${cfgFile}: apply_b_dec_to_input false is not supported (Resect's SAEs subtract b_dec from the input)`);
  if (raw.reshape_activations !== undefined && raw.reshape_activations !== 'none') throw new Error(`${cfgFile}: reshape_activations "${String(raw.reshape_activations)}" (attention hook_z SAEs) is not supported`);
  if (raw.finetuning_scaling_factor === true) throw new Error(`${cfgFile}: finetuning_scaling_factor is not supported`);

  let normalization: SaeNormalization = { kind: 'none', scale: 1 };
  const na = raw.normalize_activations;
  if (na === 'constant_norm_rescale') normalization = { kind: 'per-token', scale: Math.sqrt(dIn) };
  else if (na === 'expected_average_only_in' || na === true) {
    notes.push('normalize_activations "expected_average_only_in": the dataset scaling factor is not in the folder; activations are used unscaled (fold the factor into the weights before saving to keep SAE Lens\'s behaviour)');
  } else if (na === 'layer_norm') throw new Error(`${cfgFile}: normalize_activations "layer_norm" is not supported`);

  const names = ['W_enc', 'b_enc', 'W_dec', 'b_dec', 'threshold', 'log_threshold'];
  const t = await readWeights(weightsFile, names);
  expectShape(weightsFile, 'W_enc', t.get('W_enc'), [dIn, dSae]);
  expectShape(weightsFile, 'W_dec', t.get('W_dec'), [dSae, dIn]);
  expectShape(weightsFile, 'b_dec', t.get('b_dec'), [dIn]);
  const b_enc = t.get('b_enc')?.data ?? new Float32Array(dSae);
  if (t.has('b_enc')) expectShape(weightsFile, 'b_enc', t.get('b_enc'), [dSae]);
  const weights: SaeWeights = { W_enc: t.get('W_enc')!.data, b_enc, W_dec: t.get('W_dec')!.data, b_dec: t.get('b_dec')!.data };
  if (activation.kind === 'jumprelu') {
    const th = t.get('threshold') ?? (t.has('log_threshold') ? { ...t.get('log_threshold')!, data: t.get('log_threshold')!.data.map(Math.exp) } : undefined);
    expectShape(weightsFile, 'threshold', th, [dSae]);
    weights.threshold = th!.data;
  }
  if (activation.kind === 'topk' && raw.rescale_acts_by_decoder_norm === true) {
    // hidden_pre·‖W_dec[m]‖ and decoding f/‖W_dec[m]‖: folded into W_enc, b_enc and W_dec, same codes (SAE Lens's _fold_norm_topk).
    for (let m = 0; m < dSae; m++) {
      let s = 0;
      for (let j = 0; j < dIn; j++) s += weights.W_dec[m * dIn + j]! ** 2;
      const norm = Math.sqrt(s) || 1;
      for (let j = 0; j < dIn; j++) {
        weights.W_enc[j * dSae + m]! *= norm;
        weights.W_dec[m * dIn + j]! /= norm;
      }
      weights.b_enc[m]! *= norm;
    }
    notes.push('rescale_acts_by_decoder_norm: the decoder norms were folded into the encoder (same codes)');
  }

  const resectFile = path.join(dir, RESECT_SAE_FILE);
  const model = String(field('model_name') ?? 'unknown');
  if (!existsSync(resectFile)) {
    const hookName = field('hook_name', 'hook_point');
    const layer = field('hook_layer', 'hook_point_layer');
    const method: SaeMethod = activation.kind === 'topk' ? 'topk' : activation.kind === 'relu' ? 'relu-l1' : 'gba';
    const config: SaeConfig = {
      method, activation, dIn, dSae, normalization,
      hook: hookFromName(model, typeof hookName === 'string' ? hookName : null, typeof layer === 'number' ? layer : undefined),
      excludeBos: field('exclude_special_tokens') !== false,
      hyper: { imported: 'sae-lens', ...(activation.kind === 'topk' ? { k: activation.k } : {}) },
    };
    if (activation.kind === 'jumprelu') notes.push('a JumpReLU SAE from SAE Lens: listed as method gba for its form (tied to no GBA state); its threshold is used as saved');
    return { sae: { config, weights }, origin: 'sae-lens', notes };
  }

  const r = ResectSaeJson.parse(JSON.parse(await readFile(resectFile, 'utf8')));
  const extraFile = path.join(dir, RESECT_GBA_FILE);
  const extra = existsSync(extraFile) ? await openSafetensors(extraFile) : null;
  try {
    const mean = r.normalization.centered ? await extra?.readAsFloat32('normalization_mean') : undefined;
    if (r.normalization.centered && !mean) throw new Error(`${extraFile}: normalization_mean is missing`);
    const norm: SaeNormalization = { kind: r.normalization.kind, scale: r.normalization.scale, ...(mean ? { mean } : {}) };
    let gba: GbaState | undefined;
    if (r.gba) {
      if (!extra) throw new Error(`${dir}: ${RESECT_GBA_FILE} is missing`);
      gba = {
        group: (await extra.read('group')) as Int32Array,
        targetFrequency: await extra.readAsFloat32('target_frequency'),
        bias: await extra.readAsFloat32('bias'),
        scale: await extra.readAsFloat32('scale'),
      };
    }
    const config: SaeConfig = { method: r.method, activation: r.activation, dIn, dSae, hook: r.hook, normalization: norm, excludeBos: r.excludeBos, hyper: r.hyper };
    return { sae: { config, weights: r.folded ? unfoldNormalization(weights, norm, dIn) : weights, ...(gba ? { gba } : {}) }, origin: 'resect', notes };
  } finally {
    await extra?.close();
  }
}

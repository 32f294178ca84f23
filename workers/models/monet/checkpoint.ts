/**
 * A Monet checkpoint folder in Hugging Face layout: `config.json` plus `model.safetensors` or a sharded
 * `model.safetensors.index.json`. Opening validates the config and every expected tensor's presence, dtype and
 * shape (spec §7.3) from the headers alone; weights are then read one tensor at a time, converted to float32, so a
 * BF16 checkpoint is never held twice. Router thresholds τ = μ + √(v + 1e-5)·σ* (spec §2.2) are computed at open.
 */
import path from 'node:path';
import { openWeights, type Dtype, type SafetensorsHandle } from '../../engine/safetensors';
import { loadMonetConfig, type MonetConfig, type MonetDims } from './config';

/** BatchNorm eps of the routers: PyTorch's default, not stored in config.json (spec §2.2). */
export const ROUTER_BN_EPS = 1e-5;

export interface TensorSpec {
  name: string;
  shape: number[];
  /** Allowed dtypes (weights: F32, F16, BF16). */
  dtypes: readonly Dtype[];
  /** May be absent (e.g. num_batches_tracked after conversion from Flax). */
  optional?: boolean;
}

export interface RouterThresholds {
  /** The layer owning the router. */
  layer: number;
  /** τ per routing head for side 1 (w1) and side 2 (w2), float64. */
  tau1: Float64Array;
  tau2: Float64Array;
}

export interface MonetCheckpoint {
  readonly dir: string;
  readonly config: MonetConfig;
  readonly dims: MonetDims;
  readonly weights: SafetensorsHandle;
  /** Every tensor the model reads, with its shape. */
  readonly specs: ReadonlyMap<string, TensorSpec>;
  /** Router thresholds keyed by router layer (0, G, 2G, …). */
  readonly thresholds: ReadonlyMap<number, RouterThresholds>;
  /** Tensors in the file that the model does not use (reported, not an error). */
  readonly unused: readonly string[];
  /** One weight as float32 (converted from F16/BF16), shape checked at open. */
  read(name: string): Promise<Float32Array>;
  close(): Promise<void>;
}

export class MonetCheckpointError extends Error {
  override readonly name = 'MonetCheckpointError';
}

const FLOAT: readonly Dtype[] = ['F32', 'F16', 'BF16'];

/** The tensors a Monet model with this config reads (spec §7.3), in load order. */
export function expectedTensors(config: MonetConfig, dims: MonetDims): TensorSpec[] {
  const d = config.hidden_size;
  const E = config.moe_experts;
  const m = config.moe_dim;
  const H = config.moe_heads;
  const V = config.vocab_size;
  const specs: TensorSpec[] = [];
  const w = (name: string, shape: number[]) => specs.push({ name, shape, dtypes: FLOAT });
  w('model.embed_tokens.weight', [V, d]);
  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    w(`${p}.input_layernorm.weight`, [d]);
    for (const x of ['q', 'k', 'v', 'o']) w(`${p}.self_attn.${x}_proj.weight`, [d, d]);
    w(`${p}.post_attention_layernorm.weight`, [d]);
    if (dims.vertical) {
      const half = (E * m) / 2;
      for (const u of ['u1', 'u2']) {
        w(`${p}.moe.${u}.weight`, [half, d]);
        w(`${p}.moe.${u}.bias`, [half]);
      }
      for (const v of ['v11', 'v12', 'v21', 'v22']) w(`${p}.moe.${v}.weight`, [d / 2, half]);
      w(`${p}.moe.b1`, [E, d / 2]);
      w(`${p}.moe.b2`, [E, d / 2]);
    } else {
      w(`${p}.moe.u.weight`, [E * m, d]);
      w(`${p}.moe.u.bias`, [E * m]);
      w(`${p}.moe.v.weight`, [d, E * m]);
      w(`${p}.moe.b`, [E, d]);
    }
    if (l % config.moe_groups === 0) {
      w(`${p}.router.w1.weight`, [H * E, d]);
      w(`${p}.router.w2.weight`, [H * E, d]);
      for (const n of ['norm1', 'norm2']) {
        w(`${p}.router.${n}.running_mean`, [H]);
        w(`${p}.router.${n}.running_var`, [H]);
        specs.push({ name: `${p}.router.${n}.num_batches_tracked`, shape: [], dtypes: ['I64'], optional: true });
      }
    }
  }
  w('model.norm.weight', [d]);
  if (!config.tie_word_embeddings) w('lm_head.weight', [V, d]);
  return specs;
}

/**
 * Checks config.json's layer count against the layers the weights hold, before the list of expected tensors (whose
 * length is proportional to num_hidden_layers) is built: a config that claims more layers than the file has fails
 * with both numbers, at once.
 */
function checkLayersPresent(config: MonetConfig, weights: SafetensorsHandle, dir: string): void {
  let top = -1;
  for (const name of weights.tensors.keys()) {
    const m = /^model\.layers\.(\d{1,7})\./.exec(name);
    if (m) top = Math.max(top, Number(m[1]));
  }
  if (config.num_hidden_layers > top + 1) {
    const held = top < 0 ? 'no layers' : `layers 0–${top} (${top + 1})`;
    throw new MonetCheckpointError(`${path.join(dir, 'config.json')}: num_hidden_layers is ${config.num_hidden_layers}, but the weights hold ${held}`);
  }
}

/** τ[h] = μ[h] + √(v[h] + eps)·σ*, in float64. */
export function routerThresholds(mean: Float32Array, variance: Float32Array, sigmaStar: number): Float64Array {
  const tau = new Float64Array(mean.length);
  for (let h = 0; h < mean.length; h++) tau[h] = mean[h]! + Math.sqrt(variance[h]! + ROUTER_BN_EPS) * sigmaStar;
  return tau;
}

/** Open and validate a Monet checkpoint folder (config.json + weights in either layout). */
export async function openMonetCheckpoint(dir: string): Promise<MonetCheckpoint> {
  const { config, dims } = await loadMonetConfig(path.join(dir, 'config.json'));
  const weights = await openWeights(dir);
  try {
    checkLayersPresent(config, weights, dir);
    const specs = new Map(expectedTensors(config, dims).map((s) => [s.name, s]));
    const problems: string[] = [];
    for (const spec of specs.values()) {
      const info = weights.tensors.get(spec.name);
      if (!info) {
        if (!spec.optional) problems.push(`${spec.name}: missing (expected shape [${spec.shape}])`);
        continue;
      }
      if (!spec.dtypes.includes(info.dtype)) problems.push(`${spec.name}: dtype ${info.dtype}, expected ${spec.dtypes.join(' or ')}`);
      if (info.shape.length !== spec.shape.length || info.shape.some((n, i) => n !== spec.shape[i])) {
        problems.push(`${spec.name}: shape [${info.shape}], expected [${spec.shape}]`);
      }
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, 8).join('; ');
      const more = problems.length > 8 ? ` (and ${problems.length - 8} more)` : '';
      throw new MonetCheckpointError(`${weights.path}: does not match config.json (${config.moe_decompose}, ${config.num_hidden_layers} layers): ${shown}${more}`);
    }
    const unused = [...weights.tensors.keys()].filter((n) => !specs.has(n));

    const thresholds = new Map<number, RouterThresholds>();
    for (const layer of dims.routerLayers) {
      const p = `model.layers.${layer}.router`;
      const stats = await Promise.all(
        ['norm1.running_mean', 'norm1.running_var', 'norm2.running_mean', 'norm2.running_var'].map((n) => weights.readAsFloat32(`${p}.${n}`)),
      );
      const [m1, v1, m2, v2] = stats as [Float32Array, Float32Array, Float32Array, Float32Array];
      for (const [name, v] of [['norm1', v1], ['norm2', v2]] as const) {
        const bad = v.findIndex((x) => !(x >= 0) || !Number.isFinite(x));
        if (bad >= 0) throw new MonetCheckpointError(`${weights.path}: ${p}.${name}.running_var[${bad}] = ${v[bad]} is not a finite non-negative variance`);
      }
      thresholds.set(layer, { layer, tau1: routerThresholds(m1, v1, dims.sigmaStar), tau2: routerThresholds(m2, v2, dims.sigmaStar) });
    }

    return {
      dir, config, dims, weights, specs, thresholds, unused,
      async read(name) {
        if (!specs.has(name)) throw new MonetCheckpointError(`${weights.path}: "${name}" is not a Monet weight of this config`);
        if (!weights.tensors.has(name)) throw new MonetCheckpointError(`${weights.path}: "${name}" is absent`);
        return weights.readAsFloat32(name);
      },
      close: () => weights.close(),
    };
  } catch (e) {
    await weights.close().catch(() => {});
    throw e;
  }
}

/**
 * The Monet decoder as small graph building blocks (spec §2, §3), shared by the three graph builders: `forward.ts`
 * (one eval graph, exact masking), `layers.ts` (one graph per layer: KV cache, padding, masks) and `train-graph.ts`
 * (batch-statistics routers, aux losses). Each builder differs only in where its inputs come from; the computation
 * is written once, here.
 *
 * Conventions:
 * - activations are flat [tokens = batch·time, d], so every projection is one Gemm against the stored [out, in]
 *   weight (transB, no transposed copy);
 * - `TokenShape` names the batch, time and token dims: named dynamic dims ('batch', 'time') or static numbers;
 * - blocks take their weights as typed records, built from checkpoint names (spec §7.3) by `layerWeights`.
 */
import { op, type Dim, type Graph, type Tensor } from '../../engine';
import { ROUTER_BN_EPS, type MonetCheckpoint } from './checkpoint';
import type { MonetConfig } from './config';

/** Value the router writes into unselected logits before the softmax (spec §2.2; fp32, so exp gives exactly 0). */
export const UNSELECTED = -1e10;
/** Added to the attention scores of masked keys (causal or padding). */
export const MASKED_SCORE = -1e30;

/** The token dims of a graph: batch, time and their product (the rows of flat activations). */
export interface TokenShape {
  batch: Dim;
  time: Dim;
  tokens: Dim;
}

/** Dynamic batch and time, read off the graph inputs at run time. */
export const DYNAMIC_TOKENS: TokenShape = { batch: 'batch', time: 'time', tokens: 'batch*time' };

/** Static batch and time (train graphs). */
export const staticTokens = (batch: number, time: number): TokenShape => ({ batch, time, tokens: batch * time });

// ─── Weights ────────────────────────────────────────────────────────────────────────────────────────────────────

export type WeightLookup = (name: string) => Tensor;

export interface Affine {
  weight: Tensor;
  bias: Tensor;
}

export interface AttentionWeights {
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
}

export interface RouterWeights {
  w1: Tensor;
  w2: Tensor;
}

/** Expert weights of one layer: vertical (VD) or horizontal (HD) decomposition (spec §3.1). */
export type MoeWeights =
  | { kind: 'vertical'; u1: Affine; u2: Affine; v11: Tensor; v12: Tensor; v21: Tensor; v22: Tensor; b1: Tensor; b2: Tensor }
  | { kind: 'horizontal'; u: Affine; v: Tensor; b: Tensor };

export interface LayerWeights {
  inputNorm: Tensor;
  attention: AttentionWeights;
  postNorm: Tensor;
  /** Only on layers that own a router (l % G == 0). */
  router: RouterWeights | null;
  moe: MoeWeights;
}

export const ownsRouterAt = (config: MonetConfig, layer: number): boolean => layer % config.moe_groups === 0;

/** BatchNorm buffers of a router (running stats, `num_batches_tracked`): not weights of the graph. */
export const isRouterBuffer = (name: string): boolean => /\.router\.norm[12]\./.test(name);

/** The weights of decoder layer `layer`, looked up by their checkpoint names. */
export function layerWeights(config: MonetConfig, layer: number, weight: WeightLookup): LayerWeights {
  const w = (name: string) => weight(`model.layers.${layer}.${name}`);
  const affine = (name: string): Affine => ({ weight: w(`${name}.weight`), bias: w(`${name}.bias`) });
  const moe: MoeWeights = config.moe_decompose === 'vertical'
    ? {
      kind: 'vertical', u1: affine('moe.u1'), u2: affine('moe.u2'),
      v11: w('moe.v11.weight'), v12: w('moe.v12.weight'), v21: w('moe.v21.weight'), v22: w('moe.v22.weight'),
      b1: w('moe.b1'), b2: w('moe.b2'),
    }
    : { kind: 'horizontal', u: affine('moe.u'), v: w('moe.v.weight'), b: w('moe.b') };
  return {
    inputNorm: w('input_layernorm.weight'),
    attention: { q: w('self_attn.q_proj.weight'), k: w('self_attn.k_proj.weight'), v: w('self_attn.v_proj.weight'), o: w('self_attn.o_proj.weight') },
    postNorm: w('post_attention_layernorm.weight'),
    router: ownsRouterAt(config, layer) ? { w1: w('router.w1.weight'), w2: w('router.w2.weight') } : null,
    moe,
  };
}

/**
 * Bakes checkpoint tensors into `g` as float32 initializers, read and converted one tensor at a time, and returns
 * a lookup over everything baked into `g` so far.
 */
export async function bakeWeights(g: Graph, ckpt: MonetCheckpoint, names: Iterable<string>): Promise<WeightLookup> {
  for (const name of names) {
    if (!g.initializers.has(name)) g.initializer(name, 'float32', ckpt.specs.get(name)!.shape, await ckpt.read(name));
  }
  return (name) => {
    const baked = g.initializers.get(name);
    if (!baked) throw new Error(`weight ${name} was not baked into ${g.name}`);
    return baked.tensor;
  };
}

/** The output projection's weight: lm_head, or the embeddings when tied. */
export const outputWeightName = (config: MonetConfig): string => (config.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');

/** The checkpoint's router thresholds τ of layer `layer` (closed form, float64, spec §2.2) as [H, 1] initializers. */
export function checkpointThresholds(g: Graph, ckpt: MonetCheckpoint, layer: number): [Tensor, Tensor] {
  const { tau1, tau2 } = ckpt.thresholds.get(layer)!;
  const tau = (side: 1 | 2, t: ArrayLike<number>) =>
    g.initializer(`model.layers.${layer}.router.tau${side}`, 'float32', [ckpt.config.moe_heads, 1], Float32Array.from(t));
  return [tau(1, tau1), tau(2, tau2)];
}

/** The checkpoint names of decoder layer `layer`'s weights (its router's BN buffers excluded). */
export const layerWeightNames = (ckpt: MonetCheckpoint, layer: number): string[] =>
  [...ckpt.specs.keys()].filter((name) => name.startsWith(`model.layers.${layer}.`) && !isRouterBuffer(name));

// ─── Elementary blocks ──────────────────────────────────────────────────────────────────────────────────────────

/** x·Wᵀ (+ b) against a stored [out, in] weight. */
export const linear = (x: Tensor, w: Tensor, b: Tensor | null = null): Tensor => op.gemm(x, w, b, { transB: true });

/** RMSNorm in fp32: x·1/√(mean(x²) + eps)·w over the last axis. */
export function rmsNorm(x: Tensor, w: Tensor, eps: number): Tensor {
  const variance = op.reduceMean(op.mul(x, x), [-1], true);
  return op.mul(op.mul(x, op.reciprocal(op.sqrt(op.add(variance, eps)))), w);
}

export function relu2(x: Tensor): Tensor {
  const r = op.relu(x);
  return op.mul(r, r);
}

/** Token embeddings as flat [tokens, d]. */
export const embed = (table: Tensor, ids: Tensor, shape: TokenShape): Tensor => op.reshape(op.gather(table, ids), [shape.tokens, table.shape[1]!]);

/** Final RMSNorm and the output projection (lm_head, or the tied embeddings): logits [tokens, V]. */
export const lmHead = (x: Tensor, norm: Tensor, head: Tensor, eps: number): Tensor => linear(rmsNorm(x, norm, eps), head);

// ─── Attention ──────────────────────────────────────────────────────────────────────────────────────────────────

/** RoPE cos / sin, broadcastable to [batch, heads, time, hd]. */
export interface Rope {
  cos: Tensor;
  sin: Tensor;
}

/**
 * Host RoPE tables [positions, hd] for positions 0…positions−1 (rotate-half layout): float32 inverse frequencies
 * and angles, as HF computes them, then cos / sin in float64 stored as float32.
 */
export function ropeTables(theta: number, hd: number, positions: number): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(positions * hd);
  const sin = new Float32Array(positions * hd);
  for (let p = 0; p < positions; p++) {
    for (let k = 0; k < hd / 2; k++) {
      const invFreq = Math.fround(1 / theta ** ((2 * k) / hd));
      const angle = Math.fround(p * invFreq);
      for (const col of [k, k + hd / 2]) {
        cos[p * hd + col] = Math.cos(angle);
        sin[p * hd + col] = Math.sin(angle);
      }
    }
  }
  return { cos, sin };
}

/** RoPE for positions 0…time−1: the config's tables baked in, their first `time` rows gathered ([time, hd]). */
export function ropeFromZero(g: Graph, config: MonetConfig, time: Dim): Rope {
  const hd = config.hidden_size / config.num_attention_heads;
  const maxPos = config.max_position_embeddings;
  const tables = ropeTables(config.rope_theta, hd, maxPos);
  const positions = op.range(g, 0, op.squeeze(op.dimValue(g, time), [0]));
  const rows = (name: 'cos' | 'sin') => op.reshape(op.gather(g.initializer(`rope.${name}`, 'float32', [maxPos, hd], tables[name]), positions), [time, hd]);
  return { cos: rows('cos'), sin: rows('sin') };
}

/** Additive causal bias [time, time]: MASKED_SCORE above the diagonal, 0 elsewhere. */
export const causalBias = (g: Graph, time: Dim): Tensor => op.mul(op.trilu(op.constantOfShape(g, [time, time], 1), true, 1), MASKED_SCORE);

/** x·cos + rotate_half(x)·sin, with rotate_half(x) = [−x2, x1] over the last axis. */
export function applyRope(x: Tensor, rope: Rope): Tensor {
  const half = (x.shape.at(-1) as number) / 2;
  const [x1, x2] = op.split(x, [half, half], -1) as [Tensor, Tensor];
  return op.add(op.mul(x, rope.cos), op.mul(op.concat([op.neg(x2), x1], -1), rope.sin));
}

export interface AttentionContext {
  rope: Rope;
  /** Added to the scores, broadcastable to [batch, heads, time, keys]: causal and padding masks. */
  bias: Tensor;
  /** KV cache: past keys and values [batch, heads, past, hd]; `keys` names the dim past + time. */
  past?: { k: Tensor; v: Tensor; keys: Dim };
}

export interface AttentionResult {
  /** The output projection, [tokens, d]. */
  out: Tensor;
  /** Keys and values of past and new tokens [batch, heads, keys, hd] (the updated KV cache). */
  k: Tensor;
  v: Tensor;
}

/** Multi-head self-attention of normalised x [tokens, d] (spec §2.1: RoPE, no GQA). */
export function attention(x: Tensor, w: AttentionWeights, heads: number, shape: TokenShape, ctx: AttentionContext): AttentionResult {
  const d = x.shape[1] as number;
  const hd = d / heads;
  const split = (t: Tensor) => op.transpose(op.reshape(t, [shape.batch, shape.time, heads, hd]), [0, 2, 1, 3]);
  const q = applyRope(split(linear(x, w.q)), ctx.rope);
  let k = applyRope(split(linear(x, w.k)), ctx.rope);
  let v = split(linear(x, w.v));
  if (ctx.past) {
    // Reshaped to the named `keys` dim so the tracer knows keys and values share it.
    k = op.reshape(op.concat([ctx.past.k, k], 2), [shape.batch, heads, ctx.past.keys, hd]);
    v = op.reshape(op.concat([ctx.past.v, v], 2), [shape.batch, heads, ctx.past.keys, hd]);
  }
  const scores = op.add(op.mul(op.matMul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), ctx.bias);
  const merged = op.reshape(op.transpose(op.matMul(op.softmax(scores, -1), v), [0, 2, 1, 3]), [shape.tokens, d]);
  return { out: linear(merged, w.o), k, v };
}

// ─── Router ─────────────────────────────────────────────────────────────────────────────────────────────────────

/** Gates of both router sides, [tokens, H, E] each. */
export interface Gates {
  g1: Tensor;
  g2: Tensor;
}

/** Per-head BatchNorm statistics of router logits, [H] each. */
export interface BnStats {
  mean: Tensor;
  variance: Tensor;
}

/** Which tokens count (weights [tokens, 1, 1], 1 or 0 for pads) and how many there are (a scalar ≥ 1). */
export interface ValidTokens {
  weights: Tensor;
  count: Tensor;
}

/**
 * Where a router's thresholds come from (spec §2.2):
 * - `fixed`: τ per side [H, 1], computed on the host (the checkpoint's closed form, float64);
 * - `running`: τ = μ + √(v + 1e-5)·σ* in the graph from the running statistics (eval mode of the train graph);
 * - `batch`: the same closed form from the batch statistics of the valid tokens (train mode), plus the EMA update
 *   of the running statistics (PyTorch style: momentum, unbiased batch variance).
 * The in-graph thresholds carry no gradient: selection is a hard mask, and gradients reach the router weights only
 * through the softmax over the selected logits.
 */
export type Thresholds =
  | { kind: 'fixed'; tau: readonly [Tensor, Tensor] }
  | { kind: 'running'; running: readonly [BnStats, BnStats]; sigmaStar: number }
  | { kind: 'batch'; running: readonly [BnStats, BnStats]; sigmaStar: number; momentum: number; valid: ValidTokens };

export interface RouterSide {
  gate: Tensor;
  /** The selection z ≥ t, bool [tokens, H, E]. */
  selected: Tensor;
  /** The statistics that placed the threshold (absent for `fixed`). */
  stats?: BnStats;
  /** `batch` only: the running statistics after this batch's EMA update. */
  updated?: BnStats;
}

export interface Router extends Gates {
  sides: readonly [RouterSide, RouterSide];
}

/** Batch mean and biased variance per head over the valid tokens' logits z [tokens, H, E], and the EMA update. */
function batchStats(z: Tensor, running: BnStats, valid: ValidTokens, momentum: number): { stats: BnStats; updated: BnStats } {
  const [, H, E] = z.shape as [Dim, number, number];
  const n = op.mul(valid.count, E);
  const mean = op.div(op.reduceSum(op.mul(z, valid.weights), [0, 2]), n);
  const dev = op.sub(z, op.reshape(mean, [1, H, 1]));
  const variance = op.div(op.reduceSum(op.mul(op.mul(dev, dev), valid.weights), [0, 2]), n);
  const unbiased = op.div(op.mul(variance, n), op.maximum(op.sub(n, 1), 1));
  const ema = (run: Tensor, batch: Tensor) => op.add(op.mul(run, 1 - momentum), op.mul(batch, momentum));
  return { stats: { mean, variance }, updated: { mean: ema(running.mean, mean), variance: ema(running.variance, unbiased) } };
}

/** Gates of one side: t = min(τ, max_e z), g = softmax(z where z ≥ t, else UNSELECTED). */
function routerSide(z: Tensor, thresholds: Thresholds, side: 0 | 1): RouterSide {
  if (thresholds.kind === 'fixed') {
    const selected = op.greaterOrEqual(z, op.minimum(thresholds.tau[side], op.reduceMax(z, [-1], true)));
    return { gate: op.softmax(op.where(selected, z, UNSELECTED), -1), selected };
  }
  const H = z.shape[1] as number;
  const running = thresholds.running[side];
  const { stats, updated } = thresholds.kind === 'batch'
    ? batchStats(op.stopGradient(z), running, thresholds.valid, thresholds.momentum)
    : { stats: running, updated: undefined };
  const tau = op.reshape(op.add(stats.mean, op.mul(op.sqrt(op.add(stats.variance, ROUTER_BN_EPS)), thresholds.sigmaStar)), [1, H, 1]);
  const selected = op.greaterOrEqual(z, op.minimum(tau, op.reduceMax(op.stopGradient(z), [-1], true)));
  return { gate: op.softmax(op.where(selected, z, UNSELECTED), -1), selected, stats, ...(updated ? { updated } : {}) };
}

/** The router of a group (spec §2.2): logits z = x̃·wᵀ [tokens, H, E] per side, thresholded softmax. */
export function router(xt: Tensor, w: RouterWeights, heads: number, experts: number, shape: TokenShape, thresholds: Thresholds): Router {
  const side = (weight: Tensor, s: 0 | 1) => routerSide(op.reshape(linear(xt, weight), [shape.tokens, heads, experts]), thresholds, s);
  const sides = [side(w.w1, 0), side(w.w2, 1)] as const;
  return { g1: sides[0].gate, g2: sides[1].gate, sides };
}

// ─── Expert mixture ─────────────────────────────────────────────────────────────────────────────────────────────

/** Experts removed from one layer's mixture. */
export interface ExpertMask {
  /** Per-head multipliers [H, E] of g1 / g2: 0 removes sub-expert row i / column j (spec §3.3). */
  keep?: Gates;
  /** Composite experts (i_k, j_k), int64 [count], removed by the exact sparse correction (spec §3.4 b). */
  pairs?: { i: Tensor; j: Tensor; count: Dim };
}

/**
 * The layer's expert mixture in the general form (spec §3.3): exact for any gates, including zeroed ones, and equal
 * to the stock decomposed code when nothing is masked. With `mask.pairs`, the listed composite experts are removed
 * exactly (§3.4 b), computed from the already-zeroed gates so that nothing is removed twice. Returns [tokens, d].
 */
export function expertMixture(xt: Tensor, gates: Gates, w: MoeWeights, shape: TokenShape, mask: ExpertMask = {}): Tensor {
  const g1 = mask.keep ? op.mul(gates.g1, mask.keep.g1) : gates.g1;
  const g2 = mask.keep ? op.mul(gates.g2, mask.keep.g2) : gates.g2;
  const E = g1.shape[2] as number;
  const N = shape.tokens;

  // Gate sums per head (1 unless gates were zeroed) and the coefficients c1[i] = Σ_h g1[h,i]·s2[h], c2[j] likewise.
  const s1 = op.reduceSum(g1, [-1], true); // [N, H, 1]
  const s2 = op.reduceSum(g2, [-1], true);
  let c1 = op.reduceSum(op.mul(g1, s2), [1]); // [N, E]
  let c2 = op.reduceSum(op.mul(g2, s1), [1]);
  const g1t = op.transpose(g1, [0, 2, 1]); // [N, E, H]
  const g2t = op.transpose(g2, [0, 2, 1]);

  // Masked pairs: w[n,k] = Σ_h g1[n,h,i_k]·g2[n,h,j_k], subtracted from the coefficients and the cross terms.
  const pairs = mask.pairs;
  const wk = pairs && op.reduceSum(op.mul(op.gather(g1, pairs.i, 2), op.gather(g2, pairs.j, 2)), [1]); // [N, K]
  if (pairs && wk) {
    const scatterRows = (idx: Tensor) => op.scatterElements(op.zerosLike(c1), op.expand(op.unsqueeze(idx, [0]), [N, pairs.count]), wk, 1, 'add');
    c1 = op.sub(c1, scatterRows(pairs.i));
    c2 = op.sub(c2, scatterRows(pairs.j));
  }
  /** Σ_h gᵀ·(g'·a) minus, with masked pairs, Σ_k [idx_k = e] w_k·a[other_k]: the cross term, [N, E, width]. */
  const cross = (gt: Tensor, g: Tensor, a: Tensor, idx: 'i' | 'j'): Tensor => {
    const full = op.matMul(gt, op.matMul(g, a));
    if (!pairs || !wk) return full;
    const width = a.shape[2] as number;
    const other = idx === 'i' ? pairs.j : pairs.i;
    const updates = op.mul(op.unsqueeze(wk, [-1]), op.gather(a, other, 1)); // [N, K, width]
    const where = op.expand(op.unsqueeze(pairs[idx], [0, 2]), [N, pairs.count, width]);
    return op.sub(full, op.scatterElements(op.zerosLike(a), where, updates, 1, 'add'));
  };
  /** relu²(u x̃ + b) as [N, E, width]. */
  const hidden = (u: Affine) => op.reshape(relu2(linear(xt, u.weight, u.bias)), [N, E, (u.weight.shape[0] as number) / E]);
  const flat = (t: Tensor) => op.reshape(t, [N, E * (t.shape[2] as number)]);
  const scaled = (c: Tensor, a: Tensor) => op.mul(op.unsqueeze(c, [-1]), a);

  if (w.kind === 'horizontal') {
    const a = hidden(w.u);
    const y = cross(g2t, g1, a, 'j'); // Σ_h g2[h,j] Σ_i g1[h,i] a[i]
    return op.add(linear(flat(y), w.v), op.matMul(c2, w.b));
  }
  const a1 = hidden(w.u1);
  const a2 = hidden(w.u2);
  const p12 = cross(g1t, g2, a2, 'i'); // Σ_h g1[h,i] Σ_j g2[h,j] a2[j]
  const p21 = cross(g2t, g1, a1, 'j'); // Σ_h g2[h,j] Σ_i g1[h,i] a1[i]
  const x11 = linear(flat(scaled(c1, a1)), w.v11);
  const x12 = linear(flat(p12), w.v12);
  const x13 = op.matMul(c1, w.b1);
  const x21 = linear(flat(p21), w.v21);
  const x22 = linear(flat(scaled(c2, a2)), w.v22);
  const x23 = op.matMul(c2, w.b2);
  return op.concat([op.add(op.add(x11, x12), x13), op.add(op.add(x21, x22), x23)], -1);
}

// ─── Decoder layer ──────────────────────────────────────────────────────────────────────────────────────────────

export interface LayerContext {
  config: MonetConfig;
  shape: TokenShape;
  attention: AttentionContext;
  /** The layer's gates from x̃ (post-attention RMSNorm output): its own router's, or its group's (spec §2.3). */
  route: (xt: Tensor) => Gates;
  mask?: ExpertMask;
}

export interface LayerResult {
  /** The residual stream after the layer, [tokens, d]. */
  x: Tensor;
  /** The post-attention RMSNorm output and the expert mixture's output, [tokens, d]. */
  xt: Tensor;
  moe: Tensor;
  /** The gates `route` returned (before the mask's keep multipliers). */
  gates: Gates;
  /** Keys and values of past and new tokens (the KV cache). */
  k: Tensor;
  v: Tensor;
}

/** One decoder layer: x + attention(RMSNorm x), then + expert mixture(x̃) with x̃ the post-attention RMSNorm. */
export function decoderLayer(x: Tensor, w: LayerWeights, ctx: LayerContext): LayerResult {
  const { config: c, shape } = ctx;
  const eps = c.rms_norm_eps;
  const attn = attention(rmsNorm(x, w.inputNorm, eps), w.attention, c.num_attention_heads, shape, ctx.attention);
  const h = op.add(x, attn.out);
  const xt = rmsNorm(h, w.postNorm, eps);
  const gates = ctx.route(xt);
  const moe = expertMixture(xt, gates, w.moe, shape, ctx.mask);
  return { x: op.add(h, moe), xt, moe, gates, k: attn.k, v: attn.v };
}

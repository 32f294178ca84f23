/**
 * Monet training graphs (spec §2, §4): the decoder of `blocks.ts`, as in `forward.ts` (VD and HD, shared routers,
 * general-form mixing, no masks), but with every weight a trainable graph param and the routers' BatchNorm in
 * training mode:
 *
 * - threshold from the **batch** statistics: one mean and one biased variance per head over the B·T·E logits of the
 *   valid (non-pad) tokens, through the closed form τ = μ + √(v + eps)·σ*, which selects exactly the same set as
 *   standardising and comparing with σ* (spec §2.2). The comparison is a hard mask: no gradient flows through it or
 *   through the statistics; gradients reach w1/w2 only through the softmax over the selected raw logits;
 * - running statistics updated by EMA (PyTorch style: running ← (1−momentum)·running + momentum·batch, with the
 *   unbiased batch variance), fed as inputs and returned as scalar outputs `bn.{layer}.{side}.{mean|var}.{head}`;
 * - loss = next-token cross-entropy (pads ignored) + λ·(L_unif + L_amb) (spec §4.1), aux losses averaged over routers,
 *   ε inside the log of L_unif.
 *
 * `mode: 'eval'` builds the same graph with thresholds from the running statistics (inputs), i.e. the eval forward.
 */
import { Graph, op, nn, normal, type Tensor } from '../../engine';
import {
  causalBias, decoderLayer, embed, gateShape, isRouterBuffer, layerWeights, lmHead, outputWeightName, ropeFromZero, router, staticTokens,
  type BnStats, type Gates, type RouterWeights, type Thresholds, type ValidTokens, type WeightLookup,
} from './blocks';
import { expectedTensors } from './checkpoint';
import { sigmaStar as sigmaStarOf, type MonetConfig } from './config';

export const IGNORE_INDEX = -100;

export interface AuxOptions {
  /** Weight of the uniformity and of the ambiguity loss (spec §4.1: 1e-3). */
  lambda?: number;
  /** Separate weight for the ambiguity loss (default: lambda). */
  lambdaAmb?: number;
  /** ε added inside log p̄ of the uniformity loss (default 1e-6). */
  eps?: number;
  /** How the routers' aux losses are combined: 'mean' (default) or 'sum'. */
  reduce?: 'mean' | 'sum';
}

export interface MonetTrainGraphOptions {
  batch: number;
  seqLen: number;
  mode?: 'train' | 'eval';
  /** BN momentum for the running statistics (PyTorch style, default 0.1). */
  momentum?: number;
  aux?: AuxOptions;
  /** Also output `logits` [batch, seqLen, vocab]. */
  logits?: boolean;
  /** Also output the routers' gates `router.{r}.g1|g2` [batch, seqLen, H, E]. */
  gates?: boolean;
  /** Also output the batch statistics (mean, biased var) as scalars `bnbatch.{layer}.{side}.{mean|var}.{head}`. */
  batchStats?: boolean;
  /** Initial parameter values (name → data); params without one get no initial value. */
  init?: ReadonlyMap<string, Float32Array>;
}

export interface MonetTrainGraph {
  graph: Graph;
  loss: Tensor;
  /** Scalar metrics: ce, unif, amb, sel (mean selected sub-experts per head and side), bn running stats. */
  metrics: Record<string, Tensor>;
  /** Names of the running-stat inputs and their matching metric outputs. */
  bnStats: { input: string; layer: number; side: 1 | 2; stat: 'mean' | 'var'; outputs: string[] }[];
  params: Tensor[];
}

/** Names of the per-head running-stat inputs, as in the checkpoint (spec §7.3). */
export const runningStatName = (layer: number, side: 1 | 2, stat: 'mean' | 'var'): string =>
  `model.layers.${layer}.router.norm${side}.running_${stat}`;
export const bnOutputName = (layer: number, side: 1 | 2, stat: 'mean' | 'var', head: number): string => `bn.${layer}.${side}.${stat}.${head}`;

/** Trainable tensors of a config (every weight of spec §7.3 except BN buffers), with shapes. */
export function monetParamSpecs(config: MonetConfig): { name: string; shape: number[] }[] {
  const dims = { vertical: config.moe_decompose === 'vertical', headDim: 0, routerLayers: [], sigmaStar: 0 };
  return expectedTensors(config, dims).filter((s) => !isRouterBuffer(s.name)).map((s) => ({ name: s.name, shape: s.shape }));
}

/**
 * Seeded initialisation (HF `_init_weights`): linear weights ~ N(0, std), embeddings ~ N(0, embedStd) (default std),
 * biases and b1/b2/b 0, norms 1.
 */
export function initMonetParams(config: MonetConfig, seed = 0, std = config.initializer_range ?? 0.02, embedStd = std): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  monetParamSpecs(config).forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    let data: Float32Array;
    if (s.name.endsWith('layernorm.weight') || s.name === 'model.norm.weight') data = new Float32Array(n).fill(1);
    else if (s.name.endsWith('.bias') || /moe\.b[12]?$/.test(s.name)) data = new Float32Array(n);
    else data = normal(n, s.name === 'model.embed_tokens.weight' ? embedStd : std, (seed * 7919 + i * 104729 + 1) >>> 0);
    out.set(s.name, data);
  });
  return out;
}

/** Initial BN running stats: mean 0, var 1 (HF defaults). */
export function initRunningStats(config: MonetConfig): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (let l = 0; l < config.num_hidden_layers; l += config.moe_groups) {
    for (const s of [1, 2] as const) {
      out.set(runningStatName(l, s, 'mean'), new Float32Array(config.moe_heads));
      out.set(runningStatName(l, s, 'var'), new Float32Array(config.moe_heads).fill(1));
    }
  }
  return out;
}

/**
 * The weight-decay rule: matrices (rank ≥ 2) except the MoE output biases b1/b2/b and the router keys w1/w2. A key
 * whose sub-expert is never selected gets no gradient (the mask is hard), so decoupled decay would only shrink it
 * further below the threshold: a rich-get-richer path to dead sub-experts.
 */
export const decayParam = (p: Tensor): boolean => p.rank >= 2 && !/moe\.b[12]?$/.test(p.name) && !/router\.w[12]\.weight$/.test(p.name);

/**
 * Aux losses of one router side (spec §4.1) from gates [N, H, E], a validity mask [N, 1, 1] and the valid count:
 * uniformity −mean_{h,e} log(p̄[h,e] + ε) with p̄ the gates averaged over valid tokens, and ambiguity
 * mean_t (1/H) Σ_h (1 − max_e g[h,e]).
 */
export function routerAuxLosses(gate: Tensor, validN: Tensor, count: Tensor, eps: number): { unif: Tensor; amb: Tensor } {
  const H = gate.shape[1] as number;
  const pbar = op.div(op.reduceSum(op.mul(gate, validN), [0]), count); // [H, E]
  const unif = op.neg(op.reduceMean(op.log(op.add(pbar, eps))));
  const maxG = op.reduceMax(gate, [-1], true); // [N, H, 1]
  const amb = op.div(op.reduceSum(op.mul(op.sub(1, maxG), validN)), op.mul(count, H));
  return { unif, amb };
}

export function buildMonetTrainGraph(c: MonetConfig, o: MonetTrainGraphOptions): MonetTrainGraph {
  const mode = o.mode ?? 'train';
  const B = o.batch;
  const T = o.seqLen;
  const shape = staticTokens(B, T);
  const H = c.moe_heads;
  const E = c.moe_experts;
  const sigmaStar = sigmaStarOf(c.moe_topk, E);
  const momentum = o.momentum ?? 0.1;
  const lambda = o.aux?.lambda ?? 1e-3;
  const lambdaAmb = o.aux?.lambdaAmb ?? lambda;
  const eps = o.aux?.eps ?? 1e-6;
  if (T > c.max_position_embeddings) throw new RangeError(`seqLen ${T} exceeds max_position_embeddings ${c.max_position_embeddings}`);

  const g = new Graph(`monet_${mode}`);
  const params = monetParamSpecs(c).map((s) => g.param(s.name, 'float32', s.shape, o.init?.get(s.name)));
  const byName = new Map(params.map((p) => [p.name, p]));
  const weight: WeightLookup = (name) => {
    const t = byName.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  };

  const ids = g.input('input_ids', 'int64', [B, T]);
  const labels = g.input('labels', 'int64', [B, T]);
  const valid = g.input('valid', 'float32', [B, T]); // 1 for real tokens, 0 for pads
  const tokens: ValidTokens = { weights: op.reshape(valid, [shape.tokens, 1, 1]), count: op.maximum(op.reduceSum(valid), 1) };
  const attention = { rope: ropeFromZero(g, c, T), bias: causalBias(g, T) };

  const metrics: Record<string, Tensor> = {};
  const bnStats: MonetTrainGraph['bnStats'] = [];
  const unifs: Tensor[] = [];
  const ambs: Tensor[] = [];
  const sels: Tensor[] = [];
  /** One scalar metric per head of a [H] tensor. */
  const perHead = (t: Tensor, name: (h: number) => string): string[] =>
    Array.from({ length: H }, (_, h) => {
      metrics[name(h)] = op.reshape(op.slice(t, [h], [h + 1], [0]), []);
      return name(h);
    });

  /** A router in this graph's mode, with its BN outputs, aux losses and selection counts recorded. */
  const route = (l: number, xt: Tensor, w: RouterWeights): Gates => {
    const runningStats = (s: 1 | 2): BnStats => ({
      mean: g.input(runningStatName(l, s, 'mean'), 'float32', [H]),
      variance: g.input(runningStatName(l, s, 'var'), 'float32', [H]),
    });
    const running = [runningStats(1), runningStats(2)] as const;
    const thresholds: Thresholds = mode === 'train'
      ? { kind: 'batch', running, sigmaStar, momentum, valid: tokens }
      : { kind: 'running', running, sigmaStar };
    const r = router(xt, w, thresholds, gateShape(c, shape));
    r.sides.forEach((side, i) => {
      const s = (i + 1) as 1 | 2;
      if (side.updated) {
        for (const [stat, t] of [['mean', side.updated.mean], ['var', side.updated.variance]] as const) {
          bnStats.push({ input: runningStatName(l, s, stat), layer: l, side: s, stat, outputs: perHead(t, (h) => bnOutputName(l, s, stat, h)) });
        }
      }
      const aux = routerAuxLosses(side.gate, tokens.weights, tokens.count, eps);
      unifs.push(aux.unif);
      ambs.push(aux.amb);
      sels.push(op.div(op.reduceSum(op.mul(op.cast(side.selected, 'float32'), tokens.weights)), op.mul(tokens.count, H)));
      if (o.batchStats && side.stats) {
        perHead(side.stats.mean, (h) => `bnbatch.${l}.${s}.mean.${h}`);
        perHead(side.stats.variance, (h) => `bnbatch.${l}.${s}.var.${h}`);
      }
    });
    if (o.gates) {
      const group = l / c.moe_groups;
      g.output(`router.${group}.g1`, op.reshape(r.g1, [B, T, H, E]));
      g.output(`router.${group}.g2`, op.reshape(r.g2, [B, T, H, E]));
    }
    return r;
  };

  let x = embed(weight('model.embed_tokens.weight'), ids, shape);
  let gates: Gates | null = null;
  for (let l = 0; l < c.num_hidden_layers; l++) {
    const w = layerWeights(c, l, weight);
    // Layers l % G == 0 own a router; later layers of the group reuse its gates.
    const layer = decoderLayer(x, w, { config: c, shape, attention, route: (xt) => (w.router ? route(l, xt, w.router) : gates!) });
    if (w.router) gates = layer.gates;
    x = layer.x;
  }

  const logits = lmHead(x, weight('model.norm.weight'), weight(outputWeightName(c)), c.rms_norm_eps); // [N, V]
  if (o.logits) g.output('logits', op.reshape(logits, [B, T, c.vocab_size]));
  const ce = nn.softmaxCrossEntropy(logits, op.reshape(labels, [shape.tokens]), IGNORE_INDEX);
  // Two entries (sides) per router; a router's loss is the mean of its sides (the 1/(2H·E) and 1/(2H) of spec §4.1),
  // then routers are averaged ('mean') or summed ('sum').
  const combine = (ts: Tensor[]): Tensor => {
    const s = ts.reduce((a, b) => op.add(a, b));
    return op.div(s, (o.aux?.reduce ?? 'mean') === 'mean' ? ts.length : 2);
  };
  const unif = combine(unifs);
  const amb = combine(ambs);
  const sel = op.div(sels.reduce((a, b) => op.add(a, b)), sels.length);
  const loss = op.add(ce, op.add(op.mul(unif, lambda), op.mul(amb, lambdaAmb)));
  metrics.ce = ce;
  metrics.unif = unif;
  metrics.amb = amb;
  metrics.sel = sel;
  metrics.tokens = op.identity(tokens.count);
  return { graph: g, loss, metrics, bnStats, params };
}

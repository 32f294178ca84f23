/**
 * Monet training graphs (spec §2, §4): the same decoder as `forward.ts` (VD and HD, shared routers, general-form
 * mixing without masks), but with every weight a trainable graph param and the routers' BatchNorm in training mode:
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
import type { MonetConfig } from './config';
import { sigmaStar as sigmaStarOf } from './config';
import { expectedTensors } from './checkpoint';
import { ROUTER_BN_EPS } from './checkpoint';

const UNSELECTED = -1e10;
const CAUSAL = -1e30;
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
  return expectedTensors(config, dims).filter((s) => !s.name.includes('.norm1.') && !s.name.includes('.norm2.')).map((s) => ({ name: s.name, shape: s.shape }));
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
  const N = B * T;
  const d = c.hidden_size;
  const nh = c.num_attention_heads;
  const hd = d / nh;
  const H = c.moe_heads;
  const E = c.moe_experts;
  const m = c.moe_dim;
  const V = c.vocab_size;
  const vertical = c.moe_decompose === 'vertical';
  const sigma = sigmaStarOf(c.moe_topk, E);
  const momentum = o.momentum ?? 0.1;
  const lambda = o.aux?.lambda ?? 1e-3;
  const lambdaAmb = o.aux?.lambdaAmb ?? lambda;
  const eps = o.aux?.eps ?? 1e-6;
  if (T > c.max_position_embeddings) throw new RangeError(`seqLen ${T} exceeds max_position_embeddings ${c.max_position_embeddings}`);

  const g = new Graph(`monet_${mode}`);
  const params: Tensor[] = [];
  const P = new Map<string, Tensor>();
  for (const s of monetParamSpecs(c)) {
    const t = g.param(s.name, 'float32', s.shape, o.init?.get(s.name));
    params.push(t);
    P.set(s.name, t);
  }
  const w = (name: string): Tensor => {
    const t = P.get(name);
    if (!t) throw new Error(`no parameter ${name}`);
    return t;
  };

  const ids = g.input('input_ids', 'int64', [B, T]);
  const labels = g.input('labels', 'int64', [B, T]);
  const valid = g.input('valid', 'float32', [B, T]); // 1 for real tokens, 0 for pads
  const validN = op.reshape(valid, [N, 1, 1]);
  const count = op.maximum(op.reduceSum(valid), 1);

  const linear = (x: Tensor, wt: Tensor, b: Tensor | null = null): Tensor => op.gemm(x, wt, b, { transB: true });
  const rmsNorm = (x: Tensor, wt: Tensor): Tensor => {
    const variance = op.reduceMean(op.mul(x, x), [-1], true);
    return op.mul(op.mul(x, op.reciprocal(op.sqrt(op.add(variance, c.rms_norm_eps)))), wt);
  };
  const relu2 = (x: Tensor): Tensor => {
    const r = op.relu(x);
    return op.mul(r, r);
  };

  // RoPE tables for positions 0…T−1 (same float64 → float32 computation as forward.ts).
  const cosT = new Float32Array(T * hd);
  const sinT = new Float32Array(T * hd);
  for (let p = 0; p < T; p++) {
    for (let k = 0; k < hd / 2; k++) {
      const invFreq = Math.fround(1 / c.rope_theta ** ((2 * k) / hd));
      const angle = Math.fround(p * invFreq);
      for (const col of [k, k + hd / 2]) {
        cosT[p * hd + col] = Math.cos(angle);
        sinT[p * hd + col] = Math.sin(angle);
      }
    }
  }
  const cos = g.initializer('rope.cos', 'float32', [T, hd], cosT);
  const sin = g.initializer('rope.sin', 'float32', [T, hd], sinT);
  const rope = (x: Tensor): Tensor => {
    const [x1, x2] = op.split(x, [hd / 2, hd / 2], -1) as [Tensor, Tensor];
    return op.add(op.mul(x, cos), op.mul(op.concat([op.neg(x2), x1], -1), sin));
  };
  const causalData = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) causalData[i * T + j] = CAUSAL;
  const causal = g.initializer('causal', 'float32', [T, T], causalData);

  const metrics: Record<string, Tensor> = {};
  const bnStats: MonetTrainGraph['bnStats'] = [];
  const unifs: Tensor[] = [];
  const ambs: Tensor[] = [];
  const sels: Tensor[] = [];

  let x = op.reshape(op.gather(w('model.embed_tokens.weight'), ids), [N, d]);
  let gates: { g1: Tensor; g2: Tensor } | null = null;

  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const lw = (name: string) => w(`${p}.${name}`);
    const hIn = rmsNorm(x, lw('input_layernorm.weight'));
    const heads = (t: Tensor) => op.transpose(op.reshape(t, [B, T, nh, hd]), [0, 2, 1, 3]);
    const q = rope(heads(linear(hIn, lw('self_attn.q_proj.weight'))));
    const k = rope(heads(linear(hIn, lw('self_attn.k_proj.weight'))));
    const v = heads(linear(hIn, lw('self_attn.v_proj.weight')));
    const scores = op.add(op.mul(op.matMul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), causal);
    const attn = op.matMul(op.softmax(scores, -1), v);
    const merged = op.reshape(op.transpose(attn, [0, 2, 1, 3]), [N, d]);
    x = op.add(x, linear(merged, lw('self_attn.o_proj.weight')));
    const xt = rmsNorm(x, lw('post_attention_layernorm.weight'));

    if (l % c.moe_groups === 0) {
      const side = (s: 1 | 2): Tensor => {
        const z = op.reshape(linear(xt, lw(`router.w${s}.weight`)), [N, H, E]);
        const runMean = g.input(runningStatName(l, s, 'mean'), 'float32', [H]);
        const runVar = g.input(runningStatName(l, s, 'var'), 'float32', [H]);
        let mean: Tensor;
        let variance: Tensor;
        if (mode === 'train') {
          // Batch statistics per head over the valid tokens' B·T·E logits (no gradient: they only place the threshold).
          const zs = op.stopGradient(z);
          const n = op.mul(count, E);
          mean = op.div(op.reduceSum(op.mul(zs, validN), [0, 2]), n); // [H]
          const dev = op.sub(zs, op.reshape(mean, [1, H, 1]));
          variance = op.div(op.reduceSum(op.mul(op.mul(dev, dev), validN), [0, 2]), n); // biased
          const unbiased = op.div(op.mul(variance, n), op.maximum(op.sub(n, 1), 1));
          const newMean = op.add(op.mul(runMean, 1 - momentum), op.mul(mean, momentum));
          const newVar = op.add(op.mul(runVar, 1 - momentum), op.mul(unbiased, momentum));
          for (const [stat, t] of [['mean', newMean], ['var', newVar]] as const) {
            const outputs: string[] = [];
            for (let h = 0; h < H; h++) {
              const name = bnOutputName(l, s, stat, h);
              metrics[name] = op.reshape(op.slice(t, [h], [h + 1], [0]), []);
              outputs.push(name);
            }
            bnStats.push({ input: runningStatName(l, s, stat), layer: l, side: s, stat, outputs });
          }
        } else {
          mean = runMean;
          variance = runVar;
        }
        const tau = op.reshape(op.add(mean, op.mul(op.sqrt(op.add(variance, ROUTER_BN_EPS)), sigma)), [1, H, 1]);
        const threshold = op.minimum(tau, op.reduceMax(op.stopGradient(z), [-1], true));
        const selected = op.greaterOrEqual(z, threshold);
        const gate = op.softmax(op.where(selected, z, UNSELECTED), -1); // [N, H, E]
        const a = routerAuxLosses(gate, validN, count, eps);
        unifs.push(a.unif);
        ambs.push(a.amb);
        sels.push(op.div(op.reduceSum(op.mul(op.cast(selected, 'float32'), validN)), op.mul(count, H)));
        if (o.batchStats) {
          for (const [stat, t] of [['mean', mean], ['var', variance]] as const) {
            for (let h = 0; h < H; h++) metrics[`bnbatch.${l}.${s}.${stat}.${h}`] = op.reshape(op.slice(t, [h], [h + 1], [0]), []);
          }
        }
        return gate;
      };
      gates = { g1: side(1), g2: side(2) };
      if (o.gates) {
        const group = l / c.moe_groups;
        g.output(`router.${group}.g1`, op.reshape(gates.g1, [B, T, H, E]));
        g.output(`router.${group}.g2`, op.reshape(gates.g2, [B, T, H, E]));
      }
    }
    const { g1, g2 } = gates!;
    const s1 = op.reduceSum(g1, [-1], true);
    const s2 = op.reduceSum(g2, [-1], true);
    const c1 = op.reduceSum(op.mul(g1, s2), [1]); // [N, E]
    const c2 = op.reduceSum(op.mul(g2, s1), [1]);
    const g1t = op.transpose(g1, [0, 2, 1]);
    const g2t = op.transpose(g2, [0, 2, 1]);
    const flat = (t: Tensor, width: number) => op.reshape(t, [N, E * width]);
    let out: Tensor;
    if (vertical) {
      const mh = m / 2;
      const a1 = op.reshape(relu2(linear(xt, lw('moe.u1.weight'), lw('moe.u1.bias'))), [N, E, mh]);
      const a2 = op.reshape(relu2(linear(xt, lw('moe.u2.weight'), lw('moe.u2.bias'))), [N, E, mh]);
      const p12 = op.matMul(g1t, op.matMul(g2, a2));
      const p21 = op.matMul(g2t, op.matMul(g1, a1));
      const x11 = linear(flat(op.mul(op.unsqueeze(c1, [-1]), a1), mh), lw('moe.v11.weight'));
      const x12 = linear(flat(p12, mh), lw('moe.v12.weight'));
      const x13 = op.matMul(c1, lw('moe.b1'));
      const x21 = linear(flat(p21, mh), lw('moe.v21.weight'));
      const x22 = linear(flat(op.mul(op.unsqueeze(c2, [-1]), a2), mh), lw('moe.v22.weight'));
      const x23 = op.matMul(c2, lw('moe.b2'));
      out = op.concat([op.add(op.add(x11, x12), x13), op.add(op.add(x21, x22), x23)], -1);
    } else {
      const a = op.reshape(relu2(linear(xt, lw('moe.u.weight'), lw('moe.u.bias'))), [N, E, m]);
      const y = op.matMul(g2t, op.matMul(g1, a));
      out = op.add(linear(flat(y, m), lw('moe.v.weight')), op.matMul(c2, lw('moe.b')));
    }
    x = op.add(x, out);
  }

  const head = c.tie_word_embeddings ? w('model.embed_tokens.weight') : w('lm_head.weight');
  const logits = linear(rmsNorm(x, w('model.norm.weight')), head); // [N, V]
  if (o.logits) g.output('logits', op.reshape(logits, [B, T, V]));
  const ce = nn.softmaxCrossEntropy(logits, op.reshape(labels, [N]), IGNORE_INDEX);
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
  metrics.tokens = op.identity(count);
  return { graph: g, loss, metrics, bnStats, params };
}

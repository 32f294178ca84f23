/**
 * The Monet forward pass split into one ONNX graph per decoder layer plus a head graph (spec §2, §3, §8.13), so that
 * checkpoints of any size load one layer at a time: each layer's weights are read from safetensors one tensor at a
 * time, converted to float32, baked into that layer's session, and released before the next layer is read.
 *
 * Layer graph `monet.layer{l}`:
 *   inputs  x [batch, time, d]; rope_cos / rope_sin [batch, 1, time, hd] (per-row positions, computed on the host);
 *           attn_bias [batch, 1, time, total] (0 or −1e30: causal + key padding); past_k / past_v
 *           [batch, heads, past, hd] (KV cache, past may be 0); on layers that do not own a router, the group's
 *           gates g1 / g2 [batch·time, H, E]; mask_i / mask_j int64 [K] (composite experts to remove, §3.4 b);
 *           keep1 / keep2 [H, E] (1, or 0 to remove sub-expert row i / column j per head, §3.3).
 *   outputs y [batch, time, d]; present_k / present_v [batch, heads, total, hd]; on router layers g1 / g2
 *           [batch·time, H, E] (the router's own gates, before this layer's keep multipliers); with `debug`, xt (the
 *           post-attention RMSNorm output) and moe (the expert mixture's output), both [batch·time, d].
 * Head graph `monet.head`: inputs x [batch, time, d], targets int64 [batch, time]; outputs logits [batch, time, V]
 * and nll [batch, time] = logsumexp(logits) − logits[target].
 */
import { Graph, op, type Tensor } from '../../engine';
import type { MonetCheckpoint } from './checkpoint';

/** Value the router writes into unselected logits before the softmax (spec §2.2; fp32, so exp gives exactly 0). */
const UNSELECTED = -1e10;

export interface LayerGraphOptions {
  /** Also output `xt` and `moe` (for brute-force checks). */
  debug?: boolean;
}

/** Float32 weights of one tensor of the checkpoint as a graph initializer (converted per tensor, then dropped). */
async function weightOf(g: Graph, ckpt: MonetCheckpoint, name: string): Promise<Tensor> {
  const spec = ckpt.specs.get(name)!;
  return g.initializer(name, 'float32', spec.shape, await ckpt.read(name));
}

function helpers(eps: number) {
  return {
    linear: (x: Tensor, w: Tensor, b: Tensor | null = null): Tensor => op.gemm(x, w, b, { transB: true }),
    rmsNorm: (x: Tensor, w: Tensor): Tensor => {
      const variance = op.reduceMean(op.mul(x, x), [-1], true);
      return op.mul(op.mul(x, op.reciprocal(op.sqrt(op.add(variance, eps)))), w);
    },
    relu2: (x: Tensor): Tensor => {
      const r = op.relu(x);
      return op.mul(r, r);
    },
  };
}

export function ownsRouter(ckpt: MonetCheckpoint, layer: number): boolean {
  return layer % ckpt.config.moe_groups === 0;
}

/** One decoder layer as a graph (see the file comment for its inputs and outputs). */
export async function buildMonetLayer(ckpt: MonetCheckpoint, l: number, options: LayerGraphOptions = {}): Promise<Graph> {
  const { config: c, dims } = ckpt;
  const d = c.hidden_size;
  const nh = c.num_attention_heads;
  const hd = dims.headDim;
  const H = c.moe_heads;
  const E = c.moe_experts;
  const m = c.moe_dim;
  const g = new Graph(`monet.layer${l}`);
  const { linear, rmsNorm, relu2 } = helpers(c.rms_norm_eps);
  const p = `model.layers.${l}`;
  const w = (name: string) => weightOf(g, ckpt, `${p}.${name}`);
  const N: (string | number)[] = ['batch*time'];

  const xIn = g.input('x', 'float32', ['batch', 'time', d]);
  const cos = g.input('rope_cos', 'float32', ['batch', 1, 'time', hd]);
  const sin = g.input('rope_sin', 'float32', ['batch', 1, 'time', hd]);
  const bias = g.input('attn_bias', 'float32', ['batch', 1, 'time', 'total']);
  const pastK = g.input('past_k', 'float32', ['batch', nh, 'past', hd]);
  const pastV = g.input('past_v', 'float32', ['batch', nh, 'past', hd]);
  const router = ownsRouter(ckpt, l);
  const gIn = router ? null : { g1: g.input('g1', 'float32', [...N, H, E]), g2: g.input('g2', 'float32', [...N, H, E]) };
  const mi = g.input('mask_i', 'int64', ['K']);
  const mj = g.input('mask_j', 'int64', ['K']);
  const keep1 = g.input('keep1', 'float32', [H, E]);
  const keep2 = g.input('keep2', 'float32', [H, E]);

  let x = op.reshape(xIn, [...N, d]);

  // Attention with a KV cache; RoPE tables and the additive bias come from the host.
  const rope = (t: Tensor): Tensor => {
    const [x1, x2] = op.split(t, [hd / 2, hd / 2], -1) as [Tensor, Tensor];
    return op.add(op.mul(t, cos), op.mul(op.concat([op.neg(x2), x1], -1), sin));
  };
  const hIn = rmsNorm(x, await w('input_layernorm.weight'));
  const heads = (t: Tensor) => op.transpose(op.reshape(t, ['batch', 'time', nh, hd]), [0, 2, 1, 3]);
  const q = rope(heads(linear(hIn, await w('self_attn.q_proj.weight'))));
  const kNew = rope(heads(linear(hIn, await w('self_attn.k_proj.weight'))));
  const vNew = heads(linear(hIn, await w('self_attn.v_proj.weight')));
  // Named 'total' (read off attn_bias at run time) so the tracer knows keys and values share it.
  const k = op.reshape(op.concat([pastK, kNew], 2), ['batch', nh, 'total', hd]);
  const v = op.reshape(op.concat([pastV, vNew], 2), ['batch', nh, 'total', hd]);
  g.output('present_k', k);
  g.output('present_v', v);
  const scores = op.add(op.mul(op.matMul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), bias);
  const attn = op.matMul(op.softmax(scores, -1), v);
  const merged = op.reshape(op.transpose(attn, [0, 2, 1, 3]), [...N, d]);
  x = op.add(x, linear(merged, await w('self_attn.o_proj.weight')));

  const xt = rmsNorm(x, await w('post_attention_layernorm.weight'));

  // Router (layers l % G == 0); later layers of the group take its gates as inputs.
  let g1: Tensor;
  let g2: Tensor;
  if (router) {
    const tau = ckpt.thresholds.get(l)!;
    const side = async (s: 1 | 2) => {
      const z = op.reshape(linear(xt, await w(`router.w${s}.weight`)), [...N, H, E]);
      const t = g.initializer(`${p}.router.tau${s}`, 'float32', [H, 1], Float32Array.from(s === 1 ? tau.tau1 : tau.tau2));
      const threshold = op.minimum(t, op.reduceMax(z, [-1], true));
      return op.softmax(op.where(op.greaterOrEqual(z, threshold), z, UNSELECTED), -1);
    };
    g1 = await side(1);
    g2 = await side(2);
    g.output('g1', g1);
    g.output('g2', g2);
  } else {
    ({ g1, g2 } = gIn!);
  }
  // Whole sub-expert rows / columns (§3.3): zero the gates, then the general form below stays exact.
  g1 = op.mul(g1, keep1);
  g2 = op.mul(g2, keep2);

  // General-form coefficients (§3.3) and the sparse correction for listed composite experts (§3.4 b), computed from
  // the already-zeroed gates so that nothing is removed twice.
  const s1 = op.reduceSum(g1, [-1], true);
  const s2 = op.reduceSum(g2, [-1], true);
  let c1 = op.reduceSum(op.mul(g1, s2), [1]);
  let c2 = op.reduceSum(op.mul(g2, s1), [1]);
  const g1t = op.transpose(g1, [0, 2, 1]);
  const g2t = op.transpose(g2, [0, 2, 1]);
  const wk = op.reduceSum(op.mul(op.gather(g1, mi, 2), op.gather(g2, mj, 2)), [1]); // [N, K]
  const scatterRows = (idx: Tensor) => op.scatterElements(op.zerosLike(c1), op.expand(op.unsqueeze(idx, [0]), [...N, 'K']), wk, 1, 'add');
  c1 = op.sub(c1, scatterRows(mi));
  c2 = op.sub(c2, scatterRows(mj));
  const maskedCross = (a: Tensor, idx: Tensor, other: Tensor, width: number): Tensor => {
    const updates = op.mul(op.unsqueeze(wk, [-1]), op.gather(a, other, 1)); // [N, K, width]
    const where = op.expand(op.unsqueeze(idx, [0, 2]), [...N, 'K', width]);
    return op.scatterElements(op.zerosLike(a), where, updates, 1, 'add');
  };
  const flat = (t: Tensor, width: number) => op.reshape(t, [...N, E * width]);

  let out: Tensor;
  if (dims.vertical) {
    const mh = m / 2;
    const a1 = op.reshape(relu2(linear(xt, await w('moe.u1.weight'), await w('moe.u1.bias'))), [...N, E, mh]);
    const a2 = op.reshape(relu2(linear(xt, await w('moe.u2.weight'), await w('moe.u2.bias'))), [...N, E, mh]);
    const p12 = op.sub(op.matMul(g1t, op.matMul(g2, a2)), maskedCross(a2, mi, mj, mh));
    const p21 = op.sub(op.matMul(g2t, op.matMul(g1, a1)), maskedCross(a1, mj, mi, mh));
    const x11 = linear(flat(op.mul(op.unsqueeze(c1, [-1]), a1), mh), await w('moe.v11.weight'));
    const x12 = linear(flat(p12, mh), await w('moe.v12.weight'));
    const x13 = op.matMul(c1, await w('moe.b1'));
    const x21 = linear(flat(p21, mh), await w('moe.v21.weight'));
    const x22 = linear(flat(op.mul(op.unsqueeze(c2, [-1]), a2), mh), await w('moe.v22.weight'));
    const x23 = op.matMul(c2, await w('moe.b2'));
    out = op.concat([op.add(op.add(x11, x12), x13), op.add(op.add(x21, x22), x23)], -1);
  } else {
    const a = op.reshape(relu2(linear(xt, await w('moe.u.weight'), await w('moe.u.bias'))), [...N, E, m]);
    const y = op.sub(op.matMul(g2t, op.matMul(g1, a)), maskedCross(a, mj, mi, m));
    out = op.add(linear(flat(y, m), await w('moe.v.weight')), op.matMul(c2, await w('moe.b')));
  }
  if (options.debug) {
    g.output('xt', op.identity(xt));
    g.output('moe', op.identity(out));
  }
  g.output('y', op.reshape(op.add(x, out), ['batch', 'time', d]));
  return g;
}

/** Final RMSNorm and lm_head (or the tied embeddings), with per-position NLL against `targets`. */
export async function buildMonetHead(ckpt: MonetCheckpoint): Promise<Graph> {
  const c = ckpt.config;
  const g = new Graph('monet.head');
  const { linear, rmsNorm } = helpers(c.rms_norm_eps);
  const x = g.input('x', 'float32', ['batch', 'time', c.hidden_size]);
  const targets = g.input('targets', 'int64', ['batch', 'time']);
  const head = await weightOf(g, ckpt, c.tie_word_embeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
  const flatX = op.reshape(x, ['batch*time', c.hidden_size]);
  const logits = linear(rmsNorm(flatX, await weightOf(g, ckpt, 'model.norm.weight')), head);
  const logp = op.logSoftmax(logits, -1);
  const picked = op.gatherElements(logp, op.reshape(targets, ['batch*time', 1]), 1);
  g.output('logits', op.reshape(logits, ['batch', 'time', c.vocab_size]));
  g.output('nll', op.reshape(op.neg(picked), ['batch', 'time']));
  return g;
}

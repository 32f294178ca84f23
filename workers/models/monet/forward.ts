/**
 * The eval-mode Monet forward pass as an engine graph (spec §2, §3, §8).
 *
 * Activations are kept flat as [N = batch·time, d] so every projection is one Gemm against the stored [out, in]
 * weight (transB, no transposed copy). Expert mixing always uses the normalization-free "general form" of spec §3.3,
 * which equals the stock decomposed code when nothing is masked and stays exact when gates are zeroed; with
 * `masking`, each layer also takes a list of composite experts (i, j) to remove and applies the sparse exact
 * correction of spec §3.4(b). Masks are graph inputs, so one compiled graph serves every mask (an empty list
 * removes nothing).
 */
import { Graph, op, type Tensor } from '../../engine';
import type { MonetCheckpoint } from './checkpoint';

export interface MonetForwardOptions {
  /** Add per-layer mask inputs `mask.{l}.i` / `mask.{l}.j` (int64 [K_l]) and the exact masking correction. */
  masking?: boolean;
  /**
   * Output each router's gates `router.{r}.g1` / `router.{r}.g2` [batch, time, H, E] (default true), r being the
   * routing group (router of layer r·G), as in the fixtures' expected.safetensors.
   */
  routerOutputs?: boolean;
}

/** Value the router writes into unselected logits before the softmax (spec §2.2; fp32, so exp gives exactly 0). */
const UNSELECTED = -1e10;
/** Added to attention scores above the diagonal. */
const CAUSAL = -1e30;

/** Build the forward graph: input `input_ids` int64 [batch, time]; output `logits` float32 [batch, time, vocab]. */
export async function buildMonetForward(ckpt: MonetCheckpoint, options: MonetForwardOptions = {}): Promise<Graph> {
  const { config: c, dims } = ckpt;
  const routerOutputs = options.routerOutputs ?? true;
  const d = c.hidden_size;
  const nh = c.num_attention_heads;
  const hd = dims.headDim;
  const H = c.moe_heads;
  const E = c.moe_experts;
  const m = c.moe_dim;
  const g = new Graph('monet');

  const weight = async (name: string): Promise<Tensor> => {
    const spec = ckpt.specs.get(name)!;
    return g.initializer(name, 'float32', spec.shape, await ckpt.read(name));
  };
  const linear = (x: Tensor, w: Tensor, b: Tensor | null = null): Tensor => op.gemm(x, w, b, { transB: true });
  const rmsNorm = (x: Tensor, w: Tensor): Tensor => {
    const variance = op.reduceMean(op.mul(x, x), [-1], true);
    return op.mul(op.mul(x, op.reciprocal(op.sqrt(op.add(variance, c.rms_norm_eps)))), w);
  };
  const relu2 = (x: Tensor): Tensor => {
    const r = op.relu(x);
    return op.mul(r, r);
  };

  const ids = g.input('input_ids', 'int64', ['batch', 'time']);
  const N: (string | number)[] = ['batch*time'];

  // RoPE tables (rotate-half pairing, positions from 0), computed in float64 and stored as float32.
  const maxPos = c.max_position_embeddings;
  const cosTable = new Float32Array(maxPos * hd);
  const sinTable = new Float32Array(maxPos * hd);
  for (let p = 0; p < maxPos; p++) {
    for (let k = 0; k < hd / 2; k++) {
      const invFreq = Math.fround(1 / c.rope_theta ** ((2 * k) / hd));
      const angle = Math.fround(p * invFreq);
      for (const col of [k, k + hd / 2]) {
        cosTable[p * hd + col] = Math.cos(angle);
        sinTable[p * hd + col] = Math.sin(angle);
      }
    }
  }
  const time = op.squeeze(op.dimValue(g, 'time'), [0]);
  const positions = op.range(g, 0, time);
  const cos = op.reshape(op.gather(g.initializer('rope.cos', 'float32', [maxPos, hd], cosTable), positions), ['time', hd]);
  const sin = op.reshape(op.gather(g.initializer('rope.sin', 'float32', [maxPos, hd], sinTable), positions), ['time', hd]);
  const rope = (x: Tensor): Tensor => {
    // x: [batch, heads, time, hd]; rotate_half(x) = [-x2, x1].
    const [x1, x2] = op.split(x, [hd / 2, hd / 2], -1) as [Tensor, Tensor];
    return op.add(op.mul(x, cos), op.mul(op.concat([op.neg(x2), x1], -1), sin));
  };
  const causal = op.mul(op.trilu(op.constantOfShape(g, ['time', 'time'], 1), true, 1), CAUSAL);

  let x = op.reshape(op.gather(await weight('model.embed_tokens.weight'), ids), [...N, d]);
  let gates: { g1: Tensor; g2: Tensor } | null = null;

  for (let l = 0; l < c.num_hidden_layers; l++) {
    const p = `model.layers.${l}`;
    const w = (name: string) => weight(`${p}.${name}`);

    // Attention.
    const hIn = rmsNorm(x, await w('input_layernorm.weight'));
    const heads = (t: Tensor) => op.transpose(op.reshape(t, ['batch', 'time', nh, hd]), [0, 2, 1, 3]);
    const q = rope(heads(linear(hIn, await w('self_attn.q_proj.weight'))));
    const k = rope(heads(linear(hIn, await w('self_attn.k_proj.weight'))));
    const v = heads(linear(hIn, await w('self_attn.v_proj.weight')));
    const scores = op.add(op.mul(op.matMul(q, op.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), causal);
    const attn = op.matMul(op.softmax(scores, -1), v);
    const merged = op.reshape(op.transpose(attn, [0, 2, 1, 3]), [...N, d]);
    x = op.add(x, linear(merged, await w('self_attn.o_proj.weight')));

    const xt = rmsNorm(x, await w('post_attention_layernorm.weight'));

    // Router: only on layers l % G == 0; later layers of the group reuse its gates.
    if (l % c.moe_groups === 0) {
      const tau = ckpt.thresholds.get(l)!;
      const side = async (s: 1 | 2) => {
        const z = op.reshape(linear(xt, await w(`router.w${s}.weight`)), [...N, H, E]);
        const t = g.initializer(`${p}.router.tau${s}`, 'float32', [H, 1], Float32Array.from(s === 1 ? tau.tau1 : tau.tau2));
        const threshold = op.minimum(t, op.reduceMax(z, [-1], true));
        return op.softmax(op.where(op.greaterOrEqual(z, threshold), z, UNSELECTED), -1);
      };
      gates = { g1: await side(1), g2: await side(2) };
      if (routerOutputs) {
        const group = l / c.moe_groups;
        g.output(`router.${group}.g1`, op.reshape(gates.g1, ['batch', 'time', H, E]));
        g.output(`router.${group}.g2`, op.reshape(gates.g2, ['batch', 'time', H, E]));
      }
    }
    const { g1, g2 } = gates!;

    // Gate sums per head (1 unless gates were zeroed) and the general-form coefficients of spec §3.3.
    const s1 = op.reduceSum(g1, [-1], true); // [N, H, 1]
    const s2 = op.reduceSum(g2, [-1], true);
    let c1 = op.reduceSum(op.mul(g1, s2), [1]); // [N, E]: Σ_h g1[h,i]·s2[h]
    let c2 = op.reduceSum(op.mul(g2, s1), [1]); // [N, E]: Σ_h g2[h,j]·s1[h]
    const g1t = op.transpose(g1, [0, 2, 1]); // [N, E, H]
    const g2t = op.transpose(g2, [0, 2, 1]);

    // Masked composite experts (i_k, j_k): w[n,k] = Σ_h g1[n,h,i_k]·g2[n,h,j_k] (spec §3.4b).
    let mask: { i: Tensor; j: Tensor; w: Tensor } | null = null;
    if (options.masking) {
      const K = `mask_${l}`;
      const mi = g.input(`mask.${l}.i`, 'int64', [K]);
      const mj = g.input(`mask.${l}.j`, 'int64', [K]);
      const wk = op.reduceSum(op.mul(op.gather(g1, mi, 2), op.gather(g2, mj, 2)), [1]); // [N, K]
      const scatterRows = (idx: Tensor) => op.scatterElements(op.zerosLike(c1), op.expand(op.unsqueeze(idx, [0]), [...N, K]), wk, 1, 'add');
      c1 = op.sub(c1, scatterRows(mi));
      c2 = op.sub(c2, scatterRows(mj));
      mask = { i: mi, j: mj, w: wk };
    }
    /** Σ_k [idx_k = e] w_k · a[other_k] for every e: the masked experts' share of a cross term, [N, E, width]. */
    const maskedCross = (a: Tensor, idx: Tensor, other: Tensor, width: number): Tensor => {
      const K = `mask_${l}`;
      const updates = op.mul(op.unsqueeze(mask!.w, [-1]), op.gather(a, other, 1)); // [N, K, width]
      const where = op.expand(op.unsqueeze(idx, [0, 2]), [...N, K, width]);
      return op.scatterElements(op.zerosLike(a), where, updates, 1, 'add');
    };
    const flat = (t: Tensor, width: number) => op.reshape(t, [...N, E * width]);

    let out: Tensor;
    if (dims.vertical) {
      const mh = m / 2;
      const a1 = op.reshape(relu2(linear(xt, await w('moe.u1.weight'), await w('moe.u1.bias'))), [...N, E, mh]);
      const a2 = op.reshape(relu2(linear(xt, await w('moe.u2.weight'), await w('moe.u2.bias'))), [...N, E, mh]);
      let p12 = op.matMul(g1t, op.matMul(g2, a2)); // [N, E, mh]: Σ_h g1[h,i] Σ_j g2[h,j] a2[j]
      let p21 = op.matMul(g2t, op.matMul(g1, a1)); // [N, E, mh]: Σ_h g2[h,j] Σ_i g1[h,i] a1[i]
      if (mask) {
        p12 = op.sub(p12, maskedCross(a2, mask.i, mask.j, mh));
        p21 = op.sub(p21, maskedCross(a1, mask.j, mask.i, mh));
      }
      const x11 = linear(flat(op.mul(op.unsqueeze(c1, [-1]), a1), mh), await w('moe.v11.weight'));
      const x12 = linear(flat(p12, mh), await w('moe.v12.weight'));
      const x13 = op.matMul(c1, await w('moe.b1'));
      const x21 = linear(flat(p21, mh), await w('moe.v21.weight'));
      const x22 = linear(flat(op.mul(op.unsqueeze(c2, [-1]), a2), mh), await w('moe.v22.weight'));
      const x23 = op.matMul(c2, await w('moe.b2'));
      out = op.concat([op.add(op.add(x11, x12), x13), op.add(op.add(x21, x22), x23)], -1);
    } else {
      const a = op.reshape(relu2(linear(xt, await w('moe.u.weight'), await w('moe.u.bias'))), [...N, E, m]);
      let y = op.matMul(g2t, op.matMul(g1, a)); // [N, E, m]: Σ_h g2[h,j] Σ_i g1[h,i] a[i]
      if (mask) y = op.sub(y, maskedCross(a, mask.j, mask.i, m));
      out = op.add(linear(flat(y, m), await w('moe.v.weight')), op.matMul(c2, await w('moe.b')));
    }
    x = op.add(x, out);
  }

  const head = c.tie_word_embeddings ? g.initializers.get('model.embed_tokens.weight')!.tensor : await weight('lm_head.weight');
  const logits = linear(rmsNorm(x, await weight('model.norm.weight')), head);
  g.output('logits', op.reshape(logits, ['batch', 'time', c.vocab_size]));
  return g;
}

/**
 * Feeds for the mask inputs of a graph built with `masking`: flat expert ids (i·E + j) per layer; layers not listed
 * get an empty mask.
 */
export function maskFeeds(ckpt: MonetCheckpoint, masks: ReadonlyMap<number, readonly number[]>): Record<string, { data: BigInt64Array; dims: number[] }> {
  const E = ckpt.config.moe_experts;
  const feeds: Record<string, { data: BigInt64Array; dims: number[] }> = {};
  for (let l = 0; l < ckpt.config.num_hidden_layers; l++) {
    const ids = masks.get(l) ?? [];
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= E * E) throw new RangeError(`layer ${l}: expert id ${id} is outside [0, ${E * E})`);
    }
    const unique = [...new Set(ids)];
    feeds[`mask.${l}.i`] = { data: BigInt64Array.from(unique, (id) => BigInt(Math.floor(id / E))), dims: [unique.length] };
    feeds[`mask.${l}.j`] = { data: BigInt64Array.from(unique, (id) => BigInt(id % E)), dims: [unique.length] };
  }
  return feeds;
}

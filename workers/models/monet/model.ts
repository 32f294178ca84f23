/**
 * A loaded Monet model: one ONNX Runtime session per decoder layer plus a head session (layers.ts), run in sequence
 * from the host. Loading streams the checkpoint one tensor at a time (converted to float32 per tensor) and one layer
 * at a time into its session, so only one layer's weights are ever in flight beside the sessions themselves.
 *
 * `forward` handles batches with a key-padding mask (right padding for scoring, left padding for generation),
 * per-row positions, a KV cache, expert masks, router gates and hidden states of chosen layers.
 */
import * as ort from 'onnxruntime-node';
import { compile, type CompiledGraph, type Provider } from '../../engine';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from '../../engine/safetensors';
import { openMonetCheckpoint, type MonetCheckpoint } from './checkpoint';
import { buildMonetHead, buildMonetLayer, ownsRouter } from './layers';
import { expertBlock, layerMask, type MonetMask } from './mask';
import { MASKED_SCORE, ropeRow } from './blocks';
import { hookName, type HookPoint } from './hooks';
import { readFolderRecipe, RecipeMasks, type FolderRecipe } from './recipe';

export interface LoadOptions {
  /** Execution provider (engine runtime choice; a provider that fails falls back to CPU). Default 'cpu'. */
  provider?: Provider;
  intraOpThreads?: number;
  /** Provider messages (fallbacks). */
  log?: (message: string) => void;
  /** Called after each part is ready: `done` of `total` parts (layers + head). */
  onProgress?: (done: number, total: number, what: string) => void;
  /** Layer graphs also output xt / moe (brute-force checks). */
  debug?: boolean;
  signal?: AbortSignal;
  /**
   * Apply the edit an exported folder carries (resect_masks.safetensors, recipe.ts) under every forward's masks.
   * Default true; false opens the folder unedited.
   */
  recipe?: boolean;
}

export interface KvCache {
  /** Per layer, [batch, heads, length, hd]. */
  k: ort.Tensor[];
  v: ort.Tensor[];
  /** Key validity [batch, length] (1 = real token, 0 = padding). */
  valid: Uint8Array;
  /** Next position id per row. */
  nextPosition: number[];
  batch: number;
  length: number;
}

export interface ForwardRequest {
  /** Token ids [batch, time], row-major. */
  ids: BigInt64Array | readonly number[];
  batch: number;
  time: number;
  /** 1 = real token, 0 = padding, [batch, time] for the new tokens (default all 1). */
  attention?: Uint8Array;
  /** Position ids [batch, time] (default: count of real tokens before each one, continuing the cache's). */
  positions?: Int32Array | readonly number[];
  /** The cache returned by a previous call (its tokens come before these). */
  cache?: KvCache | null;
  /** Return the updated cache. */
  useCache?: boolean;
  masks?: MonetMask;
  /** 'all': [batch, time, V]; 'last': [batch, V] at each row's last position; 'none' (default 'all'). */
  logits?: 'all' | 'last' | 'none';
  /** Targets [batch, time] → `nll` [batch, time] (ignored positions: any value, e.g. 0). */
  targets?: BigInt64Array;
  /** Return each router's gates g1, g2 as [batch, time, H, E]. */
  gates?: boolean;
  /** Layers whose output hidden state [batch, time, d] (the residual stream after the layer) to return. */
  hidden?: readonly number[];
  /** Debug layers only: per layer xt and moe [batch·time, d]. */
  debug?: boolean;
  /** Hook points (hooks.ts) whose value [batch, time, d] to return in `hooks`, keyed by hook name. */
  hooks?: readonly HookPoint[];
  /**
   * Replace one hook's value by `replace(clean)` before the rest of the model sees it (an SAE's reconstruction
   * spliced in, a zero ablation). resid_post is replaced between layers; attn_out and mlp_out run the layer again
   * through a graph with an `override` input (layers.ts), compiled on first use. `hooks` return the clean value at the
   * spliced hook itself.
   */
  splice?: Splice;
  /** Run only blocks 0…lastLayer and skip the head (capturing a hook needs nothing after it); no logits, nll or cache. */
  lastLayer?: number;
}

export interface Splice {
  hook: HookPoint;
  /** The clean value [batch·time·d] (row-major [batch, time, d]) → its replacement, same length. */
  replace: (clean: Float32Array) => Float32Array | Promise<Float32Array>;
}

export interface ForwardResult {
  logits?: Float32Array;
  logitsDims?: number[];
  nll?: Float32Array;
  /** Per router r (layer r·G): gates [batch, time, H, E]. */
  gates?: { g1: Float32Array; g2: Float32Array }[];
  hidden?: Map<number, Float32Array>;
  debug?: { xt: Float32Array; moe: Float32Array; g1: Float32Array; g2: Float32Array }[];
  /** Requested hook values [batch, time, d] by hook name (`blocks.{l}.hook_*`). */
  hooks?: Map<string, Float32Array>;
  cache?: KvCache;
}

const feed = (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: number[]) => new ort.Tensor(type, data, dims);

export class MonetModel {
  private layers: CompiledGraph[] = [];
  private head: CompiledGraph | null = null;
  private embed: { data: Float32Array | Uint16Array; dtype: 'F32' | 'F16' | 'BF16' } | null = null;
  /** Provider each part runs on, and messages from the provider choice. */
  provider: string = 'cpu';
  readonly messages: string[] = [];
  private ropeCache = new Map<number, { cos: Float32Array; sin: Float32Array }>();
  private keepOnes: ort.Tensor | null = null;
  /** Per mask (treated as immutable) and layer, its feeds: built once, not on every forward of a masked pass. */
  private maskFeedCache = new WeakMap<MonetMask, Map<number, Record<string, ort.Tensor>>>();
  private unmaskedFeeds = new Map<number, Record<string, ort.Tensor>>();
  /** The folder's exported edit, applied under every forward's masks (null: none, or opened unedited). */
  private recipeMasks: RecipeMasks | null = null;
  /** Layer graphs with an `override` input, by `${layer}:${kind}`, compiled when a splice first asks for one. */
  private overrideLayers = new Map<string, Promise<CompiledGraph>>();
  private runtime: Parameters<typeof compile>[1] = { provider: 'cpu', cache: false };

  private constructor(readonly ckpt: MonetCheckpoint, private readonly debug: boolean) {}

  get config() { return this.ckpt.config; }

  /** The exported edit this model runs with (null when the folder carries none or was opened unedited). */
  get recipe(): FolderRecipe | null { return this.recipeMasks?.folder ?? null; }

  static async load(dir: string, options: LoadOptions = {}): Promise<MonetModel> {
    const ckpt = await openMonetCheckpoint(dir);
    const model = new MonetModel(ckpt, !!options.debug);
    try {
      const recipe = options.recipe === false ? null : await readFolderRecipe(dir, ckpt.config);
      if (recipe) model.recipeMasks = new RecipeMasks(ckpt.config, recipe);
      await model.init(options);
    } catch (e) {
      await model.dispose();
      throw e;
    }
    return model;
  }

  private async init(o: LoadOptions): Promise<void> {
    const c = this.ckpt.config;
    const L = c.num_hidden_layers;
    const rt = {
      provider: o.provider ?? 'cpu', cache: false,
      ...(o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}),
      // Every part asks for the provider; say why it fell back once, not once per layer.
      log: (m: string) => {
        if (this.messages.length > 0 && m.includes('failed to start earlier')) return;
        this.messages.push(m);
        o.log?.(m);
      },
    };
    this.runtime = rt;
    const info = this.ckpt.weights.tensors.get('model.embed_tokens.weight')!;
    const raw = await this.ckpt.weights.read('model.embed_tokens.weight');
    this.embed = info.dtype === 'F32' ? { data: raw as Float32Array, dtype: 'F32' } : { data: raw as Uint16Array, dtype: info.dtype as 'F16' | 'BF16' };
    for (let l = 0; l < L; l++) {
      o.signal?.throwIfAborted();
      let graph: Awaited<ReturnType<typeof buildMonetLayer>> | null = await buildMonetLayer(this.ckpt, l, { debug: this.debug });
      const s = await compile(graph, rt);
      graph = null; // the float32 copies go with the graph
      this.layers.push(s);
      this.provider = s.provider;
      o.onProgress?.(l + 1, L + 1, `layer ${l}`);
    }
    o.signal?.throwIfAborted();
    this.head = await compile(await buildMonetHead(this.ckpt), rt);
    o.onProgress?.(L + 1, L + 1, 'head');
    const H = c.moe_heads;
    const E = c.moe_experts;
    this.keepOnes = feed('float32', new Float32Array(H * E).fill(1), [H, E]);
  }

  async dispose(): Promise<void> {
    for (const s of this.overrideLayers.values()) await s.then((g) => g.dispose()).catch(() => {});
    this.overrideLayers.clear();
    for (const s of this.layers) await s.dispose().catch(() => {});
    if (this.head) await this.head.dispose().catch(() => {});
    this.layers = [];
    this.head = null;
    this.embed = null;
    await this.ckpt.close().catch(() => {});
  }

  /** Embedding rows for ids, as float32 [n, d]. */
  private embedRows(ids: ArrayLike<bigint | number>): Float32Array {
    const d = this.config.hidden_size;
    const V = this.config.vocab_size;
    const out = new Float32Array(ids.length * d);
    const e = this.embed!;
    for (let n = 0; n < ids.length; n++) {
      const id = Number(ids[n]!);
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`token id ${id} is outside the vocabulary (0…${V - 1})`);
      const row = e.data.subarray(id * d, (id + 1) * d);
      const dst = out.subarray(n * d, (n + 1) * d);
      if (e.dtype === 'F32') dst.set(row as Float32Array);
      else if (e.dtype === 'BF16') bfloat16BitsToFloat32(row as Uint16Array, dst);
      else float16BitsToFloat32(row as Uint16Array, dst);
    }
    return out;
  }

  /** RoPE cos/sin for one position (rotate-half layout, as the single-graph forward computes them). */
  private rope(p: number): { cos: Float32Array; sin: Float32Array } {
    let r = this.ropeCache.get(p);
    if (r) return r;
    const hd = this.ckpt.dims.headDim;
    r = { cos: new Float32Array(hd), sin: new Float32Array(hd) };
    ropeRow(this.config.rope_theta, hd, p, r.cos, r.sin);
    if (this.ropeCache.size < 1 << 16) this.ropeCache.set(p, r);
    return r;
  }

  private maskFeeds(l: number, masks: MonetMask | undefined): Record<string, ort.Tensor> {
    let perLayer = masks ? this.maskFeedCache.get(masks) : this.unmaskedFeeds;
    if (!perLayer) this.maskFeedCache.set(masks!, (perLayer = new Map()));
    let feeds = perLayer.get(l);
    if (!feeds) perLayer.set(l, (feeds = this.buildMaskFeeds(l, masks)));
    return feeds;
  }

  private buildMaskFeeds(l: number, masks: MonetMask | undefined): Record<string, ort.Tensor> {
    const E = this.config.moe_experts;
    const H = this.config.moe_heads;
    const lm = layerMask(masks, l);
    const block = expertBlock(E, lm.experts);
    const keep = (list: number[]) => {
      if (list.length === 0) return this.keepOnes!;
      const k = new Float32Array(H * E).fill(1);
      for (let h = 0; h < H; h++) for (const x of list) k[h * E + x] = 0;
      return feed('float32', k, [H, E]);
    };
    return {
      mask_rows: feed('int64', block.rows, [block.rows.length]),
      mask_cols: feed('int64', block.cols, [block.cols.length]),
      mask_removed: feed('float32', block.removed, [block.rows.length, block.cols.length]),
      keep1: keep(lm.rows),
      keep2: keep(lm.columns),
    };
  }

  private overrideLayer(l: number, kind: 'attn_out' | 'mlp_out'): Promise<CompiledGraph> {
    const key = `${l}:${kind}`;
    let p = this.overrideLayers.get(key);
    if (!p) {
      p = buildMonetLayer(this.ckpt, l, { debug: this.debug, override: kind }).then((g) => compile(g, this.runtime));
      p.catch(() => this.overrideLayers.delete(key));
      this.overrideLayers.set(key, p);
    }
    return p;
  }

  async forward(req: ForwardRequest): Promise<ForwardResult> {
    const c = this.config;
    const { batch: B, time: T } = req;
    const d = c.hidden_size;
    const nh = c.num_attention_heads;
    const hd = this.ckpt.dims.headDim;
    const H = c.moe_heads;
    const E = c.moe_experts;
    if (req.ids.length !== B * T) throw new RangeError(`forward: ${req.ids.length} ids for batch ${B} × time ${T}`);
    if (T === 0) throw new RangeError('forward: empty input');
    const masks = this.recipeMasks ? this.recipeMasks.with(req.masks) : req.masks;
    const cache = req.cache ?? null;
    if (cache && cache.batch !== B) throw new RangeError(`forward: cache batch ${cache.batch} ≠ batch ${B}`);
    const P = cache?.length ?? 0;
    const S = P + T;

    // Key validity over past + new tokens, positions, attention bias [B, 1, T, S].
    const valid = new Uint8Array(B * S);
    const positions = new Int32Array(B * T);
    const nextPosition: number[] = [];
    for (let b = 0; b < B; b++) {
      if (cache) valid.set(cache.valid.subarray(b * P, (b + 1) * P), b * S);
      let pos = cache?.nextPosition[b] ?? 0;
      for (let t = 0; t < T; t++) {
        const ok = req.attention ? req.attention[b * T + t]! : 1;
        valid[b * S + P + t] = ok ? 1 : 0;
        positions[b * T + t] = req.positions ? Number(req.positions[b * T + t]) : Math.max(0, ok ? pos : pos - 1);
        if (ok) pos++;
      }
      nextPosition.push(pos);
    }
    const biasData = new Float32Array(B * T * S);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = (b * T + t) * S;
        for (let s = 0; s < S; s++) if (!(s <= P + t && valid[b * S + s])) biasData[row + s] = MASKED_SCORE;
      }
    }
    const cosData = new Float32Array(B * T * hd);
    const sinData = new Float32Array(B * T * hd);
    for (let n = 0; n < B * T; n++) {
      const r = this.rope(positions[n]!);
      cosData.set(r.cos, n * hd);
      sinData.set(r.sin, n * hd);
    }
    const shared = {
      rope_cos: feed('float32', cosData, [B, 1, T, hd]),
      rope_sin: feed('float32', sinData, [B, 1, T, hd]),
      attn_bias: feed('float32', biasData, [B, 1, T, S]),
    };
    const emptyKv = feed('float32', new Float32Array(0), [B, nh, 0, hd]);

    let x = feed('float32', this.embedRows(req.ids), [B, T, d]);
    let gates: { g1: ort.Tensor; g2: ort.Tensor } | null = null;
    const result: ForwardResult = {};
    const newK: ort.Tensor[] = [];
    const newV: ort.Tensor[] = [];
    const hiddenWanted = new Set(req.hidden ?? []);
    if (hiddenWanted.size) result.hidden = new Map();
    if (req.gates) result.gates = [];
    if (req.debug) result.debug = [];
    const hookOutputs = new Map<number, Set<'attn_out' | 'mlp_out' | 'resid_post'>>();
    for (const h of req.hooks ?? []) {
      if (!(h.layer >= 0 && h.layer < this.layers.length)) throw new RangeError(`forward: hook ${hookName(h)} is past the model's ${this.layers.length} blocks`);
      let set = hookOutputs.get(h.layer);
      if (!set) hookOutputs.set(h.layer, (set = new Set()));
      set.add(h.kind);
    }
    if (req.hooks) result.hooks = new Map();
    const splice = req.splice;
    if (splice && !(splice.hook.layer >= 0 && splice.hook.layer < this.layers.length)) throw new RangeError(`forward: splice at ${hookName(splice.hook)} is past the model's ${this.layers.length} blocks`);
    const replaced = async (clean: Float32Array): Promise<Float32Array> => {
      const r = await splice!.replace(clean);
      if (r.length !== clean.length) throw new RangeError(`forward: the splice at ${hookName(splice!.hook)} returned ${r.length} values for ${clean.length}`);
      return r;
    };
    const layerCount = req.lastLayer === undefined ? this.layers.length : Math.min(this.layers.length, req.lastLayer + 1);
    for (let l = 0; l < layerCount; l++) {
      const layer = this.layers[l]!;
      const feeds: Record<string, ort.Tensor> = {
        x, ...shared,
        past_k: cache?.k[l] ?? emptyKv,
        past_v: cache?.v[l] ?? emptyKv,
        ...this.maskFeeds(l, masks),
      };
      if (!ownsRouter(this.ckpt, l)) Object.assign(feeds, gates!);
      const outNames = ['y', 'present_k', 'present_v', ...(ownsRouter(this.ckpt, l) ? ['g1', 'g2'] : []), ...(req.debug ? ['xt', 'moe'] : [])];
      const wanted = hookOutputs.get(l);
      const inner = splice && splice.hook.layer === l && splice.hook.kind !== 'resid_post' ? splice.hook.kind : null;
      const hookNames = [...new Set([...(wanted ?? []), ...(inner ? [inner] : [])])].filter((k) => k !== 'resid_post');
      let out = await layer.run(feeds, undefined, [...outNames, ...hookNames]);
      const record = (k: 'attn_out' | 'mlp_out' | 'resid_post', t: ort.Tensor) => { if (wanted?.has(k)) result.hooks!.set(hookName({ layer: l, kind: k }), t.data as Float32Array); };
      if (inner) {
        // Run the layer again with the hook's value replaced; everything after it in the layer sees the replacement.
        record(inner, out[inner]!);
        const override = feed('float32', await replaced(out[inner]!.data as Float32Array), [B, T, d]);
        const others = hookNames.filter((k) => k !== inner);
        out = await (await this.overrideLayer(l, inner)).run({ ...feeds, override }, undefined, [...outNames, ...others]);
        for (const k of others) record(k, out[k]!);
        record('resid_post', out.y!);
      } else {
        for (const k of hookNames) record(k, out[k]!);
        record('resid_post', out.y!);
        if (splice && splice.hook.layer === l) out = { ...out, y: feed('float32', await replaced(out.y!.data as Float32Array), [B, T, d]) };
      }
      if (ownsRouter(this.ckpt, l)) {
        gates = { g1: out.g1!, g2: out.g2! };
        result.gates?.push({ g1: out.g1!.data as Float32Array, g2: out.g2!.data as Float32Array });
      }
      if (req.debug) result.debug!.push({ xt: out.xt!.data as Float32Array, moe: out.moe!.data as Float32Array, g1: gates!.g1.data as Float32Array, g2: gates!.g2.data as Float32Array });
      if (req.useCache) {
        newK.push(out.present_k!);
        newV.push(out.present_v!);
      }
      x = out.y!;
      if (hiddenWanted.has(l)) result.hidden!.set(l, x.data as Float32Array);
    }
    void H; void E;

    if (layerCount < this.layers.length) return result;
    const want = req.logits ?? 'all';
    if (want !== 'none' || req.targets) {
      let hx = x;
      let hB = B;
      let hT = T;
      if (want === 'last' && !req.targets) {
        // Only each row's last position goes through the head.
        const last = new Float32Array(B * d);
        const xd = x.data as Float32Array;
        for (let b = 0; b < B; b++) last.set(xd.subarray((b * T + T - 1) * d, (b * T + T) * d), b * d);
        hx = feed('float32', last, [B, 1, d]);
        hT = 1;
      }
      const targets = req.targets ?? new BigInt64Array(hB * hT);
      const out = await this.head!.run({ x: hx, targets: feed('int64', targets, [hB, hT]) }, undefined, [
        ...(want !== 'none' ? ['logits'] : []), ...(req.targets ? ['nll'] : []),
      ]);
      if (want !== 'none') {
        let logits = out.logits!.data as Float32Array;
        if (want === 'last' && req.targets) {
          const V = c.vocab_size;
          const last = new Float32Array(B * V);
          for (let b = 0; b < B; b++) last.set(logits.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
          logits = last;
        }
        result.logits = logits;
        result.logitsDims = want === 'last' ? [B, c.vocab_size] : [B, T, c.vocab_size];
      }
      if (req.targets) result.nll = out.nll!.data as Float32Array;
      hB = B;
    }
    if (req.useCache) result.cache = { k: newK, v: newV, valid, nextPosition, batch: B, length: S };
    return result;
  }

  /** Per router, gates [batch, time, H, E] reshaped from the flat [batch·time, H, E] (same memory layout). */
  get routerCount(): number { return this.ckpt.dims.routerLayers.length; }
}

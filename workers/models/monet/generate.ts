/**
 * Text generation with a KV cache: the prompt is prefilled once, then each step feeds one token. Greedy when the
 * temperature is 0; otherwise softmax(logits / T) restricted to the top-p nucleus, sampled with a seeded PRNG, so a
 * seed reproduces a run exactly. Logits come from ONNX Runtime; sampling is host-side in float64.
 */
import type { MonetModel } from './model';
import type { MonetMask } from './mask';

export interface GenerateOptions {
  maxTokens?: number;
  /** 0 (default) = greedy. */
  temperature?: number;
  /** Nucleus mass in (0, 1] (default 1). */
  topP?: number;
  seed?: number;
  /** Stop after this token (default the config's eos_token_id; null: never). */
  eosId?: number | null;
  masks?: MonetMask;
  /** Each new token as soon as it is chosen. */
  onToken?: (id: number, index: number) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface GenerateResult {
  tokens: number[];
  stop: 'eos' | 'length' | 'aborted';
}

/** SplitMix32-seeded sfc32: a small, fast, well-mixed PRNG giving floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = next(), b = next(), c = next(), d = next();
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
}

export function argmax(x: ArrayLike<number>, start = 0, length = x.length - start): number {
  let best = 0;
  let bv = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = x[start + i]!;
    if (v > bv) { bv = v; best = i; }
  }
  return best;
}

/** The nucleus of softmax(logits / T): ids sorted by probability with renormalised probabilities, mass ≥ topP. */
export function nucleus(logits: ArrayLike<number>, temperature: number, topP: number): { ids: number[]; probs: number[] } {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]!);
  const p = new Float64Array(n);
  let z = 0;
  for (let i = 0; i < n; i++) z += p[i] = Math.exp((logits[i]! - max) / temperature);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
  const ids: number[] = [];
  const probs: number[] = [];
  let mass = 0;
  for (const i of order) {
    ids.push(i);
    probs.push(p[i]! / z);
    mass += p[i]! / z;
    if (mass >= topP) break;
  }
  return { ids, probs: probs.map((q) => q / mass) };
}

/** Picks the next token from one row of logits. */
export function sampleToken(logits: ArrayLike<number>, temperature: number, topP: number, random: () => number): number {
  if (!(temperature > 0)) return argmax(logits);
  const { ids, probs } = nucleus(logits, temperature, topP);
  let u = random();
  for (let k = 0; k < ids.length; k++) {
    u -= probs[k]!;
    if (u < 0) return ids[k]!;
  }
  return ids[ids.length - 1]!;
}

export async function generate(model: MonetModel, prompt: readonly number[], o: GenerateOptions = {}): Promise<GenerateResult> {
  if (prompt.length === 0) throw new RangeError('generate: the prompt has no tokens');
  const maxTokens = o.maxTokens ?? 64;
  const temperature = o.temperature ?? 0;
  const topP = o.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new RangeError(`generate: top-p must be in (0, 1], got ${topP}`);
  if (!(temperature >= 0)) throw new RangeError(`generate: temperature must be ≥ 0, got ${temperature}`);
  const cfgEos = model.config.eos_token_id;
  const eos = new Set<number>(o.eosId === undefined ? (cfgEos === null ? [] : Array.isArray(cfgEos) ? cfgEos : [cfgEos]) : o.eosId === null ? [] : [o.eosId]);
  const random = seededRandom(o.seed ?? 0);
  const tokens: number[] = [];
  const maxPos = model.config.max_position_embeddings;
  let out = await model.forward({ ids: prompt, batch: 1, time: prompt.length, logits: 'last', useCache: true, masks: o.masks });
  for (;;) {
    if (o.signal?.aborted) return { tokens, stop: 'aborted' };
    const next = sampleToken(out.logits!, temperature, topP, random);
    tokens.push(next);
    await o.onToken?.(next, tokens.length - 1);
    if (eos.has(next)) return { tokens, stop: 'eos' };
    if (tokens.length >= maxTokens || prompt.length + tokens.length >= maxPos) return { tokens, stop: 'length' };
    out = await model.forward({ ids: [next], batch: 1, time: 1, logits: 'last', useCache: true, cache: out.cache, masks: o.masks });
  }
}

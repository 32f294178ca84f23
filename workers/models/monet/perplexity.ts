/**
 * Perplexity: mean negative log-likelihood (nats per predicted token) per sample, per domain and overall.
 *
 * Each text is tokenized (the tokenizer prepends BOS when it is configured to; BOS itself is never a target), then
 * split into windows of at most `context` tokens (default max_position_embeddings) that overlap by one token, so
 * every token after the first is predicted exactly once, from the preceding tokens of its window. Windows are packed
 * into right-padded batches (a padding mask keeps pads out of attention) of at most `batchTokens` padded tokens.
 */
import { domainLabel, fieldOf, readJsonlRows, requireText } from '../../data/jsonl';
import type { TextTokenizer } from '../../tokenizer';
import { padRows } from './batch';
import type { MonetModel } from './model';
import type { MonetMask } from './mask';

export interface Sample { text: string; domain?: string | null }

export interface NllStat { tokens: number; nll: number; ppl: number }

export interface PerplexityResult {
  overall: NllStat;
  domains: Record<string, NllStat>;
  samples: { index: number; domain: string; tokens: number; nll: number }[];
}

export interface PerplexityOptions {
  context?: number;
  /** Padded tokens per batch (default 2048). */
  batchTokens?: number;
  /** Rows per batch (default 16). */
  batchRows?: number;
  masks?: MonetMask;
  /** Prepend BOS (default: the tokenizer's setting). */
  addBos?: boolean;
  /** Domain name for samples without one. */
  defaultDomain?: string;
  /** After each batch: predicted tokens scored so far, samples read so far. */
  onProgress?: (tokens: number, samples: number) => void;
  signal?: AbortSignal;
}

interface Window { sample: number; ids: number[] }

const stat = (tokens: number, sum: number): NllStat => ({ tokens, nll: tokens ? sum / tokens : 0, ppl: tokens ? Math.exp(sum / tokens) : 1 });

/** Splits a token sequence into windows of ≤ context tokens overlapping by one (each predicts length − 1 tokens). */
export function windows(ids: readonly number[], context: number): number[][] {
  if (context < 2) throw new RangeError(`context must be at least 2 tokens, got ${context}`);
  const out: number[][] = [];
  for (let s = 0; s + 1 < ids.length; s += context - 1) out.push(ids.slice(s, s + context));
  return out;
}

export async function perplexity(
  model: MonetModel,
  tokenizer: TextTokenizer,
  samples: Iterable<Sample> | AsyncIterable<Sample>,
  o: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const context = Math.min(o.context ?? model.config.max_position_embeddings, model.config.max_position_embeddings);
  const batchTokens = Math.max(o.batchTokens ?? 2048, context);
  const batchRows = o.batchRows ?? 16;
  const perSample: { domain: string; tokens: number; sum: number }[] = [];
  let pending: Window[] = [];
  let scored = 0;

  const flush = async () => {
    if (pending.length === 0) return;
    o.signal?.throwIfAborted();
    const batch = padRows(pending.map((w) => w.ids));
    const T = batch.time;
    const targets = new BigInt64Array(batch.batch * T);
    pending.forEach((w, b) => { for (let t = 0; t + 1 < w.ids.length; t++) targets[b * T + t] = BigInt(w.ids[t + 1]!); });
    const out = await model.forward({ ...batch, targets, logits: 'none', masks: o.masks });
    for (const [b, w] of pending.entries()) {
      const s = perSample[w.sample]!;
      for (let t = 0; t + 1 < w.ids.length; t++) s.sum += out.nll![b * T + t]!;
      s.tokens += w.ids.length - 1;
      scored += w.ids.length - 1;
    }
    pending = [];
    o.onProgress?.(scored, perSample.length);
  };

  let index = 0;
  for await (const sample of samples) {
    const domain = sample.domain ?? o.defaultDomain ?? 'default';
    perSample.push({ domain: String(domain), tokens: 0, sum: 0 });
    const ids = tokenizer.encode(sample.text, o.addBos === undefined ? {} : { addBos: o.addBos });
    for (const w of windows(ids, context)) {
      const rows = pending.length + 1;
      const width = Math.max(w.length, ...pending.map((p) => p.ids.length));
      if (pending.length > 0 && (rows > batchRows || rows * width > batchTokens)) await flush();
      pending.push({ sample: index, ids: w });
    }
    index++;
  }
  await flush();

  const domains: Record<string, { tokens: number; sum: number }> = {};
  let tokens = 0;
  let sum = 0;
  for (const s of perSample) {
    const d = (domains[s.domain] ??= { tokens: 0, sum: 0 });
    d.tokens += s.tokens;
    d.sum += s.sum;
    tokens += s.tokens;
    sum += s.sum;
  }
  return {
    overall: stat(tokens, sum),
    domains: Object.fromEntries(Object.entries(domains).map(([k, v]) => [k, stat(v.tokens, v.sum)])),
    samples: perSample.map((s, i) => ({ index: i, domain: s.domain, tokens: s.tokens, nll: s.tokens ? s.sum / s.tokens : 0 })),
  };
}

/** Samples from a JSONL file (one object per line; blank lines skipped), with clear errors for bad lines. */
export async function* readJsonlSamples(file: string, textField = 'text', domainField = 'domain'): AsyncGenerator<Sample> {
  for await (const { row, line } of readJsonlRows(file)) {
    yield { text: requireText(fieldOf(row, textField), file, line, textField), domain: domainLabel(fieldOf(row, domainField)) };
  }
}

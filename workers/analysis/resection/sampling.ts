/**
 * The one way evaluation text is chosen, shared by the Evaluate job, `resect experiment domain-masking` and the
 * experiment job (issues 16 and 20): stratified per domain, a fixed budget of tokens per domain, seeded.
 *
 * Held-out files are often sorted by domain and cut from documents in order, so "the first N samples" measures two or
 * three domains, and "N samples spread over the file" puts neighbouring chunks of one document on both sides of an
 * evaluation / atlas split. Here samples are grouped into documents — by a document id when every sample has one
 * (`doc`, e.g. the shipped held-out file's `source`), else into runs of consecutive samples of a domain — and each
 * domain takes samples until it has its budget of tokens, from documents in a seeded order:
 *
 * - by default one sample of each document per round (samples of a document in a seeded order too), so the budget is
 *   spread over as many documents as it can reach — a domain's figure is not one or two documents' figure;
 * - with `wholeDocuments` (when the rest of the file builds the atlas) document after document, so the evaluation
 *   touches as few documents as it can and `rest` keeps the others.
 *
 * `rest` holds only documents the evaluation did not touch (what is left of a touched document is dropped), so an
 * atlas built on it never sees a neighbour of an evaluated chunk. A domain whose text runs out before the budget is
 * marked `short`; callers refuse or warn (never silently average fewer domains).
 */
import { createHash } from 'node:crypto';
import { mulberry32 } from '../../engine/random';
import type { Sample } from '../../models/monet/perplexity';
import type { DomainDraw, DrawSummary } from './schema';

export type { DomainDraw, DrawSummary };

export interface EvalSample extends Sample {
  /** The document (file, article) the sample was cut from; samples of one document stay on one side of a split. */
  doc?: string | null;
}

export interface StratifiedDraw<T> {
  /** The drawn samples, each with `doc` set to its document (a run's name where the samples had no document ids). */
  taken: T[];
  /** Samples of documents the draw did not touch (in input order). */
  rest: T[];
  domains: DomainDraw[];
  tokensPerDomain: number;
  seed: number;
  /** 'doc': grouped by the samples' document ids; 'runs': by runs of `runLength` consecutive samples of a domain. */
  groupedBy: 'doc' | 'runs';
  wholeDocuments: boolean;
  runLength: number;
}

export interface StratifyOptions {
  tokensPerDomain: number;
  seed?: number;
  /** Tokens a text contributes (e.g. `tokenizer.encode(text).length - 1`). */
  countTokens: (text: string) => number;
  /** Take documents whole, one after another (for a `rest` that keeps as many documents as possible). */
  wholeDocuments?: boolean;
  /** Without document ids: at most this many consecutive samples of a domain grouped as one document (default 8; fewer
   *  where a domain has under 32 samples, so that it has at least 4 runs). */
  runLength?: number;
}

export const DEFAULT_TOKENS_PER_DOMAIN = 6000;
export const DEFAULT_SEED = 0;

const domainOf = (s: Sample) => String(s.domain ?? 'default');

/** A 32-bit seed per (seed, domain), so adding a domain does not change another domain's draw. */
function domainSeed(seed: number, domain: string): number {
  return createHash('sha256').update(`${seed}\u0000${domain}`).digest().readUInt32LE(0);
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function stratifiedSample<T extends EvalSample>(samples: readonly T[], o: StratifyOptions): StratifiedDraw<T> {
  if (!(o.tokensPerDomain >= 1)) throw new RangeError(`tokensPerDomain must be at least 1, got ${o.tokensPerDomain}`);
  const seed = o.seed ?? DEFAULT_SEED;
  const runLength = Math.max(1, o.runLength ?? 8);
  const groupedBy = samples.length > 0 && samples.every((s) => s.doc !== undefined && s.doc !== null && s.doc !== '') ? 'doc' : 'runs';
  // Per domain, its documents in order of first appearance, each the list of its sample indices in input order.
  // Runs are at most `runLength` long and at least 4 per domain, so a small domain still splits.
  const perDomain = new Map<string, number>();
  for (const s of samples) perDomain.set(domainOf(s), (perDomain.get(domainOf(s)) ?? 0) + 1);
  const byDomain = new Map<string, Map<string, number[]>>();
  const docKey: string[] = [];
  const seen = new Map<string, number>();
  samples.forEach((s, k) => {
    const d = domainOf(s);
    let docs = byDomain.get(d);
    if (!docs) byDomain.set(d, (docs = new Map()));
    const n = seen.get(d) ?? 0;
    seen.set(d, n + 1);
    const run = Math.max(1, Math.min(runLength, Math.floor(perDomain.get(d)! / 4)));
    const key = groupedBy === 'doc' ? String(s.doc) : `run ${Math.floor(n / run)}`;
    let l = docs.get(key);
    if (!l) docs.set(key, (l = []));
    l.push(k);
    docKey[k] = groupedBy === 'doc' ? key : `${d} ${key}`;
  });
  const taken = new Set<number>();
  const touched = new Set<number>();
  const domains: DomainDraw[] = [];
  for (const [domain, docs] of [...byDomain].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    let tokens = 0;
    let nSamples = 0;
    let nDocs = 0;
    const order = shuffled([...docs.keys()], domainSeed(seed, domain));
    const take = (k: number) => {
      taken.add(k);
      tokens += o.countTokens(samples[k]!.text);
      nSamples++;
    };
    if (o.wholeDocuments) {
      for (const key of order) {
        if (tokens >= o.tokensPerDomain) break;
        nDocs++;
        for (const k of docs.get(key)!) {
          touched.add(k);
          if (tokens < o.tokensPerDomain) take(k);
        }
      }
    } else {
      const queues = order.map((key, j) => shuffled(docs.get(key)!, domainSeed(seed + j + 1, `${domain}\u0000${key}`)));
      for (let round = 0; tokens < o.tokensPerDomain && queues.some((q) => round < q.length); round++) {
        for (const q of queues) {
          if (tokens >= o.tokensPerDomain) break;
          if (round >= q.length) continue;
          if (round === 0) nDocs++;
          for (const k of q) touched.add(k);
          take(q[round]!);
        }
      }
    }
    const short = tokens < o.tokensPerDomain;
    domains.push({ domain, tokens, samples: nSamples, documents: nDocs, available: short ? tokens : null, short });
  }
  return {
    // Each taken sample names its document (runs included), so the bootstrap can resample documents.
    taken: samples.flatMap((s, k) => (taken.has(k) ? [s.doc === docKey[k] ? s : { ...s, doc: docKey[k]! }] : [])),
    rest: samples.filter((_, k) => !touched.has(k)),
    domains, tokensPerDomain: o.tokensPerDomain, seed, groupedBy, runLength, wholeDocuments: o.wholeDocuments ?? false,
  };
}

/** One line per problem: domains under the budget, a target domain missing or under it. Empty when the draw is sound. */
export function drawProblems(draw: Pick<StratifiedDraw<unknown>, 'domains' | 'tokensPerDomain'>, target?: string | null): string[] {
  const out: string[] = [];
  if (target && !draw.domains.some((d) => d.domain === target)) {
    out.push(`the target domain ${target} has no text in the evaluation data: its perplexity is not measured at all`);
  }
  for (const d of draw.domains) {
    if (!d.short) continue;
    out.push(`${d.domain}${d.domain === target ? ' (the target)' : ''} has only ${d.tokens.toLocaleString('en-US')} tokens, under the budget of ${draw.tokensPerDomain.toLocaleString('en-US')} per domain: its figures are less certain than the others'`);
  }
  return out;
}

/** The draw in one line per domain, for logs and the CLI. */
export function describeDraw(draw: Pick<StratifiedDraw<unknown>, 'domains' | 'tokensPerDomain' | 'seed' | 'groupedBy' | 'runLength' | 'wholeDocuments'>): string {
  const unit = draw.groupedBy === 'doc' ? 'documents' : `runs of up to ${draw.runLength} consecutive samples (no document ids)`;
  const head = `${draw.tokensPerDomain.toLocaleString('en-US')} tokens per domain, seed ${draw.seed}, ${draw.wholeDocuments ? `whole ${unit}` : `spread over ${unit}`}`;
  const rows = draw.domains.map((d) => `  ${d.domain.padEnd(14)} ${String(d.tokens).padStart(7)} tokens ${String(d.samples).padStart(4)} samples ${String(d.documents).padStart(4)} documents${d.short ? '  SHORT' : ''}`);
  return [head, ...rows].join('\n');
}

/** The draw as it travels with a result (JSON, the app's tables). */
export function drawSummary(draw: StratifiedDraw<unknown>): DrawSummary {
  return { tokens_per_domain: draw.tokensPerDomain, seed: draw.seed, grouped_by: draw.groupedBy, run_length: draw.runLength, whole_documents: draw.wholeDocuments, domains: draw.domains };
}

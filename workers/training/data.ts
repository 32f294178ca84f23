/**
 * Training data: read corpora (plain text, JSONL with a `text` field and an optional `domain`, gzipped or not),
 * tokenise them (cached beside the run), pack documents into one stream with EOS separators, cut it into
 * fixed-length sequences and serve batches in a seeded order that is a pure function of (seed, position), so a
 * resumed run sees exactly the batches it would have seen.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { TextTokenizer } from '../tokenizer';
import { IGNORE_INDEX } from '../models/monet/train-graph';
import { mulberry32 } from '../engine/random';

export interface Doc { text: string; domain: string }

/** Read one corpus file: `.jsonl`/`.json` lines with `text` (and optional `domain`), else plain text (one doc). */
export async function readCorpus(file: string): Promise<Doc[]> {
  let buf = await readFile(file);
  const gz = file.endsWith('.gz');
  if (gz) buf = gunzipSync(buf);
  const name = gz ? file.slice(0, -3) : file;
  const text = buf.toString('utf8');
  const fallbackDomain = path.basename(name).replace(/\.[^.]*$/, '');
  if (/\.(jsonl|ndjson)$/i.test(name)) {
    const docs: Doc[] = [];
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let o: unknown;
      try {
        o = JSON.parse(line);
      } catch (e) {
        throw new Error(`${file}:${i + 1}: not JSON (${(e as Error).message})`);
      }
      const r = o as Record<string, unknown>;
      if (typeof r.text !== 'string') throw new Error(`${file}:${i + 1}: no "text" string field`);
      docs.push({ text: r.text, domain: typeof r.domain === 'string' ? r.domain : fallbackDomain });
    });
    return docs;
  }
  return [{ text, domain: fallbackDomain }];
}

export interface TokenizedDocs { domains: string[]; docDomain: Int32Array; offsets: Int32Array; tokens: Int32Array }

/** Tokenise docs (no BOS), caching the result in `cacheFile` keyed by the content hash and the tokenizer's. */
export async function tokenizeDocs(docs: Doc[], tok: TextTokenizer, tokKey: string, cacheFile?: string): Promise<TokenizedDocs> {
  const h = createHash('sha256').update(tokKey);
  for (const d of docs) h.update(d.domain).update('\0').update(d.text).update('\x01');
  const key = h.digest('hex');
  if (cacheFile && existsSync(cacheFile)) {
    try {
      const b = await readFile(cacheFile);
      const meta = JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString('utf8')) as { key: string; domains: string[]; nDocs: number; nTokens: number };
      if (meta.key === key) {
        let off = 8 + Number(b.readBigUInt64LE(0));
        const take = (n: number) => {
          const a = new Int32Array(n);
          Buffer.from(a.buffer).set(b.subarray(off, off + n * 4));
          off += n * 4;
          return a;
        };
        const docDomain = take(meta.nDocs);
        const offsets = take(meta.nDocs + 1);
        const tokens = take(meta.nTokens);
        return { domains: meta.domains, docDomain, offsets, tokens };
      }
    } catch { /* rebuild */ }
  }
  const domains = [...new Set(docs.map((d) => d.domain))].sort();
  const docDomain = Int32Array.from(docs, (d) => domains.indexOf(d.domain));
  const parts: number[][] = docs.map((d) => tok.encode(d.text, { addBos: false }));
  const offsets = new Int32Array(docs.length + 1);
  parts.forEach((p, i) => { offsets[i + 1] = offsets[i]! + p.length; });
  const tokens = new Int32Array(offsets[docs.length]!);
  parts.forEach((p, i) => tokens.set(p, offsets[i]!));
  if (cacheFile) {
    const meta = Buffer.from(JSON.stringify({ key, domains, nDocs: docs.length, nTokens: tokens.length }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(meta.length));
    const tmp = `${cacheFile}.tmp-${process.pid}`;
    await writeFile(tmp, Buffer.concat([len, meta, Buffer.from(docDomain.buffer), Buffer.from(offsets.buffer), Buffer.from(tokens.buffer)]));
    await rename(tmp, cacheFile);
  }
  return { domains, docDomain, offsets, tokens };
}

export function permutation(n: number, seed: number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  const r = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** Concatenate the chosen docs (in this order), each followed by EOS. */
export function packStream(t: TokenizedDocs, docs: ArrayLike<number>, eos: number): Int32Array {
  let n = 0;
  for (let i = 0; i < docs.length; i++) n += t.offsets[docs[i]! + 1]! - t.offsets[docs[i]!]! + 1;
  const out = new Int32Array(n);
  let o = 0;
  for (let i = 0; i < docs.length; i++) {
    const d = docs[i]!;
    out.set(t.tokens.subarray(t.offsets[d]!, t.offsets[d + 1]!), o);
    o += t.offsets[d + 1]! - t.offsets[d]!;
    out[o++] = eos;
  }
  return out;
}

export interface Batch {
  input_ids: { data: BigInt64Array; dims: number[] };
  labels: { data: BigInt64Array; dims: number[] };
  valid: { data: Float32Array; dims: number[] };
}

/** Sequence i of a stream cut in windows of seqLen+1 tokens at stride seqLen; a short last window is padded. */
export function sequenceBatch(stream: Int32Array, starts: readonly number[], seqLen: number, pad: number): Batch {
  const B = starts.length;
  const ids = new BigInt64Array(B * seqLen).fill(BigInt(pad));
  const labels = new BigInt64Array(B * seqLen).fill(BigInt(IGNORE_INDEX));
  const valid = new Float32Array(B * seqLen);
  starts.forEach((s, b) => {
    for (let t = 0; t < seqLen; t++) {
      const i = s + t;
      if (i >= stream.length) break;
      ids[b * seqLen + t] = BigInt(stream[i]!);
      valid[b * seqLen + t] = 1;
      if (i + 1 < stream.length) labels[b * seqLen + t] = BigInt(stream[i + 1]!);
    }
  });
  return { input_ids: { data: ids, dims: [B, seqLen] }, labels: { data: labels, dims: [B, seqLen] }, valid: { data: valid, dims: [B, seqLen] } };
}

/** Training batches addressed by a global sequence index, so a resumed run sees exactly the batches it would have. */
export interface Sampler {
  /** Sequences in one pass over the data. */
  readonly nSeqs: number;
  /** Sequences [first, first + count) of the infinite seeded order. */
  batch(first: number, count: number): Batch;
  /** Passes over the data after j sequences. */
  epochOf(j: number): number;
}

/** The training stream: batches addressed by a global sequence index; each epoch has its own seeded order. */
export class SequenceSampler implements Sampler {
  readonly nSeqs: number;
  private perms = new Map<number, Int32Array>();
  constructor(readonly stream: Int32Array, readonly seqLen: number, readonly seed: number, readonly pad: number) {
    this.nSeqs = Math.max(1, Math.floor((stream.length - 1) / seqLen));
  }
  private perm(epoch: number): Int32Array {
    let p = this.perms.get(epoch);
    if (!p) {
      p = permutation(this.nSeqs, (this.seed * 1000003 + epoch * 7919 + 17) >>> 0);
      this.perms.clear();
      this.perms.set(epoch, p);
    }
    return p;
  }
  /** Sequences [first, first + count) of the infinite seeded order. */
  batch(first: number, count: number): Batch {
    const starts: number[] = [];
    for (let j = first; j < first + count; j++) {
      const epoch = Math.floor(j / this.nSeqs);
      starts.push(this.perm(epoch)[j % this.nSeqs]! * this.seqLen);
    }
    return sequenceBatch(this.stream, starts, this.seqLen, this.pad);
  }
  epochOf(j: number): number { return j / this.nSeqs; }
}

/** Sequences per block of the domain schedule: every block holds each domain's fixed share, in a seeded order. */
const SCHEDULE_BLOCK = 1024;

/**
 * Per-domain sampling weights ∝ tokens^alpha, as integer slots per block of SCHEDULE_BLOCK sequences (largest
 * remainder; every domain with data gets at least one slot). alpha 1: in proportion to size; 0: every domain alike.
 */
export function domainSlots(tokens: readonly number[], alpha: number, block = SCHEDULE_BLOCK): number[] {
  const w = tokens.map((n) => (n > 0 ? n ** alpha : 0));
  const total = w.reduce((a, b) => a + b, 0);
  const raw = w.map((x) => (x / total) * block);
  const slots = raw.map((x, d) => (w[d]! > 0 ? Math.max(1, Math.floor(x)) : 0));
  const order = raw.map((x, d) => [x - Math.floor(x), d] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let k = 0; slots.reduce((a, b) => a + b, 0) < block; k = (k + 1) % order.length) if (w[order[k]![1]]! > 0) slots[order[k]![1]]!++;
  while (slots.reduce((a, b) => a + b, 0) > block) slots[slots.indexOf(Math.max(...slots))]!--;
  return slots;
}

/**
 * Domain-balanced training batches: each domain's documents are packed into their own stream (windows never mix
 * domains), global sequence j is given a domain by a seeded schedule (blocks of SCHEDULE_BLOCK sequences holding
 * each domain's slots from `domainSlots`), and the k-th sequence of domain d is window k of d's own seeded epoch
 * order — small domains repeat sooner, large ones are sub-sampled. Pure function of (seed, j), so resume is exact.
 */
export class BalancedSampler implements Sampler {
  readonly nSeqs: number;
  private readonly slots: number[];
  /** The domain of each slot of a block, before the block's seeded shuffle. */
  private readonly slotDomain: number[];
  private readonly offsets: number[];
  private readonly domainSeqs: number[];
  private readonly perms = new Map<string, Int32Array>();
  private cachedBlock = -1;
  private blockDomain = new Int32Array(SCHEDULE_BLOCK);
  private blockRank = new Int32Array(SCHEDULE_BLOCK);
  private readonly stream: Int32Array;

  constructor(streams: readonly Int32Array[], readonly alpha: number, readonly seqLen: number, readonly seed: number, readonly pad: number) {
    this.domainSeqs = streams.map((st) => Math.max(0, Math.floor((st.length - 1) / seqLen)));
    this.slots = domainSlots(this.domainSeqs, alpha);
    this.slotDomain = this.slots.flatMap((n, d) => new Array<number>(n).fill(d));
    this.nSeqs = Math.max(1, this.domainSeqs.reduce((a, b) => a + b, 0));
    this.offsets = [];
    let off = 0;
    for (const st of streams) { this.offsets.push(off); off += st.length; }
    this.stream = new Int32Array(off);
    streams.forEach((st, d) => this.stream.set(st, this.offsets[d]!));
  }

  /** Share of sequences each domain gets. */
  shares(): number[] { return this.slots.map((x) => x / SCHEDULE_BLOCK); }

  private block(b: number): void {
    if (this.cachedBlock === b) return;
    const p = permutation(this.slotDomain.length, (this.seed * 7919 + b * 104729 + 3) >>> 0);
    const seen = new Array<number>(this.slots.length).fill(0);
    for (let q = 0; q < p.length; q++) {
      const d = this.slotDomain[p[q]!]!;
      this.blockDomain[q] = d;
      this.blockRank[q] = seen[d]!++;
    }
    this.cachedBlock = b;
  }

  private window(d: number, k: number): number {
    const n = this.domainSeqs[d]!;
    const epoch = Math.floor(k / n);
    const key = `${d}:${epoch}`;
    let p = this.perms.get(key);
    if (!p) {
      p = permutation(n, (this.seed * 1000003 + d * 65537 + epoch * 7919 + 17) >>> 0);
      if (this.perms.size > 64) this.perms.clear();
      this.perms.set(key, p);
    }
    return p[k % n]!;
  }

  batch(first: number, count: number): Batch {
    const starts: number[] = [];
    for (let j = first; j < first + count; j++) {
      const b = Math.floor(j / SCHEDULE_BLOCK);
      this.block(b);
      const q = j % SCHEDULE_BLOCK;
      const d = this.blockDomain[q]!;
      const k = b * this.slots[d]! + this.blockRank[q]!;
      starts.push(this.offsets[d]! + this.window(d, k) * this.seqLen);
    }
    return sequenceBatch(this.stream, starts, this.seqLen, this.pad);
  }

  epochOf(j: number): number { return j / this.nSeqs; }
}

export interface PreparedData {
  domains: string[];
  train: Sampler;
  /** With domain balance: each training domain's share of sequences. */
  trainShares?: Map<string, number>;
  trainTokens: number;
  /** Per domain: a packed validation stream. */
  val: Map<string, Int32Array>;
  source: string;
}

/**
 * Read, tokenise and split. With `heldout` files they are the validation set; otherwise `valFraction` of each
 * domain's documents (seeded) are held out.
 */
export async function prepareData(o: {
  data: string[]; heldout?: string[]; tok: TextTokenizer; tokKey: string; seqLen: number; seed: number; valFraction: number; cacheDir?: string;
  /** Sample domains ∝ tokens^domainBalance (BalancedSampler) instead of windows of one packed stream. */
  domainBalance?: number | null;
}): Promise<PreparedData> {
  const eos = o.tok.eosId ?? o.tok.padId;
  const trainDocs = (await Promise.all(o.data.map(readCorpus))).flat();
  const cache = (n: string) => (o.cacheDir ? path.join(o.cacheDir, n) : undefined);
  const tt = await tokenizeDocs(trainDocs, o.tok, o.tokKey, cache('tokens-train.bin'));
  let trainIdx: number[] = [];
  const val = new Map<string, Int32Array>();
  if (o.heldout && o.heldout.length > 0) {
    trainIdx = Array.from({ length: trainDocs.length }, (_, i) => i);
    const hd = (await Promise.all(o.heldout.map(readCorpus))).flat();
    const ht = await tokenizeDocs(hd, o.tok, o.tokKey, cache('tokens-heldout.bin'));
    ht.domains.forEach((dom, k) => {
      const ids: number[] = [];
      ht.docDomain.forEach((x, i) => { if (x === k) ids.push(i); });
      val.set(dom, packStream(ht, ids, eos));
    });
  } else {
    tt.domains.forEach((dom, k) => {
      const ids: number[] = [];
      tt.docDomain.forEach((x, i) => { if (x === k) ids.push(i); });
      const p = permutation(ids.length, o.seed + k);
      const nVal = ids.length > 1 ? Math.max(1, Math.round(ids.length * o.valFraction)) : 0;
      const valIds = Array.from(p.subarray(0, nVal), (i) => ids[i]!);
      trainIdx.push(...Array.from(p.subarray(nVal), (i) => ids[i]!));
      if (valIds.length) val.set(dom, packStream(tt, valIds, eos));
    });
    trainIdx.sort((a, b) => a - b);
  }
  const order = permutation(trainIdx.length, o.seed);
  const source = o.data.map((f) => path.basename(f)).join(', ');
  if (o.domainBalance !== undefined && o.domainBalance !== null) {
    const streams = tt.domains.map((_, k) => packStream(tt, Array.from(order, (i) => trainIdx[i]!).filter((i) => tt.docDomain[i] === k), eos));
    const train = new BalancedSampler(streams, o.domainBalance, o.seqLen, o.seed, o.tok.padId);
    const shares = train.shares();
    return {
      domains: [...val.keys()].sort(), train, trainTokens: streams.reduce((a, st) => a + st.length, 0), val, source,
      trainShares: new Map(tt.domains.map((d, k) => [d, shares[k]!])),
    };
  }
  const stream = packStream(tt, Array.from(order, (i) => trainIdx[i]!), eos);
  return {
    domains: [...val.keys()].sort(),
    train: new SequenceSampler(stream, o.seqLen, o.seed, o.tok.padId),
    trainTokens: stream.length,
    val,
    source,
  };
}

/** File size + mtime signature (for logs). */
export async function fileSig(f: string): Promise<string> {
  const s = await stat(f);
  return `${path.basename(f)}:${s.size}`;
}

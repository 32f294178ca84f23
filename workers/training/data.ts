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

/** The training stream: batches addressed by a global sequence index; each epoch has its own seeded order. */
export class SequenceSampler {
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

export interface PreparedData {
  domains: string[];
  train: SequenceSampler;
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
  const stream = packStream(tt, Array.from(order, (i) => trainIdx[i]!), eos);
  return {
    domains: [...val.keys()].sort(),
    train: new SequenceSampler(stream, o.seqLen, o.seed, o.tok.padId),
    trainTokens: stream.length,
    val,
    source: o.data.map((f) => path.basename(f)).join(', '),
  };
}

/** File size + mtime signature (for logs). */
export async function fileSig(f: string): Promise<string> {
  const s = await stat(f);
  return `${path.basename(f)}:${s.size}`;
}

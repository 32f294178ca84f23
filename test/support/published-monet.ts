/**
 * Folders laid out like the released base Monet repositories (config.json, sharded safetensors + index,
 * tokenizer.model, tokenizer_config.json, special_tokens_map.json, generation_config.json, no tokenizer.json), and
 * the SentencePiece `.model` files they ship, built with the official schema (workers/tokenizer/sentencepiece.ts):
 *
 * - `llamaSentencePieceModel()`: LLaMA's 32,000-piece vocabulary in Meta's id order, from llama-tokenizer-js (which
 *   ships it). Pieces 0…2 are <unk> (UNKNOWN), <s>, </s> (CONTROL), 3…258 the byte pieces <0x00>…<0xFF> (BYTE), the
 *   rest NORMAL with score −(id − 259): Meta's file orders the pieces by score, best first, and its BPE merges by it.
 *   Trainer and normaliser as in Meta's file: BPE, byte fallback, digits split, unk/bos/eos 0/1/2, no pad,
 *   "identity" normaliser with the dummy prefix, whitespace kept and escaped as ▁.
 * - `tinySentencePieceModel()`: 97 pieces for the 97-token tiny fixtures (no room for 256 byte pieces, so no byte
 *   fallback: a character outside it is <unk>).
 *
 * No test framework is imported here, so both vitest and Playwright can use it.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LlamaTokenizer } from 'llama-tokenizer-js';
import { openSafetensors, writeShardedSafetensors, type TensorToWrite } from '../../workers/engine/safetensors';
import { encodeSentencePieceModel, ModelType, PieceType, type SentencePiece, type SentencePieceModel } from '../../workers/tokenizer/sentencepiece';
import { FIXTURES } from './tiny-monet';

const LLAMA_TRAINER = { modelType: ModelType.BPE, byteFallback: true, splitDigits: true, treatWhitespaceAsSuffix: false, unkId: 0, bosId: 1, eosId: 2, padId: -1 };
const LLAMA_NORMALIZER = { name: 'identity', precompiledCharsmap: new Uint8Array(), addDummyPrefix: true, removeExtraWhitespaces: false, escapeWhitespaces: true };

export function llamaSentencePieceModel(): SentencePieceModel {
  const vocab = new LlamaTokenizer().vocabById;
  const pieces: SentencePiece[] = vocab.map((piece, id) => ({
    piece,
    score: id < 259 ? 0 : -(id - 259),
    type: id === 0 ? PieceType.UNKNOWN : id < 3 ? PieceType.CONTROL : id < 259 ? PieceType.BYTE : PieceType.NORMAL,
  }));
  return { pieces, trainer: { ...LLAMA_TRAINER, vocabSize: pieces.length }, normalizer: LLAMA_NORMALIZER };
}

/** Merged pieces of the tiny model, best first; each is two pieces of the model joined. */
const TINY_MERGES = ['▁t', 'he', '▁th', '▁the', 'in', 'er', 'an', '▁a', 'on', 're', '▁s', 'at', 'en', 'nd', '▁w', 'ed', 'or', 'is', '▁i', 'ing', '▁o', 'es', 'ou'];
const TINY_CHARS = ['▁', ...'abcdefghijklmnopqrstuvwxyz', ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ', ...'0123456789', ...".,!?'-:;"];

export function tinySentencePieceModel(): SentencePieceModel {
  const pieces: SentencePiece[] = [
    { piece: '<unk>', score: 0, type: PieceType.UNKNOWN },
    { piece: '<s>', score: 0, type: PieceType.CONTROL },
    { piece: '</s>', score: 0, type: PieceType.CONTROL },
    ...TINY_MERGES.map((piece, i) => ({ piece, score: -i, type: PieceType.NORMAL })),
    ...TINY_CHARS.map((piece, i) => ({ piece, score: -100 - i, type: PieceType.NORMAL })),
  ];
  return { pieces, trainer: { ...LLAMA_TRAINER, byteFallback: false, vocabSize: pieces.length }, normalizer: LLAMA_NORMALIZER };
}

/** tokenizer_config.json as the released base repos write it (LlamaTokenizer, BOS added, EOS not). */
export const PUBLISHED_TOKENIZER_CONFIG = {
  add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', pad_token: null,
  clean_up_tokenization_spaces: false, legacy: false, model_max_length: 2048, tokenizer_class: 'LlamaTokenizer',
};

/**
 * Write a released-layout copy of the tiny fixture `name` (default monet-vd-tiny) into `dest`: its weights split
 * into shards with an index, the tiny tokenizer.model, and the tokenizer/generation configs; no tokenizer.json.
 */
export async function writePublishedMonet(dest: string, name = 'monet-vd-tiny', tokenizerConfig: Record<string, unknown> = PUBLISHED_TOKENIZER_CONFIG): Promise<string> {
  const src = path.join(FIXTURES, name);
  await mkdir(dest, { recursive: true });
  const weights = await openSafetensors(path.join(src, 'model.safetensors'));
  try {
    const tensors: TensorToWrite[] = [];
    for (const [tensor, info] of weights.tensors) {
      const data = await weights.readBytes(tensor);
      tensors.push({ name: tensor, dtype: info.dtype, shape: info.shape, data });
    }
    await writeShardedSafetensors(dest, tensors, { maxShardBytes: 60_000 });
  } finally {
    await weights.close();
  }
  await writeFile(path.join(dest, 'config.json'), await readFile(path.join(src, 'config.json')));
  await writeFile(path.join(dest, 'tokenizer.model'), encodeSentencePieceModel(tinySentencePieceModel()));
  await writeFile(path.join(dest, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
  await writeFile(path.join(dest, 'special_tokens_map.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' }, null, 2));
  await writeFile(path.join(dest, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2));
  return dest;
}

/**
 * Text tokenizers loaded from a model folder through @huggingface/tokenizers: byte-level BPE (GPT-2 style) and the
 * LLaMA SentencePiece-BPE with byte fallback that Monet uses (spec §7.4). The folder's `tokenizer.json` is used, or
 * else its SentencePiece `tokenizer.model` converted in memory (`sentencepiece.ts`), as the released base Monet
 * repositories ship only that. `tokenizer_config.json` and `special_tokens_map.json` name the special tokens and
 * whether BOS/EOS are added. BOS/EOS handling is done here, not by the file's post-processor, so it is explicit and
 * never doubled: `encode` never lets the library add special tokens, then adds BOS/EOS when asked.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { parseSentencePieceModel, SentencePieceError, sentencePieceToTokenizerJson } from './sentencepiece';
import { chatTemplateOf, renderChat, type ChatMessage } from './chat';

export interface TextTokenizer {
  /** Token ids of `text`; BOS is prepended when `addBos`, EOS appended when `addEos` (defaults: the tokenizer's own). */
  encode(text: string, options?: { addBos?: boolean; addEos?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /** The token string of each id (for display), `undefined` outside the vocabulary. */
  idToToken(id: number): string | undefined;
  tokenToId(token: string): number | undefined;
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** The id used to pad batches (always masked): the configured pad, else EOS, else 0. */
  readonly padId: number;
  /** Whether `encode` prepends BOS by default. */
  readonly addBos: boolean;
  /** Whether `encode` appends EOS by default (`add_eos_token`, default false). */
  readonly addEos: boolean;
  /** The chat template of tokenizer_config.json (the default one when it names several), or null. */
  readonly chatTemplate: string | null;
  /**
   * The prompt text of a conversation through the chat template (BOS/EOS spelled as the template writes them, so
   * encode it with `addBos: false` when the template already starts with the BOS text — `encodeChat` does that).
   */
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
  /** Token ids of a conversation through the chat template, BOS not doubled. */
  encodeChat(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): number[];
}

export type { ChatMessage } from './chat';

export interface TokenizerOptions {
  /** From config.json; they win over the tokenizer files. */
  bosTokenId?: number | null;
  eosTokenId?: number | null;
  padTokenId?: number | null;
  /** Override whether BOS is prepended by default (otherwise `add_bos_token` of tokenizer_config.json, default true). */
  addBos?: boolean;
  /** Override whether EOS is appended by default (otherwise `add_eos_token` of tokenizer_config.json, default false). */
  addEos?: boolean;
}

export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
}

type Json = Record<string, unknown>;

function tokenContent(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (x && typeof x === 'object' && typeof (x as Json).content === 'string') return (x as Json).content as string;
  return undefined;
}

/** Build a tokenizer from parsed `tokenizer.json` and `tokenizer_config.json` objects. */
export function createTokenizer(tokenizerJson: unknown, tokenizerConfig: unknown = {}, options: TokenizerOptions = {}, source = 'tokenizer.json'): TextTokenizer {
  if (!tokenizerJson || typeof tokenizerJson !== 'object' || !('model' in tokenizerJson)) {
    throw new TokenizerError(`${source}: not a tokenizer.json (no "model")`);
  }
  const cfg = (tokenizerConfig ?? {}) as Json;
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(tokenizerJson, cfg);
  } catch (e) {
    throw new TokenizerError(`${source}: unsupported or malformed tokenizer (${(e as Error).message})`);
  }
  const idOf = (explicit: number | null | undefined, name: unknown): number | null => {
    if (explicit !== undefined) return explicit;
    const content = tokenContent(name);
    return content === undefined ? null : (tok.token_to_id(content) ?? null);
  };
  const bosId = idOf(options.bosTokenId, cfg.bos_token);
  const eosId = idOf(options.eosTokenId, cfg.eos_token);
  const padId = idOf(options.padTokenId, cfg.pad_token) ?? eosId ?? 0;
  const addBos = options.addBos ?? (typeof cfg.add_bos_token === 'boolean' ? cfg.add_bos_token : bosId !== null);
  const addEos = options.addEos ?? (typeof cfg.add_eos_token === 'boolean' ? cfg.add_eos_token : false);
  if (addBos && bosId === null) throw new TokenizerError(`${source}: BOS is to be added but no BOS token id is known`);
  if (addEos && eosId === null) throw new TokenizerError(`${source}: EOS is to be added but no EOS token id is known`);
  const vocabSize = tok.get_vocab(true).size;
  const chatTemplate = chatTemplateOf(cfg);
  const special = {
    bos_token: bosId === null ? '' : (tok.id_to_token(bosId) ?? ''),
    eos_token: eosId === null ? '' : (tok.id_to_token(eosId) ?? ''),
  };
  const encode = (text: string, opts: { addBos?: boolean; addEos?: boolean } = {}): number[] => {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    if ((opts.addBos ?? addBos) && bosId !== null) ids.unshift(bosId);
    if ((opts.addEos ?? addEos) && eosId !== null) ids.push(eosId);
    return ids;
  };
  const applyChatTemplate = (messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string => {
    if (chatTemplate === null) throw new TokenizerError(`${source}: this model has no chat template (tokenizer_config.json has no chat_template); prompt it with plain text`);
    return renderChat(chatTemplate, messages, { ...special, addGenerationPrompt: opts.addGenerationPrompt ?? true });
  };
  return {
    vocabSize, bosId, eosId, padId, addBos, addEos, chatTemplate,
    encode,
    applyChatTemplate,
    encodeChat(messages, opts = {}) {
      const text = applyChatTemplate(messages, opts);
      // A template that writes the BOS text itself gets it as the BOS token (added tokens are split out); the
      // tokenizer's own BOS is then not added again. EOS is never appended to a prompt.
      const writesBos = special.bos_token !== '' && text.startsWith(special.bos_token);
      return encode(text, { addBos: addBos && !writesBos, addEos: false });
    },
    decode(ids, opts = {}) {
      if (ids.length === 0) return ''; // the library throws on an empty list; nothing decodes to nothing
      return tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
    },
    idToToken: (id) => tok.id_to_token(id),
    tokenToId: (token) => tok.token_to_id(token),
  };
}

/** A JSON file of the folder, or undefined when it does not exist. */
async function readOptionalJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError(`${file}: cannot read (${(e as Error).message})`);
  }
}

/** Which tokenizer file a folder has: tokenizer.json first (as transformers prefers the fast tokenizer), else tokenizer.model. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer.model'] as const;

/** The tokenizer.json of a folder, converted from tokenizer.model when the folder has only that. */
async function readTokenizerJson(dir: string): Promise<{ json: unknown; file: string; specials: Json }> {
  const jsonFile = path.join(dir, 'tokenizer.json');
  const json = await readOptionalJson(jsonFile);
  if (json !== undefined) return { json, file: jsonFile, specials: {} };
  const modelFile = path.join(dir, 'tokenizer.model');
  let bytes: Buffer;
  try {
    bytes = await readFile(modelFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new TokenizerError(`${dir}: no tokenizer (neither tokenizer.json nor tokenizer.model)`);
    throw new TokenizerError(`${modelFile}: cannot read (${(e as Error).message})`);
  }
  try {
    const model = parseSentencePieceModel(bytes, modelFile);
    // The model names its own special pieces (trainer_spec ids); LlamaTokenizer's defaults: add BOS, not EOS.
    const pieceAt = (id: number) => (id >= 0 ? model.pieces[id]?.piece : undefined);
    const specials = Object.fromEntries(Object.entries({ unk_token: pieceAt(model.trainer.unkId), bos_token: pieceAt(model.trainer.bosId), eos_token: pieceAt(model.trainer.eosId), pad_token: pieceAt(model.trainer.padId) }).filter(([, v]) => v !== undefined));
    return { json: sentencePieceToTokenizerJson(model, modelFile), file: modelFile, specials };
  } catch (e) {
    if (e instanceof SentencePieceError) throw new TokenizerError(e.message);
    throw e;
  }
}

/**
 * Load a folder's tokenizer: `tokenizer.json`, else `tokenizer.model` (SentencePiece, converted in memory), with
 * `tokenizer_config.json` and `special_tokens_map.json` when present (the config wins where both name a token).
 */
export async function loadTokenizer(dir: string, options: TokenizerOptions = {}): Promise<TextTokenizer> {
  const { json, file, specials: fromModel } = await readTokenizerJson(dir);
  const config = (await readOptionalJson(path.join(dir, 'tokenizer_config.json'))) ?? {};
  const specialMap = (await readOptionalJson(path.join(dir, 'special_tokens_map.json'))) ?? {};
  if (typeof config !== 'object' || config === null || typeof specialMap !== 'object' || specialMap === null) {
    throw new TokenizerError(`${dir}: tokenizer_config.json and special_tokens_map.json must hold JSON objects`);
  }
  const specials = Object.fromEntries(Object.entries(specialMap).filter(([key]) => ['bos_token', 'eos_token', 'unk_token', 'pad_token'].includes(key)));
  return createTokenizer(json, { ...fromModel, ...specials, ...config }, options, file);
}

/**
 * The ids of a prompt as the model expects it: a chat model (its tokenizer has a chat template) gets the text as one
 * user turn through the template, ending with the assistant's cue; a base model gets the text as is. `chat` forces
 * one or the other (true on a model without a template is an error that says so).
 */
export function encodePrompt(tokenizer: TextTokenizer, text: string, chat?: boolean): number[] {
  return chat ?? tokenizer.chatTemplate !== null ? tokenizer.encodeChat([{ role: 'user', content: text }]) : tokenizer.encode(text);
}

/**
 * Text tokenizers loaded from a model folder's `tokenizer.json` (+ optional `tokenizer_config.json`) through
 * @huggingface/tokenizers: byte-level BPE (GPT-2 style) and the LLaMA SentencePiece-BPE with byte fallback that
 * Monet uses (spec §7.4). BOS handling is done here, not by the file's post-processor, so it is explicit and
 * never doubled: `encode` never lets the library add special tokens, then prepends BOS when asked.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

export interface TextTokenizer {
  /** Token ids of `text`; BOS is prepended when `addBos` (default: the tokenizer's own setting). */
  encode(text: string, options?: { addBos?: boolean }): number[];
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
}

export interface TokenizerOptions {
  /** From config.json; they win over the tokenizer files. */
  bosTokenId?: number | null;
  eosTokenId?: number | null;
  padTokenId?: number | null;
  /** Override whether BOS is prepended by default (otherwise `add_bos_token` of tokenizer_config.json, default true). */
  addBos?: boolean;
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
  if (addBos && bosId === null) throw new TokenizerError(`${source}: BOS is to be added but no BOS token id is known`);
  const vocabSize = tok.get_vocab(true).size;
  return {
    vocabSize, bosId, eosId, padId, addBos,
    encode(text, opts = {}) {
      const ids = tok.encode(text, { add_special_tokens: false }).ids;
      return (opts.addBos ?? addBos) && bosId !== null ? [bosId, ...ids] : ids;
    },
    decode(ids, opts = {}) {
      if (ids.length === 0) return ''; // the library throws on an empty list; nothing decodes to nothing
      return tok.decode([...ids], { skip_special_tokens: opts.skipSpecialTokens ?? false, clean_up_tokenization_spaces: false });
    },
    idToToken: (id) => tok.id_to_token(id),
    tokenToId: (token) => tok.token_to_id(token),
  };
}

/** Load `tokenizer.json` (and `tokenizer_config.json` when present) from a model folder. */
export async function loadTokenizer(dir: string, options: TokenizerOptions = {}): Promise<TextTokenizer> {
  const file = path.join(dir, 'tokenizer.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new TokenizerError(`${file}: not found (a folder with only tokenizer.model needs its tokenizer converted to tokenizer.json)`);
    }
    throw new TokenizerError(`${file}: cannot read (${(e as Error).message})`);
  }
  let config: unknown = {};
  try {
    config = JSON.parse(await readFile(path.join(dir, 'tokenizer_config.json'), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new TokenizerError(`${path.join(dir, 'tokenizer_config.json')}: cannot read (${(e as Error).message})`);
    }
  }
  return createTokenizer(json, config, options, file);
}

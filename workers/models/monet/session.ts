/** Helpers shared by the CLI commands and worker jobs that open a Monet model: device names and mask files. */
import { readFile } from 'node:fs/promises';
import type { Provider } from '../../engine';
import path from 'node:path';
import { loadMonetConfig, type MonetConfig } from './config';
import { MaskError, parseMaskJson, type MonetMask } from './mask';
import { loadTokenizer, type TextTokenizer } from '../../tokenizer';

export const DEVICES: readonly Provider[] = ['auto', 'cpu', 'webgpu', 'cuda', 'dml', 'coreml'];

export function parseDevice(value: string): Provider {
  if (!(DEVICES as readonly string[]).includes(value)) throw new Error(`unknown device "${value}" (expected ${DEVICES.join(', ')})`);
  return value as Provider;
}

/** Reads and validates a mask JSON file against a model config. */
export async function readMaskFile(config: MonetConfig, file: string): Promise<MonetMask> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new MaskError(`${file}: cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new MaskError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  return parseMaskJson(config, json, file);
}

/** Reads the model's config.json and the mask file (if any) before any weight is loaded, so mask errors come first. */
export async function maskForModel(dir: string, file: string | undefined): Promise<MonetMask | undefined> {
  if (!file) return undefined;
  const { config } = await loadMonetConfig(path.join(dir, 'config.json'));
  return readMaskFile(config, file);
}

/** The tokenizer of a model folder, with BOS/EOS from its config (eos_token_id may be a list: the first one ends). */
export async function tokenizerForModel(dir: string, config: MonetConfig): Promise<TextTokenizer> {
  const eos = Array.isArray(config.eos_token_id) ? config.eos_token_id[0] : config.eos_token_id;
  return loadTokenizer(dir, { bosTokenId: config.bos_token_id, eosTokenId: eos ?? null });
}

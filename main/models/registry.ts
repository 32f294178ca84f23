/**
 * The models a user opened in a workspace, plus the embedded default model.
 *
 * - The list lives in `<workspace>/models/registry.json` (`{ version: 1, models: [{ id, path, name, addedAt }] }`),
 *   written with atomicWrite. Removing a model only drops its entry: files are never touched.
 * - The default model (`assets/model/`, or `resources/assets/model` in the packaged app, or `$RESECT_DEFAULT_MODEL`)
 *   is listed first, id `default`, whenever its folder has a config.json. It is not stored and cannot be removed.
 * - An exported folder's edit (resect_masks.safetensors) is summarised in `edit`; an entry's `unedited: true` opens it
 *   without the edit everywhere (jobs read that flag through workers/models/monet/recipe.ts `opensUnedited`).
 * - Checkpoints are inspected from their headers alone (config.json and the safetensors headers; nothing is loaded),
 *   in this process: a few small reads. Summaries are cached per folder until config.json or the weights change.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiError, type ModelDetails, type ModelInfo, type ModelSummary, type ShippedCorpus } from '../../common/api';
import { atomicWrite } from '../workspace/atomic';
import { resolveUserPath } from '../workspace/paths';
import { availableMemory, estimateOpenMemory, tooLargeMessage } from '../../workers/models/monet/memory';

export const DEFAULT_MODEL_ID = 'default';
export const DEFAULT_MODEL_NAME = 'Default model';
const REGISTRY_FILE = 'registry.json';
const WEIGHT_FILES = ['model.safetensors', 'model.safetensors.index.json'];

interface Entry {
  id: string;
  path: string;
  name: string;
  addedAt: number;
  /** Open the folder without the edit it carries (read by the workers too: workers/models/monet/recipe.ts). */
  unedited?: boolean;
}

/** The folder this bundle (or source file) lives in: dist/, dist/electron/, or main/models/ under tests. */
function hereDir(): string | null {
  if (typeof __dirname === 'string') return __dirname;
  try {
    return path.dirname(fileURLToPath(import.meta.url));
  } catch {
    return null;
  }
}

/** Where the embedded default model may be, in order. `RESECT_DEFAULT_MODEL` overrides (empty string: none). */
export function defaultModelCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.RESECT_DEFAULT_MODEL !== undefined) return env.RESECT_DEFAULT_MODEL ? [path.resolve(env.RESECT_DEFAULT_MODEL)] : [];
  const out: string[] = [];
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  if (resources) out.push(path.join(resources, 'assets', 'model'), path.join(resources, 'app.asar', 'assets', 'model'));
  const here = hereDir();
  // dist/cli.mjs → <root>/assets; dist/electron/main.cjs and main/models/registry.ts (tests) → <root>/assets.
  if (here) {
    const nested = path.basename(here) === 'electron' || (path.basename(here) === 'models' && path.basename(path.dirname(here)) === 'main');
    out.push(path.resolve(here, ...(nested ? ['..', '..'] : ['..']), 'assets', 'model'));
  }
  return [...new Set(out)];
}

/**
 * The labelled corpus that ships with the app beside the embedded default model: `assets/corpus/heldout.jsonl` and
 * the training text `train.jsonl.gz` next to it. `RESECT_DEFAULT_CORPUS` names another held-out file (its folder's
 * train.jsonl.gz, if any, goes with it). It ships even when RESECT_DEFAULT_MODEL points elsewhere.
 */
export function shippedCorpus(env: NodeJS.ProcessEnv = process.env): ShippedCorpus | null {
  const heldout = env.RESECT_DEFAULT_CORPUS
    ? path.resolve(env.RESECT_DEFAULT_CORPUS)
    : defaultModelCandidates({ ...env, RESECT_DEFAULT_MODEL: undefined }).map((d) => path.join(path.dirname(d), 'corpus', 'heldout.jsonl')).find((f) => existsSync(f));
  if (!heldout) return null;
  const train = path.join(path.dirname(heldout), 'train.jsonl.gz');
  return { heldout, train: existsSync(train) ? train : null };
}

/** The default model's folder when one with a config.json exists, else null. */
export function defaultModelDir(env: NodeJS.ProcessEnv = process.env): string | null {
  return defaultModelCandidates(env).find((d) => existsSync(path.join(d, 'config.json'))) ?? null;
}

/** The memory estimate of a model (fresh each time: available memory changes), with the message when it will not fit. */
function memoryOf(summary: ModelSummary): ModelInfo['memory'] {
  const est = estimateOpenMemory(summary.parameters, availableMemory());
  return { ...est, message: est.fits ? null : tooLargeMessage(summary, est) };
}

function tokenizerKind(dir: string): ModelInfo['tokenizer'] {
  if (existsSync(path.join(dir, 'tokenizer.json'))) return 'tokenizer.json';
  if (existsSync(path.join(dir, 'tokenizer.model'))) return 'tokenizer.model';
  return null;
}

/** Changes when config.json or the weight files change. */
function stamp(dir: string): string {
  return ['config.json', ...WEIGHT_FILES]
    .map((f) => {
      try {
        const s = statSync(path.join(dir, f));
        return `${s.mtimeMs}:${s.size}`;
      } catch {
        return '-';
      }
    })
    .join('|');
}

interface Inspected {
  summary: ModelSummary;
  defaulted: string[];
  unusedTensors: string[];
  files: { name: string; bytes: number }[];
  derived: NonNullable<ModelDetails['derived']>;
}

const cache = new Map<string, { stamp: string; value: Inspected }>();

/**
 * Checks that `dir` is a Monet checkpoint folder and inspects it (headers only). Throws an ApiError
 * `invalid_params` whose message says what is wrong, e.g. `config.json: moe_experts must be a positive integer, got -3`.
 */
export async function inspectFolder(dir: string): Promise<Inspected> {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw bad(dir, `${dir} does not exist`);
  }
  if (!st.isDirectory()) throw bad(dir, `${dir} is not a folder: open the checkpoint folder that holds config.json and model.safetensors`);
  if (!existsSync(path.join(dir, 'config.json'))) {
    throw bad(dir, `${dir} has no config.json: a Monet checkpoint folder holds config.json and model.safetensors (Hugging Face layout)`);
  }
  if (!WEIGHT_FILES.some((f) => existsSync(path.join(dir, f)))) {
    throw bad(dir, `${dir} has no weights: expected model.safetensors or model.safetensors.index.json beside config.json`);
  }
  const s = stamp(dir);
  const hit = cache.get(dir);
  if (hit && hit.stamp === s) return hit.value;
  const { inspectMonet } = await import('../../workers/models/monet/inspect');
  const { loadMonetConfig } = await import('../../workers/models/monet/config');
  let m;
  let dims;
  try {
    m = await inspectMonet(dir);
    dims = (await loadMonetConfig(path.join(dir, 'config.json'))).dims;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    // Name config.json relative to the folder so the message reads "config.json: …".
    throw bad(dir, msg.split(`${path.join(dir, 'config.json')}`).join('config.json'));
  }
  const value: Inspected = {
    summary: {
      decompose: m.decompose,
      layers: m.layers,
      hiddenSize: m.hiddenSize,
      attentionHeads: m.attentionHeads,
      experts: m.experts,
      expertDim: m.expertDim,
      routingHeads: m.routingHeads,
      topk: m.topk,
      groups: m.groups,
      routerLayers: m.routerLayers,
      vocabSize: m.vocabSize,
      maxPositions: m.maxPositions,
      parameters: m.parameters,
      bytesOnDisk: m.bytesOnDisk,
      dtypes: m.dtypes,
    },
    defaulted: m.defaulted,
    unusedTensors: m.unusedTensors,
    files: m.files.map((f) => ({ name: path.relative(dir, f) || path.basename(f), bytes: safeSize(f) })),
    derived: {
      headDim: dims.headDim,
      routerLayers: dims.routerLayers,
      sigmaStar: dims.sigmaStar,
      compositeExperts: m.experts * m.experts,
      routers: dims.routerLayers.length,
    },
  };
  cache.set(dir, { stamp: s, value });
  return value;
}

function safeSize(f: string): number {
  try {
    return statSync(f).size;
  } catch {
    return 0;
  }
}

function bad(dir: string, message: string): ApiError {
  return new ApiError('invalid_params', message, { path: dir, issues: [{ path: ['path'], message }] });
}

export class ModelRegistry {
  private readonly file: string;

  constructor(workspaceDir: string) {
    this.file = path.join(workspaceDir, 'models', REGISTRY_FILE);
  }

  private read(): Entry[] {
    if (!existsSync(this.file)) return [];
    try {
      const raw = JSON.parse(readFileSync(this.file, 'utf8')) as { models?: unknown };
      if (!Array.isArray(raw.models)) return [];
      return raw.models.filter(
        (e): e is Entry => !!e && typeof e === 'object' && typeof (e as Entry).id === 'string' && typeof (e as Entry).path === 'string',
      ).map((e) => ({
        id: e.id, path: e.path, name: typeof e.name === 'string' ? e.name : path.basename(e.path), addedAt: Number(e.addedAt) || 0,
        ...(e.unedited === true ? { unedited: true } : {}),
      }));
    } catch {
      // A damaged registry must not break the view: start over (the folders themselves are untouched).
      return [];
    }
  }

  private async write(entries: Entry[]): Promise<void> {
    await atomicWrite(this.file, `${JSON.stringify({ version: 1, models: entries }, null, 2)}\n`);
  }

  private async info(id: string, dir: string, name: string, builtin: boolean, addedAt: number | null, unedited = false): Promise<ModelInfo & { inspected: Inspected | null }> {
    let inspected: Inspected | null = null;
    let error: string | null = null;
    try {
      inspected = await inspectFolder(dir);
    } catch (e) {
      error = e instanceof Error ? e.message : String(e);
    }
    const corpus = builtin ? shippedCorpus() : null;
    const edit = inspected ? await folderEdit(dir, !unedited) : null;
    return { id, name, path: dir, builtin, addedAt, summary: inspected?.summary ?? null, error, tokenizer: existsSync(dir) ? tokenizerKind(dir) : null, memory: inspected ? memoryOf(inspected.summary) : null, corpus, edit, inspected };
  }

  /** The default model first (when present), then the opened ones, oldest first. */
  async list(): Promise<ModelInfo[]> {
    const out: ModelInfo[] = [];
    const def = defaultModelDir();
    if (def) out.push(strip(await this.info(DEFAULT_MODEL_ID, def, DEFAULT_MODEL_NAME, true, null)));
    for (const e of this.read()) out.push(strip(await this.info(e.id, e.path, e.name, false, e.addedAt, e.unedited)));
    return out;
  }

  /** Validates and adds a folder; adding a folder already listed returns its entry. */
  async add(input: string, name?: string): Promise<ModelInfo> {
    const dir = resolveUserPath(input);
    await inspectFolder(dir); // throws a clear invalid_params
    const def = defaultModelDir();
    if (def && path.resolve(def) === dir) return strip(await this.info(DEFAULT_MODEL_ID, def, DEFAULT_MODEL_NAME, true, null));
    const entries = this.read();
    const existing = entries.find((e) => e.path === dir);
    if (existing) return strip(await this.info(existing.id, existing.path, existing.name, false, existing.addedAt, existing.unedited));
    const entry: Entry = { id: `m-${randomBytes(5).toString('hex')}`, path: dir, name: name?.trim() || path.basename(dir), addedAt: Date.now() };
    await this.write([...entries, entry]);
    return strip(await this.info(entry.id, entry.path, entry.name, false, entry.addedAt));
  }

  /** Opens a folder with or without the edit it carries, from now on (every view and job reads the entry's flag). */
  async setEditApplied(id: string, applied: boolean): Promise<ModelInfo> {
    if (id === DEFAULT_MODEL_ID) throw new ApiError('conflict', 'The default model carries no exported edit.');
    const entries = this.read();
    const e = entries.find((x) => x.id === id);
    if (!e) throw new ApiError('not_found', `No model ${id} in this workspace`);
    const { hasRecipe } = await import('../../workers/models/monet/recipe');
    if (!hasRecipe(e.path)) throw new ApiError('invalid_params', `${e.path} carries no exported edit (no resect_masks.safetensors)`);
    const next = entries.map((x) => (x.id === id ? { id: x.id, path: x.path, name: x.name, addedAt: x.addedAt, ...(applied ? {} : { unedited: true }) } : x));
    await this.write(next);
    return strip(await this.info(e.id, e.path, e.name, false, e.addedAt, !applied));
  }

  /** Drops a model from the list. Never deletes files. */
  async remove(id: string): Promise<void> {
    if (id === DEFAULT_MODEL_ID) throw new ApiError('conflict', 'The default model is part of Resect and cannot be removed from the list.');
    const entries = this.read();
    if (!entries.some((e) => e.id === id)) throw new ApiError('not_found', `No model ${id} in this workspace`);
    await this.write(entries.filter((e) => e.id !== id));
  }

  /** Where a model lives, or not_found. */
  resolve(id: string): { id: string; path: string; name: string; builtin: boolean; addedAt: number | null; unedited?: boolean } {
    if (id === DEFAULT_MODEL_ID) {
      const def = defaultModelDir();
      if (!def) throw new ApiError('not_found', 'The default model is not installed (assets/model has no config.json yet).');
      return { id, path: def, name: DEFAULT_MODEL_NAME, builtin: true, addedAt: null };
    }
    const e = this.read().find((x) => x.id === id);
    if (!e) throw new ApiError('not_found', `No model ${id} in this workspace`);
    return { ...e, builtin: false };
  }

  /** Config as stored, derived dimensions, parameter count, size on disk, dtypes, tokenizer. */
  async get(id: string): Promise<ModelDetails> {
    const r = this.resolve(id);
    const i = await this.info(r.id, r.path, r.name, r.builtin, r.addedAt, r.unedited);
    let config: Record<string, unknown> = {};
    try {
      const raw = JSON.parse(await readFile(path.join(r.path, 'config.json'), 'utf8')) as unknown;
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) config = raw as Record<string, unknown>;
    } catch {
      /* reported through `error` */
    }
    return {
      ...strip(i),
      config,
      defaulted: i.inspected?.defaulted ?? [],
      derived: i.inspected?.derived ?? null,
      files: i.inspected?.files ?? [],
      unusedTensors: i.inspected?.unusedTensors ?? [],
    };
  }

  /** Reads and checks a mask file (the JSON form of docs/monet.md) against a model; returns it for a job's `mask`. */
  async loadMask(id: string, input: string): Promise<{ path: string; mask: Record<string, unknown>; layers: number; entries: number }> {
    const r = this.resolve(id);
    const file = resolveUserPath(input);
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      const msg = (e as NodeJS.ErrnoException).code === 'ENOENT' ? `${file} does not exist` : `${file}: ${(e as Error).message}`;
      throw new ApiError('invalid_params', msg, { issues: [{ path: ['path'], message: msg }] });
    }
    const { loadMonetConfig } = await import('../../workers/models/monet/config');
    const { parseMaskJson } = await import('../../workers/models/monet/mask');
    let mask;
    try {
      const { config } = await loadMonetConfig(path.join(r.path, 'config.json'));
      mask = parseMaskJson(config, json, path.basename(file));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new ApiError('invalid_params', msg, { issues: [{ path: ['path'], message: msg }] });
    }
    let entries = 0;
    for (const l of mask.values()) entries += l.experts.length + l.rows.length + l.columns.length;
    return { path: file, mask: json as Record<string, unknown>, layers: mask.size, entries };
  }
}

function strip<T extends ModelInfo & { inspected?: unknown }>(i: T): ModelInfo {
  return { id: i.id, name: i.name, path: i.path, builtin: i.builtin, addedAt: i.addedAt, summary: i.summary, error: i.error, tokenizer: i.tokenizer, memory: i.memory, corpus: i.corpus, edit: i.edit };
}

/** The exported edit a folder carries, summarised for the Models view (null when it carries none). */
async function folderEdit(dir: string, applied: boolean): Promise<ModelInfo['edit']> {
  const { hasRecipe, readFolderRecipe } = await import('../../workers/models/monet/recipe');
  if (!hasRecipe(dir)) return null;
  const { loadMonetConfig } = await import('../../workers/models/monet/config');
  try {
    const { config } = await loadMonetConfig(path.join(dir, 'config.json'));
    const r = (await readFolderRecipe(dir, config))!;
    const recipe = r.recipe ?? {};
    const edits = Array.isArray(recipe.edits) ? recipe.edits.flatMap((e: unknown) => (e && typeof e === 'object' && typeof (e as { name?: unknown }).name === 'string' ? [(e as { name: string }).name] : [])) : [];
    const evaluation = recipe.evaluation as { perplexity?: { target?: unknown; targetRelIncrease?: unknown; othersMeanRelIncrease?: unknown } | null } | null | undefined;
    const p = evaluation?.perplexity ?? null;
    const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
    return {
      removed: r.removed, applied, edits,
      exportedAt: typeof recipe.exportedAt === 'string' ? recipe.exportedAt : null,
      evaluated: p !== null,
      measured: p ? { target: typeof p.target === 'string' ? p.target : null, targetRelIncrease: num(p.targetRelIncrease), othersMeanRelIncrease: num(p.othersMeanRelIncrease) } : null,
      error: null,
    };
  } catch (e) {
    return { removed: 0, applied, edits: [], exportedAt: null, evaluated: false, measured: null, error: e instanceof Error ? e.message : String(e) };
  }
}

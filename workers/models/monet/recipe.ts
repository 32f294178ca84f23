/**
 * The edit an exported folder carries. `resect export` (workers/analysis/resection/export.ts) writes the original
 * checkpoint files plus
 *   - `resect_masks.safetensors`: per layer `layers.<l>.experts` (I64 flat ids i·E + j), `layers.<l>.rows`,
 *     `layers.<l>.columns` (I64);
 *   - `resect_recipe.json`: what was removed, why, and the before/after figures measured for that edit.
 * Whenever Resect opens such a folder (MonetModel.load, so the Models view, perplexity, generation, routing, atlas,
 * evaluation and every CLI command alike) the masks are applied under whatever mask a caller passes, unless the
 * folder is opened unedited (`recipe: false`: the CLI's `--no-recipe`, the Models view's "open without the edit",
 * stored per workspace in models/registry.json and read here by `opensUnedited`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { openSafetensors } from '../../engine/safetensors';
import type { MonetConfig } from './config';
import { buildMask, maskedCount, type MonetMask } from './mask';

export const MASKS_FILE = 'resect_masks.safetensors';
export const RECIPE_FILE = 'resect_recipe.json';

type MaskConfig = Pick<MonetConfig, 'num_hidden_layers' | 'moe_experts' | 'moe_groups'>;

export interface FolderRecipe {
  mask: MonetMask;
  /** (layer, composite expert) pairs the mask removes, counted as the Resection view counts them. */
  removed: number;
  /** resect_recipe.json as written (null when absent or unreadable: the masks alone still apply). */
  recipe: Record<string, unknown> | null;
}

/** Whether a folder carries an exported edit. */
export function hasRecipe(dir: string): boolean {
  return existsSync(path.join(dir, MASKS_FILE));
}

/** Reads `resect_masks.safetensors` back into a mask (checked against the folder's config). */
export async function readExportedMask(dir: string, config: MaskConfig): Promise<MonetMask> {
  const h = await openSafetensors(path.join(dir, MASKS_FILE));
  try {
    const experts = new Map<number, number[]>();
    const rows = new Map<number, number[]>();
    const columns = new Map<number, number[]>();
    for (const name of h.tensors.keys()) {
      const m = /^layers\.(\d+)\.(experts|rows|columns)$/.exec(name);
      if (!m) continue;
      const ids = Array.from((await h.read(name)) as BigInt64Array, Number);
      (m[2] === 'experts' ? experts : m[2] === 'rows' ? rows : columns).set(Number(m[1]), ids);
    }
    return buildMask(config, { experts, rows, columns }, MASKS_FILE);
  } finally {
    await h.close();
  }
}

/** The folder's edit, or null when it carries none. A damaged masks file throws (opening it unedited is a choice). */
export async function readFolderRecipe(dir: string, config: MaskConfig): Promise<FolderRecipe | null> {
  if (!hasRecipe(dir)) return null;
  const mask = await readExportedMask(dir, config);
  let recipe: Record<string, unknown> | null = null;
  try {
    const raw = JSON.parse(await readFile(path.join(dir, RECIPE_FILE), 'utf8')) as unknown;
    if (raw && typeof raw === 'object' && !Array.isArray(raw)) recipe = raw as Record<string, unknown>;
  } catch {
    /* the recipe documents the edit; the masks file is the edit */
  }
  let removed = 0;
  for (const lm of mask.values()) removed += maskedCount(config, lm);
  return { mask, removed, recipe };
}

/** Everything either mask removes, per layer. */
export function unionMasks(config: MaskConfig, a: MonetMask, b: MonetMask): MonetMask {
  const parts = { experts: new Map<number, number[]>(), rows: new Map<number, number[]>(), columns: new Map<number, number[]>() };
  for (const m of [a, b]) {
    for (const [l, lm] of m) {
      parts.experts.set(l, [...(parts.experts.get(l) ?? []), ...lm.experts]);
      parts.rows.set(l, [...(parts.rows.get(l) ?? []), ...lm.rows]);
      parts.columns.set(l, [...(parts.columns.get(l) ?? []), ...lm.columns]);
    }
  }
  return buildMask(config, parts, 'mask');
}

/**
 * Combines a folder's edit with the masks callers pass, remembering each combination so that the model's per-mask
 * feed cache (keyed by mask identity) keeps working.
 */
export class RecipeMasks {
  private readonly combined = new WeakMap<MonetMask, MonetMask>();

  constructor(private readonly config: MaskConfig, readonly folder: FolderRecipe) {}

  /** The mask a forward runs with: the folder's edit, plus `extra` when given. */
  with(extra: MonetMask | undefined): MonetMask {
    if (!extra || extra.size === 0) return this.folder.mask;
    let m = this.combined.get(extra);
    if (!m) this.combined.set(extra, (m = unionMasks(this.config, this.folder.mask, extra)));
    return m;
  }
}

/**
 * Whether the user chose to open `dir` without its edit in this workspace: the Models view stores the choice as
 * `unedited: true` on the folder's entry of `<workspace>/models/registry.json` (main/models/registry.ts writes it).
 */
export function opensUnedited(workspace: string, dir: string): boolean {
  try {
    const raw = JSON.parse(readFileSync(path.join(workspace, 'models', 'registry.json'), 'utf8')) as { models?: unknown };
    if (!Array.isArray(raw.models)) return false;
    const target = path.resolve(dir);
    return raw.models.some((e: unknown) => !!e && typeof e === 'object' && (e as { path?: unknown }).path === target && (e as { unedited?: unknown }).unedited === true);
  } catch {
    return false;
  }
}

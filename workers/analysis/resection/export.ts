/**
 * Exporting an edited model.
 *
 * **Masked folder** (always possible): a Hugging Face folder with the original files (config, tokenizer, weights)
 * hard-linked — or copied when linking fails or `copy` is set — never modified, plus
 *   - `resect_masks.safetensors`: per layer `layers.<l>.experts` (I64 flat ids i·E + j), `layers.<l>.rows`,
 *     `layers.<l>.columns` (I64), and the mask JSON in the metadata key `resect_mask`;
 *   - `resect_recipe.json`: what was removed, why (rule and parameters per edit) and the evaluation figures if run.
 * Resect applies that mask whenever it opens the folder (workers/models/monet/recipe.ts), so the folder opens as the
edited model; `readExportedMask(dir)` reads it back. Outside Resect, use the ONNX export (export-onnx.ts), which has
the masks built in.
 *
 * **Baked checkpoint** (only where exact): removing composite experts is not a weight edit in general (spec §3.2:
 * every weight block is shared by a whole row or column of experts, and the stock code assumes gates sum to 1).
 * Working through the terms of §2.5–2.6, the one removal that *is* a weight edit is an HD **column** j: every term
 * that contains j is g1·g2·(V_j a_i + b2_j), so zeroing the columns of block j in `moe.v.weight` and row j of
 * `moe.b` removes exactly the experts (·, j) and leaves every other term and every gate as it was. HD rows and all
 * VD removals leave terms behind (the b2_j / other-side halves), so `bakeable()` refuses them with the reason.
 */
import { copyFile, link, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openMonetCheckpoint } from '../../models/monet/checkpoint';
import { parseMaskJson, type MonetMask } from '../../models/monet/mask';
import { writeSafetensors, type TensorToWrite } from '../../engine/safetensors';
import { hasRecipe, MASKS_FILE, readExportedMask, readFolderRecipe, RECIPE_FILE, unionMasks } from '../../models/monet/recipe';
import type { MonetConfig } from '../../models/monet/config';
import type { MaskJson } from './select';

export { MASKS_FILE, RECIPE_FILE, readExportedMask };

export interface ExportOptions {
  /** Copy the original files instead of hard-linking them. */
  copy?: boolean;
  /** Written as resect_recipe.json (with `mask` and `exportedAt` added). */
  recipe?: Record<string, unknown>;
}

const WEIGHT_FILE = /\.safetensors$|\.safetensors\.index\.json$|\.bin$|\.pt$/;

async function linkOrCopy(src: string, dst: string, copy: boolean): Promise<'link' | 'copy'> {
  if (!copy) {
    try {
      await link(src, dst);
      return 'link';
    } catch {
      /* another device, or a file system without hard links */
    }
  }
  await copyFile(src, dst);
  return 'copy';
}

async function prepareOut(model: string, out: string): Promise<void> {
  if (path.resolve(model) === path.resolve(out)) throw new Error('the export folder must differ from the model folder');
  await mkdir(out, { recursive: true });
  if ((await readdir(out)).length > 0) throw new Error(`${out} is not empty`);
}

/** The original files of a model folder (plain files at its top level, no hidden ones, no earlier resect files). */
async function modelFiles(model: string): Promise<string[]> {
  const names: string[] = [];
  for (const name of (await readdir(model)).sort()) {
    if (name.startsWith('.') || name === MASKS_FILE || name === RECIPE_FILE) continue;
    if ((await stat(path.join(model, name))).isFile()) names.push(name);
  }
  return names;
}

export function maskTensors(mask: MonetMask): TensorToWrite[] {
  const t: TensorToWrite[] = [];
  const i64 = (xs: number[]) => BigInt64Array.from(xs, (x) => BigInt(x));
  for (const [l, lm] of mask) {
    t.push({ name: `layers.${l}.experts`, dtype: 'I64', shape: [lm.experts.length], data: i64(lm.experts) });
    t.push({ name: `layers.${l}.rows`, dtype: 'I64', shape: [lm.rows.length], data: i64(lm.rows) });
    t.push({ name: `layers.${l}.columns`, dtype: 'I64', shape: [lm.columns.length], data: i64(lm.columns) });
  }
  return t;
}

export function maskToJson(mask: MonetMask): MaskJson {
  const out: MaskJson = {};
  const put = (key: 'layers' | 'rows' | 'columns', l: number, ids: number[]) => { if (ids.length) (out[key] ??= {})[String(l)] = ids; };
  for (const [l, lm] of mask) {
    put('layers', l, lm.experts);
    put('rows', l, lm.rows);
    put('columns', l, lm.columns);
  }
  return out;
}

export async function exportMasked(model: string, maskJson: MaskJson, out: string, o: ExportOptions = {}): Promise<{ files: string[]; linked: number; copied: number }> {
  const ckpt = await openMonetCheckpoint(model);
  const config = ckpt.config;
  await ckpt.close();
  const mask = parseMaskJson(config, maskJson, 'mask');
  await prepareOut(model, out);
  let linked = 0;
  let copied = 0;
  const files = await modelFiles(model);
  for (const name of files) {
    if ((await linkOrCopy(path.join(model, name), path.join(out, name), !!o.copy)) === 'link') linked++;
    else copied++;
  }
  const json = maskToJson(mask);
  await writeSafetensors(path.join(out, MASKS_FILE), maskTensors(mask), { metadata: { resect_mask: JSON.stringify(json), format: 'resect-masks/1' } });
  await writeRecipe(out, { ...o.recipe, mask: json, exportedAt: new Date().toISOString(), kind: 'masked' });
  return { files: [...files, MASKS_FILE, RECIPE_FILE], linked, copied };
}

async function writeRecipe(out: string, recipe: Record<string, unknown>): Promise<void> {
  const { writeFileAtomic } = await import('../../engine/safetensors/writer');
  await writeFileAtomic(path.join(out, RECIPE_FILE), (fh) => fh.writeFile(`${JSON.stringify(recipe, null, 2)}\n`));
}

/**
 * The mask to export from `model`: `maskJson`, plus the edit the folder already carries when it is itself an export
 * opened edited (its original weights are linked and its masks file is not, so the edit must travel in the new mask).
 * `basedOn` is the folder's recipe, for the new recipe.
 */
export async function withFolderEdit(model: string, maskJson: MaskJson, o: { inherit: boolean }): Promise<{ mask: MaskJson; basedOn: Record<string, unknown> | null }> {
  if (!o.inherit || !hasRecipe(model)) return { mask: maskJson, basedOn: null };
  const ckpt = await openMonetCheckpoint(model);
  const config = ckpt.config;
  await ckpt.close();
  const folder = await readFolderRecipe(model, config);
  if (!folder) return { mask: maskJson, basedOn: null };
  const mask = unionMasks(config, folder.mask, parseMaskJson(config, maskJson, 'mask'));
  return { mask: maskToJson(mask), basedOn: folder.recipe ?? { removed: folder.removed } };
}

/** Whether a mask can be baked into weights exactly, and why not. */
export function bakeable(config: Pick<MonetConfig, 'moe_decompose' | 'num_hidden_layers' | 'moe_experts' | 'moe_groups'>, maskJson: MaskJson): { ok: true } | { ok: false; reason: string } {
  const mask = parseMaskJson(config, maskJson, 'mask');
  const pairs = [...mask.values()].some((lm) => lm.experts.length > 0);
  const rows = [...mask.values()].some((lm) => lm.rows.length > 0);
  if (pairs) return { ok: false, reason: 'the mask removes individual composite experts (i, j); that is not expressible as a weight edit (docs/resection.md, "Export") — export the masked folder instead' };
  if (config.moe_decompose === 'vertical') return { ok: false, reason: 'in a VD model no removal is a weight edit: each expert\'s other-side half and bias stay in the mixture (docs/resection.md, "Export") — export the masked folder instead' };
  if (rows) return { ok: false, reason: 'an HD row removal leaves the bias terms b2_j of those experts behind (docs/resection.md, "Export"); only HD column removals bake exactly — export the masked folder instead' };
  return { ok: true };
}

/** A baked checkpoint: HD column removals written as zeroed `moe.v.weight` columns and `moe.b` rows. */
export async function exportBaked(model: string, maskJson: MaskJson, out: string, o: ExportOptions = {}): Promise<{ files: string[]; zeroedBlocks: number }> {
  const ckpt = await openMonetCheckpoint(model);
  try {
    const config = ckpt.config;
    const ok = bakeable(config, maskJson);
    if (!ok.ok) throw new Error(`cannot bake this mask: ${ok.reason}`);
    const mask = parseMaskJson(config, maskJson, 'mask');
    await prepareOut(model, out);
    const files: string[] = [];
    for (const name of await modelFiles(model)) {
      if (WEIGHT_FILE.test(name)) continue;
      await copyFile(path.join(model, name), path.join(out, name));
      files.push(name);
    }
    const E = config.moe_experts;
    const m = config.moe_dim;
    let zeroed = 0;
    const tensors: TensorToWrite[] = [...ckpt.weights.tensors].map(([name, info]) => ({
      name, dtype: info.dtype, shape: [...info.shape],
      data: async () => {
        const data = await ckpt.weights.read(name);
        const lm = /^model\.layers\.(\d+)\.moe\.(v\.weight|b)$/.exec(name);
        const cols = lm ? mask.get(Number(lm[1]))?.columns ?? [] : [];
        if (!lm || cols.length === 0) return data;
        const copy = data.slice() as typeof data;
        if (lm[2] === 'b') {
          const d = info.shape[1]!;
          for (const j of cols) copy.fill(0 as never, j * d, (j + 1) * d);
        } else {
          const [d, Em] = info.shape as [number, number];
          if (Em !== E * m) throw new Error(`${name}: expected ${E * m} columns, got ${Em}`);
          for (let r = 0; r < d; r++) for (const j of cols) copy.fill(0 as never, r * Em + j * m, r * Em + (j + 1) * m);
        }
        zeroed += cols.length;
        return copy;
      },
    })) as unknown as TensorToWrite[];
    await writeSafetensors(path.join(out, 'model.safetensors'), tensors, { metadata: { format: 'pt' } });
    files.push('model.safetensors');
    await writeRecipe(out, { ...o.recipe, mask: maskJson, exportedAt: new Date().toISOString(), kind: 'baked', baked: 'HD columns zeroed in moe.v.weight / moe.b' });
    files.push(RECIPE_FILE);
    return { files, zeroedBlocks: zeroed };
  } finally {
    await ckpt.close();
  }
}

/** For tests and tools: write a plain JSON next to an export. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

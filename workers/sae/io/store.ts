/**
 * SAEs in a workspace: `<workspace>/saes/<id>/` holds an SAE in SAE Lens's layout with Resect's state beside it
 * (saelens.ts), plus `resect_import.json` for imported ones (where from, what was assumed) and `resect_eval.json`
 * (the latest evaluation, written by the `sae.eval` job).
 */
import path from 'node:path';
import { loadSaeFolder, saveSaeLens, type LoadedSae } from './index';
import { writeJsonAtomic } from './json';

export { writeJsonAtomic };

export const IMPORT_FILE = 'resect_import.json';
export const EVAL_FILE = 'resect_eval.json';

/** Loads an SAE Lens / sparsify / Resect folder and writes it to `dest` in Resect's layout (with the import record). */
export async function importSaeFolder(src: string, dest: string, hookpoint?: string): Promise<LoadedSae> {
  const loaded = await loadSaeFolder(src, hookpoint);
  await saveSaeLens(loaded.sae, dest);
  await writeJsonAtomic(path.join(dest, IMPORT_FILE), { from: src, hookpoint: hookpoint ?? null, origin: loaded.origin, notes: loaded.notes, importedAt: Date.now() });
  return loaded;
}

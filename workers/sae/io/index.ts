/**
 * SAE folders: save in SAE Lens's layout (with Resect's extra state beside it), load SAE Lens, Resect and sparsify
 * folders by what they contain.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadSaeLens, SAE_CFG_FILE, SAE_WEIGHTS_FILE, type LoadedSae } from './saelens';
import { isSparsifyFolder, loadSparsify, sparsifyHookpoints } from './sparsify';

export { saveSaeLens, loadSaeLens, foldNormalization, hookFromName, type LoadedSae, type SaveInfo } from './saelens';
export { loadSparsify, sparsifyHookpoints, isSparsifyFolder } from './sparsify';

export type SaeFolderFormat = 'sae-lens' | 'sparsify';

/** The layout of `dir`: an SAE Lens (or Resect) folder, a sparsify hookpoint folder, or null. */
export function detectSaeFolder(dir: string): SaeFolderFormat | null {
  if (existsSync(path.join(dir, SAE_CFG_FILE)) && existsSync(path.join(dir, SAE_WEIGHTS_FILE))) return 'sae-lens';
  if (isSparsifyFolder(dir)) return 'sparsify';
  return null;
}

/**
 * Loads one SAE folder. A sparsify run folder with several hookpoints needs `hookpoint` (its folder name); with one,
 * that one is taken.
 */
export async function loadSaeFolder(dir: string, hookpoint?: string): Promise<LoadedSae> {
  const format = detectSaeFolder(dir);
  if (format === 'sae-lens') return loadSaeLens(dir);
  if (format === 'sparsify') return loadSparsify(dir);
  const hookpoints = sparsifyHookpoints(dir);
  if (hookpoints.length === 0) throw new Error(`${dir}: not an SAE folder (expected cfg.json with sae_weights.safetensors (SAE Lens) or sae.safetensors (sparsify), or a sparsify run folder of hookpoint folders)`);
  if (hookpoint) {
    const hit = hookpoints.find((p) => path.basename(p) === hookpoint);
    if (!hit) throw new Error(`${dir}: no hookpoint ${hookpoint} (has ${hookpoints.map((p) => path.basename(p)).join(', ')})`);
    return loadSparsify(hit);
  }
  if (hookpoints.length > 1) throw new Error(`${dir}: a sparsify run with ${hookpoints.length} hookpoints (${hookpoints.map((p) => path.basename(p)).join(', ')}); choose one`);
  return loadSparsify(hookpoints[0]!);
}

/** What the `resect sae` commands share: finding an SAE folder, telling activations from text, loading the model. */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LoadedSae } from '../../../workers/sae/io';
import { defaultWorkspaceDir, resolveUserPath } from '../../workspace/paths';

/** `--sae`: a folder (SAE Lens, Resect or sparsify layout), or the id of an SAE in the workspace's `saes/`. */
export function resolveSaeDir(arg: string, workspace?: string): string {
  const direct = resolveUserPath(arg);
  if (existsSync(direct)) return direct;
  const inWorkspace = path.join(resolveUserPath(workspace ?? defaultWorkspaceDir()), 'saes', arg);
  if (/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(arg) && existsSync(inWorkspace)) return inWorkspace;
  throw new Error(`--sae ${arg}: no such folder, and no SAE with that id in the workspace`);
}

export async function loadSaeArg(arg: string, o: { hookpoint?: string; workspace?: string }): Promise<LoadedSae & { dir: string }> {
  const { loadSaeFolder } = await import('../../../workers/sae/io');
  const dir = resolveSaeDir(arg, o.workspace);
  const loaded = await loadSaeFolder(dir, o.hookpoint);
  for (const n of loaded.notes) process.stderr.write(`resect: ${n}\n`);
  return { ...loaded, dir };
}

/** What a `--data` path holds: an activation cache folder, an activation array, or text (JSONL or a dataset). */
export function dataKind(arg: string): 'cache' | 'array' | 'text' {
  const p = resolveUserPath(arg);
  if (existsSync(p) && statSync(p).isDirectory() && existsSync(path.join(p, 'manifest.json'))) return 'cache';
  if (/\.(npy|safetensors)$/i.test(p)) return 'array';
  return 'text';
}

/** The model for text: `--model`, else the SAE's recorded model when that is a folder here. */
export function modelFor(sae: LoadedSae['sae'], model: string | undefined): string {
  if (model) return resolveUserPath(model);
  const recorded = sae.config.hook.model;
  if (recorded && existsSync(path.join(recorded, 'config.json'))) return recorded;
  throw new Error(`text data needs the model: pass --model DIR (the SAE records "${recorded || 'no model'}")`);
}

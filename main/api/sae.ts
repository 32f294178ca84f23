/**
 * SAE tools of the app (docs/sae.md): capture a model's hook into the activation cache, import activations or an SAE
 * folder, evaluate an SAE, encode text — each a job (workers/jobs/sae-tools.ts) started after the paths are checked —
 * and read an SAE's latest evaluation. Listing SAEs and caches and training: main/api/sae-train.ts.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ApiError } from '../../common/api';
import { SaeEvalResult } from '../../workers/sae/eval-schema';
import type { Backend } from '../backend';
import { resolveUserPath } from '../workspace/paths';
import type { Handlers } from './router';

const saesRoot = (b: Backend): string => b.requireWorkspace().artifactDir('saes');
const cachesRoot = (b: Backend): string => path.join(b.requireWorkspace().dir, 'sae', 'activations');

function modelFolder(p: string): string {
  const dir = resolveUserPath(p);
  if (!existsSync(path.join(dir, 'config.json'))) throw new ApiError('invalid_params', `Not a model folder (no config.json): ${dir}`, { path: dir });
  return dir;
}

function existingFile(p: string): string {
  const file = resolveUserPath(p);
  if (!existsSync(file) || !statSync(file).isFile()) throw new ApiError('invalid_params', `Not found: ${file}`, { path: file });
  return file;
}

type TextData = { kind: 'jsonl'; path: string; textField: string } | { kind: 'dataset'; datasetId: number };
const textData = <D extends TextData>(d: D): D => (d.kind === 'jsonl' ? { ...d, path: existingFile(d.path) } : d);

function requireSae(b: Backend, id: string): string {
  const dir = path.join(saesRoot(b), id);
  if (!existsSync(path.join(dir, 'cfg.json'))) throw new ApiError('not_found', `No SAE ${id} in this workspace (or it has not finished training).`);
  return dir;
}

export const saeHandlers = {
  'saes.capture': (p, b) => ({ jobId: b.requireScheduler().start('sae.capture', { ...p, model: modelFolder(p.model), data: textData(p.data) }).id }),

  'saes.importActivations': (p, b) => {
    const file = existingFile(p.file);
    if (!/\.(npy|safetensors)$/i.test(file)) throw new ApiError('invalid_params', `Expected a .npy or .safetensors file: ${file}`, { path: file });
    return { jobId: b.requireScheduler().start('sae.importActivations', { ...p, file }).id };
  },

  'saes.import': (p, b) => {
    const dir = resolveUserPath(p.dir);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ApiError('invalid_params', `Not a folder: ${dir}`, { path: dir });
    const id = p.id ?? (`${path.basename(dir)}${p.hookpoint ? `-${p.hookpoint}` : ''}`.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[.]+/, '').slice(0, 80) || 'imported');
    if (!p.replace && existsSync(path.join(saesRoot(b), id, 'cfg.json'))) throw new ApiError('conflict', `An SAE named ${id} exists already; choose another name.`);
    return { jobId: b.requireScheduler().start('sae.import', { ...p, dir, id }).id, id };
  },

  'saes.eval': (p, b) => {
    requireSae(b, p.sae);
    if (p.against) requireSae(b, p.against);
    let source = p.source;
    if (source.kind === 'cache') {
      if (!existsSync(path.join(cachesRoot(b), source.cache, 'manifest.json'))) throw new ApiError('not_found', `No activation cache ${source.cache} in this workspace.`);
    } else {
      source = { ...source, data: textData(source.data), ...(source.model ? { model: modelFolder(source.model) } : {}) };
    }
    return { jobId: b.requireScheduler().start('sae.eval', { ...p, source }).id };
  },

  'saes.lastEval': (p, b) => {
    const file = path.join(requireSae(b, p.sae), 'resect_eval.json');
    if (!existsSync(file)) return null;
    const parsed = SaeEvalResult.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    return parsed.success ? parsed.data : null;
  },

  'saes.encode': (p, b) => {
    requireSae(b, p.sae);
    return { jobId: b.requireScheduler().start('sae.encode', { ...p, ...(p.model ? { model: modelFolder(p.model) } : {}) }).id };
  },
} satisfies Partial<Handlers>;

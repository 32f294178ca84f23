/**
 * Training SAEs from the app (docs/sae.md "App"): start an `sae.train` job, list the workspace's SAE folders with what
 * the compare table needs (`<workspace>/saes/<id>/`: SAE Lens's cfg.json, Resect's resect_train.json summary, a
 * checkpoint while unfinished), list activation caches, and start the synthetic recovery study as a job.
 * Reads JSON files only: nothing here loads the compute engine.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ApiError } from '../../common/api';
import { isFolderId } from '../../common/ids';
import { type SaeCacheInfo, type SaeRunInfo, type SaeTrainSummary } from '../../workers/sae/train-options';
import type { Backend } from '../backend';
import { resolveUserPath } from '../workspace/paths';
import type { Handlers } from './router';

const saesRoot = (b: Backend): string => b.requireWorkspace().artifactDir('saes');
/** The activation cache root, `<workspace>/sae/activations` (workers/sae/cache.ts cacheRoot, which loads the engine). */
const cachesRoot = (b: Backend): string => path.join(b.requireWorkspace().dir, 'sae', 'activations');

function readJson(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' && v ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The first `start` record of a run's metrics.jsonl (its config), for runs that have not saved an SAE yet. */
function startRecord(dir: string): Record<string, unknown> | null {
  try {
    const first = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').split('\n', 1)[0];
    return first ? (JSON.parse(first) as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** One SAE folder, or null when the folder holds neither an SAE nor a training run. */
export function describeSaeFolder(id: string, dir: string): SaeRunInfo | null {
  const cfg = readJson(path.join(dir, 'cfg.json'));
  const summary = readJson(path.join(dir, 'resect_train.json')) as Partial<SaeTrainSummary> | null;
  const resect = readJson(path.join(dir, 'resect_sae.json'));
  const checkpoint = existsSync(path.join(dir, 'checkpoint.safetensors'));
  const start = !cfg ? startRecord(dir) : null;
  if (!cfg && !start && !checkpoint) return null;
  const meta = (cfg?.metadata && typeof cfg.metadata === 'object' ? cfg.metadata : {}) as Record<string, unknown>;
  const startCfg = (start?.config ?? null) as Record<string, unknown> | null;
  const method = str(summary?.method) ?? str(resect?.method) ?? str(startCfg?.method) ?? (startCfg ? 'gba' : null);
  const hookOf = (h: unknown) => (h && typeof h === 'object' ? str((h as Record<string, unknown>).name) : str(h));
  let createdAt = 0;
  try {
    createdAt = statSync(dir).mtimeMs;
  } catch {
    /* listed with 0 */
  }
  const ev = summary?.eval ?? null;
  return {
    id,
    // A trained run's chosen name; an imported or unfinished folder goes by its id (its method and size show beside it).
    name: str(summary?.name) ?? id,
    dir,
    origin: summary ? 'trained' : cfg ? 'imported' : 'unfinished',
    method,
    architecture: str(cfg?.architecture) ?? (cfg ? 'standard' : null),
    latents: num(cfg?.d_sae) ?? num(startCfg?.latents),
    dIn: num(cfg?.d_in) ?? num(start?.dIn),
    hook: str(summary?.hook) ?? hookOf(resect?.hook) ?? str(meta.hook_name) ?? str(cfg?.hook_name) ?? str(cfg?.hook_point) ?? null,
    model: str(summary?.model) ?? str(meta.model_name) ?? str(cfg?.model_name),
    data: str(summary?.data) ?? str(meta.dataset_path),
    steps: num(summary?.steps),
    elapsedMs: num(summary?.elapsedMs),
    config: (summary?.config as Record<string, unknown> | undefined) ?? startCfg,
    // JSON has no NaN: an undefined FVE travels as null.
    eval: ev ? { ...ev, fve: num(ev.fve), nmse: num(ev.nmse) } : null,
    checkpoint,
    createdAt,
  };
}

export const saeTrainHandlers = {
  'saes.train': (p, b) => {
    const scheduler = b.requireScheduler();
    let source = p.source;
    if (source.kind === 'model') {
      const model = resolveUserPath(source.model);
      if (!existsSync(path.join(model, 'config.json'))) throw new ApiError('invalid_params', `Not a model folder (no config.json): ${model}`, { path: model });
      const data = source.data.kind === 'jsonl' ? { ...source.data, path: resolveUserPath(source.data.path) } : source.data;
      if (data.kind === 'jsonl' && !existsSync(data.path)) throw new ApiError('invalid_params', `Not found: ${data.path}`, { path: data.path });
      source = { ...source, model, data };
    } else if (!existsSync(path.join(cachesRoot(b), source.cache, 'manifest.json'))) {
      throw new ApiError('not_found', `No activation cache ${source.cache} in this workspace.`);
    }
    const id = p.id ?? `sae-${new Date().toISOString().slice(0, 10)}-${Math.random().toString(16).slice(2, 8)}`;
    const dir = path.join(saesRoot(b), id);
    if (!p.resume && existsSync(path.join(dir, 'cfg.json'))) throw new ApiError('conflict', `An SAE named ${id} exists already; choose another name.`);
    const job = scheduler.start('sae.train', { ...p, source, id });
    return { jobId: job.id, id };
  },

  'saes.runs': (_p, b) => {
    const root = saesRoot(b);
    if (!existsSync(root)) return [];
    const out: SaeRunInfo[] = [];
    for (const id of readdirSync(root)) {
      if (!isFolderId(id)) continue;
      const dir = path.join(root, id);
      try {
        if (!statSync(dir).isDirectory()) continue;
        const info = describeSaeFolder(id, dir);
        if (info) out.push(info);
      } catch {
        /* unreadable: not listed */
      }
    }
    return out.sort((x, y) => y.createdAt - x.createdAt);
  },

  'saes.caches': (_p, b) => {
    const root = cachesRoot(b);
    if (!existsSync(root)) return [];
    const out: SaeCacheInfo[] = [];
    for (const id of readdirSync(root)) {
      if (!isFolderId(id)) continue;
      const m = readJson(path.join(root, id, 'manifest.json'));
      if (!m || m.complete !== true) continue;
      const hook = (m.hook ?? {}) as Record<string, unknown>;
      out.push({
        id, description: str(m.description) ?? id, hook: str(hook.name) ?? 'external', model: str(hook.model) ?? '',
        dIn: num(m.dIn) ?? 0, numTokens: num(m.numTokens) ?? 0, samples: num(m.samples) ?? 0, createdAt: num(m.createdAt) ?? 0,
      });
    }
    return out.sort((x, y) => y.createdAt - x.createdAt);
  },

  'saes.synthetic': (p, b) => ({ jobId: b.requireScheduler().start('sae.synthetic', p).id }),
} satisfies Partial<Handlers>;

/**
 * The default model's atlas, shipped compact in `assets/atlas/` (workers/analysis/atlas/compact.ts), expanded into
 * a workspace as `atlases/default` the first time the workspace is opened — so that choosing and removing a
 * domain's experts works from the first minute, without a build of several minutes first.
 *
 * - Expanded once per workspace: `atlases/.shipped.json` records it, so a user who deletes the atlas keeps it deleted.
 *   A pack made for other weights (its recorded model digest differs from the default model's) is not installed.
 * - `RESECT_SHIPPED_ATLAS` names another pack folder; an empty value turns the shipped atlas off (tests that need an
 *   empty workspace).
 * - Runs in the background when the workspace opens, in two steps: the statistics (seconds; `atlas.list` waits for
 *   them, so the atlas appears ready to choose and remove experts), then the top contexts and their full-text index
 *   (the slow half), which expert pages and search use once written.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expandAtlas, expandContexts, readCompactMeta } from '../../workers/analysis/atlas/compact';
import { defaultModelCandidates, defaultModelDir, shippedCorpus } from '../models/registry';

export const SHIPPED_ATLAS_ID = 'default';
const MARKER = '.shipped.json';

export type ShippedAtlasState =
  | { state: 'installed'; id: string; ms: number }
  | { state: 'present' | 'declined' | 'absent' }
  | { state: 'failed'; error: string };

/** Where the shipped pack is: `$RESECT_SHIPPED_ATLAS`, else `atlas/` beside the shipped model folder. */
export function shippedAtlasPack(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.RESECT_SHIPPED_ATLAS !== undefined) return env.RESECT_SHIPPED_ATLAS ? path.resolve(env.RESECT_SHIPPED_ATLAS) : null;
  const dir = defaultModelCandidates({ ...env, RESECT_DEFAULT_MODEL: undefined })
    .map((m) => path.join(path.dirname(m), 'atlas'))
    .find((d) => existsSync(path.join(d, 'meta.json')));
  return dir ?? null;
}

/** SHA-256 of a model's weights file: ties a pack to the exact weights it describes. */
export async function weightsDigest(modelDir: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path.join(modelDir, 'model.safetensors'))) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

const running = new Map<string, Promise<ShippedAtlasState>>();

/**
 * Starts the contexts step as the `atlas.contexts` job (workers/jobs/atlas-contexts.ts): the backend passes its
 * scheduler's start so that the SQLite work runs in a worker, off the event loop that serves the UI. Without one
 * (tests, tools) the step runs here.
 */
export type StartContextsJob = (atlasId: string) => void;

/** Expands the shipped atlas into `<workspace>/atlases/default` unless this workspace already had it. One run per workspace. */
export function ensureShippedAtlas(workspaceDir: string, env: NodeJS.ProcessEnv = process.env, startJob?: StartContextsJob): Promise<ShippedAtlasState> {
  let p = running.get(workspaceDir);
  if (!p) {
    p = install(workspaceDir, env, startJob).catch((e: unknown) => ({ state: 'failed' as const, error: (e as Error).message }));
    running.set(workspaceDir, p);
  }
  return p;
}

const contextRuns = new Map<string, Promise<void>>();

/** The in-process write of the shipped atlas's contexts in this workspace (no job given), if started (tests await it). */
export function shippedContexts(workspaceDir: string): Promise<void> | null {
  return contextRuns.get(workspaceDir) ?? null;
}

/**
 * The slow half — top contexts and their full-text index — runs after the statistics are in place, so the atlas is
 * listed and the map, lists and the skew rule work within seconds; expert pages gain their contexts when it ends.
 */
function writeContextsLater(workspaceDir: string, pack: string, out: string, startJob?: StartContextsJob): void {
  if (startJob) {
    startJob(SHIPPED_ATLAS_ID);
    return;
  }
  const run = expandContexts(pack, out).catch((e: unknown) => {
    process.stderr.write(`resect: the shipped atlas's top contexts could not be written: ${(e as Error).message}\n`);
  });
  contextRuns.set(workspaceDir, run);
}

async function install(workspaceDir: string, env: NodeJS.ProcessEnv, startJob?: StartContextsJob): Promise<ShippedAtlasState> {
  const root = path.join(workspaceDir, 'atlases');
  const marker = path.join(root, MARKER);
  const out = path.join(root, SHIPPED_ATLAS_ID);
  if (existsSync(path.join(out, 'meta.json'))) {
    // Expanded before, but the process ended while its contexts were being written: finish them.
    const pack = shippedAtlasPack(env);
    if (pack && existsSync(marker) && !existsSync(path.join(out, 'contexts.sqlite'))) writeContextsLater(workspaceDir, pack, out, startJob);
    return { state: 'present' };
  }
  if (existsSync(marker)) return { state: 'declined' }; // installed once, then deleted by the user
  const pack = shippedAtlasPack(env);
  const model = defaultModelDir(env);
  if (!pack || !model) return { state: 'absent' };
  const meta = readCompactMeta(pack);
  if (meta.compact.modelDigest && meta.compact.modelDigest !== (await weightsDigest(model))) return { state: 'absent' };
  const t0 = performance.now();
  mkdirSync(root, { recursive: true });
  const corpus = shippedCorpus(env);
  const dataPath = meta.data.path && corpus ? [corpus.train, corpus.heldout].find((f) => f && path.basename(f) === meta.data.path) ?? null : null;
  await expandAtlas(pack, out, { modelDir: model, dataPath, id: SHIPPED_ATLAS_ID, contexts: 'later' });
  writeContextsLater(workspaceDir, pack, out, startJob);
  writeFileSync(marker, JSON.stringify({ id: SHIPPED_ATLAS_ID, pack: path.basename(pack), modelDigest: meta.compact.modelDigest ?? null, installedAt: Date.now() }));
  return { state: 'installed', id: SHIPPED_ATLAS_ID, ms: performance.now() - t0 };
}

/** Forgets the per-workspace run (tests that expand into the same folder twice). */
export function forgetShippedAtlasRuns(): void {
  running.clear();
  contextRuns.clear();
}

/**
 * The default model's atlas, shipped compact in `assets/atlas/` (workers/analysis/atlas/compact.ts), expanded into
 * a workspace as `atlases/default` the first time the workspace is opened — so that choosing and removing a
 * domain's experts works from the first minute, without a build of several minutes first.
 *
 * - Expanded once per workspace: `atlases/.shipped.json` records it, so a user who deletes the atlas keeps it deleted.
 *   A pack made for other weights (its recorded model digest differs from the default model's) is not installed.
 * - `RESECT_SHIPPED_ATLAS` names another pack folder; an empty value turns the shipped atlas off (tests that need an
 *   empty workspace).
 * - Runs in the background when the workspace opens; `atlas.list` waits for it, so the atlas appears when ready.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expandAtlas, readCompactMeta } from '../../workers/analysis/atlas/compact';
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

/** Expands the shipped atlas into `<workspace>/atlases/default` unless this workspace already had it. One run per workspace. */
export function ensureShippedAtlas(workspaceDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ShippedAtlasState> {
  let p = running.get(workspaceDir);
  if (!p) {
    p = install(workspaceDir, env).catch((e: unknown) => ({ state: 'failed' as const, error: (e as Error).message }));
    running.set(workspaceDir, p);
  }
  return p;
}

async function install(workspaceDir: string, env: NodeJS.ProcessEnv): Promise<ShippedAtlasState> {
  const root = path.join(workspaceDir, 'atlases');
  const marker = path.join(root, MARKER);
  const out = path.join(root, SHIPPED_ATLAS_ID);
  if (existsSync(path.join(out, 'meta.json'))) return { state: 'present' };
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
  await expandAtlas(pack, out, { modelDir: model, dataPath, id: SHIPPED_ATLAS_ID });
  writeFileSync(marker, JSON.stringify({ id: SHIPPED_ATLAS_ID, pack: path.basename(pack), modelDigest: meta.compact.modelDigest ?? null, installedAt: Date.now() }));
  return { state: 'installed', id: SHIPPED_ATLAS_ID, ms: performance.now() - t0 };
}

/** Forgets the per-workspace run (tests that expand into the same folder twice). */
export function forgetShippedAtlasRuns(): void {
  running.clear();
}

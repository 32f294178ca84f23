/**
 * Sharded checkpoints (`model.safetensors.index.json` + shards) and the one entry point that opens a weights
 * folder or file in either layout.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SafetensorsError } from './errors';
import { openSafetensors, type SafetensorsHandle, type TensorInfo } from './reader';

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';
const MAX_INDEX_BYTES = 100_000_000;

/** Open a sharded checkpoint from its index file; every shard's header is read and checked against the index. */
export async function openSafetensorsIndex(indexPath: string): Promise<SafetensorsHandle> {
  let json: unknown;
  try {
    const size = (await stat(indexPath)).size;
    if (size > MAX_INDEX_BYTES) throw new SafetensorsError(indexPath, `index is ${size} bytes, more than the ${MAX_INDEX_BYTES}-byte limit`);
    json = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(indexPath, `cannot read index: ${(e as Error).message}`, undefined, { cause: e });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError(indexPath, 'index is not a JSON object');
  const { weight_map: weightMap, metadata: rawMeta } = json as Record<string, unknown>;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new SafetensorsError(indexPath, 'index has no "weight_map" object');
  }
  const metadata: Record<string, string> = {};
  if (typeof rawMeta === 'object' && rawMeta !== null) {
    for (const [k, v] of Object.entries(rawMeta)) metadata[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  const dir = path.dirname(indexPath);
  const shardOf = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '' || shard !== path.basename(shard) || shard === '.' || shard === '..') {
      throw new SafetensorsError(indexPath, `weight_map entry ${JSON.stringify(shard)} is not a file name in the checkpoint folder`, name);
    }
    shardOf.set(name, shard);
  }

  const handles = new Map<string, SafetensorsHandle>();
  try {
    for (const shard of new Set(shardOf.values())) handles.set(shard, await openSafetensors(path.join(dir, shard)));
    const tensors = new Map<string, TensorInfo>();
    for (const [name, shard] of shardOf) {
      const t = handles.get(shard)!.tensors.get(name);
      if (!t) throw new SafetensorsError(path.join(dir, shard), `listed in ${path.basename(indexPath)} but not in the shard`, name);
      tensors.set(name, t);
    }
    let closed = false;
    const shardHandle = (name: string): SafetensorsHandle => {
      if (closed) throw new SafetensorsError(indexPath, 'read after close', name);
      const shard = shardOf.get(name);
      if (shard === undefined) throw new SafetensorsError(indexPath, 'no such tensor', name);
      return handles.get(shard)!;
    };
    return {
      path: indexPath,
      tensors,
      metadata,
      read: async (name) => shardHandle(name).read(name),
      readAsFloat32: async (name) => shardHandle(name).readAsFloat32(name),
      readBytes: async (name) => shardHandle(name).readBytes(name),
      readRows: async (name, start, count) => shardHandle(name).readRows(name, start, count),
      async close() {
        if (closed) return;
        closed = true;
        await Promise.all([...handles.values()].map((h) => h.close()));
      },
    };
  } catch (e) {
    await Promise.all([...handles.values()].map((h) => h.close().catch(() => {})));
    throw e;
  }
}

/**
 * Open a checkpoint's weights: a `.safetensors` file, an index file, or a folder holding either
 * `model.safetensors.index.json` (sharded; preferred when both exist) or `model.safetensors`.
 */
export async function openWeights(location: string): Promise<SafetensorsHandle> {
  let isDir = false;
  try {
    isDir = (await stat(location)).isDirectory();
  } catch (e) {
    throw new SafetensorsError(location, `cannot open: ${(e as Error).message}`, undefined, { cause: e });
  }
  if (!isDir) return location.endsWith('.index.json') ? openSafetensorsIndex(location) : openSafetensors(location);
  const index = path.join(location, INDEX_FILE);
  if (await exists(index)) return openSafetensorsIndex(index);
  const single = path.join(location, SINGLE_FILE);
  if (await exists(single)) return openSafetensors(single);
  throw new SafetensorsError(location, `no ${INDEX_FILE} or ${SINGLE_FILE} in the folder`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

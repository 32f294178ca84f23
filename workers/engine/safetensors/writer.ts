/**
 * Streamed, atomic safetensors writer. The header is computed from the tensors' dtypes and shapes, then each
 * tensor's data is fetched (it may be produced lazily, one at a time) and written in order. The file is written to
 * a temporary name beside the target, fsynced, then renamed over the target, so readers never see a partial file.
 */
import { open as openFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DTYPE_SIZE, isDtype, type Dtype } from './dtype';
import { SafetensorsError } from './errors';
import { INDEX_FILE } from './sharded';

export interface TensorToWrite {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
  /** Little-endian element data (F16/BF16 as their raw 16-bit patterns), or a function producing it when needed. */
  data: ArrayBufferView | (() => ArrayBufferView | Promise<ArrayBufferView>);
}

export interface WriteOptions {
  /** String metadata stored under `__metadata__`. */
  metadata?: Record<string, string>;
}

const WRITE_CHUNK = 1 << 30;

function byteLengthOf(file: string, t: TensorToWrite): number {
  if (!isDtype(t.dtype)) throw new SafetensorsError(file, `unknown dtype ${JSON.stringify(t.dtype)}`, t.name);
  let numel = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new SafetensorsError(file, `shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`, t.name);
    numel *= d;
  }
  if (!Number.isSafeInteger(numel * DTYPE_SIZE[t.dtype])) throw new SafetensorsError(file, 'tensor too large', t.name);
  return numel * DTYPE_SIZE[t.dtype];
}

/** The header bytes (u64 length + JSON padded with spaces to a multiple of 8) for these tensors. */
export function encodeHeader(file: string, tensors: readonly TensorToWrite[], metadata?: Record<string, string>): { header: Uint8Array; sizes: number[] } {
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError(file, `metadata value of "${k}" must be a string`);
    }
    json.__metadata__ = metadata;
  }
  const sizes: number[] = [];
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name === '') throw new SafetensorsError(file, 'reserved or empty tensor name', t.name);
    if (seen.has(t.name)) throw new SafetensorsError(file, 'duplicate tensor name', t.name);
    seen.add(t.name);
    const size = byteLengthOf(file, t);
    sizes.push(size);
    json[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] };
    offset += size;
  }
  const body = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(body.length / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20, 8);
  header.set(body, 8);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, padded % 2 ** 32, true);
  dv.setUint32(4, Math.floor(padded / 2 ** 32), true);
  return { header, sizes };
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const n = Math.min(WRITE_CHUNK, bytes.length - done);
    const { bytesWritten } = await fh.write(bytes, done, n, position + done);
    done += bytesWritten;
  }
}

/**
 * Write `target` atomically: `fill` writes into a temporary file beside it, which is fsynced and renamed over the
 * target; on any failure the temporary file is removed and the target is untouched.
 */
export async function writeFileAtomic(target: string, fill: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await openFile(tmp, 'wx');
    await fill(fh);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, target);
  } catch (e) {
    await fh?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e instanceof SafetensorsError ? e : new SafetensorsError(target, `write failed: ${(e as Error).message}`, undefined, { cause: e });
  }
  // Make the rename itself durable (not supported on every platform; best effort).
  try {
    const dir = await openFile(path.dirname(target), 'r');
    await dir.sync().catch(() => {});
    await dir.close();
  } catch {
    /* directories cannot be opened for fsync on Windows */
  }
}

/** Write tensors (in the given order) and optional metadata to `target`, streamed and atomic. */
export async function writeSafetensors(target: string, tensors: readonly TensorToWrite[], options: WriteOptions = {}): Promise<void> {
  const { header, sizes } = encodeHeader(target, tensors, options.metadata);
  await writeFileAtomic(target, async (fh) => {
    await writeAll(fh, header, 0);
    let position = header.length;
    for (let k = 0; k < tensors.length; k++) {
      const t = tensors[k]!;
      const view = typeof t.data === 'function' ? await t.data() : t.data;
      if (view.byteLength !== sizes[k]) {
        throw new SafetensorsError(target, `data has ${view.byteLength} bytes but ${t.dtype} ${JSON.stringify(t.shape)} needs ${sizes[k]}`, t.name);
      }
      await writeAll(fh, new Uint8Array(view.buffer, view.byteOffset, view.byteLength), position);
      position += view.byteLength;
    }
  });
}

export interface ShardedWriteOptions extends WriteOptions {
  /** Largest shard in bytes of tensor data (a single larger tensor gets a shard of its own). Default 5 GB. */
  maxShardBytes?: number;
}

/**
 * Write a sharded checkpoint into `dir`: `model-0000k-of-0000n.safetensors` shards, then
 * `model.safetensors.index.json` (written last, so a complete index means complete shards).
 */
export async function writeShardedSafetensors(dir: string, tensors: readonly TensorToWrite[], options: ShardedWriteOptions = {}): Promise<{ shards: string[]; index: string }> {
  const max = options.maxShardBytes ?? 5e9;
  const indexPath = path.join(dir, INDEX_FILE);
  const groups: TensorToWrite[][] = [];
  let current: TensorToWrite[] = [];
  let currentBytes = 0;
  let total = 0;
  for (const t of tensors) {
    const size = byteLengthOf(indexPath, t);
    if (current.length > 0 && currentBytes + size > max) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += size;
    total += size;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);
  const n = groups.length;
  const pad = (k: number) => String(k).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const shards: string[] = [];
  for (let k = 0; k < n; k++) {
    const name = `model-${pad(k + 1)}-of-${pad(n)}.safetensors`;
    await writeSafetensors(path.join(dir, name), groups[k]!, { metadata: options.metadata });
    for (const t of groups[k]!) weightMap[t.name] = name;
    shards.push(path.join(dir, name));
  }
  const index = new TextEncoder().encode(JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
  await writeFileAtomic(indexPath, (fh) => writeAll(fh, index, 0));
  return { shards, index: indexPath };
}

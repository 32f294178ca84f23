/**
 * Lazy safetensors reader: parses and validates the header, then reads tensor by tensor with positioned reads,
 * so a file larger than memory (or than a Node Buffer) can be opened and read piece by piece.
 *
 * File layout: u64 little-endian header length N, N bytes of JSON header, then the data section. Each header entry
 * is `name: { dtype, shape, data_offsets: [begin, end] }` with offsets relative to the data section; the optional
 * `__metadata__` entry maps strings to strings. Tensors must tile the data section exactly (no gaps, no overlap,
 * nothing after the last one), as the reference Rust implementation requires.
 */
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import {
  DTYPE_SIZE, bfloat16BitsToFloat32, float16BitsToFloat32, isDtype, viewAs,
  type Dtype, type TensorArray,
} from './dtype';
import { SafetensorsError } from './errors';

/** The largest header accepted (the reference implementation uses the same 100 MB bound). */
export const MAX_HEADER_BYTES = 100_000_000;
/** The largest tensor one read returns (one ArrayBuffer); larger tensors are read with `readRows`. */
export const MAX_READ_BYTES = 2 ** 32 - 8;
/** Positioned reads are issued in chunks of at most this many bytes (fs.read takes a 32-bit length). */
const READ_CHUNK = 1 << 30;

export interface TensorInfo {
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Number of elements (product of the shape; 1 for a scalar). */
  readonly numel: number;
  readonly byteLength: number;
  /** The file holding the tensor (differs between shards of a sharded checkpoint). */
  readonly file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  readonly offset: number;
}

/** A lazily read safetensors file or sharded checkpoint. */
export interface SafetensorsHandle {
  /** The file, or the index file of a sharded checkpoint. */
  readonly path: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensor as its dtype's typed array (F16/BF16 as raw Uint16Array bits, BOOL as Uint8Array). */
  read(name: string): Promise<TensorArray>;
  /** The tensor converted to float32 (exact for F16, BF16 and integers up to 2^24; F64 rounds). */
  readAsFloat32(name: string): Promise<Float32Array>;
  /** The tensor's raw little-endian bytes. */
  readBytes(name: string): Promise<Uint8Array>;
  /** Rows [start, start+count) along the first dimension, as the dtype's typed array. */
  readRows(name: string, start: number, count: number): Promise<TensorArray>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// Byte sources: a file (positioned reads) or a buffer in memory (tests, fuzzing)

export interface ByteSource {
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `position`, in a fresh, unshared ArrayBuffer (so any typed view is aligned). */
  read(position: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

class FileSource implements ByteSource {
  private closed = false;
  constructor(readonly name: string, private readonly fh: FileHandle, readonly size: number) {}

  async read(position: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new SafetensorsError(this.name, 'read after close');
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = Math.min(READ_CHUNK, length - done);
      const { bytesRead } = await this.fh.read(out, done, n, position + done);
      if (bytesRead === 0) {
        throw new SafetensorsError(this.name, `file ended at byte ${position + done} while reading ${length} bytes at ${position} (truncated or changed on disk?)`);
      }
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}

export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(readonly name: string, private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }
  async read(position: number, length: number): Promise<Uint8Array> {
    if (position < 0 || position + length > this.size) {
      throw new SafetensorsError(this.name, `read of ${length} bytes at ${position} past the end (${this.size} bytes)`);
    }
    return this.bytes.slice(position, position + length);
  }
  async close(): Promise<void> {}
}

// ---------------------------------------------------------------------------------------------------------------
// Header

export interface ParsedHeader {
  /** Tensor name → dtype, shape and offsets relative to the data section, in header order. */
  entries: Map<string, { dtype: Dtype; shape: number[]; numel: number; begin: number; end: number }>;
  metadata: Record<string, string>;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Parse and validate a header's JSON against a data section of `dataSize` bytes. Throws SafetensorsError only. */
export function parseHeader(file: string, headerBytes: Uint8Array, dataSize: number): ParsedHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError(file, 'header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError(file, 'header is not a JSON object (does not start with "{")');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) throw new SafetensorsError(file, 'header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: ParsedHeader['entries'] = new Map();
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(value)) throw new SafetensorsError(file, '__metadata__ must be an object of strings');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__ value of "${k}" must be a string, got ${typeof v}`);
        metadata[k] = v;
      }
      continue;
    }
    if (!isPlainObject(value)) throw new SafetensorsError(file, 'entry is not an object', name);
    const { dtype, shape, data_offsets: offsets } = value;
    if (!isDtype(dtype)) throw new SafetensorsError(file, `unknown dtype ${JSON.stringify(dtype) ?? 'undefined'}`, name);
    if (!Array.isArray(shape)) throw new SafetensorsError(file, 'shape is not an array', name);
    if (shape.length > 64) throw new SafetensorsError(file, `shape has ${shape.length} dimensions`, name);
    let numel = 1;
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
        throw new SafetensorsError(file, `shape ${JSON.stringify(shape)} has a dimension that is not a non-negative integer`, name);
      }
      numel *= d;
      if (!Number.isSafeInteger(numel)) throw new SafetensorsError(file, `shape ${JSON.stringify(shape)} has too many elements`, name);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      throw new SafetensorsError(file, 'data_offsets must be [begin, end]', name);
    }
    const [begin, end] = offsets as unknown[];
    if (typeof begin !== 'number' || typeof end !== 'number' || !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin) {
      throw new SafetensorsError(file, `data_offsets ${JSON.stringify(offsets)} are not 0 ≤ begin ≤ end integers`, name);
    }
    const byteLength = numel * DTYPE_SIZE[dtype];
    if (end - begin !== byteLength) {
      throw new SafetensorsError(file, `shape ${JSON.stringify(shape)} of ${dtype} needs ${byteLength} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`, name);
    }
    if (end > dataSize) {
      throw new SafetensorsError(file, `data_offsets [${begin}, ${end}] run past the data section (${dataSize} bytes): file truncated?`, name);
    }
    entries.set(name, { dtype, shape: shape as number[], numel, begin, end });
  }

  // The tensors must tile the data section exactly.
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let expected = 0;
  let previous: string | undefined;
  for (const [name, e] of sorted) {
    if (e.begin < expected) throw new SafetensorsError(file, `data overlaps tensor "${previous}" (starts at ${e.begin}, previous ends at ${expected})`, name);
    if (e.begin > expected) throw new SafetensorsError(file, `data is not contiguous: gap of ${e.begin - expected} bytes before it`, name);
    expected = e.end;
    previous = name;
  }
  if (expected !== dataSize) {
    throw new SafetensorsError(file, `data section has ${dataSize} bytes but the tensors cover ${expected}`);
  }
  return { entries, metadata };
}

// ---------------------------------------------------------------------------------------------------------------
// Opening

function wrapUnexpected(file: string, e: unknown, tensor?: string): SafetensorsError {
  if (e instanceof SafetensorsError) return e;
  const err = e as NodeJS.ErrnoException;
  // Node's messages already start with the code ("ENOENT: no such file…"): say it once, and plainly for a missing file.
  const message = String(err?.message ?? e);
  const reason = err?.code === 'ENOENT' ? 'the file does not exist' : err?.code && !message.startsWith(err.code) ? `${err.code}: ${message}` : message;
  return new SafetensorsError(file, reason, tensor, { cause: e });
}

/** Open a safetensors file from any byte source; the source is closed on failure. */
export async function openSource(source: ByteSource): Promise<SafetensorsHandle> {
  const file = source.name;
  try {
    if (endianness() !== 'LE') throw new SafetensorsError(file, 'big-endian hosts are not supported');
    if (source.size < 8) throw new SafetensorsError(file, `file has ${source.size} bytes, fewer than the 8-byte header length`);
    const prefix = await source.read(0, 8);
    const dv = new DataView(prefix.buffer);
    // Exact as a bigint for messages (a float prints 2^60 as 1152921504606847000); compared as a number.
    const exactLength = dv.getBigUint64(0, true);
    const headerLength = Number(exactLength);
    if (headerLength > MAX_HEADER_BYTES) {
      throw new SafetensorsError(file, `header length ${exactLength} is larger than the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
    }
    if (headerLength > source.size - 8) {
      throw new SafetensorsError(file, `header length ${exactLength} exceeds the file's ${source.size - 8} bytes after the length (truncated or not a safetensors file?)`);
    }
    if (headerLength < 2) throw new SafetensorsError(file, `header length ${headerLength} is too small for a JSON object`);
    const header = parseHeader(file, await source.read(8, headerLength), source.size - 8 - headerLength);
    const dataStart = 8 + headerLength;
    const tensors = new Map<string, TensorInfo>();
    for (const [name, e] of header.entries) {
      tensors.set(name, { dtype: e.dtype, shape: e.shape, numel: e.numel, byteLength: e.end - e.begin, file, offset: dataStart + e.begin });
    }
    return makeHandle(file, tensors, header.metadata, source);
  } catch (e) {
    await source.close().catch(() => {});
    throw wrapUnexpected(file, e);
  }
}

/** Open one safetensors file lazily: only the header is read now. */
export async function openSafetensors(path: string): Promise<SafetensorsHandle> {
  let fh: FileHandle;
  let size: number;
  try {
    fh = await openFile(path, 'r');
  } catch (e) {
    throw wrapUnexpected(path, e);
  }
  try {
    size = (await fh.stat()).size;
  } catch (e) {
    await fh.close().catch(() => {});
    throw wrapUnexpected(path, e);
  }
  return openSource(new FileSource(path, fh, size));
}

/** A handle over the tensors of one source. */
function makeHandle(
  path: string,
  tensors: ReadonlyMap<string, TensorInfo>,
  metadata: Record<string, string>,
  source: ByteSource,
): SafetensorsHandle {
  let closed = false;
  const info = (name: string): TensorInfo => {
    if (closed) throw new SafetensorsError(path, 'read after close', name);
    const t = tensors.get(name);
    if (!t) throw new SafetensorsError(path, 'no such tensor', name);
    return t;
  };
  const readRange = async (name: string, t: TensorInfo, offset: number, length: number): Promise<Uint8Array> => {
    if (length > MAX_READ_BYTES) {
      throw new SafetensorsError(t.file, `${length} bytes is more than one array can hold; read it in parts with readRows`, name);
    }
    try {
      return await source.read(offset, length);
    } catch (e) {
      throw e instanceof SafetensorsError ? new SafetensorsError(e.file, e.reason, name) : wrapUnexpected(t.file, e, name);
    }
  };
  const readBytes = async (name: string): Promise<Uint8Array> => {
    const t = info(name);
    return readRange(name, t, t.offset, t.byteLength);
  };
  const read = async (name: string): Promise<TensorArray> => {
    const t = info(name);
    const bytes = await readRange(name, t, t.offset, t.byteLength);
    return viewAs(t.dtype, bytes.buffer as ArrayBuffer, 0, t.numel);
  };
  return {
    path,
    tensors,
    metadata,
    read,
    readBytes,
    async readAsFloat32(name) {
      const t = info(name);
      const data = await read(name);
      switch (t.dtype) {
        case 'F32': return data as Float32Array;
        case 'F16': return float16BitsToFloat32(data as Uint16Array);
        case 'BF16': return bfloat16BitsToFloat32(data as Uint16Array);
        case 'I64': return Float32Array.from(data as BigInt64Array, (v) => Number(v));
        default: return Float32Array.from(data as Exclude<TensorArray, BigInt64Array>);
      }
    },
    async readRows(name, start, count) {
      const t = info(name);
      const rows = t.shape[0];
      if (rows === undefined) throw new SafetensorsError(t.file, 'readRows on a scalar', name);
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 0 || start + count > rows) {
        throw new SafetensorsError(t.file, `rows [${start}, ${start + count}) out of range [0, ${rows})`, name);
      }
      const rowElems = rows === 0 ? 0 : t.numel / rows;
      const rowBytes = rowElems * DTYPE_SIZE[t.dtype];
      const bytes = await readRange(name, t, t.offset + start * rowBytes, count * rowBytes);
      return viewAs(t.dtype, bytes.buffer as ArrayBuffer, 0, count * rowElems);
    },
    async close() {
      if (closed) return;
      closed = true;
      await source.close();
    },
  };
}

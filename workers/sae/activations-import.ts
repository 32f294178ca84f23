/**
 * Importing activations computed elsewhere (any model): a `.npy` file or a tensor of a `.safetensors` file, shape
 * [tokens, d], float32 / float16 / bfloat16 (and float64), streamed row block by row block into the activation cache
 * layout (cache.ts), so researchers can train and evaluate SAEs in Resect on activations from any model.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { bfloat16BitsToFloat32, float16BitsToFloat32, openSafetensors } from '../engine/safetensors';
import { ActivationCacheWriter, cacheKey, type CacheManifest } from './cache';
import { hookFromName } from './io/saelens';
import { NpyMatrix } from './io/npy';

export interface ImportActivationsOptions {
  file: string;
  /** safetensors: the tensor to read (default: the only 2-D float tensor). */
  tensor?: string;
  /** The hook name to record (default "external"; a Monet hook name is parsed as one). */
  hookName?: string;
  /** The model the activations came from (free text). */
  model?: string;
  /** Whether BOS positions were left out when the activations were collected (default true). */
  excludeBos?: boolean;
  /** Rows per read (default 8192). */
  rowsPerRead?: number;
  onProgress?: (rows: number, total: number) => void;
  signal?: AbortSignal;
}

/** A [rows, cols] float matrix read row block by row block. */
interface RowReader {
  rows: number;
  cols: number;
  describe: string;
  read(start: number, count: number): Promise<Float32Array>;
  close(): Promise<void>;
}

async function openRows(file: string, tensor: string | undefined): Promise<RowReader> {
  if (file.toLowerCase().endsWith('.npy')) {
    const m = await NpyMatrix.open(file);
    return { rows: m.rows, cols: m.cols, describe: `${path.basename(file)} (${m.header.dtype})`, read: (s, c) => m.readRows(s, c), close: () => m.close() };
  }
  if (!file.toLowerCase().endsWith('.safetensors')) throw new Error(`${file}: expected a .npy or .safetensors file`);
  const h = await openSafetensors(file);
  try {
    const floats = new Set(['F32', 'F16', 'BF16', 'F64']);
    const candidates = [...h.tensors.entries()].filter(([, t]) => t.shape.length === 2 && floats.has(t.dtype));
    const name = tensor ?? (candidates.length === 1 ? candidates[0]![0] : undefined);
    if (!name) {
      throw new Error(`${file}: ${candidates.length === 0 ? 'no 2-D float tensor' : `several 2-D tensors (${candidates.map(([n]) => n).join(', ')})`}; name one with the tensor option`);
    }
    const info = h.tensors.get(name);
    if (!info) throw new Error(`${file}: no tensor "${name}" (has ${[...h.tensors.keys()].join(', ')})`);
    if (info.shape.length !== 2 || !floats.has(info.dtype)) throw new Error(`${file}: ${name} is ${info.dtype} [${info.shape.join(', ')}], not a [tokens, d] float tensor`);
    const [rows, cols] = info.shape as [number, number];
    return {
      rows, cols, describe: `${path.basename(file)}:${name} (${info.dtype})`,
      read: async (s, c) => {
        const raw = await h.readRows(name, s, c);
        if (info.dtype === 'F32') return raw as Float32Array;
        if (info.dtype === 'F64') return Float32Array.from(raw as Float64Array);
        return info.dtype === 'BF16' ? bfloat16BitsToFloat32(raw as Uint16Array) : float16BitsToFloat32(raw as Uint16Array);
      },
      close: () => h.close(),
    };
  } catch (e) {
    await h.close();
    throw e;
  }
}

/** Rows of a .npy or safetensors [tokens, d] file in blocks of `rows` (evaluating or encoding without importing). */
export async function* readActivationRows(file: string, o: { tensor?: string; rows?: number; signal?: AbortSignal } = {}): AsyncGenerator<Float32Array> {
  const r = await openRows(file, o.tensor);
  try {
    const step = Math.max(1, o.rows ?? 4096);
    for (let s = 0; s < r.rows; s += step) {
      o.signal?.throwIfAborted();
      yield await r.read(s, Math.min(step, r.rows - s));
    }
  } finally {
    await r.close();
  }
}

/** The key an import is cached under: the file (path, size, modification time), tensor and recorded hook. */
export function importSource(o: ImportActivationsOptions): Record<string, unknown> {
  const st = statSync(o.file);
  return { kind: 'import', file: path.resolve(o.file), size: st.size, mtimeMs: Math.round(st.mtimeMs), tensor: o.tensor ?? null, hook: o.hookName ?? 'external', excludeBos: o.excludeBos ?? true };
}

/** Streams the file into a complete cache at `outDir`. */
export async function importActivations(o: ImportActivationsOptions, outDir: string): Promise<CacheManifest> {
  const source = importSource(o);
  const r = await openRows(o.file, o.tensor);
  try {
    if (r.rows === 0 || r.cols === 0) throw new Error(`${o.file}: the array is empty ([${r.rows}, ${r.cols}])`);
    const writer = new ActivationCacheWriter(outDir, {
      key: cacheKey(source), source, description: `imported ${r.describe}`,
      hook: hookFromName(o.model ?? 'external', o.hookName ?? null), excludeBos: o.excludeBos ?? true, dIn: r.cols,
    });
    const step = Math.max(1, o.rowsPerRead ?? 8192);
    try {
      for (let s = 0; s < r.rows; s += step) {
        o.signal?.throwIfAborted();
        const rows = await r.read(s, Math.min(step, r.rows - s));
        for (const v of rows) if (!Number.isFinite(v)) throw new Error(`${o.file}: row block at ${s} holds a non-finite value`);
        await writer.append(rows);
        o.onProgress?.(Math.min(r.rows, s + step), r.rows);
      }
      return await writer.finish(0, o.signal);
    } catch (e) {
      writer.abort();
      throw e;
    }
  } finally {
    await r.close();
  }
}

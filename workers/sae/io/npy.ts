/**
 * NumPy `.npy` files (format versions 1–3): the header, and rows of a 2-D array read piece by piece so that a file
 * larger than memory streams. Little-endian float32, float16, float64 and bfloat16 (ml_dtypes' `bfloat16`, which
 * NumPy writes with descr `<V2` or `bfloat16`); C or Fortran order.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from '../../engine/safetensors';

export type NpyDtype = 'f4' | 'f2' | 'f8' | 'bf16';

export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  fortranOrder: boolean;
  /** Byte offset of the data. */
  offset: number;
}

const SIZE: Record<NpyDtype, number> = { f4: 4, f2: 2, f8: 8, bf16: 2 };

export function parseNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error(`${file}: not a .npy file (no \\x93NUMPY magic)`);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [len, start] = major === 1 ? [view.getUint16(8, true), 10] : major === 2 || major === 3 ? [view.getUint32(8, true), 12] : [-1, 0];
  if (len < 0) throw new Error(`${file}: .npy format version ${major} is not supported`);
  if (bytes.length < start + len) throw new Error(`${file}: the .npy header is truncated`);
  const text = new TextDecoder().decode(bytes.subarray(start, start + len));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw new Error(`${file}: cannot read the .npy header ${JSON.stringify(text.trim())}`);
  const dtypes: Record<string, NpyDtype> = { '<f4': 'f4', '<f2': 'f2', '<f8': 'f8', '<V2': 'bf16', bfloat16: 'bf16', '<bfloat16': 'bf16' };
  const dtype = dtypes[descr];
  if (!dtype) throw new Error(`${file}: dtype ${descr} is not supported (float32 <f4, float16 <f2, float64 <f8, bfloat16)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  return { dtype, shape, fortranOrder: fortran === 'True', offset: start + len };
}

/** An open .npy file of shape [rows, cols]. */
export class NpyMatrix {
  private constructor(private readonly fh: FileHandle, readonly header: NpyHeader, readonly rows: number, readonly cols: number, private readonly file: string) {}

  static async open(file: string): Promise<NpyMatrix> {
    const fh = await open(file, 'r');
    try {
      const head = new Uint8Array(65536 + 12);
      const { bytesRead } = await fh.read(head, 0, head.length, 0);
      const h = parseNpyHeader(head.subarray(0, bytesRead), file);
      if (h.shape.length !== 2) throw new Error(`${file}: shape (${h.shape.join(', ')}) is not [tokens, d]`);
      const [rows, cols] = h.shape as [number, number];
      const { size } = await fh.stat();
      const need = h.offset + rows * cols * SIZE[h.dtype];
      if (size < need) throw new Error(`${file}: ${size} bytes, but shape (${rows}, ${cols}) of ${h.dtype} needs ${need}`);
      return new NpyMatrix(fh, h, rows, cols, file);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  private decode(bytes: Uint8Array, out: Float32Array<ArrayBuffer>): void {
    const aligned = new Uint8Array(bytes); // typed views need aligned offsets
    const b = aligned.buffer;
    switch (this.header.dtype) {
      case 'f4': out.set(new Float32Array(b)); break;
      case 'f8': out.set(new Float64Array(b)); break;
      case 'f2': float16BitsToFloat32(new Uint16Array(b), out); break;
      case 'bf16': bfloat16BitsToFloat32(new Uint16Array(b), out); break;
    }
  }

  private async readAt(position: number, length: number): Promise<Uint8Array> {
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, position + done);
      if (bytesRead === 0) throw new Error(`${this.file}: ended while reading`);
      done += bytesRead;
    }
    return buf;
  }

  /** Rows [start, start + count) as float32, row-major [count, cols]. */
  async readRows(start: number, count: number): Promise<Float32Array> {
    const size = SIZE[this.header.dtype];
    const out = new Float32Array(count * this.cols);
    if (!this.header.fortranOrder) {
      this.decode(await this.readAt(this.header.offset + start * this.cols * size, count * this.cols * size), out);
      return out;
    }
    // Fortran order stores column j contiguously: one read per column, transposed into rows.
    const col = new Float32Array(count);
    for (let j = 0; j < this.cols; j++) {
      this.decode(await this.readAt(this.header.offset + (j * this.rows + start) * size, count * size), col);
      for (let r = 0; r < count; r++) out[r * this.cols + j] = col[r]!;
    }
    return out;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

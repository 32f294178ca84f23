import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  SafetensorsError, openSafetensors, openWeights, openSource, MemorySource, writeSafetensors, writeShardedSafetensors,
  float16BitsToFloat32, bfloat16BitsToFloat32, float32ToFloat16Bits, float32ToBfloat16Bits, encodeHeader,
  type TensorToWrite,
} from '../../workers/engine/safetensors';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'resect-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Elements of a typed array (numbers or bigints), for comparison. */
const values = (x: unknown): unknown[] => Array.from(x as ArrayLike<unknown>);

const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures');

function allDtypes(): TensorToWrite[] {
  return [
    { name: 'f64', dtype: 'F64', shape: [2, 3], data: Float64Array.from([1.5, -2, Math.PI, 1e300, -0, 7]) },
    { name: 'f32', dtype: 'F32', shape: [3], data: Float32Array.from([0.1, -3.5, 65504]) },
    { name: 'f16', dtype: 'F16', shape: [2, 2], data: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]) },
    { name: 'bf16', dtype: 'BF16', shape: [3], data: Uint16Array.from([0x3f80, 0x4049, 0xff80]) },
    { name: 'i64', dtype: 'I64', shape: [3], data: BigInt64Array.from([0n, -1n, 9007199254740993n]) },
    { name: 'i32', dtype: 'I32', shape: [2], data: Int32Array.from([-2147483648, 2147483647]) },
    { name: 'i16', dtype: 'I16', shape: [2], data: Int16Array.from([-32768, 12345]) },
    { name: 'i8', dtype: 'I8', shape: [3], data: Int8Array.from([-128, 0, 127]) },
    { name: 'u8', dtype: 'U8', shape: [1, 3], data: Uint8Array.from([0, 128, 255]) },
    { name: 'bool', dtype: 'BOOL', shape: [4], data: Uint8Array.from([1, 0, 0, 1]) },
    { name: 'scalar', dtype: 'F32', shape: [], data: Float32Array.from([42]) },
    { name: 'empty', dtype: 'F32', shape: [0, 5], data: new Float32Array(0) },
  ];
}

describe('safetensors round trip', () => {
  it('writes and reads back every dtype, scalars and empty tensors, with metadata', async () => {
    const file = path.join(dir, 'all.safetensors');
    const tensors = allDtypes();
    await writeSafetensors(file, tensors, { metadata: { format: 'pt', note: 'ünïcode' } });
    const h = await openSafetensors(file);
    expect(h.metadata).toEqual({ format: 'pt', note: 'ünïcode' });
    expect([...h.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    for (const t of tensors) {
      const info = h.tensors.get(t.name)!;
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      const got = await h.read(t.name);
      expect(got.constructor).toBe((t.data as ArrayBufferView).constructor);
      expect(values(got)).toEqual(values(t.data));
    }
    expect(Array.from(await h.readAsFloat32('f16'))).toEqual([1, -2, 65504, 2 ** -24]);
    expect(Array.from(await h.readAsFloat32('bf16'))).toEqual([1, 3.140625, -Infinity]);
    expect(Array.from(await h.readAsFloat32('i64'))).toEqual([0, -1, 9007199254740992]);
    expect(values(await h.readRows('f64', 1, 1))).toEqual([1e300, -0, 7]);
    await h.close();
    // The header is padded to 8 bytes so the data section is aligned.
    const bytes = await readFile(file);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    // No temporary file is left behind.
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('streams lazily produced tensors and rejects data of the wrong size without touching the target', async () => {
    const file = path.join(dir, 'lazy.safetensors');
    let produced = 0;
    const t = (name: string): TensorToWrite => ({
      name, dtype: 'F32', shape: [4], data: () => { produced++; return Float32Array.from([1, 2, 3, 4]); },
    });
    await writeSafetensors(file, [t('a'), t('b')]);
    expect(produced).toBe(2);
    const before = await readFile(file);
    await expect(writeSafetensors(file, [{ name: 'x', dtype: 'F32', shape: [3], data: new Float32Array(4) }]))
      .rejects.toThrow(/tensor "x": data has 16 bytes but F32 \[3\] needs 12/);
    expect(Buffer.compare(await readFile(file), before)).toBe(0);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('reads and writes sharded checkpoints with an index', async () => {
    const sdir = path.join(dir, 'sharded');
    await rm(sdir, { recursive: true, force: true });
    await import('node:fs/promises').then((fs) => fs.mkdir(sdir));
    const tensors = allDtypes();
    const { shards, index } = await writeShardedSafetensors(sdir, tensors, { maxShardBytes: 40 });
    expect(shards.length).toBeGreaterThan(2);
    expect(path.basename(shards[0]!)).toBe(`model-00001-of-${String(shards.length).padStart(5, '0')}.safetensors`);
    const idx = JSON.parse(await readFile(index, 'utf8'));
    expect(Object.keys(idx.weight_map).sort()).toEqual(tensors.map((t) => t.name).sort());
    const h = await openWeights(sdir);
    expect(h.tensors.size).toBe(tensors.length);
    for (const t of tensors) expect(values(await h.read(t.name))).toEqual(values(t.data));
    expect(h.tensors.get('f64')!.file).not.toBe(h.tensors.get('bool')!.file);
    await h.close();
    await expect(h.read('f32')).rejects.toThrow(SafetensorsError);

    // An index that names a tensor its shard lacks, or a shard outside the folder.
    await writeFile(index, JSON.stringify({ weight_map: { ...idx.weight_map, ghost: path.basename(shards[0]!) } }));
    await expect(openWeights(sdir)).rejects.toThrow(/tensor "ghost": listed in model.safetensors.index.json but not in the shard/);
    await writeFile(index, JSON.stringify({ weight_map: { f32: '../all.safetensors' } }));
    await expect(openWeights(sdir)).rejects.toThrow(/not a file name in the checkpoint folder/);
  });

  it('reads the fixture checkpoints written by the reference implementation', async () => {
    const h = await openWeights(path.join(FIXTURES, 'monet-vd-tiny'));
    expect(h.tensors.get('model.embed_tokens.weight')).toMatchObject({ dtype: 'F32', shape: [97, 32] });
    expect((await h.read('model.layers.0.moe.u1.weight')).length).toBe(32 * 32);
    await h.close();
    const e = await openSafetensors(path.join(FIXTURES, 'monet-vd-tiny', 'expected.safetensors'));
    const ids = (await e.read('input_ids')) as BigInt64Array;
    expect(ids).toBeInstanceOf(BigInt64Array);
    expect(ids.length).toBe(24);
    await e.close();
  });
});

describe('16-bit float conversion', () => {
  it('decodes known binary16 patterns exactly', () => {
    const cases: [number, number][] = [
      [0x0000, 0], [0x8000, -0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504],
      [0x0400, 2 ** -14], [0x03ff, 1023 * 2 ** -24], [0x0001, 2 ** -24], [0x7c00, Infinity], [0xfc00, -Infinity],
      [0x3bff, 1 - 2 ** -11], [0x3c01, 1 + 2 ** -10],
    ];
    const got = float16BitsToFloat32(Uint16Array.from(cases.map((c) => c[0])));
    cases.forEach(([, v], i) => expect(Object.is(got[i], v)).toBe(true));
    expect(float16BitsToFloat32(Uint16Array.from([0x7e00, 0xfc01]))).toSatisfy((a: Float32Array) => a.every(Number.isNaN));
  });

  it('decodes known bfloat16 patterns exactly', () => {
    const cases: [number, number][] = [
      [0x3f80, 1], [0xbf80, -1], [0x4049, 3.140625], [0x7f7f, 3.3895313892515355e38], [0x0080, 2 ** -126],
      [0x0001, 2 ** -133], [0x7f80, Infinity], [0x8000, -0], [0x3e80, 0.25],
    ];
    const got = bfloat16BitsToFloat32(Uint16Array.from(cases.map((c) => c[0])));
    cases.forEach(([, v], i) => expect(Object.is(got[i], v)).toBe(true));
    expect(Number.isNaN(bfloat16BitsToFloat32(Uint16Array.from([0x7fc0]))[0])).toBe(true);
  });

  it('encodes float32 to binary16 with round-to-nearest-even, overflow and subnormals', () => {
    const cases: [number, number][] = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519.99, 0x7bff], [65520, 0x7c00], [1e6, 0x7c00],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [2 ** -24, 0x0001], [2 ** -25, 0x0000],
      [1.5 * 2 ** -25, 0x0001], [3 * 2 ** -25, 0x0002], [2 ** -14 - 2 ** -25, 0x0400], [-0, 0x8000], [Infinity, 0x7c00],
    ];
    const got = float32ToFloat16Bits(Float32Array.from(cases.map((c) => c[0])));
    cases.forEach(([x, bits], i) => expect([x, got[i]]).toEqual([x, bits]));
    expect(float32ToFloat16Bits(Float32Array.from([NaN]))[0]! & 0x7c00).toBe(0x7c00);
    // Every finite binary16 value round-trips exactly.
    const all = new Uint16Array(65536).map((_, i) => i);
    const back = float32ToFloat16Bits(float16BitsToFloat32(all));
    const mismatches = all.filter((h) => (h & 0x7c00) !== 0x7c00 && back[h] !== h);
    expect(mismatches.length).toBe(0);
  });

  it('encodes float32 to bfloat16 with round-to-nearest-even', () => {
    const f = (u: number) => new Float32Array(Uint32Array.from([u]).buffer)[0]!;
    const cases: [number, number][] = [
      [1, 0x3f80], [f(0x3f808000), 0x3f80], [f(0x3f818000), 0x3f82], [f(0x3f808001), 0x3f81], [f(0x7f7fffff), 0x7f80],
      [-Infinity, 0xff80], [3.140625, 0x4049],
    ];
    const got = float32ToBfloat16Bits(Float32Array.from(cases.map((c) => c[0])));
    cases.forEach(([x, bits], i) => expect([x, got[i]]).toEqual([x, bits]));
    expect(float32ToBfloat16Bits(Float32Array.from([NaN]))[0]! & 0x7fc0).toBe(0x7fc0);
  });
});

describe('malformed files', () => {
  const valid = (): Uint8Array => {
    const tensors: TensorToWrite[] = [
      { name: 'a', dtype: 'F32', shape: [2], data: Float32Array.from([1, 2]) },
      { name: 'b', dtype: 'I32', shape: [1], data: Int32Array.from([3]) },
    ];
    const { header } = encodeHeader('x', tensors);
    const out = new Uint8Array(header.length + 12);
    out.set(header);
    out.set(new Uint8Array(Float32Array.from([1, 2]).buffer), header.length);
    out.set(new Uint8Array(Int32Array.from([3]).buffer), header.length + 8);
    return out;
  };
  const withHeader = (json: string, dataBytes = 12): Uint8Array => {
    const body = new TextEncoder().encode(json);
    const out = new Uint8Array(8 + body.length + dataBytes);
    new DataView(out.buffer).setUint32(0, body.length, true);
    out.set(body, 8);
    return out;
  };
  const open = (bytes: Uint8Array) => openSource(new MemorySource('bad.safetensors', bytes));
  const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

  it('accepts the valid base file', async () => {
    const h = await open(valid());
    expect(Array.from((await h.read('b')) as Int32Array)).toEqual([3]);
  });

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['too short', () => new Uint8Array(5), /fewer than the 8-byte header length/],
    ['absurd header length', () => { const b = valid(); new DataView(b.buffer).setUint32(4, 1, true); return b; }, /larger than the 100000000-byte limit/],
    ['header length past the end', () => { const b = valid(); new DataView(b.buffer).setUint32(0, 5000, true); return b; }, /exceeds the file's/],
    ['header not JSON', () => withHeader('{"a": nope}'), /header is not valid JSON/],
    ['header not an object', () => withHeader('[1,2,3]'), /not a JSON object/],
    ['header not UTF-8', () => withHeader('{"\xff"}').map((x, i) => (i === 10 ? 0xff : x)), /not valid UTF-8/],
    ['unknown dtype', () => withHeader(JSON.stringify({ a: entry('F8', [3], 0, 12) })), /tensor "a": unknown dtype "F8"/],
    ['shape and size disagree', () => withHeader(JSON.stringify({ a: entry('F32', [2], 0, 12) })), /tensor "a": shape \[2\] of F32 needs 8 bytes but data_offsets \[0, 12\] span 12/],
    ['negative dimension', () => withHeader(JSON.stringify({ a: entry('F32', [-3], 0, 12) })), /tensor "a": shape \[-3\]/],
    ['offsets out of range', () => withHeader(JSON.stringify({ a: entry('F32', [4], 0, 16) })), /tensor "a": data_offsets \[0, 16\] run past the data section \(12 bytes\)/],
    ['overlapping', () => withHeader(JSON.stringify({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) })), /tensor "b": data overlaps tensor "a"/],
    ['gap', () => withHeader(JSON.stringify({ a: entry('F32', [1], 0, 4), b: entry('F32', [1], 8, 12) })), /tensor "b": data is not contiguous/],
    ['trailing bytes', () => withHeader(JSON.stringify({ a: entry('F32', [2], 0, 8) })), /data section has 12 bytes but the tensors cover 8/],
    ['truncated data', () => valid().slice(0, -3), /tensor "b": data_offsets \[8, 12\] run past the data section \(9 bytes\): file truncated/],
    ['bad metadata', () => withHeader(JSON.stringify({ __metadata__: { n: 1 }, a: entry('F32', [3], 0, 12) })), /__metadata__ value of "n" must be a string/],
    ['huge shape', () => withHeader(JSON.stringify({ a: entry('F32', [2 ** 40, 2 ** 40], 0, 12) })), /too many elements/],
    ['offsets not numbers', () => withHeader(JSON.stringify({ a: { dtype: 'F32', shape: [3], data_offsets: ['0', 12] } })), /not 0 ≤ begin ≤ end integers/],
  ];
  for (const [what, make, message] of cases) {
    it(`rejects ${what}`, async () => {
      const err = await open(make()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SafetensorsError);
      expect((err as Error).message).toMatch(/^bad\.safetensors: /);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('reports a file truncated after opening, naming the tensor', async () => {
    const file = path.join(dir, 'shrinks.safetensors');
    await writeFile(file, valid());
    const h = await openSafetensors(file);
    await writeFile(file, valid().slice(0, -2));
    await expect(h.read('b')).rejects.toThrow(/shrinks\.safetensors: tensor "b": file ended at byte/);
    await expect(h.read('zzz')).rejects.toThrow(/tensor "zzz": no such tensor/);
    await h.close();
  });

  it('reports a missing file as a SafetensorsError', async () => {
    await expect(openSafetensors(path.join(dir, 'missing.safetensors'))).rejects.toThrow(SafetensorsError);
    await expect(openWeights(path.join(dir, 'nope'))).rejects.toThrow(SafetensorsError);
  });
});

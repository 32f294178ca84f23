import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mulberry32 as rng } from '../../workers/engine/random';
import {
  SafetensorsError, openSafetensors, openSource, MemorySource, encodeHeader, type SafetensorsHandle, type TensorToWrite,
} from '../../workers/engine/safetensors';

function validFile(): Uint8Array {
  const tensors: TensorToWrite[] = [
    { name: 'w', dtype: 'F32', shape: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: 'h', dtype: 'F16', shape: [3], data: Uint16Array.from([0x3c00, 0x4000, 0x4200]) },
    { name: 'b', dtype: 'BF16', shape: [2, 1], data: Uint16Array.from([0x3f80, 0x4000]) },
    { name: 'ids', dtype: 'I64', shape: [2], data: BigInt64Array.from([5n, 7n]) },
    { name: 'm', dtype: 'BOOL', shape: [3], data: Uint8Array.from([1, 0, 1]) },
  ];
  const { header } = encodeHeader('fuzz', tensors, { format: 'pt' });
  const parts = tensors.map((t) => {
    const v = t.data as ArrayBufferView;
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  });
  const out = new Uint8Array(header.length + parts.reduce((s, p) => s + p.length, 0));
  out.set(header);
  let o = header.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const HEADER_TOKENS = ['"', '{', '}', '[', ']', ',', ':', '0', '9', '-', 'e', '1e400', '"F32"', '"X"', 'null', '18446744073709551615'];

/** One random mutation: flip/overwrite bytes, truncate, extend, splice header text, or rewrite the length prefix. */
function mutate(base: Uint8Array, r: () => number): Uint8Array {
  let b = base.slice();
  const headerLength = new DataView(b.buffer).getUint32(0, true);
  const steps = 1 + Math.floor(r() * 3);
  for (let s = 0; s < steps; s++) {
    const kind = Math.floor(r() * 7);
    const at = (n: number) => Math.floor(r() * Math.max(1, n));
    if (kind === 0) b[at(b.length)] = Math.floor(r() * 256);
    else if (kind === 1) b[8 + at(headerLength)] = '0123456789[]{},:"-'.charCodeAt(at(18));
    else if (kind === 2) b = b.slice(0, at(b.length));
    else if (kind === 3) {
      const extra = new Uint8Array(1 + at(16)).map(() => Math.floor(r() * 256));
      const out = new Uint8Array(b.length + extra.length);
      out.set(b);
      out.set(extra, b.length);
      b = out;
    } else if (kind === 4 && b.length >= 8) {
      const dv = new DataView(b.buffer, b.byteOffset);
      const choices = [0, 1, 7, headerLength - 1, headerLength + 1, b.length, 0xffffffff, 99_999_999];
      dv.setUint32(0, choices[at(choices.length)]! >>> 0, true);
      if (r() < 0.2) dv.setUint32(4, at(4), true);
    } else if (kind === 5) {
      const text = new TextDecoder().decode(b.subarray(8, 8 + headerLength));
      const i = at(text.length);
      const tok = HEADER_TOKENS[at(HEADER_TOKENS.length)]!;
      const edited = new TextEncoder().encode(text.slice(0, i) + tok + text.slice(i + (r() < 0.5 ? tok.length : 0)));
      const out = new Uint8Array(8 + edited.length + Math.max(0, b.length - 8 - headerLength));
      new DataView(out.buffer).setUint32(0, r() < 0.7 ? edited.length : headerLength, true);
      out.set(edited, 8);
      out.set(b.subarray(8 + headerLength), 8 + edited.length);
      b = out;
    } else {
      // Replace a number in the header (a shape or an offset) with another value.
      const text = new TextDecoder().decode(b.subarray(8, 8 + headerLength));
      const nums = [...text.matchAll(/\d+/g)];
      const m = nums[at(nums.length)];
      if (m?.index === undefined) continue;
      const repl = String([0, 1, 2, 3, 6, 12, 24, 1e9, 2 ** 53, -1][at(10)]);
      const edited = new TextEncoder().encode(text.slice(0, m.index) + repl + text.slice(m.index + m[0].length));
      const out = new Uint8Array(8 + edited.length + Math.max(0, b.length - 8 - headerLength));
      new DataView(out.buffer).setUint32(0, edited.length, true);
      out.set(edited, 8);
      out.set(b.subarray(8 + headerLength), 8 + edited.length);
      b = out;
    }
  }
  return b;
}

async function exercise(h: SafetensorsHandle): Promise<void> {
  for (const name of h.tensors.keys()) {
    await h.read(name);
    await h.readAsFloat32(name);
  }
  await h.close();
}

describe('safetensors fuzz', () => {
  it('throws only SafetensorsError on thousands of mutated or truncated files (in memory)', async () => {
    const base = validFile();
    const r = rng(12345);
    let rejected = 0;
    let accepted = 0;
    for (let n = 0; n < 4000; n++) {
      const bytes = mutate(base, r);
      try {
        await exercise(await openSource(new MemorySource(`case-${n}`, bytes)));
        accepted++;
      } catch (e) {
        if (!(e instanceof SafetensorsError)) {
          throw new Error(`case ${n}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
        }
        expect(e.message.startsWith(`case-${n}: `)).toBe(true);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(2000);
    expect(accepted).toBeGreaterThan(0);
    // No time limit here (the run takes about a second; the test timeout catches a hang): speed is not what this
    // test is for.
  });

  it('throws only SafetensorsError on mutated files read from disk', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'resect-st-fuzz-'));
    try {
      const base = validFile();
      const r = rng(777);
      let rejected = 0;
      let accepted = 0;
      for (let n = 0; n < 300; n++) {
        const file = path.join(dir, `f${n % 4}.safetensors`);
        await writeFile(file, mutate(base, r));
        try {
          await exercise(await openSafetensors(file));
          accepted++;
        } catch (e) {
          if (!(e instanceof SafetensorsError)) throw new Error(`case ${n}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
          // The message names the file, so a user knows which one is broken.
          expect(e.message, `case ${n}`).toContain(file);
          rejected++;
        }
      }
      // Seeded: 297 of the 300 mutations are refused, 3 still read as valid files.
      expect(rejected + accepted).toBe(300);
      expect(rejected).toBeGreaterThan(100);
      expect(accepted).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Mulberry32: a small, fast, seeded PRNG returning floats in [0, 1). Deterministic across platforms (32-bit
 * integer arithmetic only), so initialisers, data shuffles, fuzzers and gradient checks reproduce anywhere.
 * One implementation for the whole project: everything seeded goes through here.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

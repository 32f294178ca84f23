// Seeded parameter initialisers (reproducible across runs and machines).
import { mulberry32 } from './random';

/** n samples of N(0, std²) as float32 (Box–Muller). */
export function normal(n: number, std = 1, seed = 0): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(r(), 1e-12);
    const v = r();
    const m = std * Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** n samples of U(lo, hi) as float32. */
export function uniform(n: number, lo = 0, hi = 1, seed = 0): Float32Array {
  const r = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * r();
  return out;
}

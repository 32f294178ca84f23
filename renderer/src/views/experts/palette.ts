/** Colours for the expert map: a perceptual ramp for usage and the domain palette of the Datasets view. */
const PALETTE = ['#5b8def', '#e5a03a', '#3cc2ad', '#d9668f', '#9a7bea', '#6cbf5a', '#e0764f', '#4fb3d9', '#c2b24a', '#b57ad6'];

// A viridis-like ramp, 5 stops.
const RAMP: [number, number, number][] = [
  [40, 24, 84], [49, 104, 142], [33, 145, 140], [94, 201, 98], [253, 231, 37],
];

export function ramp(t: number): [number, number, number] {
  const x = Math.max(0, Math.min(1, t)) * (RAMP.length - 1);
  const k = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - k;
  const a = RAMP[k]!;
  const b = RAMP[k + 1]!;
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

export function domainColor(index: number): string {
  return PALETTE[index % PALETTE.length]!;
}

export function hexRgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

export const pct = (x: number) => `${(x * 100).toFixed(x >= 0.1 ? 1 : 2)}%`;
export const fmtSkew = (s: number | null) => (s === null ? '∞' : s === 0 ? '—' : `${s.toFixed(s >= 10 ? 0 : 1)}×`);
export const fmtR = (r: number | null) => (r === null ? '—' : r.toFixed(3));

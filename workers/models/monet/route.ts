/**
 * Per-token expert routing: the top composite experts (i, j) of each router by the head-summed score
 * S[i, j] = Σ_h g1[h, i]·g2[h, j] (spec §2.4), with flat ids i·E + j.
 *
 * Exact without materialising E×E: the gates are sparse by construction (the threshold keeps about k of E
 * sub-experts per head and side, the rest are exact zeros), and S[i, j] > 0 only where some head has both
 * g1[h, i] > 0 and g2[h, j] > 0. So S is accumulated over the union of the per-head supports A_h × B_h (at most
 * Σ_h |A_h|·|B_h| pairs, e.g. 8·8·8 = 512 for k = 8) and every pair outside it has S = 0. If a head's support is
 * unusually large, the pairs are still exact; the work is bounded by `maxPairs` per token, beyond which each head
 * side is cut to its `sideCap` largest gates (then the ranking is exact among those candidates only — flagged).
 */
export interface RoutedExpert { id: number; i: number; j: number; score: number }

export interface TokenRoute {
  /** Per router (r = 0, 1, …): the top experts, best first. */
  routers: RoutedExpert[][];
  /** True when a support cap was applied for some router (ranking then exact among candidates only). */
  capped?: boolean;
}

export function topExperts(
  g1: Float32Array, g2: Float32Array, n: number, H: number, E: number, k: number,
  o: { maxPairs?: number; sideCap?: number } = {},
): { experts: RoutedExpert[]; capped: boolean } {
  const maxPairs = o.maxPairs ?? 1 << 16;
  const sideCap = o.sideCap ?? 64;
  const support = (g: Float32Array, h: number) => {
    const out: number[] = [];
    const base = (n * H + h) * E;
    for (let e = 0; e < E; e++) if (g[base + e]! > 0) out.push(e);
    return out;
  };
  const sides: [number[], number[]][] = [];
  let pairs = 0;
  for (let h = 0; h < H; h++) {
    const a = support(g1, h);
    const b = support(g2, h);
    sides.push([a, b]);
    pairs += a.length * b.length;
  }
  let capped = false;
  if (pairs > maxPairs) {
    capped = true;
    const cut = (g: Float32Array, h: number, ids: number[]) =>
      ids.sort((x, y) => g[(n * H + h) * E + y]! - g[(n * H + h) * E + x]!).slice(0, sideCap);
    for (let h = 0; h < H; h++) sides[h] = [cut(g1, h, sides[h]![0]), cut(g2, h, sides[h]![1])];
  }
  const scores = new Map<number, number>();
  for (let h = 0; h < H; h++) {
    const [a, b] = sides[h]!;
    for (const i of a) {
      const gi = g1[(n * H + h) * E + i]!;
      for (const j of b) {
        const id = i * E + j;
        scores.set(id, (scores.get(id) ?? 0) + gi * g2[(n * H + h) * E + j]!);
      }
    }
  }
  const experts = [...scores]
    .map(([id, score]) => ({ id, i: Math.floor(id / E), j: id % E, score }))
    .sort((x, y) => y.score - x.score || x.id - y.id)
    .slice(0, k);
  return { experts, capped };
}

/**
 * The expert atlas (workers/analysis/atlas, `openAtlas`) as `RoutingStats`, so the selection rules run on a built
 * atlas: per-group `domain_sum` [D, E²] / domain tokens → mean routing probability per domain, and the atlas's
 * correlation sums (per expert Σx, Σxy, Σx² over tokens where S > 0; Σy, Σy², n over every scored token from
 * `meta.score`, so x = 0 elsewhere and the sums are the all-token sums) for its one score.
 *
 * A folder holding `routing.json` (the resection routing pass) is read with `loadRoutingStats` instead.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { CorrSums } from './stats';
import { loadRoutingStats, type RoutingStats } from './routing';

export async function atlasRoutingStats(dir: string): Promise<RoutingStats> {
  if (existsSync(path.join(dir, 'routing.json'))) return loadRoutingStats(dir);
  const { openAtlas } = await import('../atlas/reader');
  const atlas = await openAtlas(dir);
  try {
    const meta = atlas.meta;
    const E = meta.model.E;
    const EE = E * E;
    const groups = meta.model.routerLayers.length;
    const groupSize = groups > 1 ? meta.model.routerLayers[1]! - meta.model.routerLayers[0]! : meta.model.layers;
    const domains = meta.domains.map((d) => d.name);
    const domainTokens = meta.domains.map((d) => d.tokens);
    const sums: (Float64Array | null)[] = [];
    const corr: (CorrSums | null)[] = [];
    for (let g = 0; g < groups; g++) {
      const a = await atlas.group(g);
      sums.push(a.domainSum);
      corr.push(a.corr && meta.score ? { n: meta.score.n, sy: meta.score.sy, syy: meta.score.syy, sx: a.corr.sx, sxy: a.corr.sxy, sxx: a.corr.sxx } : null);
    }
    const scoreName = meta.score?.name ?? null;
    return {
      source: `atlas:${meta.id}`,
      experts: E, layers: meta.model.layers, groupSize, groups, domains, domainTokens,
      domainMeans(group, d) {
        const s = sums[group];
        const out = new Float64Array(EE);
        const n = domainTokens[d]!;
        if (s && n > 0) for (let e = 0; e < EE; e++) out[e] = s[d * EE + e]! / n;
        return out;
      },
      scoreNames: scoreName ? [scoreName] : [],
      corrSums: (group, score) => (score === scoreName ? corr[group] ?? null : null),
    };
  } finally {
    await atlas.close();
  }
}

/**
 * A latent atlas's extra parts (docs/sae.md "Browse"): an SAE's latents recorded by the atlas build as one more group
 * (accumulator.ts unit group) on the very tokens the experts are counted on, and the bridge: for every token, each
 * (active latent, active expert) pair counted, so each latent can list the experts that fire with it and each expert
 * the latents. Pairs are sparse (L0 latents × the experts above the threshold per token), kept in a Map and written
 * to contexts.sqlite's `bridge` table.
 */
import type { Database } from 'better-sqlite3';
import type { Sae } from '../../sae/types';
import type { AtlasAccumulator } from './accumulator';

/** Co-activation counts by key (latent·R + group)·E² + expert. */
export type Bridge = Map<number, number>;

export interface LatentRecorder {
  bridge: Bridge;
  /** The SAE's codes [n, M] of the counted positions of a batch (its hook output [B·T, d]), in the build's order. */
  encode(hook: Float32Array, rows: readonly { ids: readonly number[]; skipFirst: boolean }[], T: number): Promise<Float32Array>;
  /** Records row k of `codes` for one token, after the token's experts (acc.addToken) so their active lists are set. */
  add(codes: Float32Array, k: number, domain: number, sample: number, pos: number, y: number): void;
  dispose(): Promise<void>;
}

export async function latentRecorder(
  o: { sae: Sae; provider?: string; threads?: number },
  acc: AtlasAccumulator,
): Promise<LatentRecorder> {
  const { SaeRunner } = await import('../../sae/encode');
  const runner = await SaeRunner.create(o.sae, {
    ...(o.provider ? { provider: o.provider as never } : {}), ...(o.threads ? { intraOpThreads: o.threads } : {}),
  });
  const M = o.sae.config.dSae;
  const d = o.sae.config.dIn;
  const R = acc.shape.groups;
  const EE = acc.shape.E * acc.shape.E;
  const latentGroup = acc.unitGroup;
  if (!latentGroup) throw new Error('the atlas accumulator has no unit group for the latents');
  for (let r = 0; r < R; r++) acc.groups[r]!.trackActive = true;
  latentGroup.trackActive = true;
  const bridge: Bridge = new Map();
  return {
    bridge,
    async encode(hook, rows, T) {
      let n = 0;
      for (const r of rows) n += r.ids.length - (r.skipFirst ? 1 : 0);
      const x = new Float32Array(n * d);
      let k = 0;
      rows.forEach((r, b) => {
        for (let t = r.skipFirst ? 1 : 0; t < r.ids.length; t++) x.set(hook.subarray((b * T + t) * d, (b * T + t + 1) * d), d * k++);
      });
      return (await runner.run(x, ['codes'])).codes;
    },
    add(codes, k, domain, sample, pos, y) {
      latentGroup.addValues(codes, k * M, domain, sample, pos, y);
      const la = latentGroup.active;
      const nl = latentGroup.activeCount;
      for (let r = 0; r < R; r++) {
        const g = acc.groups[r]!;
        for (let x = 0; x < g.activeCount; x++) {
          const e = g.active[x]!;
          for (let z = 0; z < nl; z++) {
            const key = (la[z]! * R + r) * EE + e;
            bridge.set(key, (bridge.get(key) ?? 0) + 1);
          }
        }
      }
    },
    dispose: () => runner.dispose(),
  };
}

/** Each latent's decoder direction in the raw activation space, [M, d]: W_dec rows undone of the dataset scale
 * (x̂ = x̂_norm / s + mean); per-token and unnormalized SAEs keep W_dec's rows (their direction is what matters). */
export function decoderDirections(sae: Sae): Float32Array {
  const n = sae.config.normalization;
  const s = n.kind === 'dataset-scale' && n.scale > 0 ? n.scale : 1;
  return sae.weights.W_dec.map((v) => v / s);
}

export const BRIDGE_TABLE = `CREATE TABLE bridge (latent INTEGER NOT NULL, grp INTEGER NOT NULL, expert INTEGER NOT NULL, count INTEGER NOT NULL)`;

/** Writes the bridge's pairs (and its two indexes) into an open contexts database. */
export function writeBridge(db: Database, bridge: Bridge, acc: AtlasAccumulator): void {
  const R = acc.shape.groups;
  const EE = acc.shape.E * acc.shape.E;
  db.exec(BRIDGE_TABLE);
  const ins = db.prepare('INSERT INTO bridge (latent, grp, expert, count) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (const [key, count] of bridge) {
      const expert = key % EE;
      const t = Math.floor(key / EE);
      ins.run(Math.floor(t / R), t % R, expert, count);
    }
  })();
  db.exec('CREATE INDEX bridge_latent ON bridge (latent); CREATE INDEX bridge_expert ON bridge (grp, expert);');
}

/**
 * A latent atlas's extra parts (docs/sae.md "Browse"): an SAE's latents recorded by the atlas build as one more group
 * (accumulator.ts unit group) on the very tokens the experts are counted on, and the bridge: for every token, each
 * (active latent, active expert) pair counted, so each latent can list the experts that fire with it and each expert
 * the latents. Pairs are sparse (L0 latents × the experts above the threshold per token), kept in a Map and written
 * to contexts.sqlite's `bridge` table.
 */
import type { Database } from 'better-sqlite3';
import { parseHookName, type HookPoint } from '../../models/monet/hooks';
import type { Sae } from '../../sae/types';
import type { AtlasAccumulator } from './accumulator';

/**
 * The hook of a model that an SAE reads, checked for a latent atlas: the SAE's recorded hook name must be a block of
 * this model (`layers`) and its width the model's (`width`). `dir` names the SAE in errors.
 */
export function latentAtlasHook(sae: Sae, dir: string, layers: number, width: number): HookPoint {
  if (sae.config.hook.kind === 'external') throw new Error(`${dir}: the SAE was trained on imported activations; a latent atlas needs a hook of this model (blocks.L.hook_…)`);
  const hook = parseHookName(sae.config.hook.name, layers);
  if (sae.config.dIn !== width) throw new Error(`${dir}: the SAE reads ${sae.config.dIn}-wide activations, the model's ${sae.config.hook.name} is ${width} wide`);
  return hook;
}

/** Co-activation counts: per latent, by key group·E² + expert (small integer keys keep the maps fast). */
export type Bridge = Map<number, number>[];

/** Pairs kept per unit in contexts.sqlite: each latent's and each expert's best by Jaccard overlap. */
export const BRIDGE_KEEP = 50;

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
  const bridge: Bridge = Array.from({ length: M }, () => new Map<number, number>());
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
      for (let z = 0; z < nl; z++) {
        const pairs = bridge[la[z]!]!;
        for (let r = 0; r < R; r++) {
          const g = acc.groups[r]!;
          const base = r * EE;
          for (let x = 0; x < g.activeCount; x++) {
            const key = base + g.active[x]!;
            pairs.set(key, (pairs.get(key) ?? 0) + 1);
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

/** Distinct (latent, expert) pairs that fired together. */
export const bridgePairs = (bridge: Bridge): number => bridge.reduce((n, m) => n + m.size, 0);

/**
 * Writes the bridge into an open contexts database: for every latent its BRIDGE_KEEP best experts and for every
 * expert its BRIDGE_KEEP best latents by Jaccard overlap |A ∩ B| / |A ∪ B| of their active tokens (the union of both,
 * so either side's list read back is exactly its best), with their two indexes.
 */
export function writeBridge(db: Database, bridge: Bridge, acc: AtlasAccumulator): void {
  const EE = acc.shape.E * acc.shape.E;
  const latentCount = acc.unitGroup!.count;
  const n = bridgePairs(bridge);
  const lat = new Int32Array(n);
  const key = new Int32Array(n);
  const cnt = new Float64Array(n);
  const jac = new Float64Array(n);
  let k = 0;
  bridge.forEach((pairs, m) => {
    for (const [e, c] of pairs) {
      const other = acc.groups[Math.floor(e / EE)]!.count[e % EE]!;
      lat[k] = m;
      key[k] = e;
      cnt[k] = c;
      jac[k] = c / (latentCount[m]! + other - c);
      k++;
    }
  });
  const keep = new Uint8Array(n);
  const best = (idx: Uint32Array, sameUnit: (a: number, b: number) => boolean) => {
    for (let i = 0, run = 0; i < n; i++) {
      run = i > 0 && sameUnit(idx[i - 1]!, idx[i]!) ? run + 1 : 0;
      if (run < BRIDGE_KEEP) keep[idx[i]!] = 1;
    }
  };
  const byJaccard = (a: number, b: number) => jac[b]! - jac[a]! || cnt[b]! - cnt[a]!;
  // Each latent's pairs are already contiguous (k runs latent by latent); sort each side by unit, then Jaccard.
  best(Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => lat[a]! - lat[b]! || byJaccard(a, b)), (a, b) => lat[a] === lat[b]);
  best(Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => key[a]! - key[b]! || byJaccard(a, b)), (a, b) => key[a] === key[b]);
  db.exec(BRIDGE_TABLE);
  const ins = db.prepare('INSERT INTO bridge (latent, grp, expert, count) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 0; i < n; i++) if (keep[i]) ins.run(lat[i]!, Math.floor(key[i]! / EE), key[i]! % EE, cnt[i]!);
  })();
  db.exec('CREATE INDEX bridge_latent ON bridge (latent); CREATE INDEX bridge_expert ON bridge (grp, expert);');
}

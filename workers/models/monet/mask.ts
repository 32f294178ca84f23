/**
 * Expert masks (spec §3): per layer, a list of composite experts (flat ids i·E + j) and whole sub-expert rows i /
 * columns j. A mask given per routing group (§3.5, the paper's scope) applies to every layer that consumes that
 * group's router. The JSON form is
 *   {"layers": {"<layer>": [flat ids]}, "groups": {"<group>": [flat ids]},
 *    "rows": {"<layer>": [i]}, "columns": {"<layer>": [j]}}
 * where every key is optional ("layers" is the format of the fixtures' masks.json and of `resect forward --mask`).
 */
import type { MonetConfig } from './config';

export interface LayerMask {
  /** Composite experts (flat ids i·E + j), sorted, unique. */
  experts: number[];
  /** Sub-expert rows i (side 1, every head), sorted, unique. */
  rows: number[];
  /** Sub-expert columns j (side 2, every head), sorted, unique. */
  columns: number[];
}

/** Masks keyed by layer index; layers absent remove nothing. */
export type MonetMask = Map<number, LayerMask>;

export class MaskError extends Error {
  override readonly name = 'MaskError';
}

type MaskConfig = Pick<MonetConfig, 'num_hidden_layers' | 'moe_experts' | 'moe_groups'>;

const emptyLayer = (): LayerMask => ({ experts: [], rows: [], columns: [] });
const sortedUnique = (xs: Iterable<number>) => [...new Set(xs)].sort((a, b) => a - b);

/** Builds a mask, checking every index. `experts` / `rows` / `columns` are keyed by layer, `groupExperts` by group. */
export function buildMask(
  config: MaskConfig,
  parts: {
    experts?: ReadonlyMap<number, readonly number[]>;
    groupExperts?: ReadonlyMap<number, readonly number[]>;
    rows?: ReadonlyMap<number, readonly number[]>;
    columns?: ReadonlyMap<number, readonly number[]>;
  },
  source = 'mask',
): MonetMask {
  const L = config.num_hidden_layers;
  const E = config.moe_experts;
  const G = config.moe_groups;
  const groups = Math.ceil(L / G);
  const acc = new Map<number, { experts: Set<number>; rows: Set<number>; columns: Set<number> }>();
  const at = (l: number) => {
    let a = acc.get(l);
    if (!a) acc.set(l, (a = { experts: new Set(), rows: new Set(), columns: new Set() }));
    return a;
  };
  const check = (what: string, key: number, limit: number, ids: readonly number[], idLimit: number, idWhat: string) => {
    if (!Number.isInteger(key) || key < 0 || key >= limit) {
      throw new MaskError(`${source}: unknown ${what} ${key} (the model has ${limit} ${what}s, 0…${limit - 1})`);
    }
    if (!Array.isArray(ids)) throw new MaskError(`${source}: ${what} ${key}: expected a list of ${idWhat}s`);
    for (const id of ids) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= idLimit) {
        throw new MaskError(`${source}: ${what} ${key}: ${idWhat} ${JSON.stringify(id)} is out of range (0…${idLimit - 1})`);
      }
    }
  };
  for (const [l, ids] of parts.experts ?? []) {
    check('layer', l, L, ids, E * E, 'expert id');
    for (const id of ids) at(l).experts.add(id);
  }
  for (const [r, ids] of parts.groupExperts ?? []) {
    check('group', r, groups, ids, E * E, 'expert id');
    for (let l = r * G; l < Math.min(L, (r + 1) * G); l++) for (const id of ids) at(l).experts.add(id);
  }
  for (const [l, ids] of parts.rows ?? []) {
    check('layer', l, L, ids, E, 'row');
    for (const i of ids) at(l).rows.add(i);
  }
  for (const [l, ids] of parts.columns ?? []) {
    check('layer', l, L, ids, E, 'column');
    for (const j of ids) at(l).columns.add(j);
  }
  const out: MonetMask = new Map();
  for (const [l, a] of [...acc].sort((x, y) => x[0] - y[0])) {
    out.set(l, { experts: sortedUnique(a.experts), rows: sortedUnique(a.rows), columns: sortedUnique(a.columns) });
  }
  return out;
}

/** Parses the JSON form (see the file comment), with errors naming the bad key or id. */
export function parseMaskJson(config: MaskConfig, json: unknown, source = 'mask'): MonetMask {
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new MaskError(`${source}: expected a JSON object such as {"layers": {"0": [1, 2]}}`);
  const obj = json as Record<string, unknown>;
  const known = ['layers', 'groups', 'rows', 'columns'];
  const extra = Object.keys(obj).filter((k) => !known.includes(k));
  if (extra.length > 0) throw new MaskError(`${source}: unknown key ${JSON.stringify(extra[0])} (expected ${known.map((k) => `"${k}"`).join(', ')})`);
  const table = (key: string, what: string): Map<number, number[]> | undefined => {
    const v = obj[key];
    if (v === undefined) return undefined;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new MaskError(`${source}: "${key}" must be an object keyed by ${what} index`);
    const map = new Map<number, number[]>();
    for (const [k, ids] of Object.entries(v as Record<string, unknown>)) {
      if (!/^\d+$/.test(k)) throw new MaskError(`${source}: "${key}": ${JSON.stringify(k)} is not a ${what} index`);
      if (!Array.isArray(ids)) throw new MaskError(`${source}: "${key}"."${k}" must be a list of numbers`);
      map.set(Number(k), ids as number[]);
    }
    return map;
  };
  return buildMask(config, {
    experts: table('layers', 'layer'),
    groupExperts: table('groups', 'group'),
    rows: table('rows', 'layer'),
    columns: table('columns', 'layer'),
  }, source);
}

/** The mask of one layer (empty when the layer is not masked). */
export function layerMask(mask: MonetMask | undefined, layer: number): LayerMask {
  return mask?.get(layer) ?? emptyLayer();
}

/** Number of composite experts a mask removes in each layer (rows/columns count E each, overlaps once). */
export function maskedCount(config: MaskConfig, lm: LayerMask): number {
  const E = config.moe_experts;
  const rows = new Set(lm.rows);
  const cols = new Set(lm.columns);
  let n = rows.size * E + cols.size * E - rows.size * cols.size;
  for (const id of lm.experts) if (!rows.has(Math.floor(id / E)) && !cols.has(id % E)) n++;
  return n;
}

/** Composite experts as the block the mixture's correction takes (blocks/mixture.ts): distinct rows, columns, 0/1 matrix. */
export interface ExpertBlock {
  rows: BigInt64Array;
  cols: BigInt64Array;
  /** [rows.length, cols.length], 1 where (rows[a], cols[b]) is removed. */
  removed: Float32Array;
}

/** The block of flat expert ids (i·E + j); duplicates count once, ids must lie in [0, E²). */
export function expertBlock(E: number, ids: readonly number[]): ExpertBlock {
  const rowAt = new Map<number, number>();
  const colAt = new Map<number, number>();
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= E * E) throw new RangeError(`expert id ${id} is outside [0, ${E * E})`);
    const i = Math.floor(id / E);
    const j = id % E;
    if (!rowAt.has(i)) rowAt.set(i, rowAt.size);
    if (!colAt.has(j)) colAt.set(j, colAt.size);
  }
  const B = colAt.size;
  const removed = new Float32Array(rowAt.size * B);
  for (const id of ids) removed[rowAt.get(Math.floor(id / E))! * B + colAt.get(id % E)!] = 1;
  return { rows: BigInt64Array.from(rowAt.keys(), BigInt), cols: BigInt64Array.from(colAt.keys(), BigInt), removed };
}

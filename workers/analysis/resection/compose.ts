/**
 * Composing a stack of edits into one mask. Each edit holds a mask in the JSON form of workers/models/monet/mask.ts
 * and is either a removal or a hand restore. The active edits, in stack order, compose as
 *
 *   removed = ((∪ earlier removals) − restore₁ ∪ later removals) − restore₂ …
 *
 * i.e. a removal adds its experts, a restore takes its experts (composite ids only) back out of what the edits
 * before it removed. Group-scoped ids are expanded to every layer of the group, so the composed mask is per layer:
 * `{"layers": {"<l>": [ids]}}`, plus `rows` / `columns` when an edit removes whole sub-experts.
 */
import { buildMask, parseMaskJson, type MonetMask } from '../../models/monet/mask';
import type { MonetConfig } from '../../models/monet/config';
import type { MaskJson } from './select';

export type MaskConfig = Pick<MonetConfig, 'num_hidden_layers' | 'moe_experts' | 'moe_groups'>;

export interface StackEdit { kind: 'remove' | 'restore'; mask: MaskJson }

export function composeMasks(config: MaskConfig, edits: readonly StackEdit[]): MaskJson {
  const layers = new Map<number, Set<number>>();
  const rows = new Map<number, Set<number>>();
  const cols = new Map<number, Set<number>>();
  const at = (m: Map<number, Set<number>>, l: number) => {
    let s = m.get(l);
    if (!s) m.set(l, (s = new Set()));
    return s;
  };
  for (const e of edits) {
    const mask = parseMaskJson(config, e.mask, 'edit');
    for (const [l, lm] of mask) {
      if (e.kind === 'remove') {
        for (const id of lm.experts) at(layers, l).add(id);
        for (const i of lm.rows) at(rows, l).add(i);
        for (const j of lm.columns) at(cols, l).add(j);
      } else {
        for (const id of lm.experts) layers.get(l)?.delete(id);
        for (const i of lm.rows) rows.get(l)?.delete(i);
        for (const j of lm.columns) cols.get(l)?.delete(j);
      }
    }
  }
  const table = (m: Map<number, Set<number>>) => {
    const entries = [...m].filter(([, s]) => s.size > 0).sort((a, b) => a[0] - b[0]);
    return entries.length ? Object.fromEntries(entries.map(([l, s]) => [String(l), [...s].sort((a, b) => a - b)])) : undefined;
  };
  const out: MaskJson = {};
  const l = table(layers);
  const r = table(rows);
  const c = table(cols);
  if (l) out.layers = l;
  if (r) out.rows = r;
  if (c) out.columns = c;
  return out;
}

/** Number of (layer, composite expert) pairs a mask removes (rows/columns count E each, overlaps once). */
export function maskSize(config: MaskConfig, mask: MaskJson): number {
  const m: MonetMask = parseMaskJson(config, mask, 'mask');
  const E = config.moe_experts;
  let n = 0;
  for (const lm of m.values()) {
    const r = new Set(lm.rows);
    const c = new Set(lm.columns);
    n += r.size * E + c.size * E - r.size * c.size;
    for (const id of lm.experts) if (!r.has(Math.floor(id / E)) && !c.has(id % E)) n++;
  }
  return n;
}

/** Whether a mask removes only whole sub-expert rows/columns (then it can be baked into weights, spec §3.3). */
export function isRowColumnOnly(mask: MaskJson): boolean {
  const empty = (t?: Record<string, number[]>) => !t || Object.values(t).every((ids) => ids.length === 0);
  return empty(mask.layers) && empty(mask.groups);
}

export { buildMask };

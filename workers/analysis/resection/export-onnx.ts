/**
 * Exporting an edited model as one self-contained ONNX model with the mask built in.
 *
 * The graph is the single-graph eval forward of `buildMonetForward` (workers/models/monet/forward.ts) built with
 * `masking`, whose per-layer mask inputs `mask.{l}.i` / `mask.{l}.j` (int64 [K_l]) are turned into initializers
 * holding the mask's composite experts — so the model's only input is `input_ids` int64 [batch, time] and its only
 * output `logits` float32 [batch, time, vocab]. Whole rows i / columns j of a mask are written as the composite
 * experts they remove ((i, ·) and (·, j)), which the exact sparse correction of spec §3.4 b removes term for term —
 * the same set of terms the in-app model removes by zeroing gates (§3.3). Weights are float32; beyond
 * `externalDataAbove` (1.5 GiB, under protobuf's 2 GB limit) they go to `model.onnx.data` next to `model.onnx`
 * (ONNX external data, page-aligned offsets), which must stay beside it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { serialize, type Graph } from '../../engine';
import { openMonetCheckpoint, type MonetCheckpoint } from '../../models/monet/checkpoint';
import { buildMonetForward, maskFeeds, type MaskFeed } from '../../models/monet/forward';
import { parseMaskJson, type MonetMask } from '../../models/monet/mask';
import type { MonetConfig } from '../../models/monet/config';
import type { MaskJson } from './select';

export const ONNX_FILE = 'model.onnx';
export const ONNX_DATA_FILE = 'model.onnx.data';

/** Per layer, every composite expert (flat id i·E + j) the mask removes: listed pairs, whole rows and whole columns. */
export function removedPairs(config: Pick<MonetConfig, 'moe_experts'>, mask: MonetMask): Map<number, number[]> {
  const E = config.moe_experts;
  const out = new Map<number, number[]>();
  for (const [l, lm] of mask) {
    const ids = new Set(lm.experts);
    for (const i of lm.rows) for (let j = 0; j < E; j++) ids.add(i * E + j);
    for (const j of lm.columns) for (let i = 0; i < E; i++) ids.add(i * E + j);
    if (ids.size > 0) out.set(l, [...ids].sort((a, b) => a - b));
  }
  return out;
}

/** Turns the named graph inputs into initializers with the given values (the graph is changed in place). */
function bakeInputs(g: Graph, values: Record<string, MaskFeed>): void {
  for (const [name, v] of Object.entries(values)) {
    const at = g.inputs.findIndex((t) => t.name === name);
    if (at < 0) throw new Error(`the forward graph has no input ${name}`);
    const t = g.inputs[at]!;
    if (t.dtype !== v.dtype) throw new Error(`${name}: expected a ${v.dtype} input, found ${t.dtype}`);
    g.inputs.splice(at, 1);
    g.initializers.set(name, { tensor: t, value: { dtype: v.dtype, shape: [...v.dims], data: v.data } });
  }
}

/** The masked eval forward with the mask baked in: input `input_ids`, output `logits`. */
export async function buildMaskedOnnxGraph(ckpt: MonetCheckpoint, mask: MonetMask): Promise<Graph> {
  const g = await buildMonetForward(ckpt, { masking: true, routerOutputs: false });
  bakeInputs(g, maskFeeds(ckpt, removedPairs(ckpt.config, mask)));
  return g;
}

export interface OnnxExportResult {
  /** Files written, relative to the output folder. */
  files: string[];
  /** Bytes of model.onnx and of model.onnx.data (0 when the weights are inside model.onnx). */
  modelBytes: number;
  externalBytes: number;
  /** Composite experts removed, summed over layers. */
  removed: number;
}

/**
 * Writes `model.onnx` (and `model.onnx.data` when the weights exceed `externalDataAbove`) into `outDir`, which must
 * exist. The mask JSON is checked against the model's config first.
 */
export async function writeOnnxExport(model: string, maskJson: MaskJson, outDir: string, o: { externalDataAbove?: number } = {}): Promise<OnnxExportResult> {
  const ckpt = await openMonetCheckpoint(model);
  try {
    const mask = parseMaskJson(ckpt.config, maskJson, 'mask');
    const removed = [...removedPairs(ckpt.config, mask).values()].reduce((a, ids) => a + ids.length, 0);
    const g = await buildMaskedOnnxGraph(ckpt, mask);
    let weightBytes = 0;
    for (const { value } of g.initializers.values()) weightBytes += value.data.byteLength;
    const external = weightBytes > (o.externalDataAbove ?? 1.5 * 2 ** 30);
    const s = serialize(g, { producer: 'resect', ...(external ? { externalData: { location: ONNX_DATA_FILE, threshold: 1024 } } : {}) });
    await writeFile(path.join(outDir, ONNX_FILE), s.model);
    const files = [ONNX_FILE];
    if (external) {
      const fd = openSync(path.join(outDir, ONNX_DATA_FILE), 'w');
      try { for (const c of s.external) writeSync(fd, c); } finally { closeSync(fd); }
      files.push(ONNX_DATA_FILE);
    }
    return { files, modelBytes: s.model.byteLength, externalBytes: external ? s.externalBytes : 0, removed };
  } finally {
    await ckpt.close();
  }
}

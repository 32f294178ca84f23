/** Checkpoint summaries (headers only, nothing loaded) and per-token routing of a prompt. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { openMonetCheckpoint } from './checkpoint';
import { loadMonetConfig } from './config';
import type { MonetMask } from './mask';
import type { MonetModel } from './model';
import { topExperts, type TokenRoute } from './route';

export interface MonetSummary {
  dir: string;
  decompose: 'vertical' | 'horizontal';
  layers: number;
  hiddenSize: number;
  attentionHeads: number;
  experts: number;
  expertDim: number;
  routingHeads: number;
  topk: number;
  groups: number;
  routerLayers: number[];
  vocabSize: number;
  maxPositions: number;
  /** Parameters the model reads. */
  parameters: number;
  /** Bytes of the weight files. */
  bytesOnDisk: number;
  /** Tensor count per stored dtype. */
  dtypes: Record<string, number>;
  /** Keys that took a code default (absent from config.json). */
  defaulted: string[];
  unusedTensors: string[];
  files: string[];
}

export async function inspectMonet(dir: string): Promise<MonetSummary> {
  const ckpt = await openMonetCheckpoint(dir);
  try {
    const c = ckpt.config;
    let parameters = 0;
    const dtypes: Record<string, number> = {};
    const files = new Set<string>();
    for (const name of ckpt.specs.keys()) {
      const info = ckpt.weights.tensors.get(name);
      if (!info) continue;
      if (info.dtype !== 'I64') parameters += info.numel;
      dtypes[info.dtype] = (dtypes[info.dtype] ?? 0) + 1;
      files.add(info.file);
    }
    if (files.size === 0) files.add(ckpt.weights.path);
    let bytesOnDisk = 0;
    const fileList = [...files].map((f) => (path.isAbsolute(f) ? f : path.join(dir, f)));
    for (const f of fileList) bytesOnDisk += (await stat(f).catch(() => ({ size: 0 }))).size;
    return {
      dir, decompose: c.moe_decompose, layers: c.num_hidden_layers, hiddenSize: c.hidden_size, attentionHeads: c.num_attention_heads,
      experts: c.moe_experts, expertDim: c.moe_dim, routingHeads: c.moe_heads, topk: c.moe_topk, groups: c.moe_groups,
      routerLayers: ckpt.dims.routerLayers, vocabSize: c.vocab_size, maxPositions: c.max_position_embeddings,
      parameters, bytesOnDisk, dtypes, defaulted: (await loadMonetConfig(path.join(dir, 'config.json'))).defaulted, unusedTensors: [...ckpt.unused], files: fileList,
    };
  } finally {
    await ckpt.close();
  }
}

/** Per token of `ids`, the top `k` composite experts of every router. */
export async function routePrompt(model: MonetModel, ids: readonly number[], k: number, masks?: MonetMask): Promise<TokenRoute[]> {
  const c = model.config;
  const out = await model.forward({ ids, batch: 1, time: ids.length, gates: true, logits: 'none', masks });
  const routes: TokenRoute[] = [];
  for (let n = 0; n < ids.length; n++) {
    const route: TokenRoute = { routers: [] };
    for (const g of out.gates!) {
      const r = topExperts(g.g1, g.g2, n, c.moe_heads, c.moe_experts, k);
      route.routers.push(r.experts);
      if (r.capped) route.capped = true;
    }
    routes.push(route);
  }
  return routes;
}

/**
 * `monet.route`: runs a prompt and returns, per token and per router, the top composite experts by
 * Σ_h g1·g2 with their flat ids i·E + j (exact, from the sparse gate supports; see workers/models/monet/route.ts).
 */
import { z } from 'zod';
import { defineJob } from './types';
import { loadMonetForJob, maskFromParam, tokenizerFor } from './monet-common';

const Params = z.object({
  model: z.string().min(1),
  prompt: z.string().min(1),
  top: z.number().int().min(1).max(1000).default(8),
  mask: z.unknown().optional(),
});

export const monetRouteJob = defineJob({
  heavy: true,
  params: Params,
  title: (p) => `Routing: ${p.prompt.length > 40 ? `${p.prompt.slice(0, 40)}…` : p.prompt}`,
  async run(p, ctx) {
    const { routePrompt } = await import('../models/monet/inspect');
    const model = await loadMonetForJob(p.model, ctx);
    try {
      const tokenizer = await tokenizerFor(p.model, model.config);
      const masks = await maskFromParam(model.config, p.mask);
      const ids = tokenizer.encode(p.prompt);
      const tokens = await routePrompt(model, ids, p.top, masks);
      return {
        routers: model.ckpt.dims.routerLayers,
        tokens: tokens.map((t, n) => ({ id: ids[n], text: tokenizer.decode([ids[n]!]), ...t })),
      };
    } finally {
      await model.dispose();
    }
  },
});

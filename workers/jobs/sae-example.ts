/**
 * `sae.example`: an example sentence through a model and an SAE (docs/sae.md "Browse"): each token with the latents
 * that fire most on it, so the latent browser can find latents by example as the expert browser does with
 * `monet.route`. Light and short: one forward over one sentence.
 */
import { z } from 'zod';
import { defineJob } from './types';

const Params = z.object({
  /** Model folder. */
  model: z.string().min(1),
  /** SAE id under `<workspace>/saes/` or a folder. */
  sae: z.string().min(1),
  text: z.string().min(1).max(10_000),
  /** Latents listed per token. */
  top: z.number().int().min(1).max(64).default(8),
});

export const saeExampleJob = defineJob({
  heavy: false,
  params: Params,
  title: (p) => `SAE latents of “${p.text.length > 40 ? `${p.text.slice(0, 40)}…` : p.text}”`,
  async run(p, ctx) {
    const { loadMonetForJob, tokenizerFor } = await import('./monet-common');
    const { saeForAtlas } = await import('./atlas-build');
    const { SaeRunner, topCodes } = await import('../sae/encode');
    const { hookName } = await import('../models/monet/hooks');
    const { tokenLabel } = await import('../tokenizer/display');
    const model = await loadMonetForJob(p.model, ctx);
    try {
      const { sae, hook } = await saeForAtlas(p.sae, ctx.workspace, model.config.num_hidden_layers, model.config.hidden_size);
      const tokenizer = await tokenizerFor(p.model, model.config);
      const ids = tokenizer.encode(p.text).slice(0, model.config.max_position_embeddings);
      const out = await model.forward({ ids, batch: 1, time: ids.length, hooks: [hook], logits: 'none', lastLayer: hook.layer });
      const x = out.hooks!.get(hookName(hook))!;
      const runner = await SaeRunner.create(sae, { provider: ctx.settings.device === 'tensorrt' ? 'cuda' : ctx.settings.device });
      try {
        const codes = (await runner.run(x, ['codes'])).codes;
        const top = topCodes(codes, sae.config.dSae, p.top);
        // The BOS position is left out as in training and the atlas (its activations are outliers).
        const bos = tokenizer.addBos && tokenizer.bosId !== null && ids[0] === tokenizer.bosId;
        return {
          tokens: ids.map((id, t) => ({ id, text: tokenLabel(tokenizer, id), bos: bos && t === 0, latents: bos && t === 0 ? [] : top[t]! })),
        };
      } finally {
        await runner.dispose();
      }
    } finally {
      await model.dispose();
    }
  },
});

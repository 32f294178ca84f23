/**
 * `atlas.build`: runs a Monet model over a dataset (workspace store) or a JSONL file and writes an expert atlas to
 * `<workspace>/atlases/<id>/` (or `out`): see workers/analysis/atlas/build.ts. Progress in tokens (with tokens/s in
 * the message); checkpoints every `checkpointEvery` samples; `resume: true` with the same `id` continues one.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { defineJob } from './types';
import { resolveUnder } from '../paths';
import { loadMonetForJob, tokenizerFor } from './monet-common';
import { AtlasBuildParams } from '../analysis/atlas/schema';

export { AtlasBuildParams };

export const newAtlasId = () => `atlas-${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;

export const atlasBuildJob = defineJob({
  heavy: true,
  params: AtlasBuildParams,
  title: (p) => `Atlas: ${path.basename(p.model)} on ${p.data.kind === 'jsonl' ? path.basename(p.data.path) : `dataset ${p.data.datasetId}`}${p.resume ? ' (resume)' : ''}`,
  async run(p, ctx) {
    const { buildAtlas } = await import('../analysis/atlas/build');
    const id = p.id ?? newAtlasId();
    const outDir = p.out ? path.resolve(ctx.workspace, p.out) : resolveUnder(path.join(ctx.workspace, 'atlases'), id, 'atlas id');
    const model = await loadMonetForJob(p.model, ctx);
    try {
      const tokenizer = await tokenizerFor(p.model, model.config);
      const sae = p.sae ? await saeForAtlas(p.sae, ctx.workspace, model.config.num_hidden_layers, model.config.hidden_size) : undefined;
      if (sae) ctx.log(`Latents of ${sae.dir} (${sae.sae.config.dSae}, ${sae.sae.config.hook.name}) recorded too`);
      ctx.log(`Atlas ${id} → ${outDir}`);
      const meta = await buildAtlas({
        model, tokenizer, modelDir: p.model, outDir, id, ...(p.name ? { name: p.name } : {}),
        source: { data: p.data, filter: p.filter, workspace: ctx.workspace, ...(p.domainField ? { domainField: p.domainField } : {}), ...(p.scoreField ? { scoreField: p.scoreField } : {}) },
        topK: p.topK, threshold: p.threshold, checkpointEvery: p.checkpointEvery, resume: p.resume,
        ...(p.maxSamples ? { maxSamples: p.maxSamples } : {}), ...(p.context ? { context: p.context } : {}),
        signal: ctx.signal,
        ...(sae ? { sae: { ...sae, provider: ctx.settings.device === 'tensorrt' ? 'cuda' : ctx.settings.device, ...(ctx.settings.threads > 0 ? { threads: ctx.settings.threads } : {}) } } : {}),
        log: (l) => ctx.log(l),
        // Samples of the corpus (counted before the run): a true percentage and time left; tokens in the message.
        onProgress: (q) => ctx.progress(q.samples, q.totalSamples, 'samples', `${q.tokens.toLocaleString('en-US')} tokens, ${q.tokensPerSecond.toFixed(0)} tokens/s`),
      });
      ctx.log(`Done: ${meta.tokens} tokens, ${meta.samples} samples, ${meta.domains.length} domains, ${meta.tokensPerSecond.toFixed(1)} tokens/s`);
      return { id, dir: outDir, tokens: meta.tokens, samples: meta.samples, tokensPerSecond: meta.tokensPerSecond };
    } finally {
      await model.dispose();
    }
  },
});

/**
 * The SAE of a latent atlas: an id under `<workspace>/saes/` or a folder (SAE Lens, Resect or sparsify layout), with
 * the hook it reads on this model (its config's hook name, which must be a block of the model, of the model's width).
 */
export async function saeForAtlas(ref: string, workspace: string, layers: number, width: number) {
  const { existsSync } = await import('node:fs');
  const { loadSaeFolder } = await import('../sae/io');
  const { latentAtlasHook } = await import('../analysis/atlas/latents');
  const inWorkspace = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,79}$/.test(ref) ? path.join(workspace, 'saes', ref) : null;
  const dir = inWorkspace && existsSync(inWorkspace) ? inWorkspace : path.resolve(ref);
  const { sae } = await loadSaeFolder(dir);
  return { sae, hook: latentAtlasHook(sae, dir, layers, width), dir, id: path.basename(dir) };
}

/**
 * `atlas.build`: runs a Monet model over a dataset (workspace store) or a JSONL file and writes an expert atlas to
 * `<workspace>/atlases/<id>/` (or `out`): see workers/analysis/atlas/build.ts. Progress in tokens (with tokens/s in
 * the message); checkpoints every `checkpointEvery` samples; `resume: true` with the same `id` continues one.
 */
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { defineJob } from './types';
import { resolveUnder } from '../../main/workspace/paths';
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
      ctx.log(`Atlas ${id} → ${outDir}`);
      const meta = await buildAtlas({
        model, tokenizer, modelDir: p.model, outDir, id, ...(p.name ? { name: p.name } : {}),
        source: { data: p.data, filter: p.filter, workspace: ctx.workspace, ...(p.domainField ? { domainField: p.domainField } : {}), ...(p.scoreField ? { scoreField: p.scoreField } : {}) },
        topK: p.topK, threshold: p.threshold, checkpointEvery: p.checkpointEvery, resume: p.resume,
        ...(p.maxSamples ? { maxSamples: p.maxSamples } : {}), ...(p.context ? { context: p.context } : {}),
        signal: ctx.signal,
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

/** `monet.perplexity`: mean NLL / perplexity over a JSONL file, overall, per domain and per sample; progress in samples. */
import { z } from 'zod';
import { defineJob } from './types';
import { loadMonetForJob, maskFromParam, tokenizerFor } from './monet-common';

const Params = z.object({
  model: z.string().min(1),
  /** JSONL file, or inline samples. */
  data: z.string().min(1).optional(),
  samples: z.array(z.object({ text: z.string(), domain: z.string().nullish() })).optional(),
  textField: z.string().default('text'),
  domainField: z.string().default('domain'),
  context: z.number().int().min(2).optional(),
  mask: z.unknown().optional(),
}).refine((p) => (p.data === undefined) !== (p.samples === undefined), { message: 'give exactly one of data (a JSONL file) or samples' });

export const monetPerplexityJob = defineJob({
  heavy: true,
  params: Params,
  title: (p) => `Perplexity: ${p.data ?? `${p.samples!.length} samples`}${p.mask ? ' (masked)' : ''}`,
  async run(p, ctx) {
    const { perplexity, readJsonlSamples } = await import('../models/monet/perplexity');
    const model = await loadMonetForJob(p.model, ctx);
    try {
      const tokenizer = await tokenizerFor(p.model, model.config);
      const masks = await maskFromParam(model.config, p.mask);
      const samples = p.data ? readJsonlSamples(p.data, p.textField, p.domainField) : p.samples!;
      // Progress in samples of a total counted first (a quick read), so the share and time left are true.
      let total = p.samples?.length ?? 0;
      if (p.data) for await (const _ of readJsonlSamples(p.data, p.textField, p.domainField)) total++;
      const r = await perplexity(model, tokenizer, samples, {
        masks, signal: ctx.signal, ...(p.context ? { context: p.context } : {}),
        onProgress: (tokens, n) => ctx.progress(n, total, 'samples', `${tokens.toLocaleString('en-US')} tokens`),
      });
      ctx.log(`overall: ${r.overall.tokens} tokens, nll ${r.overall.nll.toFixed(4)}, ppl ${r.overall.ppl.toFixed(3)}`);
      for (const [d, s] of Object.entries(r.domains)) ctx.log(`${d}: ${s.tokens} tokens, nll ${s.nll.toFixed(4)}, ppl ${s.ppl.toFixed(3)}`);
      return r;
    } finally {
      await model.dispose();
    }
  },
});

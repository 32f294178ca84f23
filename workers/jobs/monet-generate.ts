/**
 * `monet.generate`: generates from a prompt with a KV cache. Tokens stream as `ctx.output` (only the new text, pushed
 * to clients as `job.output`), progress counts tokens, and the log gets one line per ~80 characters; the result holds
 * the whole text and the token ids.
 */
import { z } from 'zod';
import { defineJob } from './types';
import { loadMonetForJob, maskFromParam, tokenizerFor } from './monet-common';

const Params = z.object({
  model: z.string().min(1),
  prompt: z.string(),
  maxTokens: z.number().int().min(1).max(100_000).default(64),
  temperature: z.number().min(0).default(0),
  topP: z.number().gt(0).max(1).default(1),
  seed: z.number().int().default(0),
  mask: z.unknown().optional(),
  /** Prompt through the model's chat template (default: when it has one). */
  chat: z.boolean().optional(),
});

export const monetGenerateJob = defineJob({
  heavy: true,
  params: Params,
  title: (p) => `Generate: ${p.prompt.length > 40 ? `${p.prompt.slice(0, 40)}…` : p.prompt}`,
  async run(p, ctx) {
    const { generate } = await import('../models/monet/generate');
    const model = await loadMonetForJob(p.model, ctx);
    try {
      const tokenizer = await tokenizerFor(p.model, model.config);
      const masks = await maskFromParam(model.config, p.mask);
      const { encodePrompt } = await import('../tokenizer');
      const prompt = encodePrompt(tokenizer, p.prompt, p.chat);
      const ids: number[] = [];
      let pendingLine = '';
      let streamed = '';
      const t0 = performance.now();
      const res = await generate(model, prompt, {
        maxTokens: p.maxTokens, temperature: p.temperature, topP: p.topP, seed: p.seed, masks, signal: ctx.signal,
        onToken: (id) => {
          ids.push(id);
          const text = tokenizer.decode(ids, { skipSpecialTokens: true });
          ctx.progress(ids.length, p.maxTokens, 'tokens');
          // Stream only the new text; hold back a trailing incomplete UTF-8 sequence (decoded as U+FFFD).
          if (!text.endsWith('\uFFFD') && text.startsWith(streamed) && text.length > streamed.length) {
            ctx.output?.(text.slice(streamed.length));
            streamed = text;
          }
          pendingLine += tokenizer.decode([id], { skipSpecialTokens: true });
          if (pendingLine.includes('\n') || pendingLine.length >= 80) {
            ctx.log(pendingLine.replace(/\n$/, ''));
            pendingLine = '';
          }
        },
      });
      if (pendingLine) ctx.log(pendingLine);
      const seconds = (performance.now() - t0) / 1000;
      ctx.log(`${res.tokens.length} tokens (${res.stop}), ${(res.tokens.length / seconds).toFixed(1)} tokens/s`);
      return { text: tokenizer.decode(res.tokens, { skipSpecialTokens: true }), tokens: res.tokens, promptTokens: prompt.length, stop: res.stop };
    } finally {
      await model.dispose();
    }
  },
});

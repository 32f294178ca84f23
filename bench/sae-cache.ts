/**
 * Activation-cache capture rate against the plain forward pass, from one run, on the embedded default model
 * (assets/model) over the held-out corpus (assets/corpus/heldout.jsonl):
 *
 *   forward: the capture's own batches (tokenBatches: windows of 256, 16 rows / 2048 padded tokens) through
 *            model.forward with no logits, after a warm-up pass, before and after the capture (their mean)
 *   capture: captureActivations at the last block's hook_resid_post (every layer runs; an earlier hook stops
 *            sooner and is faster than this), fp16 chunks written to a temporary folder, statistics included
 *
 * Last line: `ratio_vs_forward: X` (capture tokens/s over forward tokens/s; target ≥ 0.8). `benchActivationCache` is
 * exported for `npm run bench:sae`.
 *
 *   node dist/bench/sae-cache.mjs [--tokens 8000] [--threads 2] [--hook blocks.3.hook_resid_post]
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseHookName } from '../workers/models/monet/hooks';
import { MonetModel } from '../workers/models/monet/model';
import { tokenizerForModel } from '../workers/models/monet/session';
import { captureActivations, cacheSourceFor, tokenBatches } from '../workers/sae/activations';

export interface CacheBenchResult {
  model: string;
  hook: string;
  tokens: number;
  forwardTokensPerSecond: number;
  captureTokensPerSecond: number;
  ratioVsForward: number;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const root = [path.resolve(here, '..', '..'), path.resolve(here, '..'), process.cwd()].find((d) => existsSync(path.join(d, 'package.json')))!;

export async function benchActivationCache(o: { tokens?: number; threads?: number; hook?: string; log?: (l: string) => void } = {}): Promise<CacheBenchResult> {
  const modelDir = path.join(root, 'assets', 'model');
  const model = await MonetModel.load(modelDir, { provider: 'cpu', intraOpThreads: o.threads ?? 2 });
  const work = await mkdtemp(path.join(tmpdir(), 'resect-bench-sae-cache-'));
  try {
    const tokenizer = await tokenizerForModel(modelDir, model.config);
    const hookName = o.hook ?? `blocks.${model.config.num_hidden_layers - 1}.hook_resid_post`;
    const hook = parseHookName(hookName, model.config.num_hidden_layers);
    const lines = (await readFile(path.join(root, 'assets', 'corpus', 'heldout.jsonl'), 'utf8')).split('\n').filter((l) => l.trim());
    const texts: { text: string }[] = [];
    let total = 0;
    for (const l of lines) {
      if (total >= (o.tokens ?? 8000)) break;
      const text = (JSON.parse(l) as { text: string }).text;
      total += tokenizer.encode(text).length;
      texts.push({ text });
    }
    const context = Math.min(256, model.config.max_position_embeddings);
    const forwardRate = async () => {
      const t0 = performance.now();
      let tokens = 0;
      for await (const b of tokenBatches(model, tokenizer, texts, { context })) {
        await model.forward({ ids: b.ids, attention: b.attention, batch: b.batch, time: b.time, logits: 'none' });
        tokens += b.keep.length;
      }
      return (tokens / (performance.now() - t0)) * 1000;
    };
    await forwardRate(); // warm-up (ORT arenas, JIT)
    const f1 = await forwardRate();
    const t0 = performance.now();
    const m = await captureActivations({
      model, tokenizer, modelDir, hook, samples: texts, outDir: path.join(work, 'cache'), context, description: 'bench',
      source: cacheSourceFor({ modelDir, hook, data: 'bench', context, excludeBos: true, maxTokens: null }),
    });
    const capture = (m.numTokens / (performance.now() - t0)) * 1000;
    const f2 = await forwardRate();
    const forward = (f1 + f2) / 2;
    o.log?.(`model: default model (assets/model), ${o.threads ?? 2} threads; ${texts.length} samples, ${m.numTokens} tokens captured (BOS excluded) at ${hookName}`);
    o.log?.(`forward tokens/s: ${forward.toFixed(1)} (${f1.toFixed(1)} before, ${f2.toFixed(1)} after); capture tokens/s: ${capture.toFixed(1)} (fp16 chunks + statistics, end to end)`);
    return { model: modelDir, hook: hookName, tokens: m.numTokens, forwardTokensPerSecond: forward, captureTokensPerSecond: capture, ratioVsForward: capture / forward };
  } finally {
    await model.dispose();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const r = await benchActivationCache({
    ...(arg('tokens') ? { tokens: Number(arg('tokens')) } : {}), ...(arg('threads') ? { threads: Number(arg('threads')) } : {}), ...(arg('hook') ? { hook: arg('hook')! } : {}),
    log: (l) => console.log(l),
  });
  console.log(`ratio_vs_forward: ${r.ratioVsForward.toFixed(2)}`);
}

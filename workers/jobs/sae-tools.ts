/**
 * The SAE jobs besides training (docs/sae.md): `sae.capture` (a model's hook over text into the workspace's activation
 * cache), `sae.importActivations` ([tokens, d] .npy / safetensors → cache), `sae.import` (SAE Lens or sparsify folder
 * → `<workspace>/saes/<id>`), `sae.eval` (metrics, spliced loss, cross-seed similarity; also written to
 * `<sae>/resect_eval.json`) and `sae.encode` (texts → per token the strongest latents).
 */
import path from 'node:path';
import { defineJob, type JobContext } from './types';
import { SaeCaptureParams, SaeEncodeParams, SaeEvalParams, SaeImportActivationsParams, SaeImportParams, type SaeEvalResult } from '../sae/eval-schema';
import { saeDir } from './sae-train';
import { resolveUnder } from '../paths';

const deviceOf = (ctx: JobContext) => (ctx.settings.device === 'tensorrt' ? 'cuda' : ctx.settings.device);
const threadsOf = (ctx: JobContext) => (ctx.settings.threads > 0 ? { threads: ctx.settings.threads } : {});
const describe = (d: { kind: 'jsonl'; path: string } | { kind: 'dataset'; datasetId: number }) => (d.kind === 'jsonl' ? path.basename(d.path) : `dataset ${d.datasetId}`);

/** Rate and ETA come from the scheduler's progress; the message adds tokens/s. */
export const saeCaptureJob = defineJob({
  heavy: true,
  params: SaeCaptureParams,
  title: (p) => `Capture ${p.hook} of ${path.basename(p.model)} on ${describe(p.data)}`,
  async run(p, ctx) {
    const { ensureActivationCache } = await import('../sae/activations');
    const { loadMonetForJob } = await import('./monet-common');
    const model = await loadMonetForJob(p.model, ctx);
    try {
      const r = await ensureActivationCache({
        workspace: ctx.workspace, modelDir: p.model, hook: p.hook, data: p.data, model, excludeBos: p.excludeBos, signal: ctx.signal,
        ...(p.maxTokens ? { maxTokens: p.maxTokens } : {}), ...(p.context ? { context: p.context } : {}),
        log: (l) => ctx.log(l),
        onProgress: (q) => ctx.progress(q.tokens, p.maxTokens ?? null, 'tokens', `${q.samples} samples, ${q.tokensPerSecond.toFixed(0)} tokens/s`),
      });
      const m = r.manifest;
      return { cache: path.basename(r.dir), dir: r.dir, reused: r.reused, tokens: m.numTokens, dIn: m.dIn, samples: m.samples, tokensPerSecond: m.tokensPerSecond };
    } finally {
      await model.dispose();
    }
  },
});

export const saeImportActivationsJob = defineJob({
  heavy: true,
  params: SaeImportActivationsParams,
  title: (p) => `Import activations ${path.basename(p.file)}`,
  async run(p, ctx) {
    const { importActivations, importSource } = await import('../sae/activations-import');
    const { cacheKey, cacheRoot } = await import('../sae/cache');
    const o = { file: p.file, ...(p.tensor ? { tensor: p.tensor } : {}), hookName: p.hookName, ...(p.sourceModel ? { model: p.sourceModel } : {}), excludeBos: p.excludeBos };
    const dir = path.join(cacheRoot(ctx.workspace), cacheKey(importSource(o)));
    ctx.log(`Importing ${p.file} into ${dir}`);
    const m = await importActivations({ ...o, signal: ctx.signal, onProgress: (r, t) => ctx.progress(r, t, 'rows') }, dir);
    ctx.log(`Done: ${m.numTokens} × ${m.dIn}${m.stats?.clipped ? ` (${m.stats.clipped} values beyond fp16's range were clipped)` : ''}`);
    return { cache: path.basename(dir), dir, tokens: m.numTokens, dIn: m.dIn };
  },
});

export const saeImportJob = defineJob({
  heavy: false,
  params: SaeImportParams,
  title: (p) => `Import SAE ${path.basename(p.dir)}${p.hookpoint ? ` (${p.hookpoint})` : ''}`,
  async run(p, ctx) {
    const { existsSync, rmSync } = await import('node:fs');
    const { importSaeFolder } = await import('../sae/io/store');
    const dest = saeDir(ctx.workspace, p.id);
    if (existsSync(path.join(dest, 'cfg.json'))) {
      if (!p.replace) throw new Error(`An SAE named ${p.id} exists already; choose another name.`);
      rmSync(dest, { recursive: true, force: true });
    }
    const r = await importSaeFolder(p.dir, dest, p.hookpoint);
    for (const n of r.notes) ctx.log(n);
    const c = r.sae.config;
    ctx.log(`Imported a ${r.origin} ${c.activation.kind} SAE: ${c.dSae} latents, d_in ${c.dIn}, ${c.hook.name}`);
    return { id: p.id, dir: dest, origin: r.origin, architecture: c.activation.kind, latents: c.dSae, dIn: c.dIn, hook: c.hook.name };
  },
});

async function loadWorkspaceSae(ctx: JobContext, id: string) {
  const { existsSync } = await import('node:fs');
  const { loadSaeFolder } = await import('../sae/io');
  const dir = saeDir(ctx.workspace, id);
  if (!existsSync(path.join(dir, 'cfg.json'))) throw new Error(`No SAE ${id} in this workspace (or it has not finished training).`);
  const loaded = await loadSaeFolder(dir);
  for (const n of loaded.notes) ctx.log(n);
  return { ...loaded, dir };
}

/** The model an SAE runs on: given, else the one it records when that folder exists. */
async function modelDirFor(sae: { config: { hook: { model: string } } }, given: string | undefined): Promise<string> {
  const { existsSync } = await import('node:fs');
  const dir = given ?? sae.config.hook.model;
  if (!dir || !existsSync(path.join(dir, 'config.json'))) throw new Error(`The SAE records the model "${sae.config.hook.model || 'none'}", which is not a model folder here; choose the model.`);
  return dir;
}

export const saeEvalJob = defineJob({
  heavy: true,
  params: SaeEvalParams,
  title: (p) => `Evaluate SAE ${p.sae}${p.source.kind === 'cache' ? ` on cache ${p.source.cache}` : ` on ${describe(p.source.data)}`}${p.against ? ` vs ${p.against}` : ''}`,
  async run(p, ctx): Promise<SaeEvalResult> {
    const { evaluateOnActivations, evaluateOnText, crossSeedConsistency } = await import('../sae/eval');
    const { EVAL_FILE, writeJsonAtomic } = await import('../sae/io/store');
    const { sae, dir } = await loadWorkspaceSae(ctx, p.sae);
    const common = { maxTokens: p.maxTokens, provider: deviceOf(ctx), ...threadsOf(ctx), signal: ctx.signal, onProgress: (t: number) => ctx.progress(t, p.maxTokens, 'tokens') };
    let r;
    let source: string;
    if (p.source.kind === 'cache') {
      const { ActivationCache, cacheRoot } = await import('../sae/cache');
      const cache = ActivationCache.open(resolveUnder(cacheRoot(ctx.workspace), p.source.cache, 'activation cache'));
      if (cache.dIn !== sae.config.dIn) throw new Error(`The cache's activations have width ${cache.dIn}, the SAE's d_in is ${sae.config.dIn}.`);
      source = `cache ${p.source.cache} (${cache.manifest.description})`;
      r = { metrics: await evaluateOnActivations(sae, cache.sequential(4096), common), loss: null };
    } else {
      const s = p.source;
      const modelDir = await modelDirFor(sae, s.model);
      const { loadMonetForJob, tokenizerFor } = await import('./monet-common');
      const { openSource } = await import('../analysis/atlas/source');
      source = `${path.basename(modelDir)} on ${describe(s.data)}`;
      const model = await loadMonetForJob(modelDir, ctx);
      try {
        const samples = (async function* () { for await (const x of openSource({ data: s.data, filter: {}, workspace: ctx.workspace })) yield { text: x.text }; })();
        r = await evaluateOnText(sae, model, await tokenizerFor(modelDir, model.config), samples, { ...common, ...(s.context ? { context: s.context } : {}), activationsOnly: s.activationsOnly });
      } finally {
        await model.dispose();
      }
    }
    let crossSeed: SaeEvalResult['crossSeed'] = null;
    if (p.against) {
      const other = await loadWorkspaceSae(ctx, p.against);
      const c = await crossSeedConsistency(sae, other.sae, { threshold: p.threshold, ...(p.alpha !== undefined ? { alpha: p.alpha, frequency: r.metrics.frequency } : {}), provider: deviceOf(ctx), ...threadsOf(ctx) });
      crossSeed = { against: p.against, latents: c.latents, threshold: c.threshold, fractionAbove: c.fractionAbove, meanMcs: c.meanMcs, alpha: c.alpha };
    }
    const { frequency, ...metrics } = r.metrics;
    void frequency;
    // JSON has no NaN: an undefined loss recovered (clean = zero ablation) travels as null.
    const loss = r.loss ? { ...r.loss, lossRecovered: Number.isFinite(r.loss.lossRecovered) ? r.loss.lossRecovered : null } : null;
    const result: SaeEvalResult = { sae: p.sae, source, metrics, loss, crossSeed, evaluatedAt: Date.now() };
    await writeJsonAtomic(path.join(dir, EVAL_FILE), result);
    ctx.log(`FVE ${metrics.fve.toFixed(4)}, NMSE ${metrics.nmse.toFixed(4)}, L0 ${metrics.l0.toFixed(1)}, dead ${(100 * metrics.deadFraction).toFixed(1)} %${loss ? `, loss recovered ${loss.lossRecovered?.toFixed(3) ?? 'n/a'}` : ''}`);
    return result;
  },
});

export const saeEncodeJob = defineJob({
  heavy: false,
  params: SaeEncodeParams,
  title: (p) => `Encode ${p.texts.length === 1 ? `“${p.texts[0]!.slice(0, 40)}${p.texts[0]!.length > 40 ? '…' : ''}”` : `${p.texts.length} texts`} with SAE ${p.sae}`,
  async run(p, ctx) {
    const { sae } = await loadWorkspaceSae(ctx, p.sae);
    const modelDir = await modelDirFor(sae, p.model);
    const { loadMonetForJob, tokenizerFor } = await import('./monet-common');
    const { SaeRunner } = await import('../sae/encode');
    const { encodeText } = await import('../sae/encode-text');
    const model = await loadMonetForJob(modelDir, ctx);
    const runner = await SaeRunner.create(sae, { provider: deviceOf(ctx), ...(ctx.settings.threads > 0 ? { intraOpThreads: ctx.settings.threads } : {}) });
    try {
      const out = await encodeText(runner, model, await tokenizerFor(modelDir, model.config), p.texts, { top: p.top, signal: ctx.signal });
      return { texts: out.map((t, i) => ({ text: p.texts[i]!, tokens: t.tokens })) };
    } finally {
      await runner.dispose();
      await model.dispose();
    }
  },
});

/**
 * `sae.train`: train a sparse autoencoder (GBA, BA, TopK or ReLU + L1: workers/sae/train.ts) into
 * `<workspace>/saes/<id>/`, on the activations of a model's hook over text (captured into the workspace's activation
 * cache first when no complete cache of the same model, hook, data and options exists: workers/sae/activations.ts) or
 * on an activation cache already there (an import).
 *
 * The folder ends in SAE Lens's layout (cfg.json + sae_weights.safetensors, with Resect's extra state beside it:
 * workers/sae/io) plus `metrics.jsonl` (records `start`/`resume`, `step`, `checkpoint`, `eval`, `end`, read by the app
 * through `jobs.metrics`), `checkpoint.safetensors` while the run is unfinished, and `resect_train.json` (the summary
 * the compare table reads). Pause = cancel with a checkpoint; `resume: true` continues it.
 */
import path from 'node:path';
import { defineJob, type JobContext } from './types';
import { SaeTrainJobParams, type SaeTrainJobParams as Params, type SaeTrainSummary } from '../sae/train-options';
import { resolveUnder } from '../paths';

export { SaeTrainJobParams };

export const SAE_METRICS_FILE = 'metrics.jsonl';
export const SAE_SUMMARY_FILE = 'resect_train.json';

/** `<workspace>/saes/<id>` (the id is checked by the schema: one folder name). */
export const saeDir = (workspace: string, id: string): string => resolveUnder(path.join(workspace, 'saes'), id, 'SAE id');

/** The activation cache a run reads: an existing complete one (an import, or a capture of the same model, hook, text
 * and options), or a new capture of the model's hook (workers/sae/activations.ts ensureActivationCache). */
async function activationCache(p: Params, ctx: JobContext): Promise<string> {
  const { existsSync } = await import('node:fs');
  if (p.source.kind === 'cache') {
    const { cacheRoot } = await import('../sae/cache');
    const dir = resolveUnder(cacheRoot(ctx.workspace), p.source.cache, 'activation cache');
    if (!existsSync(path.join(dir, 'manifest.json'))) throw new Error(`no activation cache ${p.source.cache} in ${cacheRoot(ctx.workspace)}`);
    return dir;
  }
  const s = p.source;
  const { ensureActivationCache } = await import('../sae/activations');
  const device = ctx.settings.device === 'tensorrt' ? 'cuda' : ctx.settings.device;
  const r = await ensureActivationCache({
    workspace: ctx.workspace, modelDir: path.resolve(s.model), hook: s.hook, data: s.data, excludeBos: s.excludeBos, signal: ctx.signal,
    ...(s.maxTokens ? { maxTokens: s.maxTokens } : {}), ...(s.context ? { context: s.context } : {}),
    load: { provider: device, ...(ctx.settings.threads > 0 ? { intraOpThreads: ctx.settings.threads } : {}), log: (l) => ctx.log(l) },
    log: (l) => ctx.log(l),
    onProgress: (q) => ctx.progress(q.tokens, s.maxTokens ?? null, 'tokens', `capturing activations: ${q.samples} samples, ${q.tokensPerSecond.toFixed(0)} tokens/s`),
  });
  return r.dir;
}

export const saeTrainJob = defineJob({
  heavy: true,
  params: SaeTrainJobParams,
  title: (p) => `Train SAE ${p.id} (${p.config.method ?? 'gba'}, ${p.config.latents} latents${p.source.kind === 'model' ? `, ${p.source.hook}` : ''})${p.resume ? ' (resume)' : ''}`,
  async run(p, ctx) {
    const { appendFileSync, mkdirSync, rmSync } = await import('node:fs');
    const { writeFile, rename } = await import('node:fs/promises');
    const out = saeDir(ctx.workspace, p.id);
    mkdirSync(out, { recursive: true });
    const metricsFile = path.join(out, SAE_METRICS_FILE);
    const record = (r: Record<string, unknown>) => appendFileSync(metricsFile, `${JSON.stringify({ ...r, time: Date.now() })}\n`);
    if (!p.resume) rmSync(metricsFile, { force: true });

    const cacheDir = await activationCache(p, ctx);
    const { ActivationCache } = await import('../sae/cache');
    const { trainSae } = await import('../sae/train');
    const { hasCheckpoint } = await import('../sae/checkpoint');
    const cfg = p.config;
    const cache = ActivationCache.open(cacheDir, { normalize: { mode: cfg.normalize ?? 'dataset', target: cfg.normTarget ?? 1 } });
    const resume = p.resume && hasCheckpoint(out);
    if (p.resume && !resume) ctx.log(`No checkpoint in ${out}: starting from step 0`);
    const device = ctx.settings.device === 'tensorrt' ? 'cuda' : ctx.settings.device;
    record({ type: resume ? 'resume' : 'start', config: cfg, cache: path.basename(cacheDir), tokensAvailable: cache.numTokens, dIn: cache.dIn });
    ctx.log(`Training ${cfg.method ?? 'gba'} (${cfg.latents} latents) on ${cache.numTokens} activations of width ${cache.dIn} → ${out}`);
    const r = await trainSae(cfg, cache, {
      provider: device, ...(ctx.settings.threads > 0 ? { threads: ctx.settings.threads } : {}),
      every: p.logEvery, signal: ctx.signal, checkpointDir: out, checkpointEvery: p.checkpointEvery, resume,
      log: (l) => ctx.log(l),
      onStep: (m) => {
        record({ type: 'step', ...m });
        ctx.progress(m.step, m.totalSteps, 'steps', `loss ${m.loss.toFixed(4)}, FVE ${m.fve.toFixed(3)}, L0 ${m.l0.toFixed(1)}, dead ${(100 * m.dead).toFixed(1)} %`);
      },
    });
    if (r.checkpoint) record({ type: 'checkpoint', step: r.step });
    if (r.outcome !== 'finished') {
      record({ type: 'end', outcome: r.outcome, step: r.step });
      throw ctx.signal.reason ?? new Error(`training stopped (${r.outcome}) at step ${r.step}`);
    }

    const { saveSaeLens } = await import('../sae/io');
    const hook = r.sae.config.hook;
    const s = p.source;
    await saveSaeLens(r.sae, out, {
      ...(hook.model ? { modelName: path.basename(hook.model) } : {}),
      ...(s.kind === 'model' ? { datasetPath: s.data.kind === 'jsonl' ? path.resolve(s.data.path) : `dataset ${s.data.datasetId}` } : {}),
      ...(s.kind === 'model' && s.context ? { contextSize: s.context } : {}),
    });
    let evaluation: SaeTrainSummary['eval'] = null;
    if (p.evalTokens > 0) {
      // Over the first evalTokens of the cache in stored order, with the SAE as saved, on raw activations.
      const { evaluateOnActivations } = await import('../sae/eval');
      const e = await evaluateOnActivations(r.sae, cache.sequential(4096, p.evalTokens), {
        provider: device, ...(ctx.settings.threads > 0 ? { threads: ctx.settings.threads } : {}), signal: ctx.signal,
      });
      evaluation = { tokens: e.tokens, fve: e.fve, nmse: e.nmse, l0: e.l0, dead: e.deadFraction, ...(e.groups ? { groups: e.groups } : {}) };
    }
    if (evaluation) record({ type: 'eval', step: r.step, ...evaluation });
    const summary: SaeTrainSummary = {
      format: 1, id: p.id, name: p.name ?? `${cfg.method ?? 'gba'} ${cfg.latents} · ${hook.name}`,
      method: r.sae.config.method, latents: r.sae.config.dSae, dIn: r.sae.config.dIn, hook: hook.name, model: hook.model || null,
      data: cache.manifest.description, cache: path.basename(cacheDir), config: { ...cfg },
      steps: r.step, tokens: r.last?.tokens ?? 0, elapsedMs: r.elapsedMs, eval: evaluation, finishedAt: Date.now(),
    };
    const tmp = path.join(out, `${SAE_SUMMARY_FILE}.tmp-${process.pid}`);
    await writeFile(tmp, `${JSON.stringify(summary, null, 1)}\n`);
    await rename(tmp, path.join(out, SAE_SUMMARY_FILE));
    // The SAE is saved; the checkpoint only served resuming.
    rmSync(path.join(out, 'checkpoint.safetensors'), { force: true });
    record({ type: 'end', outcome: 'finished', step: r.step });
    ctx.log(`Saved ${out}${evaluation ? `: FVE ${evaluation.fve.toFixed(3)}, L0 ${evaluation.l0.toFixed(1)}, dead ${(100 * evaluation.dead).toFixed(1)} % over ${evaluation.tokens} tokens` : ''}`);
    return { ...summary, dir: out };
  },
});

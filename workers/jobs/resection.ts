/**
 * Resection jobs:
 * - `resection.evaluate`: per-domain perplexity, generations and (optionally) toxicity, before and after a mask;
 *   result = the comparison plus an SVG chart; also saved to `<workspace>/edits/evaluations/<jobId>.json`;
 * - `resection.experiment`: the domain-masking experiment (atlas → select → mask → perplexity) for every domain;
 * - `resection.export`: an edited model as a Hugging Face folder with masks and recipe, or baked where exact.
 */
import { resolveUnder } from '../paths';
import path from 'node:path';
import { defineJob, type JobContext } from './types';
import { loadMonetForJob, tokenizerFor } from './monet-common';
import { EvaluateParams, ExperimentParams, ExportParams } from '../analysis/resection/schema';
import type { DataSource } from '../analysis/resection/schema';

interface LoadedSample { text: string; domain: string | null; doc?: string | null }

/**
 * Every sample of a dataset or JSONL (the atlas's source reader), with the document each was cut from when a JSONL
 * row has `docField`. Evaluation text is then drawn from them with `stratifiedSample`, never by reading the first N.
 */
export async function readSamples(data: DataSource, ctx: Pick<JobContext, 'workspace'>, o: { domainField?: string; docField?: string } = {}): Promise<LoadedSample[]> {
  const out: LoadedSample[] = [];
  if (data.kind === 'jsonl') {
    const { readLabelledJsonl } = await import('../analysis/resection/experiment');
    for (const s of await readLabelledJsonl(data.path, data.textField, o.domainField ?? 'domain', o.docField ?? 'source')) out.push({ text: s.text, domain: s.domain ?? null, ...(s.doc ? { doc: s.doc } : {}) });
    return out;
  }
  const { openSource } = await import('../analysis/atlas/source');
  for await (const s of openSource({ data, filter: {}, workspace: ctx.workspace, ...(o.domainField ? { domainField: o.domainField } : {}) })) out.push({ text: s.text, domain: s.domain });
  return out;
}

export const resectionEvaluateJob = defineJob({
  heavy: true,
  params: EvaluateParams,
  title: (p) => `Evaluate edit on ${path.basename(p.model)}${p.target ? ` (target ${p.target})` : ''}`,
  async run(p, ctx) {
    const { evaluateMask } = await import('../analysis/resection/evaluate');
    const { relIncreaseChartSvg } = await import('../analysis/resection/chart');
    const { parseMaskJson } = await import('../models/monet/mask');
    const { openScorer } = await import('../analysis/resection/scorers');
    const model = await loadMonetForJob(p.model, ctx);
    const scorer = p.toxicity ? await openScorer(p.toxicity.scorer) : null;
    try {
      const tokenizer = await tokenizerFor(p.model, model.config);
      const mask = parseMaskJson(model.config, p.mask, 'mask');
      const { stratifiedSample, describeDraw, drawProblems, drawSummary } = await import('../analysis/resection/sampling');
      const { atlasOverlap, overlapMessage } = await import('../analysis/resection/overlap');
      // The same draw as `resect experiment`: a token budget per domain, whole documents, seeded — every domain measured.
      const draw = (data: DataSource) => readSamples(data, ctx, { docField: p.docField, ...(p.domainField ? { domainField: p.domainField } : {}) })
        .then((all) => stratifiedSample(all, { tokensPerDomain: p.tokensPerDomain, seed: p.sampleSeed, countTokens: (t) => Math.max(0, tokenizer.encode(t).length - 1) }));
      const evalDraw = p.data ? await draw(p.data) : null;
      const samples = evalDraw?.taken ?? [];
      const heldout = p.toxicity?.heldout ? (await draw(p.toxicity.heldout)).taken : undefined;
      // Problems are shown loudly with the figures (the app's panel), not hidden in the log.
      const warnings = evalDraw ? drawProblems(evalDraw, p.target ?? null) : [];
      for (const a of p.atlases) {
        const dir = path.isAbsolute(a) ? a : resolveUnder(path.join(ctx.workspace, 'atlases'), a, 'atlas id');
        const m = samples.length ? overlapMessage(await atlasOverlap(dir, samples, ctx.workspace)) : null;
        if (m) warnings.push(m);
      }
      if (evalDraw) ctx.log(`Evaluation text: ${describeDraw(evalDraw)}`);
      for (const w of warnings) ctx.log(`WARNING: ${w}`);
      ctx.log(`Evaluating a mask over ${mask.size} layers on ${samples.length} samples, ${p.prompts.length} prompts${p.toxicity ? `, toxicity on ${p.toxicity.prompts.length} prompts with ${scorer!.name}` : ''}`);
      const r = await evaluateMask(model, tokenizer, mask, {
        samples, target: p.target ?? null, prompts: p.prompts, maxTokens: p.maxTokens, seed: p.seed, temperature: p.temperature, topP: p.topP,
        ...(p.context ? { context: p.context } : {}),
        ...(p.toxicity ? { toxicity: { prompts: p.toxicity.prompts, scorer: scorer!, k: p.toxicity.k, n: p.toxicity.n, ...(heldout ? { heldout } : {}) } } : {}),
        signal: ctx.signal, log: (l) => ctx.log(l),
        onProgress: (done, total, what) => ctx.progress(done, total, 'tokens', what),
      });
      const chart = r.perplexity ? relIncreaseChartSvg(r.perplexity.rows, r.perplexity.target) : null;
      const result = { ...r, chart, model: p.model, mask: p.mask, edits: p.edits, evaluatedAt: Date.now(), draw: evalDraw ? drawSummary(evalDraw) : null, warnings };
      const { mkdir, writeFile } = await import('node:fs/promises');
      const dir = path.join(ctx.workspace, 'edits', 'evaluations');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, `${ctx.jobId}.json`), `${JSON.stringify(result)}\n`);
      if (r.perplexity) {
        for (const row of r.perplexity.rows) ctx.log(`${row.domain}: ppl ${row.pplBefore.toFixed(3)} → ${row.pplAfter.toFixed(3)} (${(row.relIncrease * 100).toFixed(2)}%)`);
      }
      return result;
    } finally {
      await scorer?.dispose?.();
      await model.dispose();
    }
  },
});

export const resectionExperimentJob = defineJob({
  heavy: true,
  params: ExperimentParams,
  title: (p) => `Domain-masking experiment on ${path.basename(p.model)}`,
  async run(p, ctx) {
    const { buildSelectionAtlas, domainMasking, splitPerDomain, summarizeDomainMasking, SELECTIVITY_BAR, MIN_TARGET_INCREASE } = await import('../analysis/resection/experiment');
    const { stratifiedSample, describeDraw, drawProblems, drawSummary } = await import('../analysis/resection/sampling');
    const { atlasOverlap, overlapMessage, samplesOverlap } = await import('../analysis/resection/overlap');
    const { atlasRoutingStats } = await import('../analysis/resection/atlas-adapter');
    const model = await loadMonetForJob(p.model, ctx);
    try {
      const tokenizer = await tokenizerFor(p.model, model.config);
      const df = { docField: p.docField, ...(p.domainField ? { domainField: p.domainField } : {}) };
      // The same draw as the CLI and the Evaluate job. Selection statistics never come from the texts the evaluation
      // scores: the atlas is built on `atlasData`, or on the documents of `data` the draw did not touch.
      const draw = stratifiedSample(await readSamples(p.data, ctx, df), {
        tokensPerDomain: p.tokensPerDomain, seed: p.sampleSeed, wholeDocuments: !p.atlas && !p.atlasData, countTokens: (t) => Math.max(0, tokenizer.encode(t).length - 1),
      });
      ctx.log(`Evaluation text: ${describeDraw(draw)}`);
      const problems = drawProblems(draw);
      if (problems.length && !p.allowShort) throw new Error(`${problems.join('; ')}. Lower the tokens per domain (every domain needs the same budget), or allow short domains`);
      const samples = draw.taken;
      let atlasDir = p.atlas ? (path.isAbsolute(p.atlas) ? p.atlas : resolveUnder(path.join(ctx.workspace, 'atlases'), p.atlas, 'atlas id')) : null;
      let overlap;
      if (!atlasDir) {
        atlasDir = path.join(ctx.workspace, 'atlases', `experiment-${ctx.jobId}`);
        const atlasSamples = splitPerDomain(p.atlasData ? await readSamples(p.atlasData, ctx, df) : draw.rest, p.atlasSamplesPerDomain).taken;
        if (!atlasSamples.length) throw new Error('no samples left for the atlas: pass atlasData or fewer tokens per domain');
        overlap = samplesOverlap(atlasSamples, samples, p.atlasData ? (p.atlasData.kind === 'jsonl' ? p.atlasData.path : `dataset ${p.atlasData.datasetId}`) : 'the documents not evaluated');
        ctx.log(`Building an atlas in ${atlasDir} on ${atlasSamples.length} samples (${p.atlasData ? 'atlasData' : 'the documents not evaluated'}); evaluating on ${samples.length}`);
        if (overlapMessage(overlap)) throw new Error(`${overlapMessage(overlap)}: choose atlas text that is not evaluated`);
        await buildSelectionAtlas({
          model, tokenizer, modelDir: p.model, samples: atlasSamples, dir: atlasDir, signal: ctx.signal,
          ...(p.context ? { context: p.context } : {}),
          onProgress: (q) => ctx.progress(q.tokens, null, 'tokens', 'atlas'),
        });
      } else {
        overlap = await atlasOverlap(atlasDir, samples, ctx.workspace);
        const m = overlapMessage(overlap);
        // A chosen atlas built on evaluated text is refused; one that does not record its text is run with a warning.
        if (m && overlap.known) throw new Error(`${m}: choose an atlas built on other text`);
        if (m) ctx.log(`WARNING: ${m}`);
      }
      const stats = await atlasRoutingStats(atlasDir);
      const r = await domainMasking(model, tokenizer, samples, {
        stats, ratio: p.ratio, minMass: p.minMass, scope: p.scope, layer: p.layer ?? null, ...(p.context ? { context: p.context } : {}), signal: ctx.signal,
        bootstrap: { seed: p.sampleSeed },
        log: (l) => ctx.log(l), onProgress: (d, t, what) => ctx.progress(d, t, 'runs', what),
      });
      const { comparisons: _c, bootstrap, ...rest } = r;
      // The bar travels with the result so that a client shows the verdict the CLI prints, not its own reading.
      return {
        ...rest, summary: summarizeDomainMasking(r.domains, SELECTIVITY_BAR, bootstrap), bar: { ratio: SELECTIVITY_BAR, minTarget: MIN_TARGET_INCREASE }, atlas: atlasDir,
        evaluated: samples.length, draw: drawSummary(draw), warnings: [...problems, ...(overlapMessage(overlap) ? [overlapMessage(overlap)!] : [])],
      };
    } finally {
      await model.dispose();
    }
  },
});

export const resectionExportJob = defineJob({
  heavy: false,
  params: ExportParams,
  title: (p) => `Export ${p.baked ? 'baked ' : ''}${path.basename(p.model)}${p.onnx ? ' (+ ONNX)' : ''} → ${p.out}`,
  async run(p, ctx) {
    const { exportBaked, exportMasked, withFolderEdit } = await import('../analysis/resection/export');
    const { opensUnedited } = await import('../models/monet/recipe');
    const out = path.resolve(ctx.workspace, p.out);
    ctx.log(`Exporting to ${out}`);
    // A model that is itself an export, opened with its edit, keeps that edit in the new mask.
    const { mask, basedOn } = await withFolderEdit(p.model, p.mask, { inherit: !opensUnedited(ctx.workspace, p.model) });
    if (basedOn) ctx.log('The model folder carries an edit: the export keeps it');
    const recipe = { ...p.recipe, ...(basedOn ? { basedOn } : {}) };
    const r = p.baked
      ? await exportBaked(p.model, mask, out, { recipe })
      : await exportMasked(p.model, mask, out, { recipe, copy: p.copy });
    ctx.log(`Wrote ${r.files.join(', ')}`);
    if (p.onnx) {
      const { writeOnnxExport } = await import('../analysis/resection/export-onnx');
      ctx.log('Writing model.onnx (masks built in)');
      const o = await writeOnnxExport(p.model, mask, out);
      ctx.log(`Wrote ${o.files.join(', ')}`);
      return { out, ...r, files: [...r.files, ...o.files], onnx: o };
    }
    return { out, ...r };
  },
});

// trainSae: trains a GBA / BA / TopK / ReLU+L1 sparse autoencoder on batches from an ActivationSource with the
// fused step graph (graph.ts) on ONNX Runtime, adapting GBA's biases from the step's streamed statistics (bias.ts),
// reporting metrics per step, checkpointing resumably (checkpoint.ts), and honouring pause / cancel like the Monet
// trainer (workers/training/train.ts): cancel and pause both save a checkpoint first when a folder is given.
import type { Provider } from '../engine';
import { BiasAdapter, biasRuleOptions } from './bias';
import { type SaeCheckpoint, hasCheckpoint, loadSaeCheckpoint, saveSaeCheckpoint, checkpointPath } from './checkpoint';
import { SaeStepRunner, buildSaeStep } from './graph';
import {
  type SaeTrainConfig, type SaeTrainConfigInput, groupOf, groupTargets, initParams, isBiasAdapted, parseSaeTrainConfig, toSae,
} from './model';
import { fitNormalization, normalizeRowsInPlace } from './train-source';
import type { ActivationSource, Sae, SaeHook, SaeNormalization, SaeStepMetrics } from './types';

export type { SaeStepMetrics } from './types';


export interface TrainSaeOptions {
  provider?: Provider;
  threads?: number;
  /** Metrics every `every` steps (and the last), default 1. */
  onStep?: (m: SaeStepMetrics) => void;
  every?: number;
  log?: (line: string) => void;
  /** Cancel: stops after the current step (checkpoint saved when `checkpointDir` is set); outcome 'cancelled'. */
  signal?: AbortSignal;
  /** Pause: polled between steps; true stops with a checkpoint, outcome 'paused'. */
  shouldPause?: () => boolean;
  /** Stop (paused) once this step is done. */
  stopAtStep?: number;
  checkpointDir?: string;
  /** Periodic checkpoints every N steps (0: only at pause/cancel/end). */
  checkpointEvery?: number;
  /** Continue from the checkpoint in checkpointDir (its config wins over `config`, except `steps`). */
  resume?: boolean;
  /** Tokens sampled to fit the normalization and the pre-bias mean when the source brings none (default 16 384). */
  fitTokens?: number;
}

export interface TrainSaeResult {
  outcome: 'finished' | 'cancelled' | 'paused';
  step: number;
  sae: Sae;
  last?: SaeStepMetrics;
  checkpoint?: string;
  elapsedMs: number;
}

const EXTERNAL_HOOK: SaeHook = { model: '', name: 'external', layer: -1, kind: 'external' };

export async function trainSae(configIn: SaeTrainConfigInput, source: ActivationSource, o: TrainSaeOptions = {}): Promise<TrainSaeResult> {
  const dIn = source.dIn;
  let resumed: SaeCheckpoint | null = null;
  if (o.resume) {
    if (!o.checkpointDir || !hasCheckpoint(o.checkpointDir)) throw new Error(`resume: no checkpoint in ${o.checkpointDir ?? '(no checkpointDir given)'}`);
    resumed = await loadSaeCheckpoint(o.checkpointDir);
    if (resumed.dIn !== dIn) throw new Error(`resume: the checkpoint has dIn ${resumed.dIn}, the activations ${dIn}`);
  }
  const c: SaeTrainConfig = resumed ? { ...resumed.config, steps: parseSaeTrainConfig(configIn).steps } : parseSaeTrainConfig(configIn);
  const L = c.batchSize;
  const perEpoch = Math.floor(source.numTokens / L);
  if (perEpoch < 1) throw new Error(`the source holds ${source.numTokens} tokens, fewer than one batch of ${L}`);
  const M = c.latents;

  // ---- Normalization and the data mean for the pre-bias.
  let norm: SaeNormalization;
  let mean: Float32Array;
  if (resumed) {
    norm = resumed.normalization;
    mean = new Float32Array(dIn);
  } else {
    const want = Math.min(o.fitTokens ?? 16_384, perEpoch * L);
    const rows: Float32Array[] = [];
    for await (const b of source.batches(L, c.seed + 0x5eed)) {
      rows.push(b);
      if (rows.length * L >= want) break;
    }
    const sample = new Float32Array(rows.length * L * dIn);
    rows.forEach((r, i) => sample.set(r, i * L * dIn));
    norm = source.normalization ?? fitNormalization(c.normalize, sample, dIn, c.normTarget);
    normalizeRowsInPlace(norm, sample, dIn);
    mean = new Float32Array(dIn);
    const n = sample.length / dIn;
    for (let r = 0; r < n; r++) for (let j = 0; j < dIn; j++) mean[j]! += sample[r * dIn + j]! / n;
  }

  // ---- Graph, parameters, rule state.
  const spec = buildSaeStep(c, dIn);
  const init = initParams(c, dIn, mean);
  const runner = await SaeStepRunner.create(spec, init, { provider: o.provider ?? 'cpu', ...(o.threads ? { intraOpThreads: o.threads } : {}) });
  const frozenPreBias: Float32Array | undefined = isBiasAdapted(c.method) && !c.trainPreBias ? (resumed?.state.get('frozen.b_pre') as Float32Array | undefined) ?? init.get('b_pre')! : undefined;
  const group = groupOf(M, isBiasAdapted(c.method) ? groupTargets(c).length : 1);
  const targets = groupTargets(c);
  const adapter = isBiasAdapted(c.method) ? new BiasAdapter(new Float32Array(M).fill(c.biasInit), group, targets, biasRuleOptions(c)) : null;
  const sinceFired = new Float64Array(M);
  let step = 0;
  let tokensSeen = 0;
  let elapsedBefore = 0;
  if (resumed) {
    for (const [k, v] of resumed.buffers) runner.load(k, v);
    step = resumed.step;
    tokensSeen = resumed.tokensSeen;
    elapsedBefore = resumed.elapsedMs;
    const st = resumed.state;
    sinceFired.set(st.get('dead.sinceFired')!);
    if (adapter) {
      adapter.bias.set(st.get('gba.bias')!);
      adapter.count.set(st.get('gba.count')!);
      adapter.peak.set(st.get('gba.peak')!);
      adapter.windowTokens.set(st.get('gba.windowTokens')!);
      adapter.lastRate.set(st.get('gba.lastRate')!);
    }
    o.log?.(`resumed from ${checkpointPath(o.checkpointDir!)} at step ${step}/${c.steps}`);
  }

  const save = async (): Promise<string | undefined> => {
    if (!o.checkpointDir) return undefined;
    const buffers = new Map(runner.bufferNames().map((k) => [k, Float32Array.from(runner.value(k))]));
    const state = new Map<string, Float32Array | Float64Array>([['dead.sinceFired', Float64Array.from(sinceFired)]]);
    if (adapter) {
      state.set('gba.bias', Float32Array.from(adapter.bias));
      state.set('gba.count', Float64Array.from(adapter.count));
      state.set('gba.peak', Float32Array.from(adapter.peak));
      state.set('gba.windowTokens', Float64Array.from(adapter.windowTokens));
      state.set('gba.lastRate', Float64Array.from(adapter.lastRate));
    }
    if (frozenPreBias) state.set('frozen.b_pre', frozenPreBias);
    return saveSaeCheckpoint(o.checkpointDir, {
      config: c, dIn, step, tokensSeen, elapsedMs: elapsedBefore + (performance.now() - started), normalization: norm, buffers, state,
    });
  };

  // ---- Batches: epochs of the source, each in its own seeded order; resuming starts mid-epoch.
  let iter: AsyncIterator<Float32Array> | null = null;
  const nextBatch = async (): Promise<Float32Array> => {
    for (;;) {
      if (!iter) {
        const epoch = Math.floor(step / perEpoch);
        iter = source.batches(L, c.seed + 1009 * epoch, step % perEpoch)[Symbol.asyncIterator]();
      }
      const r = await iter.next();
      if (!r.done) return r.value;
      iter = null;
      if (step % perEpoch !== 0) throw new Error(`the activation source ended after ${step % perEpoch} of the ${perEpoch} batches it promised`);
    }
  };

  const lrAt = (s: number): number => (c.warmupSteps > 0 ? c.lr * Math.min(1, s / c.warmupSteps) : c.lr);
  const deadMask = new Float32Array(M);
  const started = performance.now();
  let outcome: TrainSaeResult['outcome'] = 'finished';
  let last: SaeStepMetrics | undefined;
  const every = Math.max(1, o.every ?? 1);
  try {
    while (step < c.steps) {
      if (o.signal?.aborted) { outcome = 'cancelled'; break; }
      if (o.shouldPause?.()) { outcome = 'paused'; break; }
      if (o.stopAtStep !== undefined && step >= o.stopAtStep) { outcome = 'paused'; break; }
      const x = normalizeRowsInPlace(norm, await nextBatch(), dIn);
      step++;
      const extra: Record<string, Float32Array> = {};
      if (adapter) extra.bias = adapter.bias;
      if (frozenPreBias) extra.b_pre = frozenPreBias;
      if (c.method === 'topk') {
        for (let m = 0; m < M; m++) deadMask[m] = sinceFired[m]! >= c.deadTokens ? 1 : 0;
        extra.dead = deadMask;
      }
      const lr = lrAt(step);
      const r = await runner.step(x, extra, lr, step);
      if (!Number.isFinite(r.loss)) throw new Error(`loss is ${r.loss} at step ${step}`);
      tokensSeen += L;
      let active = 0;
      for (let m = 0; m < M; m++) {
        const f = r.fired[m]!;
        active += f;
        sinceFired[m] = f > 0 ? 0 : sinceFired[m]! + L;
      }
      if (adapter) {
        adapter.observe(r.fired, r.peak!, L);
        if (step % c.adaptEvery === 0) adapter.adapt();
      }
      if (step % every === 0 || step === c.steps) {
        const threshold = Math.min(c.deadTokens, tokensSeen);
        let dead = 0;
        for (let m = 0; m < M; m++) if (sinceFired[m]! >= threshold) dead++;
        last = {
          step, totalSteps: c.steps, tokens: tokensSeen, loss: r.loss, mse: r.sse / L, fve: r.sst > 0 ? 1 - r.sse / r.sst : NaN,
          l0: active / L, dead: dead / M, lr, stepMs: runner.lastStepMs,
          ...(adapter ? { groups: { target: Array.from(targets), realized: Array.from(adapter.lastRate) } } : {}),
          ...(c.method === 'topk' ? { aux: r.aux } : {}),
        };
        o.onStep?.(last);
      }
      if (o.checkpointEvery && step % o.checkpointEvery === 0 && step < c.steps) await save();
    }
    const checkpoint = await save();
    const params = new Map<string, Float32Array>(spec.params.map((p) => [p.name, Float32Array.from(runner.value(p.name))]));
    if (frozenPreBias) params.set('b_pre', frozenPreBias);
    const sae = toSae(c, dIn, params, {
      ...(adapter ? { bias: adapter.bias, group, targets } : {}),
      hook: source.hook ?? EXTERNAL_HOOK, normalization: norm, excludeBos: source.excludeBos ?? true,
    });
    return { outcome, step, sae, ...(last ? { last } : {}), ...(checkpoint ? { checkpoint } : {}), elapsedMs: elapsedBefore + (performance.now() - started) };
  } finally {
    await runner.dispose();
  }
}

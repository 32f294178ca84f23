/**
 * The Monet training loop shared by `resect train`, the `monet.train` job and scripts/train-default-model:
 * data → train-step graph (engine AdamW, clipping, accumulation) → periodic validation, checkpoints, JSONL metrics.
 * Resuming restores weights, BN running stats, AdamW moments, the step counter (bias correction) and the data
 * position, so a resumed run continues bit for bit.
 */
import { appendFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { Trainer, adamw, buildTrainStep, compile, warmupCosine, type Provider, type Feeds, type CompiledGraph } from '../engine';
import { parseMonetConfig, type MonetConfig } from '../models/monet/config';
import {
  buildMonetTrainGraph, decayParam, initMonetParams, initRunningStats, monetParamSpecs, type MonetTrainGraph,
} from '../models/monet/train-graph';
import { loadTokenizer } from '../tokenizer';
import { findCheckpoint, loadCheckpoint, saveCheckpoint, type SaveDtype, type TrainerState } from './checkpoint';
import { prepareData, sequenceBatch, type PreparedData } from './data';
import { presets, type TrainHyper } from './presets';

export interface TrainOptions {
  data: string[];
  heldout?: string[];
  out: string;
  preset?: string;
  /** A config.json (MonetConfig keys) instead of a preset's model config; hyper-parameters come from the preset. */
  configFile?: string;
  hyper?: Partial<TrainHyper>;
  tokenizerDir: string;
  device?: Provider;
  threads?: number;
  resume?: boolean;
  saveDtype?: SaveDtype;
  /** Stop (with a checkpoint) once this step is done; resume later. */
  stopAtStep?: number;
  /** Stop (with a checkpoint) after this much wall time in this process; resume later. */
  maxMinutes?: number;
  signal?: AbortSignal;
  log?: (line: string) => void;
  progress?: (step: number, total: number, info: StepRecord) => void;
}

export interface StepRecord {
  type: 'step';
  step: number;
  loss: number;
  ce: number;
  unif: number;
  amb: number;
  sel: number;
  lr: number;
  gradNorm: number;
  tokensPerSec: number;
  stepMs: number;
  tokensSeen: number;
  elapsedMs: number;
  etaMs: number;
  epoch: number;
}

export interface EvalRecord {
  type: 'eval';
  step: number;
  domains: Record<string, { loss: number; ppl: number; tokens: number }>;
  mean: { loss: number; ppl: number };
}

export interface TrainResult {
  outcome: 'finished' | 'cancelled' | 'paused';
  step: number;
  totalSteps: number;
  checkpoint: string;
  lastLoss: number;
  lastEval: EvalRecord | null;
}

/** Files inside the output folder. */
export const runFiles = {
  checkpoint: 'checkpoint',
  metrics: 'metrics.jsonl',
  log: 'train.log',
};

function resolveHyper(o: TrainOptions, saved?: Record<string, unknown>): TrainHyper {
  const base = presets[o.preset ?? 'default']?.hyper;
  if (!base) throw new Error(`unknown preset ${JSON.stringify(o.preset)} (presets: ${Object.keys(presets).join(', ')})`);
  return { ...base, ...(saved as Partial<TrainHyper> | undefined), ...o.hyper };
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  await mkdir(o.out, { recursive: true });
  const metricsFile = path.join(o.out, runFiles.metrics);
  const logFile = path.join(o.out, runFiles.log);
  const say = (line: string) => {
    appendFileSync(logFile, `${line}\n`);
    o.log?.(line);
  };
  const record = (r: object) => appendFileSync(metricsFile, `${JSON.stringify(r)}\n`);
  const ckptDir = path.join(o.out, runFiles.checkpoint);

  // ---- Config, hyper-parameters, resume state.
  const found = o.resume ? findCheckpoint(ckptDir) : null;
  if (!o.resume && findCheckpoint(ckptDir)) throw new Error(`${ckptDir} already holds a checkpoint: pass --resume to continue it, or choose another --out`);
  const resumed = found ? await loadCheckpoint(found) : null;
  const hyper = resolveHyper(o, resumed?.state.hyper);
  const tok = await loadTokenizer(o.tokenizerDir);
  let rawConfig: Record<string, unknown>;
  if (resumed) rawConfig = resumed.rawConfig;
  else if (o.configFile) rawConfig = JSON.parse(await readFile(o.configFile, 'utf8')) as Record<string, unknown>;
  else rawConfig = { ...presets[o.preset ?? 'default']!.config };
  if (!resumed) {
    rawConfig.vocab_size = Math.max(Number(rawConfig.vocab_size ?? 0), tok.vocabSize);
    rawConfig.bos_token_id = tok.bosId;
    rawConfig.eos_token_id = tok.eosId;
    rawConfig.max_position_embeddings = Math.max(Number(rawConfig.max_position_embeddings ?? 0), hyper.seqLen);
  }
  const config: MonetConfig = parseMonetConfig(rawConfig, 'config').config;
  const totalSteps = hyper.steps;
  const tokensPerStep = hyper.batch * hyper.seqLen * hyper.accumulate;

  // ---- Data.
  const t0 = performance.now();
  const tokKey = createHash('sha256').update(await readFile(path.join(o.tokenizerDir, 'tokenizer.json'))).digest('hex');
  const data: PreparedData = await prepareData({
    data: o.data, heldout: o.heldout, tok, tokKey, seqLen: hyper.seqLen, seed: hyper.seed, valFraction: hyper.valFraction, cacheDir: o.out,
    domainBalance: hyper.domainBalance ?? null,
  });
  // No domain with two documents (one unlabelled text file) leaves nothing to hold out: say so, and skip evaluations.
  const validation = [...data.val].filter(([, s]) => s.length > 1);
  const valText = validation.length
    ? `validation: ${validation.map(([d, s]) => `${d || '(unlabelled)'} ${s.length.toLocaleString('en-US')}`).join(', ')} tokens`
    : 'validation: none (no domain has two documents to hold one out; pass --heldout FILE for per-domain validation)';
  say(`data: ${data.trainTokens.toLocaleString('en-US')} training tokens in ${data.train.nSeqs} sequences of ${hyper.seqLen} from ${data.source}; ${valText} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  if (data.trainShares) say(`domain balance ${hyper.domainBalance}: ${[...data.trainShares].map(([d, x]) => `${d} ${(x * 100).toFixed(1)}%`).join(', ')} of sequences`);

  // ---- Graphs.
  const aux = { lambda: hyper.lambda, eps: hyper.auxEps };
  const init = resumed
    ? new Map(monetParamSpecs(config).map((s) => [s.name, resumed.weights.get(s.name)!.data]))
    : initMonetParams(config, hyper.seed, config.initializer_range ?? 0.02, hyper.embedStd);
  const running = initRunningStats(config);
  if (resumed) for (const k of running.keys()) running.set(k, Float32Array.from(resumed.weights.get(k)!.data));
  const tg: MonetTrainGraph = buildMonetTrainGraph(config, { batch: hyper.batch, seqLen: hyper.seqLen, momentum: hyper.momentum, aux, init });
  const step = buildTrainStep({
    loss: tg.loss, metrics: tg.metrics, optimizer: adamw({ beta1: hyper.beta1, beta2: hyper.beta2, weightDecay: hyper.weightDecay }),
    clipNorm: hyper.clipNorm, accumulate: hyper.accumulate, decay: decayParam,
  });
  const rt = { provider: o.device ?? 'cpu', ...(o.threads ? { intraOpThreads: o.threads } : {}), log: (m: string) => say(m) };
  const tr = await Trainer.create(step, rt);
  if (resumed) {
    const st = tr.state();
    for (const [k, t] of Object.entries(st)) {
      const v = resumed.optimizer.get(k);
      if (!v) throw new Error(`${found}: optimizer.safetensors lacks ${k}`);
      (t.data as Float32Array).set(v.data);
    }
    tr.stats.steps = resumed.state.step;
  }
  const evalG = buildMonetTrainGraph(config, { batch: hyper.batch, seqLen: hyper.seqLen, mode: 'eval', aux });
  evalG.graph.output('ce', evalG.metrics.ce!);
  evalG.graph.output('tokens', evalG.metrics.tokens!);
  const evalC: CompiledGraph = await compile(evalG.graph, { ...rt, log: undefined });
  say(`model: Monet-${config.moe_decompose === 'vertical' ? 'VD' : 'HD'} d ${config.hidden_size}, ${config.num_hidden_layers} layers, H ${config.moe_heads}, E ${config.moe_experts} (${config.moe_experts ** 2} experts/layer), m ${config.moe_dim}, k ${config.moe_topk}, G ${config.moe_groups}; ${step.params.reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0).toLocaleString('en-US')} parameters; ${tokensPerStep} tokens/step; provider ${tr.main.provider}`);

  const schedule = warmupCosine({ peak: hyper.lr, warmup: hyper.warmup, total: totalSteps, min: hyper.minLr });
  let stepNo = resumed?.state.step ?? 0;
  let nextSequence = resumed?.state.nextSequence ?? 0;
  let tokensSeen = resumed?.state.tokensSeen ?? 0;
  let elapsedMs = resumed?.state.elapsedMs ?? 0;
  let lastLoss = resumed?.state.lastLoss ?? NaN;
  let lastEval: EvalRecord | null = null;
  record({ type: resumed ? 'resume' : 'start', step: stepNo, totalSteps, time: new Date().toISOString(), hyper, config: rawConfig });
  if (resumed) say(`resumed from ${found} at step ${stepNo}/${totalSteps}`);

  const runningFeeds = (): Feeds => Object.fromEntries([...running].map(([k, v]) => [k, { data: v, dims: [v.length] }]));
  const params = (): Feeds => tr.params();

  const evaluate = async (maxSeqs: number): Promise<EvalRecord> => {
    const domains: EvalRecord['domains'] = {};
    let sumLoss = 0;
    let sumTok = 0;
    for (const dom of data.domains) {
      const stream = data.val.get(dom)!;
      const nSeq = Math.min(maxSeqs, Math.max(1, Math.ceil((stream.length - 1) / hyper.seqLen)));
      let loss = 0;
      let tokens = 0;
      for (let s0 = 0; s0 < nSeq; s0 += hyper.batch) {
        const starts: number[] = [];
        for (let b = 0; b < hyper.batch; b++) starts.push(s0 + b < nSeq ? (s0 + b) * hyper.seqLen : stream.length);
        const b = sequenceBatch(stream, starts, hyper.seqLen, tok.padId);
        // Count only positions with a label.
        for (let i = 0; i < b.labels.data.length; i++) if (b.labels.data[i]! < 0n) b.valid.data[i] = 0;
        const r = await evalC.run({ ...params(), ...runningFeeds(), ...b }, undefined, ['ce', 'tokens']);
        const n = Number(r.tokens!.data[0]);
        if (Number(b.valid.data.reduce((a, x) => a + x, 0)) === 0) continue;
        loss += Number(r.ce!.data[0]) * n;
        tokens += n;
      }
      domains[dom] = { loss: loss / Math.max(1, tokens), ppl: Math.exp(loss / Math.max(1, tokens)), tokens };
      sumLoss += loss;
      sumTok += tokens;
    }
    const rec: EvalRecord = { type: 'eval', step: stepNo, domains, mean: { loss: sumLoss / Math.max(1, sumTok), ppl: Math.exp(sumLoss / Math.max(1, sumTok)) } };
    record(rec);
    say(`eval @${stepNo}: mean ${rec.mean.loss.toFixed(4)} (ppl ${rec.mean.ppl.toFixed(1)}) | ${Object.entries(domains).map(([d, v]) => `${d} ${v.loss.toFixed(3)}`).join(' ')}`);
    lastEval = rec;
    return rec;
  };

  const save = async (why: string): Promise<void> => {
    const weights = new Map<string, { data: Float32Array; shape: number[] }>();
    const ps = tr.params();
    for (const p of step.params) weights.set(p.name, { data: Float32Array.from(ps[p.name]!.data as Float32Array), shape: p.shape });
    for (const [k, v] of running) weights.set(k, { data: Float32Array.from(v), shape: [v.length] });
    const optimizer = new Map<string, { data: Float32Array; shape: number[] }>();
    const st = tr.state();
    for (const p of step.params) for (const s of step.slots) optimizer.set(`${p.name}:${s}`, { data: Float32Array.from(st[`${p.name}:${s}`]!.data as Float32Array), shape: p.shape });
    const state: TrainerState = {
      format: 'resect-monet-train/1', step: stepNo, totalSteps, nextSequence, epoch: data.train.epochOf(nextSequence), seed: hyper.seed,
      tokensSeen, elapsedMs, schedule: { kind: 'warmup-cosine', peak: hyper.lr, min: hyper.minLr, warmup: hyper.warmup, total: totalSteps },
      hyper: hyper as unknown as Record<string, unknown>, ...(o.preset ? { preset: o.preset } : {}), lastLoss,
    };
    await saveCheckpoint(ckptDir, { rawConfig, weights, optimizer, state, tokenizerDir: o.tokenizerDir, dtype: o.saveDtype ?? 'F32' });
    record({ type: 'checkpoint', step: stepNo, why, time: new Date().toISOString() });
    say(`checkpoint @${stepNo} (${why}) → ${ckptDir}`);
  };

  const started = performance.now();
  let outcome: TrainResult['outcome'] = 'finished';
  let rate = 0;
  while (stepNo < totalSteps) {
    if (o.signal?.aborted) { outcome = 'cancelled'; break; }
    if (o.stopAtStep !== undefined && stepNo >= o.stopAtStep) { outcome = 'paused'; break; }
    if (o.maxMinutes !== undefined && performance.now() - started > o.maxMinutes * 60_000) { outcome = 'paused'; break; }
    const micro: Feeds[] = [];
    for (let a = 0; a < hyper.accumulate; a++) {
      const b = data.train.batch(nextSequence, hyper.batch);
      nextSequence += hyper.batch;
      micro.push({ ...b, ...runningFeeds() });
    }
    stepNo++;
    const lr = schedule(stepNo);
    const ts = performance.now();
    const r = await tr.step(hyper.accumulate === 1 ? micro[0]! : micro, lr);
    const ms = performance.now() - ts;
    for (const s of tg.bnStats) {
      const v = running.get(s.input)!;
      s.outputs.forEach((name, h) => { v[h] = r.metrics[name]!; });
    }
    tokensSeen += tokensPerStep;
    elapsedMs += ms;
    lastLoss = r.loss;
    const tps = (tokensPerStep / ms) * 1000;
    rate = rate === 0 ? tps : 0.8 * rate + 0.2 * tps;
    const rec: StepRecord = {
      type: 'step', step: stepNo, loss: r.loss, ce: r.metrics.ce!, unif: r.metrics.unif!, amb: r.metrics.amb!, sel: r.metrics.sel!, lr, gradNorm: r.gradNorm,
      tokensPerSec: tps, stepMs: ms, tokensSeen, elapsedMs, etaMs: ((totalSteps - stepNo) * tokensPerStep / rate) * 1000, epoch: data.train.epochOf(nextSequence),
    };
    record(rec);
    o.progress?.(stepNo, totalSteps, rec);
    if (stepNo % hyper.logEvery === 0 || stepNo === 1) {
      say(`step ${stepNo}/${totalSteps} loss ${r.loss.toFixed(4)} ce ${rec.ce.toFixed(4)} unif ${rec.unif.toFixed(3)} amb ${rec.amb.toFixed(3)} sel ${rec.sel.toFixed(2)} lr ${lr.toExponential(2)} gnorm ${r.gradNorm.toFixed(3)} | ${tps.toFixed(0)} tok/s, ${ms.toFixed(0)} ms/step | ETA ${fmtDuration(rec.etaMs)}`);
    }
    if (!Number.isFinite(r.loss)) throw new Error(`loss is ${r.loss} at step ${stepNo}; stopping (last checkpoint kept)`);
    if (validation.length && hyper.evalEvery > 0 && stepNo % hyper.evalEvery === 0 && stepNo < totalSteps) await evaluate(hyper.evalSeqs);
    if (hyper.checkpointEvery > 0 && stepNo % hyper.checkpointEvery === 0 && stepNo < totalSteps) await save('periodic');
  }
  if (outcome === 'finished' && validation.length) await evaluate(hyper.evalSeqs);
  await save(outcome === 'finished' ? 'final' : outcome);
  record({ type: 'end', outcome, step: stepNo, time: new Date().toISOString() });
  await evalC.dispose().catch(() => {});
  return { outcome, step: stepNo, totalSteps, checkpoint: ckptDir, lastLoss, lastEval };
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

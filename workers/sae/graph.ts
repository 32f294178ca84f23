// SAE forward passes and losses as engine graphs (one builder for every method, in any float dtype so that the
// gradient checks run them in float64), and the fused train step: loss, autodiff backward, Adam, unit-norm
// projection, and the statistics the bias rule and the metrics need (per-latent firing counts and peak
// pre-activations, squared error, total variance) as outputs of the same graph. Nothing is buffered per token.
import * as ort from 'onnxruntime-node';
import {
  Graph, type Tensor, type CompiledGraph, type RuntimeOptions, adamw, compile, grad, names, op, toOrt,
} from '../engine';
import { type SaeTrainConfig, isBiasAdapted, paramSpecs, preBiasName } from './model';

/** The tensors a forward pass reads: `x` [L, d], the parameters by name (model.ts paramSpecs), and the fed
 * non-trained inputs: `bias` [M] (GBA's adapted b), `dead` [M] (TopK AuxK: 1 for dead latents), and `b_pre` when frozen. */
export type SaeInputs = Record<string, Tensor>;

export interface SaeForward {
  /** The training objective (scalar). */
  loss: Tensor;
  /** Reconstruction [L, d]. */
  xhat: Tensor;
  /** Sum over the batch of ‖x̂ − x‖². */
  sse: Tensor;
  /** Per-latent firing counts over the batch [M]. */
  fired: Tensor;
  /** GBA/BA: per-latent maximum pre-activation y = z + b over the batch [M]. */
  peak?: Tensor;
  /** TopK: the AuxK term (already weighted). */
  aux?: Tensor;
}

const sq = (t: Tensor): Tensor => op.mul(t, t);
/** x·Wᵀ for x [L, d] and W [M, d]: Gemm with transB, so no transpose is materialised. */
const project = (x: Tensor, w: Tensor): Tensor => op.gemm(x, w, null, { transB: true });
const row = (v: Tensor): Tensor => op.reshape(v, [1, v.shape[0]!]);

/** Builds the forward pass and loss of a method on the given tensors. */
export function saeForward(c: SaeTrainConfig, t: SaeInputs): SaeForward {
  const x = t.x!;
  const L = x.shape[0] as number;
  const dt = x.dtype;
  const half = 0.5 / L;
  if (isBiasAdapted(c.method)) {
    const W = t.W!;
    const enc = c.tied ? W : t.W_enc!;
    const bPre = t.b_pre!;
    // z = (x − b_pre)·Wᵀ written as x·Wᵀ − b_pre·Wᵀ: the pre-bias's gradient then costs a [1, M]·[M, d] product
    // instead of a full [L, M]·[M, d] one (the same function; spec §5.1's ∂L/∂b_pre).
    const z = op.sub(project(x, enc), project(row(bPre), enc));
    const y = op.add(z, t.bias!);
    const gate = op.greater(y, 0);
    const phi = op.where(gate, c.gate === 'jumprelu' ? z : y, 0);
    const xhat = op.add(op.gemm(op.mul(phi, t.a!), W), bPre);
    const sse = op.reduceSum(sq(op.sub(xhat, x)));
    return {
      loss: op.mul(sse, half), xhat, sse,
      fired: op.reduceSum(op.cast(gate, dt), [0]),
      peak: op.reduceMax(op.stopGradient(y), [0]),
    };
  }
  const Wenc = t.W_enc!;
  const Wdec = t.W_dec!;
  const bDec = t.b_dec!;
  const pre = op.add(op.sub(project(x, Wenc), project(row(bDec), Wenc)), t.b_enc!);
  let f: Tensor;
  if (c.method === 'topk') {
    const [vals, idx] = op.topK(pre, c.k, 1);
    f = op.scatterElements(op.zerosLike(pre), idx, op.relu(vals), 1);
  } else f = op.relu(pre);
  const xhat = op.add(op.gemm(f, Wdec), bDec);
  const sse = op.reduceSum(sq(op.sub(xhat, x)));
  let loss = op.mul(sse, half);
  const fired = op.reduceSum(op.cast(op.greater(f, 0), dt), [0]);
  if (c.method === 'relu-l1') {
    // λ Σ_m ‖W_dec,m‖ f_m, averaged over tokens (Templeton et al.'s decoder-norm weighting).
    const norms = op.sqrt(op.reduceSum(sq(Wdec), [1]));
    loss = op.add(loss, op.mul(op.reduceSum(op.mul(f, norms)), c.l1 / L));
    return { loss, xhat, sse, fired };
  }
  const kAux = Math.min(c.auxK ?? Math.floor((x.shape[1] as number) / 2), c.latents);
  if (kAux <= 0 || c.auxCoef === 0) return { loss, xhat, sse, fired };
  const aux = auxKLoss(c, pre, t.dead!, Wdec, op.stopGradient(op.sub(x, xhat)), kAux);
  return { loss: op.add(loss, aux), xhat, sse, fired, aux };
}

/** AuxK (Gao et al. 2024, as sparsify computes it): the kAux largest pre-activations among dead latents (`dead` [M],
 * 1 = dead) model the residual `e` = x − x̂, which the caller passes as a constant (stopGradient), scaled by
 * min(#dead / kAux, 1) and by auxCoef, in the main loss's units (½ squared error per token). */
export function auxKLoss(c: SaeTrainConfig, pre: Tensor, dead: Tensor, Wdec: Tensor, e: Tensor, kAux: number): Tensor {
  const L = pre.shape[0] as number;
  const masked = op.where(op.greater(dead, 0.5), pre, -1e9);
  const [av, ai] = op.topK(masked, kAux, 1);
  const fAux = op.scatterElements(op.zerosLike(pre), ai, op.relu(av), 1);
  const auxSse = op.reduceSum(sq(op.sub(op.gemm(fAux, Wdec), e)));
  const share = op.minimum(op.div(op.reduceSum(dead), kAux), 1);
  return op.mul(op.mul(auxSse, share), (0.5 / L) * c.auxCoef);
}

/** Which parameters are projected to unit-norm rows after each step: GBA's w_m, TopK's decoder rows. */
export function unitNormParams(c: SaeTrainConfig): string[] {
  if (!c.unitNorm) return [];
  if (isBiasAdapted(c.method)) return ['W'];
  return c.method === 'topk' ? ['W_dec'] : [];
}

/** Names of the step graph's vector/scalar statistics outputs. */
export const stepOutputs = { loss: 'loss', sse: 'sse', sst: 'sst', fired: 'fired', peak: 'peak', aux: 'aux' } as const;

export interface SaeStepGraph {
  graph: Graph;
  params: { name: string; shape: number[] }[];
  /** Adam slots per parameter. */
  slots: readonly string[];
}

/** The fused train step for a fixed batch size. Inputs: x, the params and `<p>:m`, `<p>:v`, `bias`/`dead`/`b_pre`
 * as the method needs, `lr`, `step`; outputs `<p>:new`, `<p>:<slot>:new` and the statistics. */
export function buildSaeStep(c: SaeTrainConfig, dIn: number): SaeStepGraph {
  const g = new Graph(`sae_${c.method}_step`);
  const M = c.latents;
  const L = c.batchSize;
  const specs = paramSpecs(c, dIn);
  const t: SaeInputs = { x: g.input('x', 'float32', [L, dIn]) };
  const params = specs.map((s) => (t[s.name] = g.param(s.name, 'float32', s.shape)));
  if (isBiasAdapted(c.method)) {
    t.bias = g.input('bias', 'float32', [M]);
    if (!c.trainPreBias) t.b_pre = g.input(preBiasName(c), 'float32', [dIn]);
  }
  if (c.method === 'topk') t.dead = g.input('dead', 'float32', [M]);
  const fw = saeForward(c, t);
  const x = t.x!;
  g.output(stepOutputs.loss, fw.loss);
  g.output(stepOutputs.sse, fw.sse);
  g.output(stepOutputs.sst, op.reduceSum(sq(op.sub(x, op.reduceMean(x, [0], true)))));
  g.output(stepOutputs.fired, fw.fired);
  if (fw.peak) g.output(stepOutputs.peak, fw.peak);
  if (fw.aux) g.output(stepOutputs.aux, fw.aux);

  const grads = grad(fw.loss, params);
  const optimizer = adamw({ beta1: c.beta1, beta2: c.beta2, eps: c.adamEps, weightDecay: c.weightDecay });
  const lr = g.input(names.lr, 'float32', []);
  const step = g.input(names.step, 'float32', []);
  const unit = new Set(unitNormParams(c));
  params.forEach((p, i) => {
    let gr = grads[i]!;
    // Gradient descent on the sphere: drop the radial component (g − (g·w)w per row) before Adam, if asked.
    if (unit.has(p.name) && c.removeRadialGrad) gr = op.sub(gr, op.mul(op.reduceSum(op.mul(gr, p), [1], true), p));
    const state = optimizer.slots.map((s) => g.input(names.slot(p.name, s), 'float32', p.shape));
    const r = optimizer.update(p, gr, state, { lr, step }, p.rank >= 2 && c.weightDecay > 0);
    const next = unit.has(p.name) ? op.div(r.p, op.sqrt(op.add(op.reduceSum(sq(r.p), [1], true), 1e-24))) : r.p;
    g.output(names.next(p.name), next);
    optimizer.slots.forEach((s, k) => g.output(names.next(names.slot(p.name, s)), r.state[k]!));
  });
  return { graph: g, params: specs, slots: optimizer.slots };
}

export interface StepStats {
  loss: number;
  sse: number;
  sst: number;
  aux: number;
  /** [M] firing counts over this batch (a fresh array per step). */
  fired: Float32Array;
  /** [M] peak pre-activations (GBA/BA). */
  peak?: Float32Array;
}

/** Runs a compiled step with parameters and Adam state double-buffered between steps (outputs are written into
 * pre-allocated tensors, then swapped), like the engine's Trainer, but handing back the vector statistics. */
export class SaeStepRunner {
  private readonly bufs = new Map<string, { cur: ort.Tensor; next: ort.Tensor }>();
  private readonly lrT = new ort.Tensor('float32', new Float32Array(1), []);
  private readonly stepT = new ort.Tensor('float32', new Float32Array(1), []);
  lastStepMs = 0;

  private constructor(readonly spec: SaeStepGraph, readonly compiled: CompiledGraph) {}

  static async create(spec: SaeStepGraph, init: ReadonlyMap<string, Float32Array>, opts: RuntimeOptions = {}): Promise<SaeStepRunner> {
    const compiled = await compile(spec.graph, { provider: 'cpu', ...opts });
    const r = new SaeStepRunner(spec, compiled);
    for (const p of spec.params) {
      const n = p.shape.reduce((a, b) => a * b, 1);
      const v = init.get(p.name);
      if (!v || v.length !== n) throw new Error(`SaeStepRunner: initial value of ${p.name} must have ${n} elements`);
      r.alloc(p.name, Float32Array.from(v), p.shape);
      for (const s of spec.slots) r.alloc(names.slot(p.name, s), new Float32Array(n), p.shape);
    }
    return r;
  }

  private alloc(name: string, data: Float32Array, shape: number[]): void {
    this.bufs.set(name, { cur: toOrt('float32', data, shape), next: toOrt('float32', new Float32Array(data.length), shape) });
  }

  /** Live parameter / state buffers by name (`W`, `W:m`, ...): copy them to keep them across steps. */
  value(name: string): Float32Array {
    const b = this.bufs.get(name);
    if (!b) throw new Error(`SaeStepRunner: no buffer ${name}`);
    return b.cur.data as Float32Array;
  }

  /** Every buffer (params and Adam slots), for checkpoints. */
  bufferNames(): string[] { return [...this.bufs.keys()]; }

  /** Overwrites a buffer (resume). */
  load(name: string, data: Float32Array): void {
    const dst = this.value(name);
    if (dst.length !== data.length) throw new Error(`SaeStepRunner: ${name} has ${dst.length} elements, got ${data.length}`);
    dst.set(data);
  }

  async step(x: Float32Array, extra: Record<string, Float32Array>, lr: number, stepNo: number): Promise<StepStats> {
    const t0 = performance.now();
    (this.lrT.data as Float32Array)[0] = lr;
    (this.stepT.data as Float32Array)[0] = stepNo;
    const L = this.spec.graph.inputs.find((i) => i.name === 'x')!.shape;
    const feeds: Record<string, ort.Tensor | { data: Float32Array; dims: number[] }> = {
      x: { data: x, dims: L as number[] }, [names.lr]: this.lrT, [names.step]: this.stepT,
    };
    for (const [k, v] of Object.entries(extra)) feeds[k] = { data: v, dims: [v.length] };
    const into: Record<string, ort.Tensor> = {};
    for (const [k, b] of this.bufs) {
      feeds[k] = b.cur;
      into[names.next(k)] = b.next;
    }
    const r = await this.compiled.run(feeds, into);
    for (const b of this.bufs.values()) [b.cur, b.next] = [b.next, b.cur];
    this.lastStepMs = performance.now() - t0;
    const num = (k: string): number => (r[k] ? Number(r[k].data[0]) : 0);
    return {
      loss: num(stepOutputs.loss), sse: num(stepOutputs.sse), sst: num(stepOutputs.sst), aux: num(stepOutputs.aux),
      fired: r[stepOutputs.fired]!.data as Float32Array,
      ...(r[stepOutputs.peak] ? { peak: r[stepOutputs.peak]!.data as Float32Array } : {}),
    };
  }

  async dispose(): Promise<void> { await this.compiled.dispose(); }
}

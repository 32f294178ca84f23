// Train-step graphs (forward + loss + backward + clipping + optimizer update) and a trainer that runs them
// with parameters and optimizer state double-buffered between steps, so a step allocates nothing but the
// scalar outputs.
import * as ort from 'onnxruntime-node';
import { type DType, type Tensor, type TensorData, Graph, GraphError, arrayKind, isFloat } from './graph';
import { allStatic } from './dims';
import { add, cast, mul } from './ops';
import { grad } from './autodiff/grad';
import { type Optimizer, clipByGlobalNorm, globalNorm } from './optim';
import { type CompiledGraph, type Feeds, type RuntimeOptions, compile, toOrt } from './runtime';

export interface TrainStepSpec {
  /** Scalar loss in the model's graph. */
  loss: Tensor;
  /** Parameters to train (default: every param of the loss's graph). */
  params?: Tensor[];
  optimizer: Optimizer;
  /** Clip the global gradient norm to this value. */
  clipNorm?: number;
  /** Extra scalar outputs (accuracy, ...). */
  metrics?: Record<string, Tensor>;
  /** Micro-batches per optimizer step (gradient accumulation); 1 fuses everything into one graph. */
  accumulate?: number;
  /** Which parameters get weight decay (default: rank >= 2, i.e. not biases and norm gains). */
  decay?: (p: Tensor) => boolean;
}

/** Names a train step's graphs read and write. */
export const names = {
  lr: 'lr',
  step: 'step',
  loss: 'loss',
  gradNorm: 'grad_norm',
  scale: 'grad_scale',
  next: (p: string): string => `${p}:new`,
  slot: (p: string, s: string): string => `${p}:${s}`,
  acc: (p: string): string => `${p}:grad_acc`,
};

export interface TrainStep {
  /** The fused step (accumulate = 1), or the micro-batch graph that adds into gradient accumulators. */
  main: Graph;
  /** With accumulation: the graph that applies the summed gradients. */
  apply?: Graph;
  params: { name: string; dtype: DType; shape: number[] }[];
  slots: readonly string[];
  accumulate: number;
  metrics: string[];
  batchInputs: string[];
  initial: Map<string, TensorData>;
}

export function buildTrainStep(spec: TrainStepSpec): TrainStep {
  const g = spec.loss.graph;
  if (spec.loss.rank !== 0) throw new GraphError(`buildTrainStep: the loss must be a scalar, got shape [${spec.loss.shape.join(', ')}]`);
  const params = spec.params ?? g.params;
  if (params.length === 0) throw new GraphError('buildTrainStep: no parameters to train');
  for (const p of params) {
    if (p.kind !== 'param' && p.kind !== 'input') throw new GraphError(`buildTrainStep: ${p.name} must be a graph input or param, not a ${p.kind}`);
    if (!allStatic(p.shape)) throw new GraphError(`buildTrainStep: parameter ${p.name} must have a static shape`);
    if (!isFloat(p.dtype)) throw new GraphError(`buildTrainStep: parameter ${p.name} is ${p.dtype}, not a float`);
  }
  const n = spec.accumulate ?? 1;
  const decay = spec.decay ?? ((p: Tensor) => p.rank >= 2);
  const grads = grad(spec.loss, params);
  const metrics = Object.keys(spec.metrics ?? {});
  g.output(names.loss, spec.loss);
  for (const [k, t] of Object.entries(spec.metrics ?? {})) g.output(k, t);
  const paramSet = new Set(params);
  const batchInputs = g.inputs.filter((t) => !paramSet.has(t)).map((t) => t.name);
  const info = params.map((p) => ({ name: p.name, dtype: p.dtype, shape: p.shape as number[] }));
  const initial = new Map<string, TensorData>();
  for (const p of params) {
    const v = g.paramValues.get(p.name);
    if (v) initial.set(p.name, v.data);
  }

  if (n === 1) {
    applyUpdate(g, params, grads, spec, decay);
    return { main: g, params: info, slots: spec.optimizer.slots, accumulate: 1, metrics, batchInputs, initial };
  }
  // Micro-batch graph: grad_acc:new = grad_acc + grad.
  params.forEach((p, i) => {
    const acc = g.input(names.acc(p.name), p.dtype, p.shape);
    g.output(names.next(names.acc(p.name)), add(acc, grads[i]!));
  });
  // Apply graph: its own inputs; the summed gradients are scaled by 1/n there.
  const a = new Graph(`${g.name}_apply`);
  const scale = a.input(names.scale, 'float32', []);
  const ps = params.map((p) => a.input(p.name, p.dtype, p.shape));
  const gs = params.map((p) => {
    const acc = a.input(names.acc(p.name), p.dtype, p.shape);
    return mul(acc, p.dtype === 'float32' ? scale : castTo(scale, p.dtype));
  });
  applyUpdate(a, ps, gs, spec, (p) => decay(params[ps.indexOf(p)]!));
  return { main: g, apply: a, params: info, slots: spec.optimizer.slots, accumulate: n, metrics, batchInputs, initial };
}

const castTo = (t: Tensor, d: DType): Tensor => cast(t, d);

function applyUpdate(g: Graph, params: Tensor[], grads0: Tensor[], spec: TrainStepSpec, decay: (p: Tensor) => boolean): void {
  const lr = g.input(names.lr, 'float32', []);
  const step = g.input(names.step, 'float32', []);
  let grads = grads0;
  if (spec.clipNorm !== undefined) {
    const c = clipByGlobalNorm(grads, spec.clipNorm);
    grads = c.grads;
    g.output(names.gradNorm, c.norm);
  } else g.output(names.gradNorm, globalNorm(grads));
  params.forEach((p, i) => {
    const state = spec.optimizer.slots.map((s) => g.input(names.slot(p.name, s), p.dtype, p.shape));
    const r = spec.optimizer.update(p, grads[i]!, state, { lr, step }, decay(p));
    g.output(names.next(p.name), r.p);
    spec.optimizer.slots.forEach((s, k) => g.output(names.next(names.slot(p.name, s)), r.state[k]!));
  });
}

// ---------------------------------------------------------------------------------------------------------

export interface StepResult { loss: number; gradNorm: number; metrics: Record<string, number> }

export interface TrainerStats {
  steps: number;
  /** Wall time of the last step, ms. */
  lastStepMs: number;
  /** Of which inside session.run (ORT, including its binding), ms. */
  lastOrtMs: number;
  /** Of which outside ORT (feeds, buffer swaps, reading scalars), ms. */
  lastHostMs: number;
  totalHostMs: number;
  totalStepMs: number;
}

interface Slot { cur: ort.Tensor; next: ort.Tensor }

export class Trainer {
  readonly stats: TrainerStats = { steps: 0, lastStepMs: 0, lastOrtMs: 0, lastHostMs: 0, totalHostMs: 0, totalStepMs: 0 };
  private readonly lrT = new ort.Tensor('float32', new Float32Array(1), []);
  private readonly stepT = new ort.Tensor('float32', new Float32Array(1), []);
  private readonly scaleT = new ort.Tensor('float32', new Float32Array(1), []);

  private constructor(
    readonly spec: TrainStep,
    readonly main: CompiledGraph,
    readonly apply: CompiledGraph | null,
    private readonly bufs: Map<string, Slot>,
  ) {}

  /** Compiles the step graph(s) and allocates parameters (from `init`, else the params' initial values) and zeroed state. */
  static async create(spec: TrainStep, opts: RuntimeOptions & { init?: Record<string, TensorData> } = {}): Promise<Trainer> {
    const main = await compile(spec.main, opts);
    const apply = spec.apply ? await compile(spec.apply, opts) : null;
    const bufs = new Map<string, Slot>();
    const alloc = (name: string, p: TrainStep['params'][number], data?: TensorData): void => {
      const n = p.shape.reduce((a, b) => a * b, 1);
      const Ctor = arrayKind(p.dtype) as Float32ArrayConstructor;
      const cur = new Ctor(n);
      if (data) {
        if (data.length !== n) throw new GraphError(`Trainer: initial value of ${name} has ${data.length} elements, expected ${n}`);
        cur.set(data as Float32Array);
      }
      bufs.set(name, { cur: toOrt(p.dtype, cur, p.shape), next: toOrt(p.dtype, new Ctor(n), p.shape) });
    };
    for (const p of spec.params) {
      const v = opts.init?.[p.name] ?? spec.initial.get(p.name);
      if (!v) throw new GraphError(`Trainer: no initial value for parameter ${p.name}`);
      alloc(p.name, p, v);
      for (const s of spec.slots) alloc(names.slot(p.name, s), p);
      if (spec.apply) alloc(names.acc(p.name), p);
    }
    return new Trainer(spec, main, apply, bufs);
  }

  /** Releases the step graphs' sessions (shared sessions stay alive for their other users). */
  async dispose(): Promise<void> {
    await this.main.dispose();
    await this.apply?.dispose();
  }

  /** Current parameter values (live buffers: copy them if you keep them across steps). */
  params(): Record<string, ort.Tensor> {
    return Object.fromEntries(this.spec.params.map((p) => [p.name, this.bufs.get(p.name)!.cur]));
  }

  /** Optimizer state by `${param}:${slot}` (live buffers). */
  state(): Record<string, ort.Tensor> {
    return Object.fromEntries(this.spec.params.flatMap((p) => this.spec.slots.map((s) => {
      const k = names.slot(p.name, s);
      return [k, this.bufs.get(k)!.cur];
    })));
  }

  /** One optimizer step on a batch, or on `accumulate` micro-batches. */
  async step(batch: Feeds | Feeds[], lr: number): Promise<StepResult> {
    const t0 = performance.now();
    let ortMs = 0;
    const micro = Array.isArray(batch) ? batch : [batch];
    if (micro.length !== this.spec.accumulate) throw new GraphError(`Trainer.step: ${micro.length} micro-batches given, the step accumulates ${this.spec.accumulate}`);
    this.stats.steps++;
    (this.lrT.data as Float32Array)[0] = lr;
    (this.stepT.data as Float32Array)[0] = this.stats.steps;
    const feeds: Feeds = { [names.lr]: this.lrT, [names.step]: this.stepT };
    const into: Record<string, ort.Tensor> = {};
    const swaps: Slot[] = [];
    const bind = (name: string, asInput = true): void => {
      const s = this.bufs.get(name)!;
      if (asInput) feeds[name] = s.cur;
      into[names.next(name)] = s.next;
      swaps.push(s);
    };
    let loss = 0;
    let gradNorm = NaN;
    const metrics: Record<string, number> = {};
    const read = (r: Record<string, ort.Tensor>): void => {
      loss += Number(r[names.loss]!.data[0]) / micro.length;
      for (const m of this.spec.metrics) metrics[m] = (metrics[m] ?? 0) + Number(r[m]!.data[0]) / micro.length;
      if (r[names.gradNorm]) gradNorm = Number(r[names.gradNorm]!.data[0]);
    };
    const swapAll = (): void => {
      for (const s of swaps) [s.cur, s.next] = [s.next, s.cur];
      swaps.length = 0;
      for (const k of Object.keys(into)) delete into[k];
    };

    if (!this.apply) {
      for (const p of this.spec.params) {
        bind(p.name);
        for (const s of this.spec.slots) bind(names.slot(p.name, s));
      }
      const r = await this.main.run({ ...micro[0], ...feeds }, into);
      ortMs += this.main.lastRunMs;
      read(r);
      swapAll();
    } else {
      for (const p of this.spec.params) (this.bufs.get(names.acc(p.name))!.cur.data as Float32Array).fill(0);
      for (const mb of micro) {
        const f: Feeds = { ...mb };
        for (const p of this.spec.params) {
          f[p.name] = this.bufs.get(p.name)!.cur;
          const acc = this.bufs.get(names.acc(p.name))!;
          f[names.acc(p.name)] = acc.cur;
          into[names.next(names.acc(p.name))] = acc.next;
          swaps.push(acc);
        }
        const outs = [names.loss, ...this.spec.metrics, ...Object.keys(into)];
        const r = await this.main.run(f, into, outs);
        ortMs += this.main.lastRunMs;
        read(r);
        swapAll();
      }
      (this.scaleT.data as Float32Array)[0] = 1 / micro.length;
      feeds[names.scale] = this.scaleT;
      for (const p of this.spec.params) {
        bind(p.name);
        for (const s of this.spec.slots) bind(names.slot(p.name, s));
        feeds[names.acc(p.name)] = this.bufs.get(names.acc(p.name))!.cur;
      }
      const r = await this.apply.run(feeds, into);
      ortMs += this.apply.lastRunMs;
      gradNorm = Number(r[names.gradNorm]!.data[0]);
      swapAll();
    }
    const ms = performance.now() - t0;
    Object.assign(this.stats, { lastStepMs: ms, lastOrtMs: ortMs, lastHostMs: ms - ortMs });
    this.stats.totalStepMs += ms;
    this.stats.totalHostMs += ms - ortMs;
    return { loss, gradNorm, metrics };
  }
}

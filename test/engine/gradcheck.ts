// Central finite differences against the autodiff rules, run on ORT.
//
// Tolerances, by the dtype the case's graph computes in:
//   float64: step 1e-6, |analytic - numeric| <= 1e-6 + 1e-5·|numeric|
//   float32: step 3e-3, |analytic - numeric| <= 5e-3 + 3e-2·|numeric|   (ops ORT's CPU provider has only in float)
import { Graph, type DType, type Tensor, type TensorData, compile } from '../../workers/engine';
import { grad } from '../../workers/engine/autodiff/grad';
import { mulberry32 as rng } from '../../workers/engine/random';
export { rng };

export const TOL = {
  float64: { step: 1e-6, atol: 1e-6, rtol: 1e-5 },
  float32: { step: 3e-3, atol: 5e-3, rtol: 3e-2 },
} as const;


export interface InputSpec {
  shape: number[];
  /** 'any': ±[0.2, 1.2] (away from kinks at 0); 'pos': [0.5, 1.5]; 'int': given data. */
  kind?: 'any' | 'pos' | 'const';
  /** Feed shape when it differs from the declared one (named dims). */
  declared?: (number | string)[];
  data?: TensorData;
  dtype?: DType;
}

export interface GradCase {
  name: string;
  dtype?: 'float64' | 'float32';
  inputs: Record<string, InputSpec>;
  build: (x: Record<string, Tensor>, g: Graph) => Tensor;
}

export interface CheckResult { maxErr: number; worst: string; checked: number }

export async function gradcheck(c: GradCase, seed = 1): Promise<CheckResult> {
  const dtype = c.dtype ?? 'float64';
  const tol = TOL[dtype];
  const rand = rng(seed);
  const g = new Graph(c.name.replace(/\W+/g, '_'));
  const xs: Record<string, Tensor> = {};
  const values: Record<string, TensorData> = {};
  const diff: string[] = [];
  for (const [name, spec] of Object.entries(c.inputs)) {
    const dt = spec.dtype ?? dtype;
    xs[name] = g.input(name, dt, spec.declared ?? spec.shape);
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.data) values[name] = spec.data;
    else {
      const arr = dt === 'float64' ? new Float64Array(n) : new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const u = rand();
        arr[i] = spec.kind === 'pos' ? 0.5 + u : (0.2 + u) * (rand() < 0.5 ? -1 : 1);
      }
      values[name] = arr;
    }
    if (spec.kind !== 'const' && (dt === 'float64' || dt === 'float32')) diff.push(name);
  }
  const out = c.build(xs, g);
  // A random cotangent makes every output element matter to the scalar loss.
  const outShape = out.shape.map((d) => {
    if (typeof d !== 'number') throw new Error(`${c.name}: output shape must be static for the check`);
    return d;
  });
  const n = outShape.reduce((a, b) => a * b, 1);
  const w = out.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = rand() * 2 - 1;
  const wt = g.constant(out.dtype, outShape, w, 'cotangent');
  const { mul, reduceSum, cast } = await import('../../workers/engine/ops');
  let loss = reduceSum(mul(out, wt));
  if (loss.dtype !== dtype) loss = cast(loss, dtype);
  g.output('loss', loss);
  const fwd = await compile(g, { provider: 'cpu', intraOpThreads: 1 });
  const gs = grad(loss, diff.map((k) => xs[k]!));
  gs.forEach((t, i) => g.output(`grad_${diff[i]}`, t));
  const bwd = await compile(g, { provider: 'cpu', intraOpThreads: 1 });

  const feeds = (): Record<string, { data: TensorData; dims: number[] }> =>
    Object.fromEntries(Object.entries(values).map(([k, v]) => [k, { data: v, dims: c.inputs[k]!.shape }]));
  const analytic = await bwd.run(feeds());
  let maxErr = 0;
  let worst = '';
  let checked = 0;
  for (const name of diff) {
    const x = values[name] as Float64Array | Float32Array;
    const ga = analytic[`grad_${name}`]!.data as Float64Array | Float32Array;
    if (ga.length !== x.length) throw new Error(`${c.name}: grad_${name} has ${ga.length} elements, input has ${x.length}`);
    for (let i = 0; i < x.length; i++) {
      const x0 = x[i]!;
      x[i] = x0 + tol.step;
      const lp = Number((await fwd.run(feeds())).loss!.data[0]);
      x[i] = x0 - tol.step;
      const lm = Number((await fwd.run(feeds())).loss!.data[0]);
      x[i] = x0;
      const num = (lp - lm) / (2 * tol.step);
      const err = Math.abs(ga[i]! - num) / (tol.atol + tol.rtol * Math.abs(num));
      checked++;
      if (err > maxErr || Number.isNaN(err)) {
        maxErr = Number.isNaN(err) ? Infinity : err;
        worst = `${name}[${i}]: analytic ${ga[i]}, numeric ${num}`;
      }
    }
  }
  return { maxErr, worst, checked };
}

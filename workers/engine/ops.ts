// One function per ONNX operator (opset 18), each inferring the output dtype and shape while tracing so that
// mistakes surface where the model is written, with the operator, the input and the shapes named.
import {
  type Attr, type DType, type Dim, Graph, GraphError, ONNX_DTYPE, Tensor, fmtShape, isFloat, makeData,
} from './graph';
import { allStatic, broadcastShapes, dimDiv, dimEq, dimsCompatible, isStatic, normAxis, numel } from './dims';

export type T = Tensor | number;

// ---------------------------------------------------------------------------------------------------------
// attribute and lifting helpers

export const attr = {
  i: (v: number): Attr => ({ kind: 'int', v }),
  f: (v: number): Attr => ({ kind: 'float', v }),
  s: (v: string): Attr => ({ kind: 'string', v }),
  ints: (v: number[]): Attr => ({ kind: 'ints', v }),
};

export function attrInt(a: Attr | undefined, dflt: number): number {
  return a && a.kind === 'int' ? a.v : dflt;
}
export function attrFloat(a: Attr | undefined, dflt: number): number {
  return a && (a.kind === 'float' || a.kind === 'int') ? a.v : dflt;
}
export function attrStr(a: Attr | undefined, dflt: string): string {
  return a && a.kind === 'string' ? a.v : dflt;
}
export function attrInts(a: Attr | undefined): number[] | undefined {
  return a && a.kind === 'ints' ? a.v : undefined;
}

function graphOf(op: string, ...xs: unknown[]): Graph {
  for (const x of xs) if (x instanceof Tensor) return x.graph;
  throw new GraphError(`${op}: at least one operand must be a tensor`);
}

/** Numbers become scalar constants of the other operand's dtype. */
function lift(g: Graph, x: T, dtype: DType): Tensor {
  return typeof x === 'number' ? g.scalar(x, dtype) : x;
}

function sameDtype(op: string, named: [string, Tensor][]): DType {
  const [n0, t0] = named[0]!;
  for (const [n, t] of named.slice(1)) {
    if (t.dtype !== t0.dtype) throw new GraphError(`${op}: ${n0} is ${t0.dtype} but ${n} is ${t.dtype} (${n0} ${fmtShape(t0.shape)}, ${n} ${fmtShape(t.shape)})`);
  }
  return t0.dtype;
}

function requireFloat(op: string, name: string, x: Tensor): void {
  if (!isFloat(x.dtype)) throw new GraphError(`${op}: ${name} must be a float tensor, got ${x.dtype}${fmtShape(x.shape)}`);
}
function requireIndex(op: string, name: string, x: Tensor): void {
  if (x.dtype !== 'int64' && x.dtype !== 'int32') throw new GraphError(`${op}: ${name} must be int64 or int32, got ${x.dtype}${fmtShape(x.shape)}`);
}

const unknownDim = (g: Graph, hint: string): Dim => g.fresh(`${hint}?`);

// ---------------------------------------------------------------------------------------------------------
// elementwise

function binary(op: string, a: T, b: T, outDtype?: DType): Tensor {
  const g = graphOf(op, a, b);
  const dt = a instanceof Tensor ? a.dtype : (b as Tensor).dtype;
  const x = lift(g, a, dt);
  const y = lift(g, b, dt);
  const dtype = sameDtype(op, [['a', x], ['b', y]]);
  const shape = broadcastShapes(op, [{ name: 'a', shape: x.shape }, { name: 'b', shape: y.shape }]);
  return g.addNode(op, [x, y], [{ dtype: outDtype ?? dtype, shape }])[0]!;
}

export const add = (a: T, b: T): Tensor => binary('Add', a, b);
export const sub = (a: T, b: T): Tensor => binary('Sub', a, b);
export const mul = (a: T, b: T): Tensor => binary('Mul', a, b);
export const div = (a: T, b: T): Tensor => binary('Div', a, b);
export const pow = (a: T, b: T): Tensor => binary('Pow', a, b);
/** Elementwise maximum / minimum of two tensors (ONNX Max / Min). */
export const maximum = (a: T, b: T): Tensor => binary('Max', a, b);
export const minimum = (a: T, b: T): Tensor => binary('Min', a, b);
export const equal = (a: T, b: T): Tensor => binary('Equal', a, b, 'bool');
export const greater = (a: T, b: T): Tensor => binary('Greater', a, b, 'bool');
export const less = (a: T, b: T): Tensor => binary('Less', a, b, 'bool');
export const greaterOrEqual = (a: T, b: T): Tensor => binary('GreaterOrEqual', a, b, 'bool');
export const lessOrEqual = (a: T, b: T): Tensor => binary('LessOrEqual', a, b, 'bool');
export function and(a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== 'bool' || b.dtype !== 'bool') throw new GraphError(`And: a and b must be bool, got ${a.dtype} and ${b.dtype}`);
  return binary('And', a, b);
}
export function or(a: Tensor, b: Tensor): Tensor {
  if (a.dtype !== 'bool' || b.dtype !== 'bool') throw new GraphError(`Or: a and b must be bool, got ${a.dtype} and ${b.dtype}`);
  return binary('Or', a, b);
}

function unary(op: string, x: Tensor, float = true, attrs: Record<string, Attr> = {}): Tensor {
  if (float) requireFloat(op, 'x', x);
  return x.graph.addNode(op, [x], [{ dtype: x.dtype, shape: x.shape }], attrs)[0]!;
}

export const sqrt = (x: Tensor): Tensor => unary('Sqrt', x);
export const reciprocal = (x: Tensor): Tensor => unary('Reciprocal', x);
export const exp = (x: Tensor): Tensor => unary('Exp', x);
export const log = (x: Tensor): Tensor => unary('Log', x);
export const neg = (x: Tensor): Tensor => unary('Neg', x, false);
export const abs = (x: Tensor): Tensor => unary('Abs', x, false);
export const sign = (x: Tensor): Tensor => unary('Sign', x, false);
export const relu = (x: Tensor): Tensor => unary('Relu', x);
export const sigmoid = (x: Tensor): Tensor => unary('Sigmoid', x);
export const tanh = (x: Tensor): Tensor => unary('Tanh', x);
export const erf = (x: Tensor): Tensor => unary('Erf', x);
export const sin = (x: Tensor): Tensor => unary('Sin', x);
export const cos = (x: Tensor): Tensor => unary('Cos', x);
export const identity = (x: Tensor): Tensor => unary('Identity', x, false);
export function not(x: Tensor): Tensor {
  if (x.dtype !== 'bool') throw new GraphError(`Not: x must be bool, got ${x.dtype}`);
  return unary('Not', x, false);
}

/** Identity that autodiff treats as a constant. */
export function stopGradient(x: Tensor): Tensor {
  return x.graph.addNode('Identity', [x], [{ dtype: x.dtype, shape: x.shape }], {}, { noGrad: true })[0]!;
}

export function where(cond: Tensor, a: T, b: T): Tensor {
  const g = cond.graph;
  if (cond.dtype !== 'bool') throw new GraphError(`Where: cond must be bool, got ${cond.dtype}${fmtShape(cond.shape)}`);
  const dt = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : 'float32';
  const x = lift(g, a, dt);
  const y = lift(g, b, dt);
  const dtype = sameDtype('Where', [['a', x], ['b', y]]);
  const shape = broadcastShapes('Where', [{ name: 'cond', shape: cond.shape }, { name: 'a', shape: x.shape }, { name: 'b', shape: y.shape }]);
  return g.addNode('Where', [cond, x, y], [{ dtype, shape }])[0]!;
}

export function cast(x: Tensor, to: DType): Tensor {
  if (x.dtype === to) return x;
  const known = x.known && (to === 'int64' || to === 'int32') ? x.known : undefined;
  return x.graph.addNode('Cast', [x], [{ dtype: to, shape: x.shape, ...(known ? { known } : {}) }], { to: attr.i(onnxCode(to)) })[0]!;
}
const onnxCode = (d: DType): number => ONNX_DTYPE[d];

// ---------------------------------------------------------------------------------------------------------
// softmax family and reductions

export function softmax(x: Tensor, axis = -1): Tensor {
  requireFloat('Softmax', 'x', x);
  normAxis('Softmax', axis, x.rank);
  return x.graph.addNode('Softmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.i(axis) })[0]!;
}
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  requireFloat('LogSoftmax', 'x', x);
  normAxis('LogSoftmax', axis, x.rank);
  return x.graph.addNode('LogSoftmax', [x], [{ dtype: x.dtype, shape: x.shape }], { axis: attr.i(axis) })[0]!;
}

function reduce(op: string, x: Tensor, axes: readonly number[] | undefined, keepdims: boolean): Tensor {
  const all = axes === undefined ? x.shape.map((_, i) => i) : axes.map((a) => normAxis(op, a, x.rank));
  if (new Set(all).size !== all.length) throw new GraphError(`${op}: axes ${fmtShape(axes ?? [])} repeat an axis`);
  const shape: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!all.includes(i)) shape.push(d);
    else if (keepdims) shape.push(1);
  });
  // Axes are an input since opset 13 (ReduceSum) / 18 (the others); an empty list would mean "all" or
  // "none" depending on noop_with_empty_axes, so "all" is spelled out.
  const inputs = [x, x.graph.ints(all)];
  return x.graph.addNode(op, inputs, [{ dtype: x.dtype, shape }], { keepdims: attr.i(keepdims ? 1 : 0) })[0]!;
}

export const reduceSum = (x: Tensor, axes?: readonly number[], keepdims = false): Tensor => reduce('ReduceSum', x, axes, keepdims);
export const reduceMean = (x: Tensor, axes?: readonly number[], keepdims = false): Tensor => reduce('ReduceMean', x, axes, keepdims);
export const reduceMax = (x: Tensor, axes?: readonly number[], keepdims = false): Tensor => reduce('ReduceMax', x, axes, keepdims);
export const reduceMin = (x: Tensor, axes?: readonly number[], keepdims = false): Tensor => reduce('ReduceMin', x, axes, keepdims);
export const reduceProd = (x: Tensor, axes?: readonly number[], keepdims = false): Tensor => reduce('ReduceProd', x, axes, keepdims);

export function argMax(x: Tensor, axis = -1, keepdims = false): Tensor {
  const a = normAxis('ArgMax', axis, x.rank);
  const shape = keepdims ? x.shape.map((d, i) => (i === a ? 1 : d)) : x.shape.filter((_, i) => i !== a);
  return x.graph.addNode('ArgMax', [x], [{ dtype: 'int64', shape }], { axis: attr.i(a), keepdims: attr.i(keepdims ? 1 : 0) })[0]!;
}

/** Returns [values, indices] of the k largest (or smallest) entries along an axis. */
export function topK(x: Tensor, k: number, axis = -1, largest = true): [Tensor, Tensor] {
  const a = normAxis('TopK', axis, x.rank);
  const d = x.shape[a]!;
  if (isStatic(d) && k > d) throw new GraphError(`TopK: k = ${k} exceeds dim ${d} of x ${fmtShape(x.shape)} at axis ${axis}`);
  const shape = x.shape.map((e, i) => (i === a ? k : e));
  const [v, idx] = x.graph.addNode('TopK', [x, x.graph.ints([k])], [{ dtype: x.dtype, shape }, { dtype: 'int64', shape }],
    { axis: attr.i(a), largest: attr.i(largest ? 1 : 0), sorted: attr.i(1) });
  return [v!, idx!];
}

// ---------------------------------------------------------------------------------------------------------
// linear algebra

export function matMul(a: Tensor, b: Tensor): Tensor {
  const dtype = sameDtype('MatMul', [['a', a], ['b', b]]);
  if (a.rank === 0 || b.rank === 0) throw new GraphError(`MatMul: a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)} must both have rank >= 1`);
  const as = a.rank === 1 ? [1, a.shape[0]!] : a.shape;
  const bs = b.rank === 1 ? [b.shape[0]!, 1] : b.shape;
  const k1 = as[as.length - 1]!;
  const k2 = bs[bs.length - 2]!;
  if (!dimsCompatible(k1, k2)) throw new GraphError(`MatMul: cannot multiply a ${fmtShape(a.shape)} by b ${fmtShape(b.shape)}: inner dims ${k1} and ${k2} differ`);
  let batch: Dim[];
  try {
    batch = broadcastShapes('MatMul', [{ name: 'a', shape: as.slice(0, -2) }, { name: 'b', shape: bs.slice(0, -2) }]);
  } catch {
    throw new GraphError(`MatMul: cannot multiply a ${fmtShape(a.shape)} by b ${fmtShape(b.shape)}: batch dims ${fmtShape(as.slice(0, -2))} and ${fmtShape(bs.slice(0, -2))} do not broadcast`);
  }
  const shape = [...batch, ...(a.rank === 1 ? [] : [as[as.length - 2]!]), ...(b.rank === 1 ? [] : [bs[bs.length - 1]!])];
  return a.graph.addNode('MatMul', [a, b], [{ dtype, shape }])[0]!;
}

export interface GemmOptions { transA?: boolean; transB?: boolean; alpha?: number; beta?: number }

/** alpha * op(a) @ op(b) + beta * c, for 2-D a and b; c broadcasts to the result. */
export function gemm(a: Tensor, b: Tensor, c: Tensor | null = null, o: GemmOptions = {}): Tensor {
  const dtype = sameDtype('Gemm', c ? [['a', a], ['b', b], ['c', c]] : [['a', a], ['b', b]]);
  if (a.rank !== 2 || b.rank !== 2) throw new GraphError(`Gemm: a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)} must be 2-D`);
  const [m, k1] = o.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [k2, n] = o.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (!dimsCompatible(k1, k2)) {
    throw new GraphError(`Gemm: cannot multiply a ${fmtShape(a.shape)}${o.transA ? 'ᵀ' : ''} by b ${fmtShape(b.shape)}${o.transB ? 'ᵀ' : ''}: inner dims ${k1} and ${k2} differ`);
  }
  const shape = [m, n];
  if (c) broadcastShapes('Gemm', [{ name: 'c', shape: c.shape }, { name: 'a·b', shape }]);
  const attrs: Record<string, Attr> = {};
  if (o.transA) attrs.transA = attr.i(1);
  if (o.transB) attrs.transB = attr.i(1);
  if (o.alpha !== undefined && o.alpha !== 1) attrs.alpha = attr.f(o.alpha);
  if (o.beta !== undefined && o.beta !== 1) attrs.beta = attr.f(o.beta);
  return a.graph.addNode('Gemm', c ? [a, b, c] : [a, b], [{ dtype, shape }], attrs)[0]!;
}

// ---------------------------------------------------------------------------------------------------------
// shapes as values

/** Shape(x)[start:end] as int64; its contents are tracked so that reshapes keep symbolic dims. */
export function shape(x: Tensor, start?: number, end?: number): Tensor {
  const s = start === undefined ? 0 : start < 0 ? Math.max(0, start + x.rank) : Math.min(start, x.rank);
  const e = end === undefined ? x.rank : end < 0 ? Math.max(0, end + x.rank) : Math.min(end, x.rank);
  const known = x.shape.slice(s, Math.max(s, e));
  const attrs: Record<string, Attr> = {};
  if (start !== undefined) attrs.start = attr.i(start);
  if (end !== undefined) attrs.end = attr.i(end);
  return x.graph.addNode('Shape', [x], [{ dtype: 'int64', shape: [known.length], known: [...known] }], attrs)[0]!;
}

const dimCache = new WeakMap<Graph, Map<string, Tensor>>();

/** A 1-element int64 tensor holding a dim's run-time value; named dims are read off the graph input that has them. */
export function dimValue(g: Graph, d: Dim): Tensor {
  if (isStatic(d)) return g.ints([d]);
  let cache = dimCache.get(g);
  if (!cache) dimCache.set(g, (cache = new Map()));
  const hit = cache.get(d);
  if (hit) return hit;
  let t: Tensor | undefined;
  if (d.includes('*')) {
    const parts = d.split('*');
    t = parts.map((p) => dimValue(g, /^\d+$/.test(p) ? Number(p) : p)).reduce((acc, x) => mul(acc, x));
    t.known = [d];
  } else {
    for (const inp of g.inputs) {
      const k = inp.shape.indexOf(d);
      if (k >= 0) { t = shape(inp, k, k + 1); break; }
    }
    if (!t) throw new GraphError(`dim '${d}' is not a dim of any graph input, so its run-time value is unknown; pass a shape tensor instead`);
  }
  cache.set(d, t);
  return t;
}

/** An int64 shape tensor for dims that may be named. */
export function shapeOf(g: Graph, dims: readonly Dim[]): Tensor {
  if (allStatic(dims)) return g.ints(dims);
  const t = concat(dims.map((d) => dimValue(g, d)), 0);
  t.known = [...dims];
  return t;
}

function shapeArg(g: Graph, s: readonly Dim[] | Tensor): Tensor {
  return s instanceof Tensor ? s : shapeOf(g, s);
}

/** Reshape to dims that may include -1 (inferred), 0 (copied from x) and named dims. */
export function reshape(x: Tensor, target: readonly Dim[] | Tensor): Tensor {
  const g = x.graph;
  const st = shapeArg(g, target);
  requireIndex('Reshape', 'shape', st);
  if (st.rank !== 1) throw new GraphError(`Reshape: shape must be 1-D, got ${fmtShape(st.shape)}`);
  const want = st.known;
  let out: Dim[];
  if (!want) {
    const n = st.shape[0]!;
    if (!isStatic(n)) throw new GraphError(`Reshape: the rank of the target shape must be static`);
    out = Array.from({ length: n }, () => unknownDim(g, 'reshape'));
  } else {
    out = want.map((d, i) => (d === 0 ? (x.shape[i] ?? 0) : d));
    const minus = out.flatMap((d, i) => (d === -1 ? [i] : []));
    if (minus.length > 1) throw new GraphError(`Reshape: target ${fmtShape(want)} has more than one -1`);
    const total = numel(x.shape);
    if (minus.length === 1) {
      const rest = numel(out.filter((d) => d !== -1));
      const q = dimDiv(total, rest);
      if (q === null && allStatic(x.shape) && allStatic(out.filter((d) => d !== -1))) {
        throw new GraphError(`Reshape: cannot reshape x ${fmtShape(x.shape)} (${total} elements) to ${fmtShape(want)}: ${total} is not divisible by ${rest}`);
      }
      out[minus[0]!] = q ?? unknownDim(g, 'reshape');
    } else if (allStatic(x.shape) && allStatic(out) && numel(out) !== total) {
      throw new GraphError(`Reshape: cannot reshape x ${fmtShape(x.shape)} (${total} elements) to ${fmtShape(want)} (${numel(out)} elements)`);
    }
  }
  // Scalars and vectors of known values (shape arithmetic) keep their values through a reshape.
  const known = x.known && out.length <= 1 && numel(out) === x.known.length ? x.known : undefined;
  return g.addNode('Reshape', [x, st], [{ dtype: x.dtype, shape: out, ...(known ? { known } : {}) }])[0]!;
}

export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const p = perm ? perm.map((a) => normAxis('Transpose', a, x.rank)) : x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank || new Set(p).size !== p.length) throw new GraphError(`Transpose: perm ${fmtShape(perm ?? [])} is not a permutation of the ${x.rank} axes of x ${fmtShape(x.shape)}`);
  return x.graph.addNode('Transpose', [x], [{ dtype: x.dtype, shape: p.map((i) => x.shape[i]!) }], { perm: attr.ints(p) })[0]!;
}

export function unsqueeze(x: Tensor, axes: readonly number[]): Tensor {
  const r = x.rank + axes.length;
  const ax = axes.map((a) => normAxis('Unsqueeze', a, r)).sort((a, b) => a - b);
  if (new Set(ax).size !== ax.length) throw new GraphError(`Unsqueeze: axes ${fmtShape(axes)} repeat an axis`);
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < r; i++) out.push(ax.includes(i) ? 1 : x.shape[k++]!);
  const known = x.known && x.rank <= 1 ? x.known : undefined;
  return x.graph.addNode('Unsqueeze', [x, x.graph.ints(ax)], [{ dtype: x.dtype, shape: out, ...(known ? { known } : {}) }])[0]!;
}

export function squeeze(x: Tensor, axes?: readonly number[]): Tensor {
  const ax = axes ? axes.map((a) => normAxis('Squeeze', a, x.rank)) : x.shape.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of ax) {
    const d = x.shape[a]!;
    if (isStatic(d) && d !== 1) throw new GraphError(`Squeeze: axis ${a} of x ${fmtShape(x.shape)} has size ${d}, not 1`);
  }
  const out = x.shape.filter((_, i) => !ax.includes(i));
  return x.graph.addNode('Squeeze', [x, x.graph.ints(ax)], [{ dtype: x.dtype, shape: out }])[0]!;
}

export function expand(x: Tensor, target: readonly Dim[] | Tensor): Tensor {
  const st = shapeArg(x.graph, target);
  const want = st.known ?? Array.from({ length: Number(st.shape[0]) }, () => unknownDim(x.graph, 'expand'));
  const out = broadcastShapes('Expand', [{ name: 'x', shape: x.shape }, { name: 'shape', shape: want }]);
  return x.graph.addNode('Expand', [x, st], [{ dtype: x.dtype, shape: out }])[0]!;
}

export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new GraphError('Concat: needs at least one input');
  const x0 = xs[0]!;
  const dtype = sameDtype('Concat', xs.map((x, i) => [`inputs[${i}]`, x] as [string, Tensor]));
  const a = normAxis('Concat', axis, x0.rank);
  let d: Dim = 0;
  for (const [i, x] of xs.entries()) {
    if (x.rank !== x0.rank) throw new GraphError(`Concat: inputs[${i}] ${fmtShape(x.shape)} has rank ${x.rank}, inputs[0] ${fmtShape(x0.shape)} has ${x0.rank}`);
    x.shape.forEach((e, j) => {
      if (j !== a && isStatic(e) && isStatic(x0.shape[j]!) && e !== x0.shape[j]) {
        throw new GraphError(`Concat: inputs[${i}] ${fmtShape(x.shape)} and inputs[0] ${fmtShape(x0.shape)} differ at axis ${j} (concat axis ${a})`);
      }
    });
    d = isStatic(d) && isStatic(x.shape[a]!) ? d + (x.shape[a] as number) : d === 0 ? x.shape[a]! : unknownDim(x0.graph, 'concat');
  }
  const shape = x0.shape.map((e, j) => (j === a ? d : e));
  const known = xs.every((x) => x.known && x.rank === 1) ? xs.flatMap((x) => x.known!) : undefined;
  return x0.graph.addNode('Concat', xs, [{ dtype, shape, ...(known ? { known } : {}) }], { axis: attr.i(a) })[0]!;
}

const BIG = 2 ** 62;

/** x[starts:ends:steps] along axes (default all leading axes); bounds clamp as in numpy. */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[], axes?: readonly number[], steps?: readonly number[]): Tensor {
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => normAxis('Slice', a, x.rank));
  const st = steps ?? starts.map(() => 1);
  if (ends.length !== starts.length || ax.length !== starts.length || st.length !== starts.length) {
    throw new GraphError(`Slice: starts, ends, axes and steps must have the same length`);
  }
  const g = x.graph;
  const out = [...x.shape];
  ax.forEach((a, i) => {
    const d = x.shape[a]!;
    const s = starts[i]!;
    const e = Math.min(ends[i]!, BIG);
    const step = st[i]!;
    if (step === 0) throw new GraphError(`Slice: step 0 at axis ${a}`);
    if (isStatic(d)) {
      const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v < 0 ? v + d : v));
      const [lo, hi] = step > 0 ? [0, d] : [-1, d - 1];
      const s2 = clamp(s, lo, hi);
      const e2 = clamp(e, lo, hi);
      out[a] = Math.max(0, Math.ceil((e2 - s2) / step));
    } else if (step === 1 && s === 0 && e >= 2 ** 31) out[a] = d;
    else if (step === 1 && s < 0 && e >= 2 ** 31) out[a] = -s;
    else out[a] = unknownDim(g, 'slice');
  });
  const inputs = [x, g.ints(starts), g.ints(ends.map((e) => Math.min(e, BIG))), g.ints(ax), g.ints(st)];
  let known: Dim[] | undefined;
  if (x.known && x.rank === 1 && isStatic(x.shape[0]!)) {
    const s0 = starts[0]!;
    const e0 = ends[0]!;
    const n = x.known.length;
    const s2 = Math.max(0, Math.min(n, s0 < 0 ? s0 + n : s0));
    const e2 = Math.max(0, Math.min(n, e0 < 0 ? e0 + n : e0));
    if (st[0] === 1) known = x.known.slice(s2, e2);
  }
  return g.addNode('Slice', inputs, [{ dtype: x.dtype, shape: out, ...(known ? { known } : {}) }])[0]!;
}

/** Splits along an axis into pieces of the given sizes, or into `n` equal pieces. */
export function split(x: Tensor, sizes: readonly number[] | number, axis = 0): Tensor[] {
  const a = normAxis('Split', axis, x.rank);
  const d = x.shape[a]!;
  let sz: number[];
  if (typeof sizes === 'number') {
    if (!isStatic(d) || d % sizes !== 0) throw new GraphError(`Split: cannot split axis ${a} of x ${fmtShape(x.shape)} into ${sizes} equal parts`);
    sz = Array.from({ length: sizes }, () => d / sizes);
  } else sz = [...sizes];
  const total = sz.reduce((p, q) => p + q, 0);
  if (isStatic(d) && total !== d) throw new GraphError(`Split: sizes ${fmtShape(sz)} sum to ${total}, but axis ${a} of x ${fmtShape(x.shape)} has ${d}`);
  const outs = sz.map((s) => ({ dtype: x.dtype, shape: x.shape.map((e, i) => (i === a ? s : e)) }));
  return x.graph.addNode('Split', [x, x.graph.ints(sz)], outs, { axis: attr.i(a) });
}

export function gather(x: Tensor, indices: Tensor, axis = 0): Tensor {
  requireIndex('Gather', 'indices', indices);
  const a = normAxis('Gather', axis, x.rank);
  const shape = [...x.shape.slice(0, a), ...indices.shape, ...x.shape.slice(a + 1)];
  let known: Dim[] | undefined;
  const idx = indices.known;
  if (x.known && x.rank === 1 && idx && idx.every(isStatic)) {
    const n = x.known.length;
    known = idx.map((i) => x.known![(i as number) < 0 ? (i as number) + n : (i as number)]!);
  }
  return x.graph.addNode('Gather', [x, indices], [{ dtype: x.dtype, shape, ...(known ? { known } : {}) }], { axis: attr.i(a) })[0]!;
}

export function gatherElements(x: Tensor, indices: Tensor, axis = 0): Tensor {
  requireIndex('GatherElements', 'indices', indices);
  const a = normAxis('GatherElements', axis, x.rank);
  if (indices.rank !== x.rank) throw new GraphError(`GatherElements: indices ${fmtShape(indices.shape)} must have the rank of x ${fmtShape(x.shape)}`);
  return x.graph.addNode('GatherElements', [x, indices], [{ dtype: x.dtype, shape: indices.shape }], { axis: attr.i(a) })[0]!;
}

export function scatterElements(data: Tensor, indices: Tensor, updates: Tensor, axis = 0, reduction: 'none' | 'add' = 'none'): Tensor {
  requireIndex('ScatterElements', 'indices', indices);
  const a = normAxis('ScatterElements', axis, data.rank);
  sameDtype('ScatterElements', [['data', data], ['updates', updates]]);
  if (indices.rank !== data.rank || updates.rank !== data.rank) {
    throw new GraphError(`ScatterElements: data ${fmtShape(data.shape)}, indices ${fmtShape(indices.shape)} and updates ${fmtShape(updates.shape)} must have the same rank`);
  }
  const attrs: Record<string, Attr> = { axis: attr.i(a) };
  if (reduction !== 'none') attrs.reduction = attr.s(reduction);
  return data.graph.addNode('ScatterElements', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], attrs)[0]!;
}

export function scatterND(data: Tensor, indices: Tensor, updates: Tensor, reduction: 'none' | 'add' = 'none'): Tensor {
  if (indices.dtype !== 'int64') throw new GraphError(`ScatterND: indices must be int64, got ${indices.dtype}`);
  sameDtype('ScatterND', [['data', data], ['updates', updates]]);
  const attrs: Record<string, Attr> = {};
  if (reduction !== 'none') attrs.reduction = attr.s(reduction);
  return data.graph.addNode('ScatterND', [data, indices, updates], [{ dtype: data.dtype, shape: data.shape }], attrs)[0]!;
}

/** Pads with a constant; pads = [begin_0.., end_0..] for the given axes (an int64 tensor or numbers). */
export function pad(x: Tensor, pads: Tensor | readonly number[], axes?: readonly number[], value = 0): Tensor {
  const g = x.graph;
  const ax = (axes ?? x.shape.map((_, i) => i)).map((a) => normAxis('Pad', a, x.rank));
  const p = pads instanceof Tensor ? pads : g.ints(pads);
  let out: Dim[];
  if (!(pads instanceof Tensor)) {
    out = [...x.shape];
    ax.forEach((a, i) => { out[a] = dimAdd(g, x.shape[a]!, (pads[i] ?? 0) + (pads[i + ax.length] ?? 0)); });
  } else out = x.shape.map((d, i) => (ax.includes(i) ? unknownDim(g, 'pad') : d));
  return g.addNode('Pad', [x, p, g.scalar(value, x.dtype), g.ints(ax)], [{ dtype: x.dtype, shape: out }], { mode: attr.s('constant') })[0]!;
}
function dimAdd(g: Graph, d: Dim, n: number): Dim {
  return n === 0 ? d : isStatic(d) ? d + n : unknownDim(g, 'pad');
}

export function nonZero(x: Tensor): Tensor {
  return x.graph.addNode('NonZero', [x], [{ dtype: 'int64', shape: [x.rank, unknownDim(x.graph, 'nonzero')] }])[0]!;
}

/** [start, start + delta, ...) below limit; dtype from the first tensor operand or `dtype`. */
export function range(g: Graph, start: T, limit: T, delta: T = 1, dtype: DType = 'int64'): Tensor {
  const dt = [start, limit, delta].find((v): v is Tensor => v instanceof Tensor)?.dtype ?? dtype;
  const s = lift(g, start, dt);
  const l = lift(g, limit, dt);
  const d = lift(g, delta, dt);
  for (const [n, t] of [['start', s], ['limit', l], ['delta', d]] as const) {
    if (t.rank !== 0) throw new GraphError(`Range: ${n} must be a scalar, got ${fmtShape(t.shape)}`);
  }
  let len: Dim = unknownDim(g, 'range');
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number') len = Math.max(0, Math.ceil((limit - start) / delta));
  else if (typeof start === 'number' && start === 0 && delta === 1 && l.known?.length === 1) len = l.known[0]!;
  return g.addNode('Range', [s, l, d], [{ dtype: dt, shape: [len] }])[0]!;
}

/** Upper (or lower) triangle of the last two axes, shifted by k diagonals. */
export function trilu(x: Tensor, upper = true, k = 0): Tensor {
  if (x.rank < 2) throw new GraphError(`Trilu: x ${fmtShape(x.shape)} must have rank >= 2`);
  const inputs = k === 0 ? [x] : [x, x.graph.constant('int64', [], makeData('int64', [k]), 'k')];
  return x.graph.addNode('Trilu', inputs, [{ dtype: x.dtype, shape: x.shape }], { upper: attr.i(upper ? 1 : 0) })[0]!;
}

export function constantOfShape(g: Graph, dims: readonly Dim[] | Tensor, value = 0, dtype: DType = 'float32'): Tensor {
  const st = shapeArg(g, dims);
  const out = st.known ?? Array.from({ length: Number(st.shape[0]) }, () => unknownDim(g, 'const'));
  const v = { dtype, shape: [1], data: makeData(dtype, [value]) };
  return g.addNode('ConstantOfShape', [st], [{ dtype, shape: out }], { value: { kind: 'tensor', v } })[0]!;
}

/** Zeros shaped like x (taken at run time when x has named dims). */
export function zerosLike(x: Tensor, dtype: DType = x.dtype): Tensor {
  if (allStatic(x.shape)) return constantOfShape(x.graph, x.shape, 0, dtype);
  const t = constantOfShape(x.graph, shape(x), 0, dtype);
  return t;
}

// ---------------------------------------------------------------------------------------------------------
// Einsum for two operands (or one), with the equation checked against the shapes.

export function einsum(equation: string, ...xs: Tensor[]): Tensor {
  const eq = equation.replace(/\s+/g, '');
  const [lhs, rhs] = eq.split('->');
  if (rhs === undefined || lhs === undefined) throw new GraphError(`Einsum: equation '${equation}' needs an explicit '->' output`);
  const terms = lhs.split(',');
  if (terms.length !== xs.length) throw new GraphError(`Einsum: equation '${equation}' has ${terms.length} operands, ${xs.length} given`);
  if (eq.includes('.')) throw new GraphError(`Einsum: ellipsis is not supported ('${equation}')`);
  const dims = new Map<string, Dim>();
  const dtype = sameDtype('Einsum', xs.map((x, i) => [`x${i}`, x] as [string, Tensor]));
  terms.forEach((t, i) => {
    const x = xs[i]!;
    if (t.length !== x.rank) throw new GraphError(`Einsum: term '${t}' has ${t.length} letters but x${i} ${fmtShape(x.shape)} has rank ${x.rank}`);
    [...t].forEach((c, j) => {
      const d = x.shape[j]!;
      const prev = dims.get(c);
      if (prev !== undefined && !dimEq(prev, d) && isStatic(prev) && isStatic(d)) {
        throw new GraphError(`Einsum: index '${c}' is ${prev} in one operand and ${d} in x${i} ${fmtShape(x.shape)} ('${equation}')`);
      }
      if (prev === undefined || !isStatic(prev)) dims.set(c, d);
    });
  });
  const shape = [...rhs].map((c) => {
    const d = dims.get(c);
    if (d === undefined) throw new GraphError(`Einsum: output index '${c}' does not appear in the inputs ('${equation}')`);
    return d;
  });
  return xs[0]!.graph.addNode('Einsum', xs, [{ dtype, shape }], { equation: attr.s(eq) })[0]!;
}

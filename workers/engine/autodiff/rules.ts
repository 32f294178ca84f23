// The vector-Jacobian table: one rule per ONNX operator, in the spirit of PyTorch's derivatives.yaml.
//
// A rule receives the node's inputs `x`, outputs `y` and the gradients of its outputs `gy` (null where an
// output gets no gradient) and returns one gradient per input, or null for inputs that are not
// differentiable (indices, masks, shapes, axes). Rules are written with the graph builder, so gradients run
// on ONNX Runtime like everything else. The returned gradient may have the broadcast shape: grad.ts sums it
// back to the input's shape, so rules for broadcasting ops stay one line.
import { type Node, type Tensor, GraphError, fmtShape } from '../graph';
import { allStatic, isStatic, normAxis } from '../dims';
import {
  add, attrInt, attrInts, attrStr, cast, concat, cos, div, einsum, equal, exp, expand, gatherElements, gemm,
  less, log, matMul, maximum, minimum, mul, neg, pad, pow, reduceProd, reduceSum, reshape, scatterElements,
  scatterND, shape, sign, sin, sub, transpose, trilu, unsqueeze, where, zerosLike, gather, slice, attrFloat,
} from '../ops';

export interface Vjp {
  x: (Tensor | null)[];
  y: Tensor[];
  gy: (Tensor | null)[];
  /** Which inputs need a gradient; rules may skip work for the others. */
  need: boolean[];
  node: Node;
}
export type Rule = (c: Vjp) => (Tensor | null)[];

const T = (t: Tensor | null | undefined): Tensor => t!;

export const RULES: Record<string, Rule> = {
  // ---- arithmetic (broadcasting is undone by grad.ts)
  Add: ({ gy: [g] }) => [T(g), T(g)],
  Sub: ({ gy: [g] }) => [T(g), neg(T(g))],
  Mul: ({ x: [a, b], gy: [g] }) => [mul(T(g), T(b)), mul(T(g), T(a))],
  Div: ({ x: [, b], y: [y], gy: [g], need }) => [div(T(g), T(b)), need[1] ? neg(mul(T(g), div(T(y), T(b)))) : null],
  Pow: ({ x: [a, b], y: [y], gy: [g], need }) => [
    need[0] ? mul(T(g), mul(T(b), pow(T(a), sub(T(b), 1)))) : null,
    need[1] ? mul(T(g), mul(T(y), log(T(a)))) : null,
  ],
  // Ties send the gradient to the first operand, as torch.maximum does not split it either.
  Max: ({ x: [a], y: [y], gy: [g] }) => [where(equal(T(a), T(y)), T(g), 0), where(equal(T(a), T(y)), 0, T(g))],
  Min: ({ x: [a], y: [y], gy: [g] }) => [where(equal(T(a), T(y)), T(g), 0), where(equal(T(a), T(y)), 0, T(g))],
  Neg: ({ gy: [g] }) => [neg(T(g))],
  Abs: ({ x: [a], gy: [g] }) => [mul(T(g), sign(T(a)))],
  Sqrt: ({ y: [y], gy: [g] }) => [div(mul(T(g), 0.5), T(y))],
  Reciprocal: ({ y: [y], gy: [g] }) => [neg(mul(T(g), mul(T(y), T(y))))],
  Exp: ({ y: [y], gy: [g] }) => [mul(T(g), T(y))],
  Log: ({ x: [a], gy: [g] }) => [div(T(g), T(a))],
  Sin: ({ x: [a], gy: [g] }) => [mul(T(g), cos(T(a)))],
  Cos: ({ x: [a], gy: [g] }) => [neg(mul(T(g), sin(T(a))))],

  // ---- activations
  // sign(y) is 0 or 1 for y = relu(x): one fast unary kernel instead of a compare and a select.
  Relu: ({ y: [y], gy: [g] }) => [mul(T(g), sign(T(y)))],
  Sigmoid: ({ y: [y], gy: [g] }) => [mul(T(g), mul(T(y), sub(1, T(y))))],
  Tanh: ({ y: [y], gy: [g] }) => [mul(T(g), sub(1, mul(T(y), T(y))))],
  Erf: ({ x: [a], gy: [g] }) => [mul(T(g), mul(exp(neg(mul(T(a), T(a)))), 2 / Math.sqrt(Math.PI)))],
  Softmax: ({ y: [y], gy: [g], node }) => {
    const axis = attrInt(node.attrs.axis, -1);
    return [mul(T(y), sub(T(g), reduceSum(mul(T(g), T(y)), [axis], true)))];
  },
  LogSoftmax: ({ y: [y], gy: [g], node }) => {
    const axis = attrInt(node.attrs.axis, -1);
    return [sub(T(g), mul(exp(T(y)), reduceSum(T(g), [axis], true)))];
  },

  // ---- reductions (axes are a constant second input)
  ReduceSum: ({ x: [a, ax], gy: [g], node }) => [spread(T(g), T(a), reducedAxes(node, T(a), ax)), null],
  ReduceMean: ({ x: [a, ax], gy: [g], node }) => {
    const axes = reducedAxes(node, T(a), ax);
    return [div(spread(T(g), T(a), axes), count(T(a), axes)), null];
  },
  ReduceMax: ({ x: [a, ax], y: [y], gy: [g], node }) => [argExtremeGrad(node, T(a), ax, T(y), T(g)), null],
  ReduceMin: ({ x: [a, ax], y: [y], gy: [g], node }) => [argExtremeGrad(node, T(a), ax, T(y), T(g)), null],
  TopK: ({ x: [a], y: [, idx], gy: [gv], node }) => [
    gv ? scatterElements(zerosLike(T(a)), T(idx), gv, attrInt(node.attrs.axis, -1), 'add') : null, null,
  ],

  // ---- selection and casting
  Where: ({ x: [c], gy: [g] }) => [null, where(T(c), T(g), 0), where(T(c), 0, T(g))],
  Cast: ({ x: [a], gy: [g] }) => [cast(T(g), T(a).dtype)],
  Identity: ({ gy: [g], node }) => [node.noGrad ? null : T(g)],
  Trilu: ({ x: [, k], gy: [g], node }) => [trilu(T(g), attrInt(node.attrs.upper, 1) === 1, k ? Number(k.known?.[0] ?? 0) : 0), null],

  // ---- shape ops
  Reshape: ({ x: [a], gy: [g] }) => [like(T(g), T(a)), null],
  Unsqueeze: ({ x: [a], gy: [g] }) => [like(T(g), T(a)), null],
  Squeeze: ({ x: [a], gy: [g] }) => [like(T(g), T(a)), null],
  Expand: ({ gy: [g] }) => [T(g), null],
  Transpose: ({ gy: [g], node }) => {
    const perm = attrInts(node.attrs.perm) ?? T(g).shape.map((_, i) => T(g).rank - 1 - i);
    const inv = perm.map((_, i) => perm.indexOf(i));
    return [transpose(T(g), inv)];
  },
  Concat: ({ x, gy: [g], node }) => splitLike(T(g), x.map(T), attrInt(node.attrs.axis, 0)),
  Split: ({ x: [a], y, gy, node }) => {
    const axis = attrInt(node.attrs.axis, 0);
    return [concat(y.map((o, i) => gy[i] ?? zerosLike(o)), normAxis('Split', axis, T(a).rank)), null];
  },
  Slice: ({ x: [a, starts, ends, axes, steps], gy: [g] }) => [sliceGrad(T(a), T(g), T(starts), T(ends), axes ?? null, steps ?? null), null, null, null, null],
  Pad: ({ x: [a, pads, , axes], gy: [g], node }) => {
    const ax = axes?.known?.map(Number) ?? T(a).shape.map((_, i) => i);
    const p = pads?.known?.map(Number);
    if (attrStr(node.attrs.mode, 'constant') !== 'constant' || !p || p.some((v) => v < 0)) {
      throw new GraphError('grad: Pad is differentiable in constant mode with constant, non-negative pads only');
    }
    const n = ax.length;
    return [slice(T(g), p.slice(0, n), ax.map((_, i) => (p[n + i] === 0 ? 2 ** 62 : -p[n + i]!)), ax), null, null, null];
  },

  // ---- indexing
  Gather: ({ x: [a, idx], gy: [g], node }) => [gatherGrad(T(a), T(idx), T(g), attrInt(node.attrs.axis, 0)), null],
  GatherElements: ({ x: [a, idx], gy: [g], node }) => [scatterElements(zerosLike(T(a)), T(idx), T(g), attrInt(node.attrs.axis, 0), 'add'), null],
  ScatterElements: ({ x: [, idx, upd], gy: [g], node }) => {
    const axis = attrInt(node.attrs.axis, 0);
    const overwrite = attrStr(node.attrs.reduction, 'none') === 'none';
    // Overwritten positions of data do not reach the output.
    const gData = overwrite ? scatterElements(T(g), T(idx), zerosLike(T(upd)), axis) : T(g);
    return [gData, null, gatherElements(T(g), T(idx), axis)];
  },

  // ---- linear algebra
  MatMul: ({ x: [a, b], gy: [g] }) => matMulGrad(T(a), T(b), T(g)),
  Gemm: ({ x: [a, b, c], gy: [g], node, need }) => {
    const ta = attrInt(node.attrs.transA, 0) === 1;
    const tb = attrInt(node.attrs.transB, 0) === 1;
    const alpha = attrFloat(node.attrs.alpha, 1);
    const beta = attrFloat(node.attrs.beta, 1);
    // Y = alpha·A'B' + beta·C; each case picks Gemm flags instead of materialising transposes.
    const ga = !need[0] ? null : !ta
      ? gemm(T(g), T(b), null, { transB: !tb, alpha })
      : gemm(T(b), T(g), null, { transA: tb, transB: true, alpha });
    const gb = !need[1] ? null : !tb
      ? gemm(T(a), T(g), null, { transA: !ta, alpha })
      : gemm(T(g), T(a), null, { transA: true, transB: ta, alpha });
    return [ga, gb, c && need[2] ? (beta === 1 ? T(g) : mul(T(g), beta)) : null];
  },
  Einsum: ({ x, gy: [g], node }) => einsumGrad(attrStr(node.attrs.equation, ''), x.map(T), T(g)),

  // ---- no gradient: the outputs are indices, masks, shapes or constants
  Sign: () => [null],
  ConstantOfShape: () => [null],
};

// ---------------------------------------------------------------------------------------------------------
// helpers the rules share

/** g reshaped to x's shape (static when known, else taken from x at run time). */
function like(g: Tensor, x: Tensor): Tensor {
  return reshape(g, allStatic(x.shape) ? x.shape : shape(x));
}

function reducedAxes(node: Node, x: Tensor, axes: Tensor | null | undefined): number[] {
  const known = axes?.known;
  if (axes && !known) throw new GraphError(`grad: ${node.op} needs constant axes to be differentiated`);
  if (!known || known.length === 0) return x.shape.map((_, i) => i);
  return known.map((a) => normAxis(node.op, Number(a), x.rank));
}

/** Broadcasts a reduced gradient back over the reduced axes. */
function spread(g: Tensor, x: Tensor, axes: number[]): Tensor {
  const keep = g.rank === x.rank ? g : unsqueeze(g, axes);
  return expand(keep, allStatic(x.shape) ? x.shape : shape(x));
}

function count(x: Tensor, axes: number[]): Tensor | number {
  const dims = axes.map((a) => x.shape[a]!);
  if (dims.every(isStatic)) return (dims as number[]).reduce((p, q) => p * q, 1);
  return cast(reduceProd(gather(shape(x), x.graph.ints(axes))), x.dtype);
}

function argExtremeGrad(node: Node, x: Tensor, ax: Tensor | null | undefined, y: Tensor, g: Tensor): Tensor {
  const axes = reducedAxes(node, x, ax);
  const keepdims = attrInt(node.attrs.keepdims, 1) === 1;
  const yk = keepdims ? y : unsqueeze(y, axes);
  const gk = keepdims ? g : unsqueeze(g, axes);
  // Ties share the gradient equally (as torch.amax does).
  const mask = cast(equal(x, yk), x.dtype);
  return div(mul(mask, gk), reduceSum(mask, axes, true));
}

function splitLike(g: Tensor, xs: Tensor[], axis: number): Tensor[] {
  const a = normAxis('Concat', axis, g.rank);
  const sizes = xs.map((x) => x.shape[a]!);
  if (sizes.every(isStatic)) {
    let off = 0;
    return xs.map((x) => {
      const s = slice(g, [off], [off + (x.shape[a] as number)], [a]);
      off += x.shape[a] as number;
      return s;
    });
  }
  // Sizes known only at run time: Split with a computed `split` input.
  const sz = concat(xs.map((x) => shape(x, a, a + 1)), 0);
  return g.graph.addNode('Split', [g, sz], xs.map((x) => ({ dtype: g.dtype, shape: x.shape })), { axis: { kind: 'int', v: a } });
}

function sliceGrad(x: Tensor, g: Tensor, starts: Tensor, ends: Tensor, axes: Tensor | null, steps: Tensor | null): Tensor {
  const s = starts.known?.map(Number);
  const ax = (axes ? axes.known?.map(Number) : s?.map((_, i) => i))?.map((a) => normAxis('Slice', a, x.rank));
  const st = steps ? steps.known?.map(Number) : s?.map(() => 1);
  if (!s || !ax || !st || !ends.known) throw new GraphError('grad: Slice needs constant starts, ends, axes and steps to be differentiated');
  if (st.some((v) => v !== 1)) throw new GraphError(`grad: Slice is differentiable with step 1 only, got steps ${fmtShape(st)}`);
  const statics = ax.every((a) => isStatic(x.shape[a]!) && isStatic(g.shape[a]!));
  if (statics) {
    const begin = ax.map((a, i) => { const d = x.shape[a] as number; const v = s[i]!; return Math.max(0, Math.min(d, v < 0 ? v + d : v)); });
    const end = ax.map((a, i) => (x.shape[a] as number) - begin[i]! - (g.shape[a] as number));
    return pad(g, [...begin, ...end], ax);
  }
  // Named dims: the pads come from the run-time shapes of x and g.
  const gr = x.graph;
  const begins: Tensor[] = [];
  const ends2: Tensor[] = [];
  ax.forEach((a, i) => {
    const d = shape(x, a, a + 1);
    const v = gr.ints([s[i]!]);
    const b0 = s[i]! < 0 ? add(v, d) : v;
    const b = minimum(maximum(b0, gr.ints([0])), d);
    begins.push(b);
    ends2.push(sub(sub(d, b), shape(g, a, a + 1)));
  });
  return pad(g, concat([...begins, ...ends2], 0), ax);
}

function gatherGrad(x: Tensor, idx0: Tensor, g: Tensor, axis: number): Tensor {
  const a = normAxis('Gather', axis, x.rank);
  let idx = cast(idx0, 'int64');
  const n = x.shape[a]!;
  // Negative indices count from the end; ScatterND wants them normalised.
  idx = where(less(idx, 0), add(idx, isStatic(n) ? x.graph.scalar(n, 'int64') : reshape(shape(x, a, a + 1), [])), idx);
  const q = idx.rank;
  if (a === 0) return scatterND(zerosLike(x), unsqueeze(idx, [-1]), g, 'add');
  // Move the gathered axis to the front, scatter there, and move it back.
  const perm = [a, ...x.shape.map((_, i) => i).filter((i) => i !== a)];
  const xt = transpose(x, perm);
  const gPerm = [...Array.from({ length: q }, (_, i) => a + i), ...Array.from({ length: a }, (_, i) => i), ...Array.from({ length: g.rank - a - q }, (_, i) => a + q + i)];
  const gt = transpose(g, gPerm);
  const st = scatterND(zerosLike(xt), unsqueeze(idx, [-1]), gt, 'add');
  return transpose(st, perm.map((_, i) => perm.indexOf(i)));
}

function matMulGrad(a: Tensor, b: Tensor, g: Tensor): [Tensor, Tensor] {
  if (a.rank === 2 && b.rank === 2) {
    return [gemm(g, b, null, { transB: true }), gemm(a, g, null, { transA: true })];
  }
  // Promote vectors to matrices as MatMul does, then undo it.
  const a2 = a.rank === 1 ? unsqueeze(a, [0]) : a;
  const b2 = b.rank === 1 ? unsqueeze(b, [1]) : b;
  let g2 = g;
  if (a.rank === 1) g2 = unsqueeze(g2, [g2.rank - (b.rank === 1 ? 0 : 1)]);
  if (b.rank === 1) g2 = unsqueeze(g2, [g2.rank]);
  const tr = (t: Tensor): Tensor => transpose(t, [...t.shape.slice(0, -2).map((_, i) => i), t.rank - 1, t.rank - 2]);
  let ga = matMul(g2, tr(b2));
  let gb = matMul(tr(a2), g2);
  if (a.rank === 1) ga = sumTo(ga, a2, a);
  if (b.rank === 1) gb = sumTo(gb, b2, b);
  return [ga, gb];
}

/** Sums batch dims of a promoted gradient and drops the promoted axis. */
function sumTo(gp: Tensor, promoted: Tensor, orig: Tensor): Tensor {
  const lead = gp.rank - promoted.rank;
  const r = lead > 0 ? reduceSum(gp, Array.from({ length: lead }, (_, i) => i)) : gp;
  return reshape(r, allStatic(orig.shape) ? orig.shape : shape(orig));
}

function einsumGrad(eq: string, xs: Tensor[], g: Tensor): Tensor[] {
  const [lhs, out] = eq.split('->') as [string, string];
  const terms = lhs.split(',');
  return terms.map((term, i) => {
    const others = terms.filter((_, j) => j !== i);
    const avail = new Set([...out, ...others.join('')]);
    if ([...term].some((c) => !avail.has(c)) || new Set(term).size !== term.length) {
      throw new GraphError(`grad: Einsum '${eq}' is differentiable only when every index of an operand appears in the output or another operand, once`);
    }
    return einsum(`${[out, ...others].join(',')}->${term}`, g, ...xs.filter((_, j) => j !== i));
  });
}

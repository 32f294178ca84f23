// Reverse accumulation over a traced graph. Walks the nodes between `wrt` and the loss in reverse trace order
// (which is topological), applies the rule of each node from RULES, sums gradients that fan in, and sums
// broadcast gradients back to their input's shape.
import { type Node, type Tensor, GraphError, fmtShape, isFloat } from '../graph';
import { dimEq, isStatic, allStatic } from '../dims';
import {
  add, and, concat, constantOfShape, equal, not, nonZero, reduceSum, reshape, shape, slice, squeeze, zerosLike,
} from '../ops';
import { RULES } from './rules';

export interface GradOptions {
  /** Gradient of the loss itself (defaults to ones, i.e. d loss / d loss = 1). */
  seed?: Tensor;
}

/**
 * Gradients of `loss` with respect to each tensor in `wrt`, as new tensors in the same graph. A `wrt` that the
 * loss does not depend on gets zeros.
 */
export function grad(loss: Tensor, wrt: readonly Tensor[], opts: GradOptions = {}): Tensor[] {
  const g = loss.graph;
  if (!isFloat(loss.dtype)) throw new GraphError(`grad: the loss must be a float tensor, got ${loss.dtype}`);
  for (const w of wrt) {
    if (w.graph !== g) throw new GraphError(`grad: ${w.name} belongs to another graph than the loss`);
    if (!isFloat(w.dtype)) throw new GraphError(`grad: cannot differentiate with respect to ${w.name}, a ${w.dtype} tensor`);
  }

  // Tensors that depend on some wrt, through nodes that carry gradients.
  const active = new Set<Tensor>(wrt);
  for (const n of g.nodes) {
    if (n.noGrad) continue;
    if (n.inputs.some((t) => t && active.has(t))) for (const o of n.outputs) if (isFloat(o.dtype)) active.add(o);
  }
  // Nodes on a path from wrt to the loss.
  const onPath = new Set<Node>();
  const needed = new Set<Tensor>([loss]);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!n.outputs.some((o) => needed.has(o) && active.has(o))) continue;
    onPath.add(n);
    for (const t of n.inputs) if (t && active.has(t)) needed.add(t);
  }

  const grads = new Map<Tensor, Tensor>();
  const seed = opts.seed ?? (loss.rank === 0 ? g.scalar(1, loss.dtype) : constantOfShape(g, allStatic(loss.shape) ? loss.shape : shape(loss), 1, loss.dtype));
  grads.set(loss, seed);
  const accumulate = (t: Tensor, d: Tensor): void => {
    const prev = grads.get(t);
    grads.set(t, prev ? add(prev, d) : d);
  };

  const stop = g.nodes.length;
  for (let i = stop - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (!onPath.has(n)) continue;
    const gy = n.outputs.map((o) => grads.get(o) ?? null);
    if (gy.every((x) => x === null)) continue;
    const rule = RULES[n.op];
    if (!rule) {
      throw new GraphError(`grad: no gradient rule for ${n.op} (node ${n.name}, inputs ${n.inputs.map((t) => (t ? fmtShape(t.shape) : '-')).join(', ')}), which lies between the loss and the tensors differentiated`);
    }
    const need = n.inputs.map((t) => !!t && active.has(t) && needed.has(t));
    const gx = rule({ x: [...n.inputs], y: [...n.outputs], gy, need, node: n });
    n.inputs.forEach((t, k) => {
      const d = gx[k];
      if (!t || !need[k] || !d) return;
      accumulate(t, sumToShape(d, t, n));
    });
  }
  return wrt.map((w) => grads.get(w) ?? zerosLike(w));
}

/** Sums a gradient over the axes that broadcasting added or stretched, so it has x's shape. */
export function sumToShape(d: Tensor, x: Tensor, n?: Node): Tensor {
  if (d.dtype !== x.dtype) throw new GraphError(`grad: rule for ${n?.op ?? '?'} returned a ${d.dtype} gradient for ${x.dtype} input ${x.name}`);
  if (d.rank === x.rank && d.shape.every((e, i) => dimEq(e, x.shape[i]!))) return d;
  const lead = d.rank - x.rank;
  if (lead < 0) throw new GraphError(`grad: rule for ${n?.op ?? '?'} returned a gradient ${fmtShape(d.shape)} of lower rank than input ${fmtShape(x.shape)}`);
  const axes = Array.from({ length: lead }, (_, i) => i);
  let decidable = true;
  x.shape.forEach((e, i) => {
    const f = d.shape[lead + i]!;
    if (dimEq(e, f)) return;
    if (e === 1) axes.push(lead + i);
    else decidable = false;
  });
  if (decidable) {
    const r = axes.length ? reduceSum(d, axes, true) : d;
    return lead ? squeeze(r, Array.from({ length: lead }, (_, i) => i)) : r;
  }
  // Which axes were broadcast is only known at run time (named dims): compute them there.
  const g = d.graph;
  const sx = shape(x);
  const sd = shape(d);
  const tail = lead ? slice(sd, [lead], [2 ** 62]) : sd;
  const one = g.ints([1]);
  const stretched = reshape(nonZero(and(equal(sx, one), not(equal(tail, one)))), [-1]);
  const axesT = lead ? concat([g.ints(axes.slice(0, lead)), add(stretched, g.ints([lead]))], 0) : add(stretched, g.ints([0]));
  const summed = g.addNode('ReduceSum', [d, axesT], [{ dtype: d.dtype, shape: d.shape.map(() => g.fresh('sum?')) }], {
    keepdims: { kind: 'int', v: 1 }, noop_with_empty_axes: { kind: 'int', v: 1 },
  })[0]!;
  return reshape(summed, allStatic(x.shape) && x.shape.every(isStatic) ? x.shape : sx);
}

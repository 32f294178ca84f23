import { describe, expect, it } from 'vitest';
import { Graph, compile, op } from '../../workers/engine';

const arr = (t: { data: unknown }): number[] => Array.from(t.data as ArrayLike<number | bigint>, Number);

describe('non-differentiable and shape ops run on ORT as inferred', () => {
  it('Range, Shape, ArgMax, TopK, comparisons, ConstantOfShape, NonZero, Cast, logic', async () => {
    const g = new Graph('misc');
    const x = g.input('x', 'float32', ['n', 3]);
    const outs = {
      shape: op.shape(x),
      range: op.range(g, 0, op.reshape(op.shape(x, 0, 1), []), 1),
      argmax: op.argMax(x, 1),
      topk: op.topK(x, 2, 1, false)[1],
      eq: op.cast(op.equal(x, 1), 'int64'),
      gt: op.cast(op.greater(x, 1), 'int64'),
      lt: op.cast(op.less(x, 1), 'int64'),
      logic: op.cast(op.and(op.greaterOrEqual(x, 0), op.not(op.lessOrEqual(x, 1))), 'int64'),
      zeros: op.constantOfShape(g, [2, 2], 7, 'int64'),
      nz: op.nonZero(op.greater(x, 2)),
      big: op.reduceMax(x, [0]),
      small: op.reduceMin(x),
      prod: op.reduceProd(x, [1]),
    };
    for (const [k, t] of Object.entries(outs)) g.output(k, t);
    expect(outs.range.shape).toEqual(['n']);
    expect(outs.topk.shape).toEqual(['n', 2]);
    const c = await compile(g, { provider: 'cpu' });
    const r = await c.run({ x: { data: Float32Array.from([0, 1, 2, 3, 1, -1]), dims: [2, 3] } });
    expect(arr(r.shape!)).toEqual([2, 3]);
    expect(arr(r.range!)).toEqual([0, 1]);
    expect(arr(r.argmax!)).toEqual([2, 0]);
    expect(arr(r.topk!)).toEqual([0, 1, 2, 1]);
    expect(arr(r.eq!)).toEqual([0, 1, 0, 0, 1, 0]);
    expect(arr(r.gt!)).toEqual([0, 0, 1, 1, 0, 0]);
    expect(arr(r.lt!)).toEqual([1, 0, 0, 0, 0, 1]);
    expect(arr(r.logic!)).toEqual([0, 0, 1, 1, 0, 0]);
    expect(arr(r.zeros!)).toEqual([7, 7, 7, 7]);
    expect(arr(r.nz!)).toEqual([1, 0]);
    expect(arr(r.big!)).toEqual([3, 1, 2]);
    expect(arr(r.small!)).toEqual([-1]);
    expect(arr(r.prod!)).toEqual([0, -3]);
  });

  it('loads a model through external data when its weights exceed the limit', async () => {
    const g = new Graph('ext');
    const x = g.input('x', 'float32', [512]);
    g.output('y', op.add(x, g.initializer('w', 'float32', [512], new Float32Array(512).fill(1.5))));
    const c = await compile(g, { provider: 'cpu', externalDataAbove: 1000 });
    const r = await c.run({ x: { data: new Float32Array(512).fill(1), dims: [512] } });
    expect(arr(r.y!)[511]).toBe(2.5);
  });

  it('reshapes with named dims read off graph inputs at run time', async () => {
    const g = new Graph('dims');
    const x = g.input('x', 'float32', ['batch', 'time', 4]);
    const flat = op.reshape(x, [-1, 4]);
    const back = op.reshape(op.mul(flat, 2), ['batch', 'time', 2, 2]);
    expect(back.shape).toEqual(['batch', 'time', 2, 2]);
    g.output('y', back);
    const r = await (await compile(g, { provider: 'cpu' })).run({ x: { data: new Float32Array(24).fill(1), dims: [2, 3, 4] } });
    expect(r.y!.dims).toEqual([2, 3, 2, 2]);
  });
});

import { describe, expect, it } from 'vitest';
import { op, Graph } from '../../workers/engine';
import { RULES } from '../../workers/engine/autodiff/rules';
import { grad } from '../../workers/engine/autodiff/grad';
import { causalAttention, gelu, rmsNorm, softmaxCrossEntropy } from '../../workers/engine/nn';
import { type GradCase, gradcheck } from './gradcheck';

const i64 = (...v: number[]): BigInt64Array => BigInt64Array.from(v.map(BigInt));
const idx = (shape: number[], ...v: number[]) => ({ shape, kind: 'const' as const, dtype: 'int64' as const, data: i64(...v) });
const mask = (shape: number[], ...v: number[]) => ({ shape, kind: 'const' as const, dtype: 'bool' as const, data: Uint8Array.from(v) });

// Each case names the rules it checks in `covers`; the last test fails when a rule has no case.
const cases: (GradCase & { covers: string[] })[] = [
  { covers: ['Add'], name: 'Add broadcast [2,3]+[3]', inputs: { a: { shape: [2, 3] }, b: { shape: [3] } }, build: ({ a, b }) => op.add(a!, b!) },
  { covers: ['Add'], name: 'Add broadcast [2,1]+[1,3]', inputs: { a: { shape: [2, 1] }, b: { shape: [1, 3] } }, build: ({ a, b }) => op.add(a!, b!) },
  { covers: ['Sub'], name: 'Sub broadcast [2,3]-[2,1]', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 1] } }, build: ({ a, b }) => op.sub(a!, b!) },
  { covers: ['Mul'], name: 'Mul broadcast [3,1,2]*[4,2]', inputs: { a: { shape: [3, 1, 2] }, b: { shape: [4, 2] } }, build: ({ a, b }) => op.mul(a!, b!) },
  { covers: ['Mul'], name: 'Mul by itself (fan-in)', inputs: { a: { shape: [4] } }, build: ({ a }) => op.mul(a!, a!) },
  { covers: ['Div'], name: 'Div broadcast [2,3]/[3]', inputs: { a: { shape: [2, 3] }, b: { shape: [3], kind: 'pos' } }, build: ({ a, b }) => op.div(a!, b!) },
  { covers: ['Pow'], name: 'Pow base and exponent', inputs: { a: { shape: [2, 3], kind: 'pos' }, b: { shape: [3] } }, build: ({ a, b }) => op.pow(a!, b!) },
  { covers: ['Max'], name: 'Max broadcast', inputs: { a: { shape: [2, 3] }, b: { shape: [3] } }, build: ({ a, b }) => op.maximum(a!, b!) },
  { covers: ['Min'], name: 'Min broadcast', inputs: { a: { shape: [2, 3] }, b: { shape: [3] } }, build: ({ a, b }) => op.minimum(a!, b!) },
  { covers: ['Neg'], name: 'Neg', inputs: { a: { shape: [5] } }, build: ({ a }) => op.neg(a!) },
  { covers: ['Abs'], name: 'Abs', inputs: { a: { shape: [6] } }, build: ({ a }) => op.abs(a!) },
  { covers: ['Sqrt'], name: 'Sqrt', inputs: { a: { shape: [5], kind: 'pos' } }, build: ({ a }) => op.sqrt(a!) },
  { covers: ['Reciprocal'], name: 'Reciprocal', inputs: { a: { shape: [5], kind: 'pos' } }, build: ({ a }) => op.reciprocal(a!) },
  { covers: ['Exp'], name: 'Exp', inputs: { a: { shape: [5] } }, build: ({ a }) => op.exp(a!) },
  { covers: ['Log'], name: 'Log', inputs: { a: { shape: [5], kind: 'pos' } }, build: ({ a }) => op.log(a!) },
  { covers: ['Sin'], name: 'Sin', inputs: { a: { shape: [5] } }, build: ({ a }) => op.sin(a!) },
  { covers: ['Cos'], name: 'Cos', inputs: { a: { shape: [5] } }, build: ({ a }) => op.cos(a!) },
  { covers: ['Relu'], name: 'Relu', inputs: { a: { shape: [8] } }, build: ({ a }) => op.relu(a!) },
  { covers: ['Sigmoid'], name: 'Sigmoid', inputs: { a: { shape: [6] } }, build: ({ a }) => op.sigmoid(a!) },
  { covers: ['Tanh'], name: 'Tanh', inputs: { a: { shape: [6] } }, build: ({ a }) => op.tanh(a!) },
  { covers: ['Erf'], name: 'Erf (float32: ORT CPU has no double Erf)', dtype: 'float32', inputs: { a: { shape: [6] } }, build: ({ a }) => op.erf(a!) },
  { covers: ['Softmax'], name: 'Softmax last axis', inputs: { a: { shape: [2, 4] } }, build: ({ a }) => op.softmax(a!, -1) },
  { covers: ['Softmax'], name: 'Softmax axis 0', inputs: { a: { shape: [3, 2] } }, build: ({ a }) => op.softmax(a!, 0) },
  { covers: ['LogSoftmax'], name: 'LogSoftmax', inputs: { a: { shape: [2, 4] } }, build: ({ a }) => op.logSoftmax(a!, 1) },
  { covers: ['ReduceSum'], name: 'ReduceSum axis 1', inputs: { a: { shape: [2, 3, 2] } }, build: ({ a }) => op.reduceSum(a!, [1]) },
  { covers: ['ReduceSum'], name: 'ReduceSum all, keepdims', inputs: { a: { shape: [2, 3] } }, build: ({ a }) => op.reduceSum(a!, undefined, true) },
  { covers: ['ReduceMean'], name: 'ReduceMean axes [0,2] keepdims', inputs: { a: { shape: [2, 3, 2] } }, build: ({ a }) => op.reduceMean(a!, [0, 2], true) },
  { covers: ['ReduceMean'], name: 'ReduceMean over a named dim', inputs: { a: { shape: [3, 2], declared: ['n', 2] } }, build: ({ a }) => op.reduceMean(a!, [0]) },
  { covers: ['ReduceMax'], name: 'ReduceMax axis 1', inputs: { a: { shape: [3, 4] } }, build: ({ a }) => op.reduceMax(a!, [1]) },
  { covers: ['ReduceMin'], name: 'ReduceMin axis 0 keepdims', inputs: { a: { shape: [3, 4] } }, build: ({ a }) => op.reduceMin(a!, [0], true) },
  { covers: ['TopK'], name: 'TopK k=2 (values)', inputs: { a: { shape: [2, 5] } }, build: ({ a }) => op.topK(a!, 2)[0] },
  { covers: ['Where'], name: 'Where broadcast (mask not differentiated)', inputs: { c: mask([2, 3], 1, 0, 1, 0, 0, 1), a: { shape: [2, 3] }, b: { shape: [3] } }, build: ({ c, a, b }) => op.where(c!, a!, b!) },
  { covers: ['Cast'], name: 'Cast f32 -> f64 -> f32', dtype: 'float32', inputs: { a: { shape: [4] } }, build: ({ a }) => op.cast(op.exp(op.cast(a!, 'float64')), 'float32') },
  { covers: ['Identity'], name: 'Identity', inputs: { a: { shape: [3] } }, build: ({ a }) => op.mul(op.identity(a!), a!) },
  { covers: ['Trilu'], name: 'Trilu lower', inputs: { a: { shape: [3, 3] } }, build: ({ a }) => op.trilu(a!, false) },
  { covers: ['Trilu'], name: 'Trilu upper k=1, batched', inputs: { a: { shape: [2, 3, 4] } }, build: ({ a }) => op.trilu(a!, true, 1) },
  { covers: ['Reshape'], name: 'Reshape', inputs: { a: { shape: [2, 6] } }, build: ({ a }) => op.mul(op.reshape(a!, [3, -1]), op.reshape(a!, [3, 4])) },
  { covers: ['Reshape'], name: 'Reshape with named dims', inputs: { a: { shape: [2, 6], declared: ['n', 6] } }, build: ({ a }) => op.reshape(op.exp(op.reshape(a!, [-1, 3])), [2, 6]) },
  { covers: ['Unsqueeze'], name: 'Unsqueeze', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 4, 3] } }, build: ({ a, b }) => op.mul(op.unsqueeze(a!, [1]), b!) },
  { covers: ['Squeeze'], name: 'Squeeze', inputs: { a: { shape: [2, 1, 3] } }, build: ({ a }) => op.exp(op.squeeze(a!, [1])) },
  { covers: ['Expand'], name: 'Expand [3,1] -> [2,3,4]', inputs: { a: { shape: [3, 1] } }, build: ({ a }) => op.expand(a!, [2, 3, 4]) },
  { covers: ['Transpose'], name: 'Transpose perm [2,0,1]', inputs: { a: { shape: [2, 3, 4] } }, build: ({ a }) => op.transpose(a!, [2, 0, 1]) },
  { covers: ['Concat'], name: 'Concat axis 1', inputs: { a: { shape: [2, 2] }, b: { shape: [2, 3] } }, build: ({ a, b }) => op.concat([a!, b!, a!], 1) },
  { covers: ['Concat'], name: 'Concat along a named dim', inputs: { a: { shape: [2, 2], declared: ['n', 2] }, b: { shape: [1, 2] } }, build: ({ a, b }) => op.reshape(op.exp(op.concat([a!, b!], 0)), [3, 2]) },
  { covers: ['Split'], name: 'Split with an unused piece', inputs: { a: { shape: [2, 5] } }, build: ({ a }) => { const [p, , r] = op.split(a!, [1, 2, 2], 1); return op.mul(p!, r!); } },
  { covers: ['Slice'], name: 'Slice static, negative start', inputs: { a: { shape: [4, 5] } }, build: ({ a }) => op.slice(a!, [1, -3], [3, 100], [0, 1]) },
  { covers: ['Slice', 'Pad'], name: 'Slice over a named dim (pads at run time)', inputs: { a: { shape: [4, 3], declared: ['n', 3] } }, build: ({ a }) => op.reshape(op.slice(a!, [-2], [2 ** 40], [0]), [2, 3]) },
  { covers: ['Pad'], name: 'Pad constant', inputs: { a: { shape: [2, 3] } }, build: ({ a }) => op.pad(a!, [1, 0, 2, 1], [0, 1]) },
  { covers: ['Gather'], name: 'Gather axis 0, repeated and negative indices', inputs: { a: { shape: [4, 3] }, i: idx([2, 2], 0, 3, -1, 0) }, build: ({ a, i }) => op.gather(a!, i!, 0) },
  { covers: ['Gather'], name: 'Gather axis 1 with 2-D indices', inputs: { a: { shape: [2, 4, 3] }, i: idx([2, 3], 1, 1, 3, 0, 2, 1) }, build: ({ a, i }) => op.gather(a!, i!, 1) },
  { covers: ['GatherElements'], name: 'GatherElements axis 1', inputs: { a: { shape: [2, 3] }, i: idx([2, 2], 0, 2, 1, 1) }, build: ({ a, i }) => op.gatherElements(a!, i!, 1) },
  { covers: ['ScatterElements'], name: 'ScatterElements overwrite', inputs: { a: { shape: [2, 3] }, i: idx([2, 1], 2, 0), u: { shape: [2, 1] } }, build: ({ a, i, u }) => op.scatterElements(a!, i!, u!, 1) },
  { covers: ['ScatterElements'], name: 'ScatterElements add', inputs: { a: { shape: [3, 2] }, i: idx([2, 2], 1, 1, 1, 0), u: { shape: [2, 2] } }, build: ({ a, i, u }) => op.scatterElements(a!, i!, u!, 0, 'add') },
  { covers: ['MatMul', 'Gemm'], name: 'MatMul 2-D', inputs: { a: { shape: [3, 4] }, b: { shape: [4, 2] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  { covers: ['MatMul'], name: 'MatMul batched with broadcast b', inputs: { a: { shape: [2, 3, 4] }, b: { shape: [4, 2] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  { covers: ['MatMul'], name: 'MatMul broadcast a over batch', inputs: { a: { shape: [3, 4] }, b: { shape: [2, 4, 2] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  { covers: ['MatMul'], name: 'MatMul vector @ batched matrix', inputs: { a: { shape: [4] }, b: { shape: [2, 4, 3] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  { covers: ['MatMul'], name: 'MatMul matrix @ vector', inputs: { a: { shape: [3, 4] }, b: { shape: [4] } }, build: ({ a, b }) => op.matMul(a!, b!) },
  ...([[false, false], [true, false], [false, true], [true, true]] as const).map(([ta, tb]) => ({
    covers: ['Gemm'], name: `Gemm transA=${ta} transB=${tb}, alpha, beta, C broadcast`,
    inputs: { a: { shape: ta ? [4, 3] : [3, 4] }, b: { shape: tb ? [2, 4] : [4, 2] }, c: { shape: [2] } },
    build: ({ a, b, c }: Record<string, import('../../workers/engine').Tensor>) => op.gemm(a!, b!, c!, { transA: ta, transB: tb, alpha: 0.7, beta: 1.3 }),
  })),
  { covers: ['Einsum'], name: 'Einsum bij,bjk->bik', inputs: { a: { shape: [2, 3, 4] }, b: { shape: [2, 4, 2] } }, build: ({ a, b }) => op.einsum('bij,bjk->bik', a!, b!) },
  { covers: ['Einsum'], name: 'Einsum ij->ji', inputs: { a: { shape: [2, 3] } }, build: ({ a }) => op.einsum('ij->ji', a!) },
  { covers: [], name: 'named dims broadcast (reduction found at run time)', inputs: { a: { shape: [1, 3], declared: ['n', 3] }, b: { shape: [4, 3] } }, build: ({ a, b }) => op.mul(a!, b!) },
  { covers: ['Sign', 'ConstantOfShape'], name: 'Sign and ConstantOfShape carry no gradient', inputs: { a: { shape: [4] } }, build: ({ a }) => op.add(op.mul(op.sign(a!), a!), op.constantOfShape(a!.graph, [4], 2, 'float64')) },
  // composites used by models
  { covers: [], name: 'gelu', dtype: 'float32', inputs: { a: { shape: [6] } }, build: ({ a }) => gelu(a!) },
  { covers: [], name: 'rmsNorm', inputs: { a: { shape: [2, 4] }, w: { shape: [4] } }, build: ({ a, w }) => rmsNorm(a!, w!) },
  { covers: [], name: 'softmax cross-entropy with ignore index', inputs: { a: { shape: [3, 4] }, y: idx([3], 2, -100, 0) }, build: ({ a, y }) => softmaxCrossEntropy(a!, y!, -100) },
  { covers: [], name: 'causal attention over named batch and time dims', inputs: { q: { shape: [1, 2, 3, 2], declared: ['b', 2, 't', 2] }, k: { shape: [1, 2, 3, 2], declared: ['b', 2, 't', 2] }, v: { shape: [1, 2, 3, 2], declared: ['b', 2, 't', 2] } }, build: ({ q, k, v }) => op.reshape(causalAttention(q!, k!, v!), [1, 2, 3, 2]) },
  { covers: [], name: 'causal attention', inputs: { q: { shape: [1, 2, 3, 2] }, k: { shape: [1, 2, 3, 2] }, v: { shape: [1, 2, 3, 2] } }, build: ({ q, k, v }) => causalAttention(q!, k!, v!) },
];

describe('gradient checks (central differences, seeded)', () => {
  for (const c of cases) {
    it(`${c.name} [${c.dtype ?? 'float64'}]`, async () => {
      const r = await gradcheck(c, 7);
      expect(r.checked).toBeGreaterThan(0);
      expect(r.maxErr, r.worst).toBeLessThanOrEqual(1);
    });
  }

  it('every rule in the table has a check', () => {
    const covered = new Set(cases.flatMap((c) => c.covers));
    expect(Object.keys(RULES).filter((r) => !covered.has(r))).toEqual([]);
  });

  it('respects stopGradient and non-differentiable inputs', async () => {
    const g = new Graph();
    const a = g.input('a', 'float32', [3]);
    const loss = op.reduceSum(op.mul(op.stopGradient(a), a));
    const [ga] = grad(loss, [a]);
    g.output('ga', ga!);
    const { compile } = await import('../../workers/engine');
    const r = await (await compile(g, { provider: 'cpu' })).run({ a: { data: Float32Array.from([1, 2, 3]), dims: [3] } });
    expect(Array.from(r.ga!.data as Float32Array)).toEqual([1, 2, 3]);
    expect(() => grad(loss, [g.input('i', 'int64', [3])])).toThrow(/cannot differentiate with respect to i, a int64 tensor/);
  });
});

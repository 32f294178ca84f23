import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph, GraphError, compile, op, serialize } from '../../workers/engine';

const f32 = (...v: number[]): Float32Array => Float32Array.from(v);

describe('graph builder: shape and dtype inference', () => {
  it('infers broadcast, matmul and symbolic reshape shapes', () => {
    const g = new Graph();
    const x = g.input('x', 'float32', ['batch', 'time', 8]);
    const w = g.input('w', 'float32', [8, 3]);
    const y = op.matMul(x, w);
    expect(y.shape).toEqual(['batch', 'time', 3]);
    const flat = op.reshape(y, [-1, 3]);
    expect(flat.shape).toEqual(['batch*time', 3]);
    const back = op.reshape(flat, ['batch', 'time', 3]);
    expect(back.shape).toEqual(['batch', 'time', 3]);
    expect(op.add(y, g.input('b', 'float32', [3])).shape).toEqual(['batch', 'time', 3]);
    expect(op.reduceSum(y, [-1], true).shape).toEqual(['batch', 'time', 1]);
    expect(op.transpose(y, [2, 0, 1]).shape).toEqual([3, 'batch', 'time']);
    expect(op.gather(g.input('emb', 'float32', [100, 16]), g.input('ids', 'int64', ['batch', 'time'])).shape).toEqual(['batch', 'time', 16]);
    expect(op.slice(x, [0, -2], [2 ** 40, 2 ** 40], [0, 2]).shape).toEqual(['batch', 'time', 2]);
    expect(op.split(x, [3, 5], -1).map((t) => t.shape)).toEqual([['batch', 'time', 3], ['batch', 'time', 5]]);
    expect(op.concat([x, x], 2).shape).toEqual(['batch', 'time', 16]);
    expect(op.topK(x, 2)[1].dtype).toBe('int64');
    expect(op.einsum('btd,de->bte', x, w).shape).toEqual(['batch', 'time', 3]);
  });

  it('names the operator, the inputs and the shapes in errors', () => {
    const g = new Graph();
    const a = g.input('a', 'float32', ['batch', 4, 8]);
    const b = g.input('b', 'float32', [7, 3]);
    expect(() => op.matMul(a, b)).toThrow('MatMul: cannot multiply a [batch, 4, 8] by b [7, 3]: inner dims 8 and 7 differ');
    expect(() => op.add(a, g.input('c', 'float32', [5]))).toThrow(/Add: cannot broadcast a \[batch, 4, 8\] and b \[5\]/);
    expect(() => op.add(a, g.input('d', 'float64', [8]))).toThrow('Add: a is float32 but b is float64');
    expect(() => op.reshape(b, [5, -1])).toThrow(/Reshape: cannot reshape x \[7, 3\] \(21 elements\)/);
    expect(() => op.softmax(a, 3)).toThrow('Softmax: axis 3 is out of range for rank 3');
    expect(() => g.input('a', 'float32', [1])).toThrow(GraphError);
    expect(() => op.matMul(g.input('p', 'float32', ['n', 'd']), g.input('q', 'float32', ['e', 2]))).toThrow('inner dims d and e differ');
    // Dims known only at run time match anything.
    const u = op.reshape(a, g.input('s', 'int64', [2]));
    expect(op.matMul(u, g.input('r', 'float32', [8, 2])).shape[1]).toBe(2);
  });
});

describe('serialisation and runtime', () => {
  it('runs a traced graph on ORT with named dynamic dims and several outputs', async () => {
    const g = new Graph('mlp');
    const x = g.input('x', 'float32', ['batch', 3]);
    const w = g.initializer('w', 'float32', [3, 2], f32(1, 2, 3, 4, 5, 6));
    const y = op.relu(op.add(op.matMul(x, w), -2));
    g.output('y', y);
    g.output('n', op.reduceSum(y));
    g.output('x_again', x);
    const c = await compile(g, { provider: 'cpu' });
    const r = await c.run({ x: { data: f32(1, 0, 0, 0, 1, -1, 1, 1, 1), dims: [3, 3] } });
    expect(Array.from(r.y!.data as Float32Array)).toEqual([0, 0, 0, 0, 7, 10]);
    expect(r.n!.data[0]).toBe(17);
    expect(r.x_again!.dims).toEqual([3, 3]);
    expect(c.provider).toBe('cpu');
    // Same model, same options: the cached session comes back.
    expect(await compile(g, { provider: 'cpu' })).toBe(c);
  });

  it('writes outputs into pre-allocated tensors', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [4]);
    g.output('y', op.mul(x, 2));
    const c = await compile(g, { provider: 'cpu' });
    const into = new ort.Tensor('float32', new Float32Array(4), [4]);
    await c.run({ x: { data: f32(1, 2, 3, 4), dims: [4] } }, { y: into });
    expect(Array.from(into.data as Float32Array)).toEqual([2, 4, 6, 8]);
  });

  it('bakes parameters into initializers for inference and keeps f16 raw bits', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [2]);
    const p = g.param('p', 'float32', [2], f32(10, 20));
    const h = g.initializer('h', 'float16', [2], Uint16Array.from([0x3c00, 0x4000])); // 1.0, 2.0
    g.output('y', op.add(op.mul(x, p), op.cast(h, 'float32')));
    const c = await compile(g, { provider: 'cpu', bakeParams: true });
    expect(c.inputNames).toEqual(['x']);
    const r = await c.run({ x: { data: f32(1, 2), dims: [2] } });
    expect(Array.from(r.y!.data as Float32Array)).toEqual([11, 42]);
  });

  it('reports a provider that fails to start and falls back to cpu', async () => {
    const g = new Graph();
    g.output('y', op.neg(g.input('x', 'float32', [1])));
    const log: string[] = [];
    const c = await compile(g, { provider: 'coreml', log: (m) => log.push(m) });
    expect(c.provider).toBe('cpu');
    expect(c.messages.join('\n')).toMatch(/coreml.*cpu/);
    expect(log.length).toBeGreaterThan(0);
  });

  it('writes external data that ORT loads from a folder', async () => {
    const g = new Graph();
    const x = g.input('x', 'float32', [256]);
    const w = g.initializer('w', 'float32', [256], new Float32Array(256).fill(3));
    g.output('y', op.mul(x, w));
    const s = serialize(g, { externalData: { location: 'w.bin', threshold: 512 } });
    expect(s.externalBytes).toBe(1024);
    const dir = mkdtempSync(path.join(tmpdir(), 'resect-ext-'));
    writeFileSync(path.join(dir, 'm.onnx'), s.model);
    writeFileSync(path.join(dir, 'w.bin'), Buffer.concat(s.external));
    const sess = await ort.InferenceSession.create(path.join(dir, 'm.onnx'));
    const r = await sess.run({ x: new ort.Tensor('float32', new Float32Array(256).fill(2), [256]) });
    expect((r.y!.data as Float32Array)[255]).toBe(6);
  });
});

describe('session cache', () => {
  it('keeps a shared session until every compile() of it is disposed, then starts a fresh one', async () => {
    const g = new Graph('shared');
    g.output('y', op.add(g.input('x', 'float32', [1]), 1));
    const a = await compile(g, { provider: 'cpu' });
    const b = await compile(g, { provider: 'cpu' });
    expect(b).toBe(a);
    await a.dispose();
    expect((await b.run({ x: { data: f32(1), dims: [1] } })).y!.data[0]).toBe(2);
    await b.dispose();
    const c = await compile(g, { provider: 'cpu' });
    expect(c).not.toBe(a);
    expect((await c.run({ x: { data: f32(2), dims: [1] } })).y!.data[0]).toBe(3);
  });
});

describe('unused inputs', () => {
  it('leaves inputs no output needs out of the model and ignores their feeds', async () => {
    const g = new Graph('unused');
    const x = g.input('x', 'float32', [2]);
    g.input('targets', 'int64', [2]);
    g.output('y', op.neg(x));
    const c = await compile(g, { provider: 'cpu' });
    expect(c.inputNames).toEqual(['x']);
    const r = await c.run({ x: { data: f32(1, 2), dims: [2] }, targets: { data: BigInt64Array.from([0n, 1n]), dims: [2] } });
    expect(Array.from(r.y!.data as Float32Array)).toEqual([-1, -2]);
    await expect(c.run({ x: { data: f32(1, 2), dims: [2] }, nope: { data: f32(1), dims: [1] } })).rejects.toThrow(/'nope' is not an input/);
    expect((await compile(g, { provider: 'cpu', keepUnusedInputs: true })).inputNames).toEqual(['x', 'targets']);
  });
});

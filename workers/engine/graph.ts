// The traced graph: symbolic tensors (dtype + shape with static and named dynamic dims) and the nodes that
// produce them. Ops live in ops.ts; this module only knows how to record them.

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, bfloat16: 16,
};
export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int8: 1, uint8: 1, bool: 1,
};
export const isFloat = (t: DType): boolean => t === 'float32' || t === 'float64' || t === 'float16' || t === 'bfloat16';

/** A static size, or the name of a dynamic one ('batch', or a derived product such as 'batch*time'). */
export type Dim = number | string;
export type Shape = readonly Dim[];

/** Raw element storage. f16/bf16 travel as their bit patterns in a Uint16Array. */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;

export type Attr =
  | { kind: 'int'; v: number }
  | { kind: 'float'; v: number }
  | { kind: 'string'; v: string }
  | { kind: 'ints'; v: number[] }
  | { kind: 'floats'; v: number[] }
  | { kind: 'tensor'; v: ConstValue };

export interface ConstValue { dtype: DType; shape: number[]; data: TensorData }

export interface Node {
  readonly op: string;
  readonly inputs: readonly (Tensor | null)[];
  readonly outputs: readonly Tensor[];
  readonly attrs: Readonly<Record<string, Attr>>;
  readonly name: string;
  /** Set by stopGradient: the autodiff pass treats this node as a constant. */
  readonly noGrad?: boolean;
}

export type TensorKind = 'input' | 'param' | 'initializer' | 'node';

export class Tensor {
  /** For small int64 tensors whose contents are known while tracing (shapes, axes, constants). */
  known?: Dim[];
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    readonly kind: TensorKind,
    readonly producer: Node | null = null,
  ) {}
  get rank(): number { return this.shape.length; }
  toString(): string { return `${this.name}: ${this.dtype}${fmtShape(this.shape)}`; }
}

export const fmtShape = (s: Shape): string => `[${s.join(', ')}]`;

export interface Initializer { tensor: Tensor; value: ConstValue }

export class GraphError extends Error {
  override name = 'GraphError';
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly initializers = new Map<string, Initializer>();
  readonly outputs: { name: string; tensor: Tensor }[] = [];
  /** Initial values of parameters (graph inputs that a trainer owns), when given. */
  readonly paramValues = new Map<string, ConstValue>();
  private readonly used = new Set<string>();
  private readonly scalarCache = new Map<string, Tensor>();
  private counter = 0;

  constructor(readonly name = 'resect') {}

  /** A unique value name derived from a hint. */
  fresh(hint: string): string {
    let n = `${hint}_${this.counter++}`;
    while (this.used.has(n)) n = `${hint}_${this.counter++}`;
    this.used.add(n);
    return n;
  }

  private claim(name: string): void {
    if (this.used.has(name)) throw new GraphError(`name '${name}' is already used in graph '${this.name}'`);
    this.used.add(name);
  }

  /** A named graph input; string dims are dynamic ('batch', 'time'). */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    this.claim(name);
    const t = new Tensor(this, name, dtype, [...shape], 'input');
    this.inputs.push(t);
    return t;
  }

  /**
   * A trainable parameter: a graph input (so a train step can take it in and hand the update back), with an
   * optional initial value that `bake` options turn into an initializer for inference.
   */
  param(name: string, dtype: DType, shape: readonly number[], init?: TensorData): Tensor {
    this.claim(name);
    const t = new Tensor(this, name, dtype, [...shape], 'param');
    this.inputs.push(t);
    if (init) this.paramValues.set(name, checkedValue(name, dtype, shape, init));
    return t;
  }

  /** A constant stored in the model (weights that do not train, lookup tables, scalars). */
  initializer(name: string, dtype: DType, shape: readonly number[], data: TensorData): Tensor {
    this.claim(name);
    return this.addInitializer(name, dtype, shape, data);
  }

  private addInitializer(name: string, dtype: DType, shape: readonly number[], data: TensorData): Tensor {
    const t = new Tensor(this, name, dtype, [...shape], 'initializer');
    this.initializers.set(name, { tensor: t, value: checkedValue(name, dtype, shape, data) });
    if (dtype === 'int64' && shape.length <= 1 && data.length <= 16) {
      t.known = Array.from(data as BigInt64Array, (v) => Number(v));
    }
    return t;
  }

  /** An anonymous constant; scalars are shared. */
  constant(dtype: DType, shape: readonly number[], data: TensorData, hint = 'const'): Tensor {
    return this.addInitializer(this.fresh(hint), dtype, shape, data);
  }

  scalar(value: number, dtype: DType): Tensor {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let t = this.scalarCache.get(key);
    if (!t) {
      t = this.constant(dtype, [], makeData(dtype, [value]), 'scalar');
      this.scalarCache.set(key, t);
    }
    return t;
  }

  /** An int64 vector constant (axes, shapes, indices). */
  ints(values: readonly number[]): Tensor {
    return this.constant('int64', [values.length], makeData('int64', values), 'ints');
  }

  /** Records a node; shape inference already happened in the op that calls this. */
  addNode(
    op: string,
    inputs: readonly (Tensor | null)[],
    outs: readonly { dtype: DType; shape: Shape; known?: Dim[] }[],
    attrs: Record<string, Attr> = {},
    opts: { noGrad?: boolean } = {},
  ): Tensor[] {
    for (const [i, t] of inputs.entries()) {
      if (t && t.graph !== this) throw new GraphError(`${op}: input ${i} (${t.name}) belongs to graph '${t.graph.name}', not '${this.name}'`);
    }
    const name = this.fresh(op);
    const outputs: Tensor[] = [];
    const node: Node = { op, inputs: [...inputs], outputs, attrs, name, ...(opts.noGrad ? { noGrad: true } : {}) };
    for (const [i, o] of outs.entries()) {
      const t = new Tensor(this, outs.length === 1 ? `${name}` : `${name}_${i}`, o.dtype, o.shape, 'node', node);
      this.used.add(t.name);
      if (o.known) t.known = o.known;
      outputs.push(t);
    }
    this.nodes.push(node);
    return outputs;
  }

  /** Marks a tensor as a named graph output. */
  output(name: string, t: Tensor): void {
    if (t.graph !== this) throw new GraphError(`output '${name}': tensor ${t.name} belongs to another graph`);
    if (this.outputs.some((o) => o.name === name)) throw new GraphError(`output '${name}' is declared twice`);
    if (this.used.has(name) && t.name !== name) throw new GraphError(`output '${name}': the name is already used by another value`);
    this.used.add(name);
    this.outputs.push({ name, tensor: t });
  }

  /** Inputs that are parameters, in declaration order. */
  get params(): Tensor[] { return this.inputs.filter((t) => t.kind === 'param'); }
}

export function checkedValue(name: string, dtype: DType, shape: readonly number[], data: TensorData): ConstValue {
  const n = shape.reduce((a, b) => a * b, 1);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw new GraphError(`'${name}': shape ${fmtShape(shape)} must hold non-negative integers`);
  if (data.length !== n) throw new GraphError(`'${name}': ${data.length} values given for shape ${fmtShape(shape)} (${n} elements)`);
  const want = arrayKind(dtype);
  if (!(data instanceof want)) throw new GraphError(`'${name}': ${dtype} data must be a ${want.name}, got ${data.constructor.name}`);
  return { dtype, shape: [...shape], data };
}

type TypedCtor = Float32ArrayConstructor | Float64ArrayConstructor | BigInt64ArrayConstructor | Int32ArrayConstructor
  | Int8ArrayConstructor | Uint8ArrayConstructor | Uint16ArrayConstructor;
export function arrayKind(dtype: DType): TypedCtor {
  switch (dtype) {
    case 'float32': return Float32Array;
    case 'float64': return Float64Array;
    case 'float16': case 'bfloat16': return Uint16Array;
    case 'int64': return BigInt64Array;
    case 'int32': return Int32Array;
    case 'int8': return Int8Array;
    case 'uint8': case 'bool': return Uint8Array;
  }
}

/** Typed storage for plain numbers (f16/bf16 converted to bits). */
export function makeData(dtype: DType, values: readonly number[]): TensorData {
  switch (dtype) {
    case 'int64': return BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)));
    case 'float16': return Uint16Array.from(values, toHalfBits);
    case 'bfloat16': return Uint16Array.from(values, toBf16Bits);
    case 'bool': return Uint8Array.from(values, (v) => (v ? 1 : 0));
    default: return (arrayKind(dtype) as Float32ArrayConstructor).from(values);
  }
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export function toBf16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return 0x7fc0; // NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff; // round to nearest even
}
export function toHalfBits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  e = h >>> 10;
  return sign | h;
}

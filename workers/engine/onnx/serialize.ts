// Graph -> ONNX ModelProto, with a hand-written protobuf encoder over the subset of onnx.proto that Resect
// writes (field numbers from onnx/onnx.proto3, IR version 8). Messages are kept as lists of chunks so that
// large raw tensors are referenced, not copied, until the single final concatenation; tensors can go to an
// external data file instead, which models over the 2 GB protobuf limit require.
import { type Attr, type ConstValue, type Dim, type Graph, type Node, type Tensor, GraphError, ONNX_DTYPE } from '../graph';

export const OPSET = 18;
export const IR_VERSION = 8;

class Msg {
  readonly parts: Uint8Array[] = [];
  length = 0;
  private buf: number[] = [];

  private flush(): void {
    if (this.buf.length) {
      this.parts.push(Uint8Array.from(this.buf));
      this.buf = [];
    }
  }
  private byte(b: number): void { this.buf.push(b); this.length++; }
  private rawVarint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      let n = v;
      while (n > 0x7f) { this.byte((n & 0x7f) | 0x80); n >>>= 7; }
      this.byte(n);
      return;
    }
    while (x > 0x7fn) { this.byte(Number(x & 0x7fn) | 0x80); x >>= 7n; }
    this.byte(Number(x));
  }
  private tag(field: number, wire: number): void { this.rawVarint((field << 3) | wire); }

  int(field: number, v: number | bigint): this { this.tag(field, 0); this.rawVarint(v); return this; }
  float(field: number, v: number): this {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.byte(x);
    return this;
  }
  string(field: number, s: string): this { return this.bytes(field, new TextEncoder().encode(s)); }
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2);
    this.rawVarint(data.length);
    this.flush();
    if (data.length) this.parts.push(data);
    this.length += data.length;
    return this;
  }
  msg(field: number, m: Msg): this {
    m.flush();
    this.tag(field, 2);
    this.rawVarint(m.length);
    this.flush();
    this.parts.push(...m.parts);
    this.length += m.length;
    return this;
  }
  packedInts(field: number, vs: readonly (number | bigint)[]): this {
    const m = new Msg();
    for (const v of vs) m.rawVarint(v);
    return this.msg(field, m);
  }
  packedFloats(field: number, vs: readonly number[]): this {
    return this.bytes(field, new Uint8Array(new Float32Array(vs).buffer));
  }
  finish(): Uint8Array {
    this.flush();
    if (this.parts.length === 1) return this.parts[0]!;
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) { out.set(p, o); o += p.length; }
    return out;
  }
}

export interface SerializeOptions {
  /** Write parameters that have initial values as initializers (inference) instead of inputs (training). */
  bakeParams?: boolean;
  /** Tensors of at least `threshold` bytes go to an external data file named `location` (relative to the model). */
  externalData?: { location: string; threshold?: number };
  producer?: string;
  /** Declare every graph input, even those no output needs (by default they are left out). */
  keepUnusedInputs?: boolean;
}

export interface SerializedModel {
  model: Uint8Array;
  /** Chunks of the external data file, in order, when externalData was requested. */
  external: Uint8Array[];
  externalBytes: number;
}

const bytesOf = (v: ConstValue): Uint8Array => new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength);

function tensorProto(name: string, v: ConstValue, ext?: { location: string; offset: number }): Msg {
  const m = new Msg().packedInts(1, v.shape).int(2, ONNX_DTYPE[v.dtype]).string(8, name);
  if (ext) {
    const kv = (k: string, val: string): Msg => new Msg().string(1, k).string(2, val);
    m.msg(13, kv('location', ext.location)).msg(13, kv('offset', String(ext.offset))).msg(13, kv('length', String(v.data.byteLength)));
    m.int(14, 1);
  } else m.bytes(9, bytesOf(v));
  return m;
}

function valueInfo(name: string, t: Tensor): Msg {
  const shape = new Msg();
  for (const d of t.shape) shape.msg(1, dimProto(d));
  const tt = new Msg().int(1, ONNX_DTYPE[t.dtype]).msg(2, shape);
  return new Msg().string(1, name).msg(2, new Msg().msg(1, tt));
}

// Derived symbols ('batch*time', 'reshape?3') are only known to us; ORT sees them as unknown dims.
const dimProto = (d: Dim): Msg =>
  typeof d === 'number' ? new Msg().int(1, d) : /^[A-Za-z_][\w]*$/.test(d) ? new Msg().string(2, d) : new Msg();

function attrProto(name: string, a: Attr): Msg {
  const m = new Msg().string(1, name);
  switch (a.kind) {
    case 'float': return m.float(2, a.v).int(20, 1);
    case 'int': return m.int(3, a.v).int(20, 2);
    case 'string': return m.string(4, a.v).int(20, 3);
    case 'tensor': return m.msg(5, tensorProto('', a.v)).int(20, 4);
    case 'floats': return m.packedFloats(7, a.v).int(20, 6);
    case 'ints': return m.packedInts(8, a.v).int(20, 7);
  }
}

/** Nodes needed by the outputs, in a valid (traced) order. */
export function liveNodes(g: Graph): Node[] {
  const live = new Set<Node>();
  const stack = g.outputs.map((o) => o.tensor.producer).filter((n): n is Node => n !== null);
  while (stack.length) {
    const n = stack.pop()!;
    if (live.has(n)) continue;
    live.add(n);
    for (const t of n.inputs) if (t?.producer && !live.has(t.producer)) stack.push(t.producer);
  }
  return g.nodes.filter((n) => live.has(n));
}

/**
 * The graph inputs the model declares: those some live node or output reads, less baked parameters, unless
 * `keepUnusedInputs` asks for all of them.
 */
export function modelInputs(g: Graph, opts: SerializeOptions = {}, nodes = liveNodes(g)): Tensor[] {
  const baked = (t: Tensor): boolean => !!opts.bakeParams && t.kind === 'param' && g.paramValues.has(t.name);
  if (opts.keepUnusedInputs) return g.inputs.filter((t) => !baked(t));
  const read = new Set<Tensor>(g.outputs.map((o) => o.tensor));
  for (const n of nodes) for (const t of n.inputs) if (t) read.add(t);
  return g.inputs.filter((t) => read.has(t) && !baked(t));
}

export function serialize(g: Graph, opts: SerializeOptions = {}): SerializedModel {
  if (g.outputs.length === 0) throw new GraphError(`graph '${g.name}' has no outputs`);
  const nodes = liveNodes(g);
  // Graph outputs take their declared names: a node's output is renamed when it is output once; inputs,
  // initializers and tensors output under two names go through an Identity.
  const rename = new Map<Tensor, string>();
  const extra: { from: Tensor; to: string }[] = [];
  for (const o of g.outputs) {
    if (o.tensor.kind === 'node' && !rename.has(o.tensor)) rename.set(o.tensor, o.name);
    else if (o.tensor.name !== o.name || rename.has(o.tensor)) extra.push({ from: o.tensor, to: o.name });
  }
  const nameOf = (t: Tensor): string => rename.get(t) ?? t.name;

  const used = new Set<Tensor>();
  for (const n of nodes) for (const t of n.inputs) if (t) used.add(t);
  for (const o of g.outputs) used.add(o.tensor);

  const graph = new Msg();
  for (const n of nodes) {
    const m = new Msg();
    for (const t of n.inputs) m.string(1, t ? nameOf(t) : '');
    for (const t of n.outputs) m.string(2, nameOf(t));
    m.string(3, n.name).string(4, n.op);
    for (const [k, a] of Object.entries(n.attrs)) m.msg(5, attrProto(k, a));
    graph.msg(1, m);
  }
  for (const e of extra) graph.msg(1, new Msg().string(1, nameOf(e.from)).string(2, e.to).string(3, `out_${e.to}`).string(4, 'Identity'));
  graph.string(2, g.name);

  const external: Uint8Array[] = [];
  let offset = 0;
  const threshold = opts.externalData?.threshold ?? 1024;
  const addInit = (name: string, v: ConstValue): void => {
    if (opts.externalData && v.data.byteLength >= threshold) {
      const pad = (4096 - (offset % 4096)) % 4096; // page-aligned so ORT can map the file
      if (pad) external.push(new Uint8Array(pad));
      offset += pad;
      graph.msg(5, tensorProto(name, v, { location: opts.externalData.location, offset }));
      external.push(bytesOf(v));
      offset += v.data.byteLength;
    } else graph.msg(5, tensorProto(name, v));
  };
  for (const { tensor, value } of g.initializers.values()) if (used.has(tensor)) addInit(tensor.name, value);
  if (opts.bakeParams) {
    for (const p of g.params) {
      const v = g.paramValues.get(p.name);
      if (v && used.has(p)) addInit(p.name, v);
    }
  }
  for (const t of modelInputs(g, opts, nodes)) graph.msg(11, valueInfo(t.name, t));
  for (const o of g.outputs) graph.msg(12, valueInfo(o.name, o.tensor));

  const model = new Msg()
    .int(1, IR_VERSION)
    .string(2, opts.producer ?? 'resect')
    .msg(7, graph)
    .msg(8, new Msg().string(1, '').int(2, OPSET));
  return { model: model.finish(), external, externalBytes: offset };
}

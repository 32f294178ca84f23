/**
 * A minimal ONNX ModelProto writer for one tiny graph, `Y = Tanh(MatMul(X, W))` with X and W of shape [n, n]
 * (float32). It exists so the demo job does real work in onnxruntime-node without depending on the engine.
 * Only the handful of protobuf fields the graph needs are encoded (field numbers from onnx.proto3).
 */

class Writer {
  private bytes: number[] = [];
  varint(v: number): this {
    let n = BigInt(v);
    do {
      let b = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) b |= 0x80;
      this.bytes.push(b);
    } while (n > 0n);
    return this;
  }
  tag(field: number, wire: 0 | 2): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, 0).varint(v);
  }
  bytesField(field: number, b: Uint8Array): this {
    this.tag(field, 2).varint(b.length);
    for (const x of b) this.bytes.push(x);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }
  msg(field: number, build: (w: Writer) => void): this {
    const w = new Writer();
    build(w);
    return this.bytesField(field, w.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const FLOAT = 1;

function valueInfo(w: Writer, name: string, dims: number[]): void {
  w.str(1, name); // ValueInfoProto.name
  w.msg(2, (t) =>
    // TypeProto.tensor_type
    t.msg(1, (tt) => {
      tt.int(1, FLOAT); // elem_type
      tt.msg(2, (shape) => {
        for (const d of dims) shape.msg(1, (dim) => dim.int(1, d)); // dim.dim_value
      });
    }),
  );
}

/** Serialised ModelProto for `Y = Tanh(MatMul(X, W))`, X, W, Y: float32 [n, n]. */
export function matmulTanhModel(n: number): Uint8Array {
  const m = new Writer();
  m.int(1, 8); // ir_version
  m.str(2, 'resect-demo'); // producer_name
  m.msg(7, (g) => {
    // GraphProto
    g.msg(1, (node) => node.str(1, 'X').str(1, 'W').str(2, 'XW').str(3, 'matmul').str(4, 'MatMul'));
    g.msg(1, (node) => node.str(1, 'XW').str(2, 'Y').str(3, 'tanh').str(4, 'Tanh'));
    g.str(2, 'demo');
    g.msg(11, (vi) => valueInfo(vi, 'X', [n, n]));
    g.msg(11, (vi) => valueInfo(vi, 'W', [n, n]));
    g.msg(12, (vi) => valueInfo(vi, 'Y', [n, n]));
  });
  m.msg(8, (op) => op.str(1, '').int(2, 17)); // opset_import { domain: "", version: 17 }
  return m.finish();
}

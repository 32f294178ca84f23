/**
 * Running a trained or imported SAE on raw activations (workers/sae/types.ts form), as one ONNX graph:
 *
 *   x_norm = normalize(x)                      (SaeNormalization: dataset scale, per-token, or none)
 *   pre    = (x_norm − b_dec)·W_enc + b_enc
 *   f      = act(pre)                          jumprelu: relu(pre)·1[pre > threshold] (SAE Lens's JumpReLU)
 *                                              relu: max(0, pre); topk: relu of the k largest per row, 0 elsewhere
 *   x̂      = denormalize(f·W_dec + b_dec)
 *
 * Outputs, each only computed when fetched: `codes` [n, dSae], `recon` [n, dIn], and the per-batch statistics the
 * evaluation needs without copying codes out: `sq_err` [n] = ‖x − x̂‖², `l0` [n] = #{f > 0}, `fired` [dSae] = rows
 * where the latent is > 0, `code_sum` [dSae] = Σ f.
 */
import { compile, Graph, op, type CompiledGraph, type Provider, type Tensor } from '../engine';
import type { Sae } from './types';

export interface SaeRunnerOptions {
  provider?: Provider;
  intraOpThreads?: number;
  log?: (m: string) => void;
}

/** x_norm as a graph, and the inverse map for reconstructions. */
function normalization(g: Graph, sae: Sae, x: Tensor): { xn: Tensor; denorm: (y: Tensor) => Tensor } {
  const n = sae.config.normalization;
  const dIn = sae.config.dIn;
  if (n.kind === 'none' && !n.mean) return { xn: x, denorm: (y) => y };
  const centered = n.mean ? op.sub(x, g.initializer('norm_mean', 'float32', [dIn], Float32Array.from(n.mean))) : x;
  const back = (y: Tensor) => (n.mean ? op.add(y, g.initializer('norm_mean_out', 'float32', [dIn], Float32Array.from(n.mean))) : y);
  if (n.kind === 'per-token') {
    // Every row to norm `scale`: x_norm = (x − mean)·scale/‖x − mean‖, and back with the row's own norm.
    const norm = op.maximum(op.sqrt(op.reduceSum(op.mul(centered, centered), [1], true)), 1e-12);
    const k = op.div(n.scale, norm);
    return { xn: op.mul(centered, k), denorm: (y) => back(op.div(y, k)) };
  }
  if (n.kind === 'none') return { xn: centered, denorm: back };
  return { xn: op.mul(centered, n.scale), denorm: (y) => back(op.div(y, n.scale)) };
}

export function buildSaeGraph(sae: Sae): Graph {
  const { dIn, dSae, activation } = sae.config;
  const w = sae.weights;
  const g = new Graph('sae');
  const x = g.input('x', 'float32', ['n', dIn]);
  const { xn, denorm } = normalization(g, sae, x);
  const W_enc = g.initializer('W_enc', 'float32', [dIn, dSae], w.W_enc);
  const b_enc = g.initializer('b_enc', 'float32', [dSae], w.b_enc);
  const W_dec = g.initializer('W_dec', 'float32', [dSae, dIn], w.W_dec);
  const b_dec = g.initializer('b_dec', 'float32', [dIn], w.b_dec);
  const pre = op.add(op.matMul(op.sub(xn, b_dec), W_enc), b_enc);
  let f: Tensor;
  if (activation.kind === 'relu') f = op.relu(pre);
  else if (activation.kind === 'jumprelu') {
    if (!w.threshold) throw new Error('a JumpReLU SAE needs a threshold');
    const threshold = g.initializer('threshold', 'float32', [dSae], w.threshold);
    f = op.mul(op.relu(pre), op.cast(op.greater(pre, threshold), 'float32'));
  } else {
    const k = Math.min(activation.k, dSae);
    const [values, indices] = op.topK(pre, k, 1);
    f = op.scatterElements(op.mul(pre, 0), indices, op.relu(values), 1);
  }
  const recon = denorm(op.add(op.matMul(f, W_dec), b_dec));
  const err = op.sub(x, recon);
  const on = op.cast(op.greater(f, 0), 'float32');
  g.output('codes', f);
  g.output('recon', recon);
  g.output('sq_err', op.reduceSum(op.mul(err, err), [1]));
  g.output('l0', op.reduceSum(on, [1]));
  g.output('fired', op.reduceSum(on, [0]));
  g.output('code_sum', op.reduceSum(f, [0]));
  return g;
}

export type SaeOutput = 'codes' | 'recon' | 'sq_err' | 'l0' | 'fired' | 'code_sum';

/** A compiled SAE: `run(x)` on rows [n, dIn] returns the asked-for outputs as Float32Arrays. */
export class SaeRunner {
  private constructor(readonly sae: Sae, private readonly graph: CompiledGraph) {}

  static async create(sae: Sae, o: SaeRunnerOptions = {}): Promise<SaeRunner> {
    const graph = await compile(buildSaeGraph(sae), {
      provider: o.provider ?? 'cpu', cache: false, ...(o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}), ...(o.log ? { log: o.log } : {}),
    });
    return new SaeRunner(sae, graph);
  }

  get provider(): string { return this.graph.provider; }

  async run<K extends SaeOutput>(x: Float32Array, outputs: readonly K[]): Promise<Record<K, Float32Array>> {
    const d = this.sae.config.dIn;
    if (x.length % d !== 0) throw new RangeError(`SAE input: ${x.length} values are not rows of ${d}`);
    const out = await this.graph.run({ x: { data: x, dims: [x.length / d, d] } }, undefined, outputs as readonly string[] as string[]);
    return Object.fromEntries(outputs.map((k) => [k, out[k]!.data as Float32Array])) as Record<K, Float32Array>;
  }

  async dispose(): Promise<void> {
    await this.graph.dispose();
  }
}

/** The k largest codes of each row: `[{ latent, value }]` per row, value > 0 only (for display and `sae encode`). */
export function topCodes(codes: Float32Array, dSae: number, k: number): { latent: number; value: number }[][] {
  const rows = codes.length / dSae;
  const out: { latent: number; value: number }[][] = [];
  for (let r = 0; r < rows; r++) {
    const row: { latent: number; value: number }[] = [];
    for (let m = 0; m < dSae; m++) {
      const v = codes[r * dSae + m]!;
      if (v > 0) row.push({ latent: m, value: v });
    }
    row.sort((a, b) => b.value - a.value || a.latent - b.latent);
    out.push(row.slice(0, k));
  }
  return out;
}

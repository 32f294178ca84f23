/**
 * The memory a Monet checkpoint takes once opened, estimated before anything is loaded, and the check that refuses
 * a model that will not fit with a clear message instead of an out-of-memory crash.
 *
 * Today's loading path (`MonetModel.load`) converts every weight to float32 inside ONNX Runtime, whatever the stored
 * dtype, so the weights take 4 bytes per parameter; ORT's arenas and prepacked Gemm weights add to that. The ratio
 * of peak RSS (load + a short forward) to the float32 weights was measured on the 1.4B-shaped BF16 checkpoint
 * (bench/README.md, "Loading a 1.4B checkpoint"): 7.47 GiB peak for 1.465 G parameters (5.46 GiB as float32), 1.37.
 */
import { freemem } from 'node:os';
import { formatBytes } from '../../../common/format';
import type { MonetSummary } from './inspect';

/** Peak RSS of opening + a short forward over the float32 weight bytes, as measured (see above). */
export const OPEN_PEAK_OVER_FP32_WEIGHTS = 1.37;
/** The dtype weights have in memory once opened (stored BF16/F16 are converted). */
export const DTYPE_IN_USE = 'F32';

export interface MemoryEstimate {
  /** Dtype of the weights once opened. */
  dtypeInUse: typeof DTYPE_IN_USE;
  /** Weight bytes in memory once opened (parameters × 4). */
  weightBytes: number;
  /** Estimated peak memory of opening and a short forward. */
  peakBytes: number;
  /** Memory this machine has available now. */
  availableBytes: number;
  /** Whether `peakBytes` fits in `availableBytes`. */
  fits: boolean;
}

/**
 * Memory available to this process now: `RESECT_AVAILABLE_MEMORY` (bytes; to leave headroom for other programs, or
 * to rehearse a smaller machine) when set, else what the OS reports as available (cgroup limits included).
 */
export function availableMemory(env: NodeJS.ProcessEnv = process.env): number {
  const set = env.RESECT_AVAILABLE_MEMORY;
  if (set !== undefined && set !== '') {
    const n = Number(set);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`RESECT_AVAILABLE_MEMORY must be a positive number of bytes, got "${set}"`);
    return n;
  }
  const proc = process as NodeJS.Process & { availableMemory?: () => number };
  return proc.availableMemory?.() ?? freemem();
}

export function estimateOpenMemory(parameters: number, availableBytes: number): MemoryEstimate {
  const weightBytes = parameters * 4;
  const peakBytes = Math.ceil(weightBytes * OPEN_PEAK_OVER_FP32_WEIGHTS);
  return { dtypeInUse: DTYPE_IN_USE, weightBytes, peakBytes, availableBytes, fits: peakBytes <= availableBytes };
}

const billions = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} billion` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} million` : n.toLocaleString('en-US'));

/** The message for a model that will not fit: what it needs, what there is, and the options. */
export function tooLargeMessage(summary: Pick<MonetSummary, 'parameters' | 'dtypes'>, est: MemoryEstimate): string {
  const stored = Object.keys(summary.dtypes).filter((d) => d !== 'I64').join('/') || DTYPE_IN_USE;
  return `This model needs about ${formatBytes(est.peakBytes)} of memory to open (${billions(summary.parameters)} parameters stored as ${stored}, `
    + `held as float32 once opened: ${formatBytes(est.weightBytes)} of weights), but this machine has ${formatBytes(est.availableBytes)} available. `
    + 'Options: open a smaller model, or use a machine with more memory (closing other programs frees some). '
    + 'Quantized weights (int8/int4), which would shrink it, are planned but not available yet.';
}

export class ModelTooLargeError extends Error {
  override readonly name = 'ModelTooLargeError';
  constructor(message: string, readonly estimate: MemoryEstimate) {
    super(message);
  }
}

/** Throws `ModelTooLargeError` when the folder's model will not fit in the memory available now. */
export async function assertModelFits(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<MemoryEstimate> {
  const { inspectMonet } = await import('./inspect'); // lazily: the backend imports this module for the estimate alone
  const summary = await inspectMonet(dir);
  const est = estimateOpenMemory(summary.parameters, availableMemory(env));
  if (!est.fits) throw new ModelTooLargeError(tooLargeMessage(summary, est), est);
  return est;
}


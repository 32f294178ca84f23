// Runs graphs on onnxruntime-node: execution-provider choice with visible fallback, one cached session per
// (model, provider, threads), and feeds/fetches that avoid copies (typed arrays are wrapped, not copied;
// outputs can be written into caller-owned buffers).
import * as ort from 'onnxruntime-node';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DType, type Graph, type TensorData, GraphError } from './graph';
import { type SerializeOptions, modelInputs, serialize } from './onnx/serialize';

export type Provider = 'auto' | 'cpu' | 'webgpu' | 'cuda' | 'dml' | 'coreml';

export interface RuntimeOptions {
  /** 'auto' tries the platform's GPU providers, then CPU. A forced provider that fails falls back to CPU. */
  provider?: Provider;
  intraOpThreads?: number;
  interOpThreads?: number;
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Where provider messages (fallbacks and why) go; they are also kept on the compiled graph. */
  log?: (message: string) => void;
  /** false: a fresh session that the caller owns and disposes (big per-layer models); no hashing, no cache. */
  cache?: boolean;
  /**
   * Weights above this many bytes make compile() write the model to a temporary folder with external data
   * and load it from there (protobuf messages stop at 2 GB). Default 1.5 GiB.
   */
  externalDataAbove?: number;
}

/** A host tensor: typed data and dims; the dtype comes from the graph input it feeds. */
export interface HostTensor { data: TensorData; dims: readonly number[] }
export type Feed = ort.Tensor | HostTensor;
export type Feeds = Record<string, Feed>;
export type Outputs = Record<string, ort.Tensor>;

const GPU_ORDER: Record<string, Provider[]> = {
  win32: ['dml', 'cuda', 'webgpu'],
  darwin: ['coreml', 'webgpu'],
  linux: ['cuda', 'webgpu'],
};

/** Providers this build of onnxruntime-node can try, per ort.listSupportedBackends(). */
export function availableProviders(): string[] {
  try {
    return ort.listSupportedBackends().map((b) => b.name);
  } catch {
    return ['cpu'];
  }
}

const ORT_TYPE: Partial<Record<DType, ort.Tensor.Type>> = {
  float32: 'float32', float64: 'float64', float16: 'float16', int64: 'int64', int32: 'int32', int8: 'int8', uint8: 'uint8', bool: 'bool',
};

export function toOrt(dtype: DType, data: TensorData, dims: readonly number[]): ort.Tensor {
  const t = ORT_TYPE[dtype];
  if (!t) throw new GraphError(`onnxruntime-node cannot take ${dtype} tensors as feeds; keep ${dtype} weights as initializers`);
  return new ort.Tensor(t, data as never, dims);
}

export class CompiledGraph {
  /** How long the last run spent inside session.run, in ms. */
  lastRunMs = 0;
  constructor(
    readonly session: ort.InferenceSession,
    readonly provider: Provider,
    /** Why the requested provider was not used, when it was not. */
    readonly messages: readonly string[],
    private readonly inputTypes: ReadonlyMap<string, DType>,
    private readonly unusedInputs: ReadonlySet<string> = new Set(),
  ) {}

  get inputNames(): readonly string[] { return this.session.inputNames; }
  get outputNames(): readonly string[] { return this.session.outputNames; }

  /**
   * Runs with feeds by input name. `into` maps output names to pre-allocated tensors that ORT writes into
   * (their dims must match); other outputs are allocated by ORT.
   */
  async run(feeds: Feeds, into?: Record<string, ort.Tensor>, outputs?: readonly string[]): Promise<Outputs> {
    const f: Record<string, ort.Tensor> = {};
    for (const [name, v] of Object.entries(feeds)) {
      const dt = this.inputTypes.get(name);
      if (!dt) {
        // Declared inputs that no output needs were left out of the model; feeding them is harmless.
        if (this.unusedInputs.has(name)) continue;
        throw new GraphError(`run: '${name}' is not an input of this graph (inputs: ${[...this.inputTypes.keys()].join(', ')})`);
      }
      f[name] = v instanceof ort.Tensor ? v : toOrt(dt, (v as HostTensor).data, (v as HostTensor).dims);
    }
    for (const name of this.inputTypes.keys()) {
      if (!(name in f)) throw new GraphError(`run: input '${name}' is not fed`);
    }
    const t0 = performance.now();
    let r: Outputs;
    if (into || outputs) {
      const fetches: Record<string, ort.Tensor | null> = {};
      for (const n of outputs ?? this.session.outputNames) fetches[n] = into?.[n] ?? null;
      r = (await this.session.run(f, fetches as never)) as Outputs;
    } else r = (await this.session.run(f)) as Outputs;
    this.lastRunMs = performance.now() - t0;
    return r;
  }

  /** Set for cached graphs: how many compile() calls handed this graph out, and how to leave the cache. */
  shared?: { refs: number; evict: () => void };
  private released = false;

  /**
   * Releases the session. A cached graph is shared by every compile() of the same model: it is released
   * when each of them has disposed it, and leaves the cache then, so a later compile() starts a fresh one.
   */
  async dispose(): Promise<void> {
    if (this.released) return;
    if (this.shared && --this.shared.refs > 0) return;
    this.released = true;
    this.shared?.evict();
    await this.session.release();
  }
}

const cache = new Map<string, Promise<CompiledGraph>>();
const failedProviders = new Map<Provider, string>();

/** Serialises, creates (or reuses) a session and returns a runnable graph. */
export async function compile(g: Graph, opts: RuntimeOptions & SerializeOptions = {}): Promise<CompiledGraph> {
  const inputTypes = new Map<string, DType>();
  const unused = new Set<string>();
  const kept = new Set(modelInputs(g, opts).map((t) => t.name));
  for (const t of g.inputs) {
    if (kept.has(t.name)) inputTypes.set(t.name, t.dtype);
    else unused.add(t.name);
  }

  let bytes = 0;
  for (const { value } of g.initializers.values()) bytes += value.data.byteLength;
  if (opts.bakeParams) for (const v of g.paramValues.values()) bytes += v.data.byteLength;
  // Protobuf messages stop at 2 GB; beyond ~1.5 GB of weights the model goes to a folder with external data.
  const big = bytes > (opts.externalDataAbove ?? 1.5 * 2 ** 30);
  const s = serialize(g, { ...opts, ...(big ? { externalData: { location: 'model.onnx.data', threshold: opts.externalData?.threshold ?? 1024 } } : {}) });
  if (opts.cache === false && !big) {
    const { session, provider, messages } = await createSession(s.model, opts);
    return new CompiledGraph(session, provider, messages, inputTypes, unused);
  }
  const h = createHash('sha256').update(s.model);
  for (const c of s.external) h.update(c);
  const key = [h.digest('hex'), opts.provider ?? 'auto', opts.intraOpThreads ?? 0, opts.interOpThreads ?? 0, opts.optimization ?? 'all'].join('|');
  let p = cache.get(key);
  if (!p) {
    let source: Uint8Array | string = s.model;
    if (big) {
      const dir = mkdtempSync(path.join(tmpdir(), 'resect-model-'));
      writeFileSync(path.join(dir, 'model.onnx'), s.model);
      const fd = openSync(path.join(dir, 'model.onnx.data'), 'w');
      try { for (const c of s.external) writeSync(fd, c); } finally { closeSync(fd); }
      source = path.join(dir, 'model.onnx');
    }
    const made = createSession(source, opts).then(({ session, provider, messages }) => {
      const c = new CompiledGraph(session, provider, messages, inputTypes, unused);
      c.shared = { refs: 0, evict: () => { if (cache.get(key) === made) cache.delete(key); } };
      return c;
    });
    p = made;
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  const c = await p;
  c.shared!.refs++;
  return c;
}

/** Drops cached sessions (tests, or when a model is unloaded). */
export async function clearSessionCache(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  await Promise.all(all.map(async (p) => {
    try {
      const c = await p;
      c.shared!.refs = 1;
      await c.dispose();
    } catch { /* already failed */ }
  }));
}

async function createSession(source: Uint8Array | string, opts: RuntimeOptions): Promise<{ session: ort.InferenceSession; provider: Provider; messages: string[] }> {
  const requested = opts.provider ?? 'auto';
  const messages: string[] = [];
  const say = (m: string): void => { messages.push(m); opts.log?.(m); };
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.optimization ?? 'all',
    // ORT's own warnings (e.g. "some nodes were not assigned to the preferred execution provider", expected for shape
    // ops under a GPU provider) go straight to stderr and drown a CLI's output; errors still show. RESECT_ORT_VERBOSE=1
    // brings them back.
    logSeverityLevel: process.env.RESECT_ORT_VERBOSE ? 0 : 3,
    ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
    ...(opts.interOpThreads ? { interOpNumThreads: opts.interOpThreads } : {}),
  };
  const listed = availableProviders();
  let candidates: Provider[];
  if (requested === 'auto') {
    candidates = (GPU_ORDER[process.platform] ?? []).filter((p) => listed.includes(p));
    if (candidates.length === 0) say(`provider auto: no GPU provider in this onnxruntime build (it lists ${listed.join(', ')}); using cpu`);
  } else if (requested === 'cpu') candidates = [];
  else if (!listed.includes(requested)) {
    say(`provider ${requested}: not in this onnxruntime build (it lists ${listed.join(', ')}); falling back to cpu`);
    candidates = [];
  } else candidates = [requested];

  for (const p of candidates) {
    const next = p === candidates[candidates.length - 1] ? 'falling back to cpu' : 'trying the next one';
    const earlier = failedProviders.get(p);
    if (earlier) {
      // A provider that could not start once will not start for the next graph either; say so without retrying.
      say(`provider ${p} failed to start earlier (${earlier}); ${next}`);
      continue;
    }
    try {
      const session = await open(source, { ...base, executionProviders: [p] });
      return { session, provider: p, messages };
    } catch (e) {
      const why = (e as Error).message.split('\n')[0] ?? String(e);
      failedProviders.set(p, why);
      say(`provider ${p} failed to start (${why}); ${next}`);
    }
  }
  const session = await open(source, { ...base, executionProviders: ['cpu'] });
  return { session, provider: 'cpu', messages };
}

function open(source: Uint8Array | string, o: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof source === 'string' ? ort.InferenceSession.create(source, o) : ort.InferenceSession.create(source, o);
}

/**
 * The demo job: `steps` steps of real ONNX Runtime work (a [n×n] MatMul + Tanh per step), paced to
 * `msPerStep`, so users and tests can watch progress, cancel and kill a worker. `failAt` makes it throw at that step.
 */
import { z } from 'zod';
import { defineJob } from './types';
import { matmulTanhModel } from './tiny-onnx';

const Params = z.object({
  steps: z.number().int().min(1).max(1_000_000).default(20),
  msPerStep: z.number().min(0).max(60_000).default(100),
  failAt: z.number().int().min(0).optional(),
  /** Matrix size of the per-step computation. */
  size: z.number().int().min(1).max(2048).default(64),
  /** Run as a light job (starts at once, beside heavy ones). */
  light: z.boolean().default(false),
  /** Keep running when cancelled (to see the backend kill a worker after the grace period). */
  ignoreCancel: z.boolean().default(false),
});

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

export const demoJob = defineJob({
  heavy: true,
  heavyFor: (p) => !p.light,
  params: Params,
  title: (p) => `Demo: ${p.steps} steps${p.failAt !== undefined ? ` (fails at ${p.failAt})` : ''}`,
  async run(p, ctx) {
    const ort = await import('onnxruntime-node');
    const signal = p.ignoreCancel ? new AbortController().signal : ctx.signal;
    const n = p.size;
    const providers = ctx.settings.device === 'auto' || ctx.settings.device === 'cpu' ? ['cpu'] : [ctx.settings.device, 'cpu'];
    const options: import('onnxruntime-node').InferenceSession.SessionOptions = { executionProviders: providers };
    if (ctx.settings.threads > 0) options.intraOpNumThreads = ctx.settings.threads;
    let session: import('onnxruntime-node').InferenceSession;
    try {
      session = await ort.InferenceSession.create(matmulTanhModel(n), options);
    } catch (e) {
      if (providers[0] === 'cpu') throw e;
      ctx.log(`Execution provider ${providers[0]} failed to start (${(e as Error).message}); using CPU.`);
      session = await ort.InferenceSession.create(matmulTanhModel(n), { ...options, executionProviders: ['cpu'] });
    }
    ctx.log(`Demo: ${p.steps} steps of a ${n}×${n} MatMul+Tanh on ${providers[0]}, worker pid ${process.pid}`);

    const w = new Float32Array(n * n);
    for (let i = 0; i < w.length; i++) w[i] = Math.sin(i * 12.9898) * (2 / Math.sqrt(n));
    let x: Float32Array = new Float32Array(n * n);
    for (let i = 0; i < x.length; i++) x[i] = Math.cos(i * 78.233);
    const W = new ort.Tensor('float32', w, [n, n]);

    ctx.progress(0, p.steps, 'steps');
    try {
      for (let step = 1; step <= p.steps; step++) {
        if (signal.aborted) throw signal.reason;
        if (p.failAt !== undefined && step === p.failAt) throw new Error(`Demo failure requested at step ${step}`);
        const out = await session.run({ X: new ort.Tensor('float32', x, [n, n]), W });
        x = out.Y!.data as Float32Array;
        await sleep(p.msPerStep, signal);
        ctx.progress(step, p.steps, 'steps');
        if (step % Math.max(1, Math.round(p.steps / 10)) === 0) ctx.log(`step ${step}/${p.steps}: x[0] = ${x[0]!.toFixed(6)}`);
      }
    } finally {
      await session.release();
    }
    let sum = 0;
    for (const v of x) sum += v;
    return { steps: p.steps, checksum: sum };
  },
});

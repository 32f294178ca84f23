// A short, prepared check of the SAE train step on each execution provider, for a machine with a GPU. Not a test:
// it prints. The same GBA step graph (bench:sae's size unless BENCH_* says otherwise) runs from the same weights and
// batch on CPU (the reference) and on every GPU provider this onnxruntime-node build lists; per provider: whether the
// session starts (and why not), the first and last loss, the largest difference of the loss and of the per-latent
// firing counts against CPU, and the median step time.
//
//   node dist/bench/gpu-sae.mjs [--out FILE.json]
import { writeFile } from 'node:fs/promises';
import { availableProviders, mulberry32, type Provider } from '../workers/engine';
import { SaeStepRunner, buildSaeStep } from '../workers/sae/graph';
import { normalizeRows, parseSaeTrainConfig } from '../workers/sae/model';

const D = Number(process.env.BENCH_D ?? 256);
const M = Number(process.env.BENCH_M ?? 8192);
const L = Number(process.env.BENCH_TOKENS ?? 4096);
const STEPS = Number(process.env.BENCH_STEPS ?? 8);
const LR = 1e-4;
const outArg = process.argv.indexOf('--out');
const outFile = outArg > 0 ? process.argv[outArg + 1] : undefined;

const rand = mulberry32(7);
const gauss = (): number => Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
const W = Float32Array.from({ length: M * D }, gauss);
normalizeRows(W, D);
const a = new Float32Array(M).fill(1);
const bPre = Float32Array.from({ length: D }, () => 0.01 * gauss());
const bias = Float32Array.from({ length: M }, () => -0.3 * rand());
const x = Float32Array.from({ length: L * D }, () => gauss() / Math.sqrt(D));

interface Run { provider: string; started: boolean; messages: string[]; losses: number[]; fired?: Float32Array; medianMs?: number }

async function run(provider: Provider): Promise<Run> {
  const c = parseSaeTrainConfig({ method: 'gba', latents: M, batchSize: L, lr: LR });
  const messages: string[] = [];
  let runner: SaeStepRunner;
  try {
    runner = await SaeStepRunner.create(buildSaeStep(c, D), new Map([['W', W], ['a', a], ['b_pre', bPre]]), { provider, log: (m: string) => messages.push(m) });
  } catch (e) {
    return { provider, started: false, messages: [...messages, (e as Error).message], losses: [] };
  }
  const used = runner.compiled.provider;
  const losses: number[] = [];
  const ms: number[] = [];
  let fired: Float32Array | undefined;
  for (let i = 1; i <= STEPS; i++) {
    const r = await runner.step(x, { bias }, LR, i);
    losses.push(r.loss);
    if (i > 1) ms.push(runner.lastStepMs);
    if (i === 1) fired = Float32Array.from(r.fired);
  }
  await runner.dispose();
  ms.sort((p, q) => p - q);
  return { provider: used, started: used === provider, messages, losses, fired, medianMs: ms[Math.floor(ms.length / 2)] };
}

const providers = ["cpu", ...availableProviders().filter((p) => p !== "cpu")] as Provider[];
console.log(`SAE GBA step d ${D}, M ${M}, ${L} tokens, ${STEPS} steps; providers: ${providers.join(', ')}`);
const runs: Run[] = [];
for (const p of providers) runs.push(await run(p));
const ref = runs[0]!;
const rows = runs.map((r) => {
  const dLoss = r.losses.length ? Math.max(...r.losses.map((v, i) => Math.abs(v - (ref.losses[i] ?? NaN)))) : NaN;
  let dFired = NaN;
  if (r.fired && ref.fired) { dFired = 0; for (let i = 0; i < M; i++) dFired = Math.max(dFired, Math.abs(r.fired[i]! - ref.fired[i]!)); }
  return {
    provider: r.provider, started: r.started, firstLoss: r.losses[0], lastLoss: r.losses.at(-1), maxLossDiffVsCpu: dLoss,
    maxFiredDiffVsCpu: dFired, medianStepMs: r.medianMs, tokensPerSecond: r.medianMs ? L / (r.medianMs / 1000) : undefined,
    messages: r.messages,
  };
});
for (const r of rows) console.log(JSON.stringify(r));
if (outFile) await writeFile(outFile, JSON.stringify({ d: D, latents: M, tokens: L, steps: STEPS, rows }, null, 2));

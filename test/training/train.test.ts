import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Graph, compile, op } from '../../workers/engine';
import { openSafetensors } from '../../workers/engine/safetensors';
import { openMonetCheckpoint } from '../../workers/models/monet/checkpoint';
import { buildMonetForward } from '../../workers/models/monet/forward';
import {
  buildMonetTrainGraph, initMonetParams, initRunningStats, routerAuxLosses, runningStatName,
} from '../../workers/models/monet/train-graph';
import { saveCheckpoint } from '../../workers/training/checkpoint';
import { presetConfig } from '../../workers/training/presets';
import { train } from '../../workers/training/train';
import { monetTrainJob } from '../../workers/jobs/monet-train';

const root = path.resolve(__dirname, '../..');
const tokenizerDir = path.join(root, 'assets/tokenizer');
const tmp = () => mkdtempSync(path.join(tmpdir(), 'resect-train-'));

/** A tiny labelled corpus: repetitive sentences per domain, so a small model learns quickly. */
function tinyCorpus(dir: string): { train: string; heldout: string } {
  const lines: string[] = [];
  const held: string[] = [];
  const words = {
    code: ['function', 'return', 'const', 'let', 'if', 'else', '{', '}', '(', ')', ';'],
    prose: ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'far', 'away'],
  };
  let seed = 1;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (const [domain, ws] of Object.entries(words)) {
    for (let d = 0; d < 24; d++) {
      const text = Array.from({ length: 60 }, (_, i) => ws[(i + Math.floor(rnd() * 2)) % ws.length]).join(' ');
      (d < 20 ? lines : held).push(JSON.stringify({ text, domain }));
    }
  }
  const t = path.join(dir, 'train.jsonl');
  const h = path.join(dir, 'heldout.jsonl');
  writeFileSync(t, `${lines.join('\n')}\n`);
  writeFileSync(h, `${held.join('\n')}\n`);
  return { train: t, heldout: h };
}

const stepLosses = (dir: string): number[] =>
  readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; loss: number })
    .filter((r) => r.type === 'step').map((r) => r.loss);

async function readAll(file: string): Promise<Map<string, Float32Array>> {
  const h = await openSafetensors(file);
  const out = new Map<string, Float32Array>();
  for (const name of h.tensors.keys()) out.set(name, await h.readAsFloat32(name));
  await h.close();
  return out;
}

describe('Monet training', () => {
  let corpus: { train: string; heldout: string };
  let trainedDir: string;
  beforeAll(() => {
    corpus = tinyCorpus(tmp());
  });

  it('aux losses match a TypeScript reference on a small gate tensor', async () => {
    const N = 5, H = 2, E = 4, eps = 1e-6;
    // Gates: rows of a softmax over a random selection; token 4 is a pad.
    const gates = new Float32Array(N * H * E);
    let s = 7;
    for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) {
      const sel = Array.from({ length: E }, () => ((s = (s * 16807) % 2147483647) / 2147483647) > 0.4);
      sel[(n + h) % E] = true;
      const z = sel.map((x, e) => (x ? Math.sin(n * 3 + h * 5 + e) : -Infinity));
      const mx = Math.max(...z);
      const ex = z.map((v) => Math.exp(v - mx));
      const sum = ex.reduce((a, b) => a + b, 0);
      ex.forEach((v, e) => { gates[(n * H + h) * E + e] = v / sum; });
    }
    const valid = Float32Array.from([1, 1, 1, 1, 0]);
    const g = new Graph('aux');
    const gi = g.input('g', 'float32', [N, H, E]);
    const vi = g.input('valid', 'float32', [N]);
    const vN = op.reshape(vi, [N, 1, 1]);
    const a = routerAuxLosses(gi, vN, op.reduceSum(vi), eps);
    g.output('unif', a.unif);
    g.output('amb', a.amb);
    const r = await (await compile(g, { provider: 'cpu' })).run({ g: { data: gates, dims: [N, H, E] }, valid: { data: valid, dims: [N] } });
    // Reference.
    const cnt = 4;
    let unif = 0;
    for (let h = 0; h < H; h++) for (let e = 0; e < E; e++) {
      let p = 0;
      for (let n = 0; n < cnt; n++) p += gates[(n * H + h) * E + e]!;
      unif += -Math.log(p / cnt + eps);
    }
    unif /= H * E;
    let amb = 0;
    for (let n = 0; n < cnt; n++) for (let h = 0; h < H; h++) {
      amb += 1 - Math.max(...gates.subarray((n * H + h) * E, (n * H + h + 1) * E));
    }
    amb /= cnt * H;
    expect(Number(r.unif!.data[0])).toBeCloseTo(unif, 5);
    expect(Number(r.amb!.data[0])).toBeCloseTo(amb, 5);
  });

  for (const decompose of ['vertical', 'horizontal'] as const) {
    it(`train-mode logits equal the eval forward when the running stats are the batch stats (${decompose})`, async () => {
      const { raw, config } = presetConfig('tiny', { moe_decompose: decompose, vocab_size: 64, num_hidden_layers: 3, moe_groups: 2 });
      const B = 2, T = 12;
      const init = initMonetParams(config, 3, 0.2);
      const tg = buildMonetTrainGraph(config, { batch: B, seqLen: T, init, logits: true, batchStats: true });
      for (const [k, t] of Object.entries(tg.metrics)) tg.graph.output(k, t);
      const c = await compile(tg.graph, { provider: 'cpu', bakeParams: true });
      const ids = BigInt64Array.from({ length: B * T }, (_, i) => BigInt((i * 37 + 5) % 64));
      const feeds: Record<string, { data: Float32Array | BigInt64Array; dims: number[] }> = {
        input_ids: { data: ids, dims: [B, T] }, labels: { data: ids, dims: [B, T] }, valid: { data: new Float32Array(B * T).fill(1), dims: [B, T] },
      };
      for (const [k, v] of initRunningStats(config)) feeds[k] = { data: v, dims: [v.length] };
      const r = await c.run(feeds);
      const weights = new Map<string, { data: Float32Array; shape: number[] }>();
      for (const p of tg.params) weights.set(p.name, { data: init.get(p.name)!, shape: p.shape as number[] });
      for (let l = 0; l < config.num_hidden_layers; l += config.moe_groups) {
        for (const s of [1, 2] as const) for (const stat of ['mean', 'var'] as const) {
          const v = Float32Array.from({ length: config.moe_heads }, (_, h) => Number(r[`bnbatch.${l}.${s}.${stat}.${h}`]!.data[0]));
          weights.set(runningStatName(l, s, stat), { data: v, shape: [config.moe_heads] });
        }
      }
      const dir = path.join(tmp(), 'ckpt');
      await saveCheckpoint(dir, { rawConfig: raw, weights });
      const ckpt = await openMonetCheckpoint(dir);
      const fwd = await compile(await buildMonetForward(ckpt, { routerOutputs: true }), { provider: 'cpu' });
      const e = await fwd.run({ input_ids: { data: ids, dims: [B, T] } });
      const a = r.logits!.data as Float32Array;
      const b = e.logits!.data as Float32Array;
      expect(a.length).toBe(b.length);
      let max = 0;
      for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
      expect(max).toBeLessThan(1e-4);
      // The routing itself agrees too: same selected sets (nonzero gates).
      const g1 = e['router.0.g1']!.data as Float32Array;
      expect(g1.some((x) => x === 0)).toBe(true);
      await ckpt.close();
    });
  }

  it('loss decreases over 30 steps on a tiny corpus; the checkpoint opens and its eval forward runs', async () => {
    trainedDir = tmp();
    const r = await train({
      data: [corpus.train], heldout: [corpus.heldout], out: trainedDir, preset: 'tiny', tokenizerDir,
      hyper: { steps: 30, batch: 4, seqLen: 16, lr: 1e-2, warmup: 3, evalEvery: 10, checkpointEvery: 10 },
    });
    expect(r.outcome).toBe('finished');
    const losses = stepLosses(trainedDir);
    expect(losses.length).toBe(30);
    const first = losses.slice(0, 5).reduce((a, b) => a + b) / 5;
    const last = losses.slice(-5).reduce((a, b) => a + b) / 5;
    expect(last).toBeLessThan(first - 1);
    const ckpt = await openMonetCheckpoint(r.checkpoint);
    expect(ckpt.config.vocab_size).toBe(6144);
    const fwd = await compile(await buildMonetForward(ckpt), { provider: 'cpu' });
    const out = await fwd.run({ input_ids: { data: BigInt64Array.from([1n, 2n, 3n, 4n]), dims: [1, 4] } });
    expect(out.logits!.dims).toEqual([1, 4, 6144]);
    expect([...(out.logits!.data as Float32Array)].every(Number.isFinite)).toBe(true);
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'optimizer.safetensors', 'trainer_state.json', 'generation_config.json']) {
      expect(() => readFileSync(path.join(r.checkpoint, f))).not.toThrow();
    }
    const cfg = JSON.parse(readFileSync(path.join(r.checkpoint, 'config.json'), 'utf8')) as Record<string, unknown>;
    for (const k of ['hidden_size', 'num_hidden_layers', 'moe_experts', 'moe_topk', 'moe_groups', 'moe_decompose', 'moe_heads', 'moe_dim', 'vocab_size']) expect(cfg).toHaveProperty(k);
    await ckpt.close();
    // The running BN stats moved away from their (0, 1) initialisation.
    const w = await readAll(path.join(r.checkpoint, 'model.safetensors'));
    expect(w.get('model.layers.0.router.norm1.running_var')![0]).not.toBe(1);
  });

  it('resumes bit for bit: 8 steps straight equal 3 steps, checkpoint, resume, 5 steps', async () => {
    const hyper = { steps: 8, batch: 2, seqLen: 16, lr: 1e-2, warmup: 2, evalEvery: 0, checkpointEvery: 100, accumulate: 2 };
    const a = tmp();
    await train({ data: [corpus.train], heldout: [corpus.heldout], out: a, preset: 'tiny', tokenizerDir, hyper });
    const b = tmp();
    const p = await train({ data: [corpus.train], heldout: [corpus.heldout], out: b, preset: 'tiny', tokenizerDir, hyper, stopAtStep: 3 });
    expect(p.outcome).toBe('paused');
    expect(p.step).toBe(3);
    const q = await train({ data: [corpus.train], heldout: [corpus.heldout], out: b, preset: 'tiny', tokenizerDir, hyper, resume: true });
    expect(q.step).toBe(8);
    for (const f of ['model.safetensors', 'optimizer.safetensors']) {
      const wa = await readAll(path.join(a, 'checkpoint', f));
      const wb = await readAll(path.join(b, 'checkpoint', f));
      expect([...wb.keys()].sort()).toEqual([...wa.keys()].sort());
      for (const [k, v] of wa) expect(Buffer.from(wb.get(k)!.buffer).equals(Buffer.from(v.buffer)), `${f}: ${k}`).toBe(true);
    }
    expect(stepLosses(b).slice(-5)).toEqual(stepLosses(a).slice(-5));
  });

  it('refuses to overwrite a checkpoint without --resume, and cancels with a checkpoint', async () => {
    const dir = tmp();
    const ac = new AbortController();
    const r = await train({
      data: [corpus.train], out: dir, preset: 'tiny', tokenizerDir, hyper: { steps: 50, batch: 2, seqLen: 16, evalEvery: 0 }, signal: ac.signal,
      progress: (step) => { if (step === 2) ac.abort(); },
    });
    expect(r.outcome).toBe('cancelled');
    expect(r.step).toBe(2);
    const state = JSON.parse(readFileSync(path.join(dir, 'checkpoint', 'trainer_state.json'), 'utf8')) as { step: number; nextSequence: number };
    expect(state.step).toBe(2);
    expect(state.nextSequence).toBe(4);
    await expect(train({ data: [corpus.train], out: dir, preset: 'tiny', tokenizerDir })).rejects.toThrow(/--resume/);
  });

  it('runs as the monet.train job: progress in steps, log lines, metrics.jsonl in the output folder', async () => {
    const ws = tmp();
    const progress: number[] = [];
    const logs: string[] = [];
    const params = monetTrainJob.params.parse({ data: [corpus.train], heldout: [corpus.heldout], preset: 'tiny', steps: 4, batch: 2, seqLen: 16, evalEvery: 2, tokenizer: tokenizerDir, logEvery: 1 });
    const r = await monetTrainJob.run(params, {
      progress: (done) => progress.push(done), log: (l) => logs.push(l), signal: new AbortController().signal, workspace: ws, jobId: 'j1',
      settings: { device: 'cpu', threads: 0 } as never,
    }) as { step: number; metrics: string };
    expect(r.step).toBe(4);
    expect(progress).toEqual([1, 2, 3, 4]);
    expect(logs.some((l) => l.startsWith('eval @2'))).toBe(true);
    const recs = readFileSync(r.metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(recs.filter((x) => x.type === 'step')).toHaveLength(4);
    expect(recs.filter((x) => x.type === 'eval').length).toBeGreaterThanOrEqual(2);
  });
});

/** The Monet worker jobs, run in-process with a recording context (as workers/host.ts would run them). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { jobRegistry } from '../../workers/jobs/registry';
import { openSafetensors } from '../../workers/engine/safetensors';
import type { JobContext } from '../../workers/jobs/types';
import { fixtureWithTokenizer } from './helpers';

function recorder() {
  const progress: { done: number; total: number | null; unit: string; message?: string }[] = [];
  const logs: string[] = [];
  const outputs: string[] = [];
  const ctx: JobContext = {
    progress: (done, total, unit, message) => progress.push({ done, total, unit, ...(message !== undefined ? { message } : {}) }),
    log: (line) => logs.push(line),
    output: (text) => outputs.push(text),
    signal: new AbortController().signal,
    workspace: '/tmp', jobId: 'test',
    settings: { theme: 'system', device: 'cpu', threads: 1, maxHeavyJobs: 1 },
  };
  return { ctx, progress, logs, outputs };
}
const runJob = (kind: string, params: unknown, ctx: JobContext) => {
  const def = jobRegistry[kind]!;
  return def.run(def.params.parse(params), ctx);
};

let dir: string;
beforeAll(async () => { dir = await fixtureWithTokenizer('monet-vd-tiny'); });
afterAll(async () => { await rm(path.dirname(dir), { recursive: true, force: true }); });

describe('Monet jobs', () => {
  it('are registered and validate their params', () => {
    // Registered under the names the API starts them by (each one is run below).
    expect(Object.keys(jobRegistry)).toEqual(expect.arrayContaining(['monet.generate', 'monet.perplexity', 'monet.inspect', 'monet.route']));
    expect(jobRegistry['monet.generate']!.params.safeParse({ model: 'x', prompt: 'y' }).success).toBe(true);
    expect(jobRegistry['monet.generate']!.params.safeParse({ model: 'x', prompt: 'y', topP: 0 }).success).toBe(false);
    expect(jobRegistry['monet.perplexity']!.params.safeParse({ model: 'x' }).success).toBe(false);
  });

  it('monet.inspect summarises a checkpoint', async () => {
    const r = (await runJob('monet.inspect', { model: dir }, recorder().ctx)) as Record<string, unknown>;
    expect(r).toMatchObject({ decompose: 'vertical', layers: 4, hiddenSize: 32, experts: 8, routerLayers: [0, 2], vocabSize: 97 });
    // Tensors per dtype, as the file's header lists them (the fixture: F32 weights and a few I64 buffers).
    const st = await openSafetensors(path.join(dir, 'model.safetensors'));
    const want: Record<string, number> = {};
    for (const t of st.tensors.values()) want[t.dtype] = (want[t.dtype] ?? 0) + 1;
    await st.close();
    expect(r.dtypes).toEqual(want);
    expect(want.F32).toBeGreaterThan(0);
    expect(r.parameters).toBeGreaterThan(10_000);
    expect(r.bytesOnDisk).toBeGreaterThanOrEqual((r.parameters as number) * 4);
  });

  it('monet.generate streams the new text as output, counts tokens as progress and logs lines', async () => {
    const { ctx, progress, outputs, logs } = recorder();
    const r = (await runJob('monet.generate', { model: dir, prompt: 'hello', maxTokens: 6 }, ctx)) as { text: string; tokens: number[] };
    const tokenEvents = progress.filter((p) => p.unit === 'tokens');
    expect(tokenEvents.map((p) => p.done)).toEqual(r.tokens.map((_, i) => i + 1));
    expect(tokenEvents.every((p) => p.message === undefined)).toBe(true);
    expect(outputs.length).toBeGreaterThan(0);
    expect(outputs.join('')).toBe(r.text);
    expect(logs.some((l) => l.includes('tokens/s'))).toBe(true);
  });

  it('monet.perplexity reports tokens and domains from inline samples', async () => {
    const { ctx, progress } = recorder();
    const r = (await runJob('monet.perplexity', { model: dir, samples: [{ text: 'abc def', domain: 'x' }, { text: 'ghi', domain: 'y' }] }, ctx)) as { overall: { tokens: number }; domains: Record<string, unknown> };
    expect(r.overall.tokens).toBe(7 + 3);
    expect(Object.keys(r.domains)).toEqual(['x', 'y']);
    // Progress counts samples of a known total (so the percentage is true) and says how many tokens so far.
    const last = progress.filter((p) => p.unit === 'samples').at(-1)!;
    expect([last.done, last.total]).toEqual([2, 2]);
    expect(last.message).toBe('10 tokens');
  });

  it('monet.route gives per-token top experts per router with flat ids', async () => {
    const r = (await runJob('monet.route', { model: dir, prompt: 'hi there', top: 3 }, recorder().ctx)) as { routers: number[]; tokens: { id: number; routers: { id: number; i: number; j: number; score: number }[][] }[] };
    expect(r.routers).toEqual([0, 2]);
    expect(r.tokens).toHaveLength(9); // BOS + 8 characters
    for (const t of r.tokens) {
      expect(t.routers).toHaveLength(2);
      for (const list of t.routers) {
        expect(list.length).toBeGreaterThan(0);
        for (const e of list) expect(e.id).toBe(e.i * 8 + e.j);
        const scores = list.map((e) => e.score);
        expect([...scores].sort((a, b) => b - a)).toEqual(scores);
      }
    }
  });
});

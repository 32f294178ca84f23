/**
 * The Models API on a released-layout folder (tokenizer.model, shards, no tokenizer.json; test/support/published-monet.ts):
 * models.add reports the tokenizer and the memory opening will take; generation runs; with less memory available
 * (RESECT_AVAILABLE_MEMORY) the entry carries the message and a generation job fails with it instead of loading.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { JobInfo, MethodName, Params, Result } from '../../common/api';
import { Backend } from '../../main/backend';
import { InProcessLauncher } from '../../main/jobs/in-process';
import { writePublishedMonet } from '../support/published-monet';
import { tempDir } from './helpers';

const inProcess = new InProcessLauncher({ device: 'cpu', threads: 1 });
const saved = { model: process.env.RESECT_DEFAULT_MODEL, memory: process.env.RESECT_AVAILABLE_MEMORY };
let dir: string;
beforeAll(async () => {
  dir = await writePublishedMonet(path.join(tempDir('resect-published-'), 'monet-vd-tiny'));
  process.env.RESECT_DEFAULT_MODEL = '';
});
const restore = (key: string, v: string | undefined) => (v === undefined ? delete process.env[key] : (process.env[key] = v));
afterEach(() => restore('RESECT_AVAILABLE_MEMORY', saved.memory));
afterAll(() => restore('RESECT_DEFAULT_MODEL', saved.model));

async function withBackend(fn: (call: <M extends MethodName>(m: M, p: Params<M>) => Promise<Result<M>>, wait: (id: string) => Promise<JobInfo>) => Promise<void>) {
  const backend = new Backend({ mode: 'serve', workspaceDir: tempDir(), launcher: inProcess });
  const call = <M extends MethodName>(m: M, p: Params<M>) => backend.router.call(m, p) as Promise<Result<M>>;
  const wait = async (id: string): Promise<JobInfo> => {
    for (let i = 0; i < 1200; i++) {
      const j = (await call('jobs.list', {})).find((x) => x.id === id)!;
      if (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') return j;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('job did not finish');
  };
  try {
    await fn(call, wait);
  } finally {
    await backend.close();
  }
}

describe('a released-layout folder in the Models API', () => {
  it('is added with its tokenizer.model and memory estimate, and generates', async () => {
    await withBackend(async (call, wait) => {
      const info = await call('models.add', { path: dir });
      expect(info).toMatchObject({ error: null, tokenizer: 'tokenizer.model' });
      expect(info.memory).toMatchObject({ dtypeInUse: 'F32', weightBytes: info.summary!.parameters * 4, fits: true, message: null });
      const job = await wait((await call('jobs.start', { kind: 'monet.generate', params: { model: info.path, prompt: 'the thing', maxTokens: 4 } })).id);
      expect(job.state, job.error ?? '').toBe('succeeded');
      expect((job.result as { tokens: number[] }).tokens.length).toBeGreaterThan(0);
    });
  });

  it('a model that will not fit is listed with the message, and a generation fails with it before loading', async () => {
    process.env.RESECT_AVAILABLE_MEMORY = '4096';
    await withBackend(async (call, wait) => {
      const info = await call('models.add', { path: dir });
      expect(info.memory).toMatchObject({ fits: false, availableBytes: 4096 });
      expect(info.memory!.message).toMatch(/needs about .* Options: open a smaller model, or use a machine with more memory/);
      const job = await wait((await call('jobs.start', { kind: 'monet.generate', params: { model: info.path, prompt: 'the thing', maxTokens: 4 } })).id);
      expect(job.state).toBe('failed');
      expect(job.error).toMatch(/needs about .* to open/);
    });
  });
});

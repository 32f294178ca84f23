/**
 * Training from the backend's side: the `jobs.metrics` method (metrics.jsonl read from a byte offset, complete lines
 * only, reset when the file was rewritten), the `monet.train` job on a workspace dataset (exported to JSONL) with a
 * custom model size, and the Train view's preset table against the trainer's presets.
 */
import { appendFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Backend } from '../../main/backend';
import type { WorkerLauncher } from '../../main/jobs/launcher';
import { monetTrainJob } from '../../workers/jobs/monet-train';
import { importDataset, openDatasetStore } from '../../workers/data';
import { presets } from '../../workers/training/presets';
import { trainPresets } from '../../renderer/src/views/train/presets';

const root = path.resolve(__dirname, '../..');
const tokenizer = path.join(root, 'assets/tokenizer');
const sample = path.join(root, 'test/fixtures/data/sample.jsonl');
const noWorkers: WorkerLauncher = { launch() { throw new Error('no workers in this test'); } };
const settings = { theme: 'system' as const, device: 'cpu' as const, threads: 0, maxHeavyJobs: 1 };

let backend: Backend | null = null;
afterAll(async () => { await backend?.close(); });

describe('jobs.metrics and the monet.train job', () => {
  it('reads metrics.jsonl from a byte offset; trains on a workspace dataset with a custom size', async () => {
    const ws = await mkdtemp(path.join(tmpdir(), 'resect-train-api-'));
    backend = new Backend({ mode: 'serve', workspaceDir: ws, launcher: noWorkers });
    const b = backend;
    const call = async <T>(m: string, p: unknown): Promise<T> => {
      const r = await b.router.dispatch(m, p);
      if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
      return r.result as T;
    };
    const db = await openDatasetStore(ws);
    await importDataset(db, [{ path: sample }], { name: 'sample' });
    db.close();
    const datasetId = (await call<{ id: number }[]>('datasets.list', {}))[0]!.id;

    const model = { hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, moe_heads: 2, moe_experts: 4, moe_dim: 2, moe_topk: 2, moe_groups: 2 };
    const raw = { data: [], datasets: [datasetId], out: 'models/t1', preset: 'tiny', model, steps: 4, batch: 2, seqLen: 16, evalEvery: 2, tokenizer, logEvery: 1 };
    // The job is stored by the scheduler (no worker here: it fails to launch), then run in process under its id.
    const job = await call<{ id: string; params: Record<string, unknown> }>('jobs.start', { kind: 'monet.train', params: raw });
    const empty = await call<{ records: unknown[]; next: number; file: string }>('jobs.metrics', { id: job.id });
    expect(empty.records).toEqual([]);
    expect(empty.file).toBe(path.join(ws, 'models', 't1', 'metrics.jsonl'));

    const logs: string[] = [];
    const r = await monetTrainJob.run(monetTrainJob.params.parse(raw), {
      progress: () => {}, log: (l) => logs.push(l), signal: new AbortController().signal, workspace: ws, jobId: job.id, settings,
    }) as { step: number; checkpoint: string; out: string };
    expect(r.step).toBe(4);
    expect(r.out).toBe(path.join(ws, 'models', 't1'));
    expect(existsSync(path.join(r.out, 'data', `dataset-${datasetId}.jsonl`))).toBe(true);
    expect(logs.some((l) => l.includes('24 samples exported'))).toBe(true);
    const cfg = JSON.parse(readFileSync(path.join(r.checkpoint, 'config.json'), 'utf8')) as Record<string, number>;
    expect([cfg.hidden_size, cfg.moe_experts, cfg.num_key_value_heads, cfg.vocab_size]).toEqual([16, 4, 2, 6144]);

    const file = path.join(r.out, 'metrics.jsonl');
    const all = await call<{ records: { type: string; step: number }[]; next: number; reset: boolean; more: boolean }>('jobs.metrics', { id: job.id, since: 0 });
    expect(all.records[0]!.type).toBe('start');
    expect(all.records.filter((x) => x.type === 'step').map((x) => x.step)).toEqual([1, 2, 3, 4]);
    expect(all.records.filter((x) => x.type === 'eval').length).toBeGreaterThanOrEqual(2);
    expect(all.records.at(-1)!.type).toBe('end');
    expect(all.next).toBe(statSync(file).size);
    expect(all.reset).toBe(false);
    expect(all.more).toBe(false);

    // Nothing new; a half-written line is not returned until it is complete.
    expect((await call<{ records: unknown[] }>('jobs.metrics', { id: job.id, since: all.next })).records).toEqual([]);
    appendFileSync(file, '{"type":"step","step":5,');
    const half = await call<{ records: unknown[]; next: number }>('jobs.metrics', { id: job.id, since: all.next });
    expect(half).toMatchObject({ records: [], next: all.next });
    appendFileSync(file, '"loss":1}\n');
    const whole = await call<{ records: unknown[]; next: number }>('jobs.metrics', { id: job.id, since: all.next });
    expect(whole.records).toEqual([{ type: 'step', step: 5, loss: 1 }]);
    expect(whole.next).toBe(statSync(file).size);

    // A rewritten (shorter) file starts over.
    writeFileSync(file, '{"type":"start","step":0}\n');
    const reset = await call<{ records: unknown[]; reset: boolean }>('jobs.metrics', { id: job.id, since: whole.next });
    expect(reset.reset).toBe(true);
    expect(reset.records).toEqual([{ type: 'start', step: 0 }]);

    await expect(call('jobs.metrics', { id: 'nope' })).rejects.toMatchObject({ code: 'not_found' });
    const other = await call<{ id: string }>('jobs.start', { kind: 'demo', params: { steps: 1 } });
    await expect(call('jobs.metrics', { id: other.id })).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(call('jobs.start', { kind: 'monet.train', params: { preset: 'tiny' } })).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(call('jobs.start', { kind: 'monet.train', params: { data: ['x.jsonl'], model: { ...model, moe_groups: 3 } } })).rejects.toMatchObject({ code: 'invalid_params' });
  }, 180_000);

  it("the Train view's preset table matches the trainer's presets", () => {
    for (const p of trainPresets) {
      const t = presets[p.name]!;
      for (const [k, v] of Object.entries(p.model)) expect([p.name, k, t.config[k]]).toEqual([p.name, k, v]);
      expect([t.hyper.steps, t.hyper.batch, t.hyper.seqLen, t.hyper.lr]).toEqual([p.steps, p.batch, p.seqLen, p.lr]);
    }
  });
});

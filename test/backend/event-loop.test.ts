/**
 * Issue 15, the event loop stays free: heavy store reads (length histograms and counts over every sample of a view)
 * run on the workspace's reader threads, so `app.info` is answered while twenty of them are still running, and the
 * histograms are the same as the ones computed in process. Scaled down from the 1.36 M rows to keep the
 * suite fast: what is checked is the order of answers (app.info first), not a time; a generous guard catches a
 * pathological stall.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backend } from '../../main/backend';
import type { WorkerLauncher } from '../../main/jobs/launcher';
import { importDataset, lengthHistogram, openDatasetStore } from '../../workers/data';

const noWorkers: WorkerLauncher = {
  launch() {
    throw new Error('no workers in this test');
  },
};

const N = 60_000;
let ws: string;
let backend: Backend;
let datasetId: number;

beforeAll(async () => {
  ws = mkdtempSync(path.join(tmpdir(), 'resect-event-loop-'));
  backend = new Backend({ mode: 'serve', workspaceDir: ws, launcher: noWorkers });
  const file = path.join(ws, 'big.jsonl');
  const domains = ['code', 'news', 'law', 'fiction'];
  writeFileSync(file, Array.from({ length: N }, (_, i) => JSON.stringify({ text: `sample ${i} ${'word '.repeat(i % 97)}`, domain: domains[i % 4] })).join('\n'));
  const db = await openDatasetStore(ws);
  const report = await importDataset(db, [{ path: file }], { name: 'big' });
  db.close();
  expect(report.imported).toBe(N);
  datasetId = report.datasetId!;
}, 300_000);
afterAll(async () => {
  await backend?.close();
});

describe('heavy store reads do not hold the event loop', () => {
  it('answers app.info while 20 histograms and counts are running, with the same figures as in process', async () => {
    const order: string[] = [];
    const heavy = Array.from({ length: 20 }, (_, i) => {
      const [method, params] =
        i % 2 === 0
          ? (['datasets.histogram', { datasetId, bins: 30 + i, ...(i % 4 === 0 ? { scale: 'log' } : {}) }] as const)
          : (['datasets.count', { datasetId, ...(i % 3 === 0 ? { search: 'sample' } : { domain: 'code' }) }] as const);
      return backend.router.dispatch(method, params).then((r) => {
        order.push(method);
        return { method, params, r };
      });
    });
    const t0 = performance.now();
    const info = await backend.router.dispatch('app.info', {});
    const infoMs = performance.now() - t0;
    order.push('app.info');
    expect(info.ok).toBe(true);
    const done = await Promise.all(heavy);
    // app.info did not wait for any of the heavy reads.
    expect(order[0]).toBe('app.info');
    expect(infoMs).toBeLessThan(2000); // a guard against a stall, not a speed test (bench/ has none to keep)

    const db = backend.requireWorkspace().db;
    for (const { method, params, r } of done) {
      expect(r.ok, method).toBe(true);
      if (!r.ok) continue;
      if (method === 'datasets.histogram') {
        const p = params as { bins: number; scale?: 'log' };
        expect(r.result).toEqual(lengthHistogram(db, { datasetId }, { bins: p.bins, ...(p.scale ? { scale: p.scale } : {}) }));
      } else {
        const p = params as { search?: string; domain?: string };
        expect((r.result as { count: number }).count).toBe(p.search ? N : N / 4);
      }
    }
  });

  it('a count of a dataset that does not exist is not_found', async () => {
    const r = await backend.router.dispatch('datasets.count', { datasetId: 999_999 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('not_found');
  });
});

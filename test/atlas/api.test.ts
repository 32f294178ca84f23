/**
 * The `atlas.build` job run in process on a workspace dataset, then the `atlas.*` API through the router of an
 * in-process Backend: list, map, sorted pages, expert page, search, collections, delete, errors.
 */
import { mkdtemp } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Backend } from '../../main/backend';
import type { WorkerLauncher } from '../../main/jobs/launcher';
import { atlasBuildJob } from '../../workers/jobs/atlas-build';
import { importDataset, openDatasetStore } from '../../workers/data';
import { FIXTURES, fixtureWithTokenizer } from '../monet/helpers';

const noWorkers: WorkerLauncher = {
  launch() {
    throw new Error('no workers in this test');
  },
};

let backend: Backend | null = null;
afterAll(async () => {
  await backend?.close();
});

describe('atlas.build job and atlas.* API', () => {
  it('builds from a dataset, then serves maps, pages, search and collections', async () => {
    const ws = await mkdtemp(path.join(tmpdir(), 'resect-atlas-api-'));
    backend = new Backend({ mode: 'serve', workspaceDir: ws, launcher: noWorkers });
    const b = backend;
    const call = async (m: string, p: unknown) => {
      const r = await b.router.dispatch(m, p);
      if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
      return r.result as never;
    };
    const db = await openDatasetStore(ws);
    const report = await importDataset(db, [{ path: path.join(FIXTURES, 'data', 'sample.jsonl') }], { name: 'sample' });
    db.close();
    expect(report.imported).toBe(24);
    const datasetId = (await call('datasets.list', {}) as { id: number }[])[0]!.id;

    const model = await fixtureWithTokenizer('monet-vd-tiny');
    const progress: number[] = [];
    const logs: string[] = [];
    const params = atlasBuildJob.params.parse({ model, data: { kind: 'dataset', datasetId }, scoreField: 'toxicity', id: 'a1', topK: 5, checkpointEvery: 5 });
    const result = (await atlasBuildJob.run(params, {
      progress: (done) => progress.push(done), log: (l) => logs.push(l), signal: new AbortController().signal,
      workspace: ws, jobId: 'j1', settings: { theme: 'system', device: 'cpu', threads: 0, maxHeavyJobs: 1 },
    })) as { id: string; dir: string; tokens: number; samples: number };
    expect(result.id).toBe('a1');
    expect(result.samples).toBe(24);
    expect(result.dir).toBe(path.join(ws, 'atlases', 'a1'));
    expect(progress.at(-1)).toBe(result.samples); // progress counts samples of the counted total
    expect(logs.some((l) => l.startsWith('Checkpoint:'))).toBe(true);
    expect(existsSync(path.join(result.dir, 'checkpoint.json'))).toBe(false);

    const list = (await call('atlas.list', {})) as { id: string; tokens: number; score: { name: string } | null; domains: unknown[] }[];
    expect(list.map((a) => a.id)).toEqual(['a1']);
    expect(list[0]!.score?.name).toBe('toxicity');
    expect(list[0]!.domains).toHaveLength(3);

    const map = (await call('atlas.map', { atlas: 'a1', group: 1 })) as { E: number; counts: string; dominant: string; skew: string; maxCount: number };
    expect(Buffer.from(map.counts, 'base64').length).toBe(64 * 4);
    expect(Buffer.from(map.dominant, 'base64').length).toBe(64);
    expect(map.maxCount).toBeGreaterThan(0);

    const page = (await call('atlas.experts', { atlas: 'a1', group: 1, sort: 'count', limit: 10 })) as { total: number; experts: { id: number; count: number; skew: number | null }[] };
    expect(page.total).toBe(64);
    expect(page.experts.map((e) => e.count)).toEqual([...page.experts.map((e) => e.count)].sort((x, y) => y - x));
    const byCorr = (await call('atlas.experts', { atlas: 'a1', group: 1, sort: 'correlation', limit: 64 })) as { experts: { correlation: number | null }[] };
    const rs = byCorr.experts.map((e) => e.correlation).filter((r): r is number => r !== null);
    expect(rs).toEqual([...rs].sort((x, y) => y - x));

    const top = page.experts[0]!;
    const expert = (await call('atlas.expert', { atlas: 'a1', group: 1, expert: top.id })) as {
      contexts: { token: string; score: number }[]; row: { id: number }[]; column: { id: number }[]; promoted: { top: unknown[] } | null; domains: unknown[]; ms: number;
    };
    expect(expert.contexts.length).toBeGreaterThan(0);
    expect(expert.contexts.length).toBeLessThanOrEqual(5);
    expect(expert.row).toHaveLength(7);
    expect(expert.column).toHaveLength(7);
    expect(expert.promoted?.top).toHaveLength(12);
    expect(expert.domains).toHaveLength(3);
    // The page reports its own timing (shown to the user). Only a guard against a hang, not a speed test:
    // docs/atlas.md measured ≈ 26 ms in the backend, and 5 s is about 200× that.
    expect(expert.ms).toBeGreaterThanOrEqual(0);
    expect(expert.ms).toBeLessThan(5_000);

    const hits = (await call('atlas.search', { atlas: 'a1', text: expert.contexts[0]!.token.trim() || 'the' })) as unknown[];
    expect(Array.isArray(hits)).toBe(true);
    const tokenHits = (await call('atlas.search', { atlas: 'a1', token: expert.contexts[0]!.token })) as { id: number; group: number }[];
    expect(tokenHits.some((h) => h.id === top.id && h.group === 1)).toBe(true);

    // Collections.
    const c = (await call('atlas.saveCollection', { name: 'Mine' })) as { id: number };
    const pinned = (await call('atlas.pin', { collection: c.id, atlas: 'a1', group: 1, expert: top.id, label: 'top', notes: 'n' })) as { items: { label: string }[] };
    expect(pinned.items.map((i) => i.label)).toEqual(['top']);
    const again = (await call('atlas.pin', { collection: c.id, atlas: 'a1', group: 1, expert: top.id, label: 'renamed' })) as { items: { label: string }[] };
    expect(again.items.map((i) => i.label)).toEqual(['renamed']);
    expect(((await call('atlas.unpin', { collection: c.id, atlas: 'a1', group: 1, expert: top.id })) as { items: unknown[] }).items).toHaveLength(0);
    await call('atlas.deleteCollection', { id: c.id });
    expect(await call('atlas.collections', {})).toEqual([]);

    // Errors.
    await expect(call('atlas.expert', { atlas: 'a1', group: 5, expert: 0 })).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(call('atlas.expert', { atlas: 'a1', group: 0, expert: 64 })).rejects.toMatchObject({ code: 'invalid_params' });
    await expect(call('atlas.map', { atlas: 'nope', group: 0 })).rejects.toMatchObject({ code: 'not_found' });
    await call('atlas.delete', { atlas: 'a1' });
    expect(await call('atlas.list', {})).toEqual([]);
  }, 120_000);
});

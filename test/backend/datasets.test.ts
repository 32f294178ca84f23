/**
 * The datasets API in process: a Backend whose "workers" run the job definitions in this process (same protocol),
 * so the handlers, the job registrations and the store are exercised without a build.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { EventData, JobInfo, MethodName, Params, Result } from '../../common/api';
import { Backend } from '../../main/backend';
import { InProcessLauncher } from '../../main/jobs/in-process';
import { Workspace } from '../../main/workspace/workspace';
import { iterateSamples, openDatasetStore } from '../../workers/data';
import { root, tempDir } from './helpers';

const FIXTURES = path.join(root, 'test/fixtures/data');
const JSONL = path.join(FIXTURES, 'sample.jsonl');
const PARQUET = path.join(FIXTURES, 'sample.parquet');

/** Runs jobs in this process, speaking the worker protocol. */
const inProcess = new InProcessLauncher();

const opened: Backend[] = [];
afterEach(async () => {
  for (const b of opened.splice(0)) await b.close();
});

function open(dir = tempDir()) {
  const backend = new Backend({ mode: 'serve', workspaceDir: dir, launcher: inProcess });
  opened.push(backend);
  const events: { event: string; data: unknown }[] = [];
  backend.subscribe((event, data) => events.push({ event, data }));
  const call = <M extends MethodName>(m: M, p: Params<M>) => backend.router.call(m, p) as Promise<Result<M>>;
  const waitJob = async (id: string): Promise<JobInfo> => {
    for (let i = 0; i < 400; i++) {
      const j = (await call('jobs.list', {})).find((x) => x.id === id)!;
      if (j.state === 'succeeded' || j.state === 'failed' || j.state === 'cancelled') return j;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('job did not finish');
  };
  const importFiles = async (p: Params<'datasets.import'>) => waitJob((await call('datasets.import', p)).id);
  return { backend, dir, events, call, waitJob, importFiles };
}

const domainsOf = (d: { domains: { domain: string | null; samples: number }[] }) =>
  Object.fromEntries(d.domains.map((x) => [x.domain ?? '', x.samples]));

describe('datasets API', () => {
  it('previews, imports JSONL and Parquet as jobs, lists them with domains, tokens and sizes', async () => {
    const { call, importFiles } = open();
    const preview = await call('datasets.preview', { paths: [JSONL], limit: 3 });
    expect(preview.detection.shape).toBe('text');
    expect(preview.mapping.domain).toEqual({ kind: 'field', field: 'domain' });
    expect(preview.samples).toHaveLength(3);
    expect(preview.samples[0]).toMatchObject({ file: 'sample.jsonl', line: 1, domain: 'code' });

    const j1 = await importFiles({ paths: [JSONL], name: 'From JSONL' });
    expect(j1.state).toBe('succeeded');
    expect(j1.result).toMatchObject({ imported: 24, records: 24 });
    const j2 = await importFiles({ paths: [PARQUET] });
    expect(j2.state, j2.error ?? '').toBe('succeeded');

    const list = await call('datasets.list', {});
    expect(list.map((d) => d.name)).toEqual(['sample', 'From JSONL']);
    for (const d of list) {
      expect(d.samples).toBe(24);
      expect(domainsOf(d)).toEqual({ code: 8, cooking: 8, law: 8 });
      expect(d.tokens).toBeGreaterThan(0);
      expect(d.sourceBytes).toBeGreaterThan(0);
      expect(d.scoreNames).toEqual(['toxicity']);
    }
    const got = await call('datasets.get', { id: list[1]!.id });
    expect(got.report).toMatchObject({ imported: 24, duplicates: 0 });
  });

  it('pages by cursor and by offset, counts, searches, draws the length histogram', async () => {
    const { call, importFiles } = open();
    await importFiles({ paths: [JSONL] });
    const [d] = await call('datasets.list', {});
    const datasetId = d!.id;
    const p1 = await call('datasets.samples', { datasetId, limit: 10 });
    const p2 = await call('datasets.samples', { datasetId, limit: 10, cursor: p1.next });
    const byOffset = await call('datasets.samples', { datasetId, limit: 10, offset: 10 });
    expect(byOffset.samples.map((s) => s.id)).toEqual(p2.samples.map((s) => s.id));
    const byLen = await call('datasets.samples', { datasetId, limit: 5, offset: 5, sort: { by: 'chars', dir: 'desc' } });
    const allByLen = await call('datasets.samples', { datasetId, limit: 10, sort: { by: 'chars', dir: 'desc' } });
    expect(byLen.samples.map((s) => s.id)).toEqual(allByLen.samples.slice(5).map((s) => s.id));
    expect((await call('datasets.samples', { datasetId, offset: 1000 })).samples).toEqual([]);

    expect((await call('datasets.count', { datasetId, domain: 'law' })).count).toBe(8);
    const court = await call('datasets.samples', { datasetId, search: 'court' });
    expect(court.samples.length).toBeGreaterThan(0);
    expect(court.samples.every((s) => /court/i.test(s.text))).toBe(true);
    expect((await call('datasets.count', { datasetId, search: '  ' })).count).toBe(24);

    const h = await call('datasets.histogram', { datasetId, bins: 8 });
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(24);
    expect(h.edges).toHaveLength(9);

    const s = await call('datasets.sample', { id: p1.samples[0]!.id });
    expect(s.origin).toEqual({ file: 'sample.jsonl', line: 1 });
    await expect(call('datasets.sample', { id: 999_999 })).rejects.toMatchObject({ code: 'not_found' });
    await expect(call('datasets.samples', { datasetId: 999 })).rejects.toMatchObject({ code: 'not_found' });
    await expect(call('datasets.samples', { datasetId, cursor: 'garbage' })).rejects.toMatchObject({ code: 'invalid_params' });
  });

  it('edits labels, deletes samples and datasets, and says so with datasets.changed', async () => {
    const { call, importFiles, events } = open();
    await importFiles({ paths: [JSONL] });
    const [d] = await call('datasets.list', {});
    const datasetId = d!.id;
    const law = await call('datasets.samples', { datasetId, domain: 'law' });
    expect((await call('datasets.setDomain', { datasetId, sampleIds: [law.samples[0]!.id], domain: 'legal' })).changed).toBe(1);
    expect((await call('datasets.renameDomain', { datasetId, from: 'law', to: 'legal' })).changed).toBe(7);
    expect((await call('datasets.setDomain', { datasetId, sampleIds: [law.samples[1]!.id], domain: null })).changed).toBe(1);
    let now = (await call('datasets.get', { id: datasetId }));
    expect(domainsOf(now)).toEqual({ code: 8, cooking: 8, legal: 7, '': 1 });
    expect((await call('datasets.renameDomain', { datasetId, from: null, to: 'legal' })).changed).toBe(1);

    expect((await call('datasets.deleteSamples', { datasetId, sampleIds: [law.samples[0]!.id] })).deleted).toBe(1);
    expect((await call('datasets.deleteMatching', { datasetId, domain: 'cooking' })).deleted).toBe(8);
    now = await call('datasets.get', { id: datasetId });
    expect(now.samples).toBe(15);
    expect(domainsOf(now)).toEqual({ code: 8, legal: 7 });

    expect((await call('datasets.rename', { id: datasetId, name: '  Renamed ' })).name).toBe('Renamed');
    await expect(call('datasets.setDomain', { datasetId, sampleIds: [], domain: 'x' })).rejects.toMatchObject({ code: 'invalid_params' });
    await call('datasets.delete', { id: datasetId });
    expect(await call('datasets.list', {})).toEqual([]);
    await expect(call('datasets.get', { id: datasetId })).rejects.toMatchObject({ code: 'not_found' });
    const changed = events.filter((e) => e.event === 'datasets.changed').map((e) => (e.data as EventData<'datasets.changed'>).datasetId);
    expect(changed).toEqual([datasetId, datasetId, datasetId, datasetId, datasetId, datasetId, datasetId, null]);
  });

  it('exports a filtered view to a path and to a download, and the export re-imports to the same samples', async () => {
    const { call, importFiles, waitJob, dir } = open();
    await importFiles({ paths: [JSONL] });
    const [d] = await call('datasets.list', {});
    const out = path.join(tempDir(), 'law.jsonl');
    const { job, downloadId } = await call('datasets.export', { filter: { datasetId: d!.id, domain: 'law' }, format: 'jsonl', path: out });
    expect(downloadId).toBeNull();
    expect((await waitJob(job.id)).result).toMatchObject({ samples: 8, path: out });
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { domain: string; scores?: Record<string, number> });
    expect(lines).toHaveLength(8);
    expect(lines.every((l) => l.domain === 'law' && typeof l.scores?.toxicity === 'number')).toBe(true);

    const all = await call('datasets.export', { filter: { datasetId: d!.id }, format: 'parquet' });
    expect(all.downloadId).toMatch(/^[A-Za-z0-9_-]+$/);
    const done = await waitJob(all.job.id);
    expect(done.state).toBe('succeeded');
    const file = (done.result as { path: string }).path;
    expect(file.startsWith(path.join(dir, 'tmp', 'downloads', all.downloadId!))).toBe(true);
    expect(readdirSync(path.dirname(file))).toEqual(['sample.parquet']);

    // Round trip: the Parquet export imports back to the same texts, domains and scores.
    await importFiles({ paths: [file], name: 'again' });
    const again = (await call('datasets.list', {})).find((x) => x.name === 'again')!;
    const a = await call('datasets.samples', { datasetId: d!.id, limit: 100 });
    const b = await call('datasets.samples', { datasetId: again.id, limit: 100 });
    const key = (s: { text: string; domain: string | null; scores: unknown }) => JSON.stringify([s.text, s.domain, s.scores]);
    expect(b.samples.map(key).sort()).toEqual(a.samples.map(key).sort());

    await expect(call('datasets.export', { filter: { datasetId: d!.id }, format: 'jsonl', path: '/no/such/folder/x.jsonl' })).rejects.toMatchObject({
      code: 'invalid_params',
    });
  });

  it('a failed import reports file:line and leaves existing datasets intact', async () => {
    const { call, importFiles } = open();
    await importFiles({ paths: [JSONL] });
    const before = await call('datasets.list', {});
    const bad = path.join(tempDir(), 'bad.jsonl');
    writeFileSync(bad, '{"text":"fine"}\n{"text": broken\n{"text":"also fine"}\n');
    const stopped = await importFiles({ paths: [bad], onError: 'stop' });
    expect(stopped.state).toBe('failed');
    expect(await call('datasets.list', {})).toEqual(before);

    const skipped = await importFiles({ paths: [bad], onError: 'skip' });
    expect(skipped.state).toBe('succeeded');
    expect(skipped.result).toMatchObject({ imported: 2, skippedErrors: 1, issues: [{ kind: 'parse', file: 'bad.jsonl', line: 2 }] });
    await expect(call('datasets.import', { paths: ['/no/such/file.jsonl'] })).rejects.toMatchObject({ code: 'invalid_params' });
  });

  it('workers open the store read-only and stream samples while the backend is open; reopening tidies interrupted imports', async () => {
    const { call, importFiles, dir, backend } = open();
    await importFiles({ paths: [JSONL] });
    const [d] = await call('datasets.list', {});
    const ro = await openDatasetStore(dir, { readonly: true });
    try {
      const seen: string[] = [];
      for (const batch of iterateSamples(ro, { datasetId: d!.id, domain: 'cooking', batchSize: 3 })) seen.push(...batch.map((s) => s.domain!));
      expect(seen).toEqual(new Array(8).fill('cooking'));
      expect(() => ro.prepare('DELETE FROM ds_samples').run()).toThrow(/readonly/);
    } finally {
      ro.close();
    }
    await backend.close();
    opened.splice(opened.indexOf(backend), 1);

    // An import a crash left behind (a dead owner) disappears when the workspace is opened again.
    const raw = new Database(path.join(dir, 'resect.db'));
    raw.prepare("INSERT INTO ds_datasets (name, created_at, source, state, owner_pid, samples, chars, tokens, source_bytes, domains, score_names) VALUES ('half', 0, 'x', 'importing', 2147483646, 0, 0, 0, 0, '[]', '[]')").run();
    raw.close();
    const ws = Workspace.open(dir);
    expect((ws.db.prepare("SELECT count(*) AS n FROM ds_datasets WHERE state != 'ready'").get() as { n: number }).n).toBe(0);
    ws.close();
    expect(existsSync(path.join(dir, 'resect.db'))).toBe(true);
  });
});

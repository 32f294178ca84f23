/**
 * Datasets through the built `resect serve` and CLI: authenticated upload and download endpoints (token, names,
 * size limit), an import of uploaded files by a real worker, a browser-style export download, and
 * `resect data import|list|export`.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DatasetInfo, JobInfo } from '../../common/api';
import { buildBundles, Client, fakeRenderer, finished, root, runCli, startServe, tempDir, type Served } from './helpers';

const JSONL = path.join(root, 'test/fixtures/data/sample.jsonl');
const PARQUET = path.join(root, 'test/fixtures/data/sample.parquet');

let cli: string;
let cleanup: () => void;
let s: Served;
let c: Client;
const workspace = tempDir();

beforeAll(async () => {
  const b = await buildBundles();
  cli = b.cli;
  cleanup = b.cleanup;
  s = await startServe(cli, ['--workspace', workspace], { RESECT_RENDERER_DIR: fakeRenderer(), RESECT_UPLOAD_LIMIT: String(64 * 1024) });
  c = await Client.connect(s);
}, 60_000);
afterAll(async () => {
  c?.close();
  await s?.stop();
  cleanup?.();
});

const put = (query: string, body: Uint8Array | string, headers: Record<string, string> = { Authorization: `Bearer ${s.token}` }) =>
  fetch(`${s.base}/api/upload?${query}`, { method: 'PUT', body: body as BodyInit, headers });

describe('upload and download endpoints', () => {
  it('need the token, safe names, and respect the size limit', async () => {
    expect((await put('name=a.jsonl', '{}', {})).status).toBe(401);
    expect((await put('name=a.jsonl', '{}', { Authorization: 'Bearer wrong' })).status).toBe(401);
    for (const bad of ['name=', 'name=..%2Fx.jsonl', 'name=.hidden', 'name=a.jsonl&batch=..']) {
      expect((await put(bad, '{}')).status, bad).toBe(400);
    }
    const big = await put('name=big.jsonl', new Uint8Array(65 * 1024));
    expect(big.status).toBe(413);
    // Without a Content-Length (chunked), the limit is counted while streaming and the partial file removed.
    const chunks = new ReadableStream<Uint8Array>({
      pull(ctl) {
        ctl.enqueue(new Uint8Array(16 * 1024));
        if (++sent === 5) ctl.close();
      },
    });
    let sent = 0;
    const streamed = await fetch(`${s.base}/api/upload?name=chunked.jsonl`, {
      method: 'PUT',
      body: chunks,
      headers: { Authorization: `Bearer ${s.token}` },
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    const uploads = path.join(workspace, 'tmp', 'uploads');
    expect(readdirSync(uploads, { recursive: true }).filter((f) => String(f).endsWith('.jsonl'))).toEqual([]);
    expect((await put('name=a.jsonl', '{}', { Authorization: `Bearer ${s.token}`, Origin: 'http://evil.example' })).status).toBe(403);
    expect((await fetch(`${s.base}/api/download/nothing-here?token=${s.token}`)).status).toBe(404);
    expect((await fetch(`${s.base}/api/download/x`)).status).toBe(401);
  });

  it('imports uploaded files (a folder batch keeps its folder names) and downloads an export', async () => {
    const jsonl = readFileSync(JSONL);
    const parquet = readFileSync(PARQUET);
    const first = (await (await put('name=corpus%2Fpart1.jsonl', jsonl)).json()) as { id: string; path: string; root: string; bytes: number };
    expect(first.bytes).toBe(jsonl.length);
    expect(first.path.startsWith(path.join(workspace, 'tmp', 'uploads', first.id))).toBe(true);
    const second = await put(`name=corpus%2Fsub%2Fpart2.parquet&batch=${first.id}`, parquet);
    expect(second.status).toBe(200);
    expect((await put(`name=corpus%2Fpart1.jsonl&batch=${first.id}`, jsonl)).status).toBe(409);

    const folder = path.join(first.root, 'corpus');
    const preview = await c.call<{ files: { file: string; format: string }[] }>('datasets.preview', { paths: [folder] });
    expect(preview.files.map((f) => f.format).sort()).toEqual(['jsonl', 'parquet']);
    const job = await c.call<JobInfo>('datasets.import', { paths: [folder], name: 'Uploaded', duplicates: 'keep' });
    const done = await c.waitForJob(job.id, finished);
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(done.progress?.unit).toBe('bytes');
    const [d] = await c.call<DatasetInfo[]>('datasets.list', {});
    expect(d).toMatchObject({ name: 'Uploaded', samples: 48 });
    expect(await c.call('datasets.discardUploads', { ids: [first.id] })).toEqual({ removed: 1 });
    expect(existsSync(first.root)).toBe(false);

    const exp = await c.call<{ job: JobInfo; downloadId: string }>('datasets.export', { filter: { datasetId: d!.id, domain: 'code' }, format: 'jsonl' });
    expect((await c.waitForJob(exp.job.id, finished)).state).toBe('succeeded');
    const res = await fetch(`${s.base}/api/download/${exp.downloadId}`, { headers: { Authorization: `Bearer ${s.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('attachment; filename="Uploaded.jsonl"');
    const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { domain: string });
    expect(lines).toHaveLength(16);
    expect(lines.every((l) => l.domain === 'code')).toBe(true);
  });
});

describe('resect data', () => {
  it('imports, lists and exports from the command line', async () => {
    const ws = tempDir();
    const imp = await runCli(cli, ['data', 'import', JSONL, PARQUET, '--name', 'both', '--domain-field', 'domain', '--workspace', ws]);
    expect(imp.code, imp.stderr).toBe(0);
    expect(imp.stdout).toMatch(/Imported dataset 1 “both”/);
    expect(imp.stdout).toMatch(/48 records read, 24 imported, 24 duplicates/);
    const typed = await runCli(cli, ['data', 'import', JSONL, '--domain', 'mixed', '--workspace', ws]);
    expect(typed.code, typed.stderr).toBe(0);
    expect(typed.stdout).toContain('mixed: 24 samples');

    const list = await runCli(cli, ['data', 'list', '--json', '--workspace', ws]);
    const datasets = JSON.parse(list.stdout) as DatasetInfo[];
    expect(datasets.map((x) => x.name)).toEqual(['sample', 'both']);
    expect(datasets[1]!.domains.map((x) => x.domain)).toEqual(['code', 'cooking', 'law']);

    const out = path.join(tempDir(), 'law.parquet');
    const exp = await runCli(cli, ['data', 'export', '1', '--out', out, '--domain', 'law', '--workspace', ws]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stdout).toMatch(/Exported 8 of 8 samples .* parquet/);
    expect(existsSync(out)).toBe(true);

    const bad = await runCli(cli, ['data', 'export', '9', '--out', out, '--format', 'jsonl', '--workspace', ws]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('dataset 9 not found');
    const missing = await runCli(cli, ['data', 'import', '/no/such.jsonl', '--workspace', ws]);
    expect(missing.stderr).toContain('not found: /no/such.jsonl');
  }, 60_000);
});

/**
 * `resect serve` end to end, as a child process: token checks on HTTP and WebSocket, static files, API validation,
 * jobs (progress, cancel, failure, a worker killed from outside), persistence across a backend restart, recovery
 * from a corrupt workspace, and the CLI's other commands.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { JobInfo, WorkspaceInfo } from '../../common/api';
import { buildBundles, Client, fakeRenderer, finished, runCli, startServe, tempDir, type Served } from './helpers';

let cli: string;
let cleanup: () => void;
let renderer: string;
const env = () => ({ RESECT_RENDERER_DIR: renderer, RESECT_CANCEL_GRACE_MS: '1500' });
const demo = (params: Record<string, unknown>) => ({ kind: 'demo', params: { size: 16, ...params } });

beforeAll(async () => {
  const b = await buildBundles();
  cli = b.cli;
  cleanup = b.cleanup;
  renderer = fakeRenderer();
});
afterAll(() => cleanup?.());

describe('resect serve: access', () => {
  let s: Served;
  beforeAll(async () => {
    s = await startServe(cli, ['--workspace', tempDir()], env());
  });
  afterAll(() => s?.stop());

  it('prints exactly one line with the address and a random token', () => {
    expect(s.stdoutLines).toHaveLength(1);
    expect(s.stdoutLines[0]).toMatch(/^Resect is serving at http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{40,}$/);
    expect(s.port).toBeGreaterThan(0);
    expect(s.stderr()).toBe('');
  });

  it('refuses HTTP requests without the token', async () => {
    for (const p of ['/', '/assets/app.js', '/api', '/?token=wrong']) {
      const r = await fetch(`${s.base}${p}`);
      expect(r.status, p).toBe(401);
    }
    const r = await fetch(`${s.base}/`, { headers: { Authorization: 'Bearer nope' } });
    expect(r.status).toBe(401);
  });

  it('serves the UI with the token, a strict CSP, a cookie for assets, SPA fallback and no CORS', async () => {
    const page = await fetch(s.url, { headers: { Origin: 'http://evil.example' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Resect test');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('access-control-allow-origin')).toBeNull();
    const cookie = page.headers.get('set-cookie')!.split(';')[0]!;
    expect(page.headers.get('set-cookie')).toMatch(/HttpOnly; SameSite=Strict/);

    const asset = await fetch(`${s.base}/assets/app.js`, { headers: { Cookie: cookie } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toContain('javascript');
    const route = await fetch(`${s.base}/atlas/some/route`, { headers: { Cookie: cookie } });
    expect(route.status).toBe(200);
    expect(await route.text()).toContain('Resect test');
    expect((await fetch(`${s.base}/assets/missing.js`, { headers: { Cookie: cookie } })).status).toBe(404);
    // Dot segments are resolved by the URL parser (so this is the SPA route /etc/passwd); encoded slashes are refused.
    expect(await (await fetch(`${s.base}/%2e%2e/%2e%2e/etc/passwd`, { headers: { Cookie: cookie } })).text()).not.toContain('root:');
    expect((await rawGet(s, '/..%2f..%2f..%2fetc%2fpasswd', cookie)).status).toBe(404);
    expect((await fetch(`${s.base}/`, { method: 'POST', headers: { Authorization: `Bearer ${s.token}` } })).status).toBe(405);
  });

  it('refuses WebSocket upgrades without the token or from another origin', async () => {
    await expect(Client.connect(s, { withToken: false })).rejects.toThrow('HTTP 401');
    await expect(Client.connect(s, { headers: { Origin: 'http://evil.example' } })).rejects.toThrow('HTTP 403');
    const byCookie = await Client.connect(s, { withToken: false, headers: { Cookie: `resect_token_${s.port}=${s.token}` } });
    expect(await byCookie.call('app.info')).toMatchObject({ mode: 'serve', workspace: { ok: true } });
    byCookie.close();
  });

  it('validates every request', async () => {
    const c = await Client.connect(s);
    const bad = await c.raw('settings.update', { theme: 'purple' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect((bad as { error: { details: { issues: unknown[] } } }).error.details.issues.length).toBeGreaterThan(0);
    expect(await c.raw('no.such.method', {})).toMatchObject({ ok: false, error: { code: 'unknown_method' } });
    expect(await c.raw('jobs.start', demo({ steps: -3 }))).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    expect(await c.raw('jobs.start', { kind: 'no-such-job' })).toMatchObject({ ok: false, error: { code: 'invalid_params' } });
    const devices = await c.call<{ id: string; available: boolean }[]>('system.devices');
    expect(devices.find((d) => d.id === 'cpu')?.available).toBe(true);
    c.close();
  });
});

describe('resect serve: jobs', () => {
  let s: Served;
  let c: Client;
  let workspace: string;
  beforeAll(async () => {
    workspace = tempDir();
    s = await startServe(cli, ['--workspace', workspace], env());
    c = await Client.connect(s);
  });
  afterAll(async () => {
    c?.close();
    await s?.stop();
  });

  it('runs the demo job with throttled progress events and a log', async () => {
    const job = await c.call<JobInfo>('jobs.start', demo({ steps: 40, msPerStep: 25 }));
    expect(job.state).toMatch(/queued|running/);
    const done = await c.waitForJob(job.id, finished);
    expect(done.state).toBe('succeeded');
    expect(done.result).toMatchObject({ steps: 40 });
    expect(done.progress).toMatchObject({ done: 40, total: 40, unit: 'steps' });
    const updates = c.events.filter((e) => e.event === 'job.update' && (e.data as JobInfo).id === job.id).map((e) => e.data as JobInfo);
    const withProgress = updates.filter((u) => u.state === 'running' && u.progress);
    expect(withProgress.length).toBeGreaterThan(1);
    // 40 progress reports in ~1 s reach the client as at most ~5 per second.
    const seconds = (done.endedAt! - done.startedAt!) / 1000;
    expect(withProgress.length).toBeLessThanOrEqual(Math.ceil(seconds * 5) + 3);
    expect(withProgress.some((u) => u.progress!.rate !== null)).toBe(true);
    expect(c.events.some((e) => e.event === 'job.log' && (e.data as { id: string }).id === job.id)).toBe(true);
    const log = await c.call<{ lines: string[] }>('jobs.log', { id: job.id });
    expect(log.lines[0]).toMatch(/worker pid \d+/);
    expect(log.lines.at(-1)).toBe('Succeeded');
    expect(readFileSync(path.join(workspace, 'jobs', job.id, 'log.txt'), 'utf8')).toContain('Succeeded');
    expect((await c.call<{ lines: string[] }>('jobs.log', { id: job.id, tail: 1 })).lines).toEqual(['Succeeded']);
  });

  it('reports a job that throws as failed with its message', async () => {
    const job = await c.call<JobInfo>('jobs.start', demo({ steps: 5, msPerStep: 1, failAt: 3 }));
    const done = await c.waitForJob(job.id, finished);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/Demo failure requested at step 3/);
  });

  it('cancels a running job, and kills one that ignores the request after the grace period', async () => {
    const job = await c.call<JobInfo>('jobs.start', demo({ steps: 1000, msPerStep: 20 }));
    await c.waitForJob(job.id, (j) => (j.progress?.done ?? 0) > 0);
    await c.call('jobs.cancel', { id: job.id });
    const done = await c.waitForJob(job.id, finished, 10_000);
    expect(done.state).toBe('cancelled');

    const stubborn = await c.call<JobInfo>('jobs.start', demo({ steps: 1000, msPerStep: 20, ignoreCancel: true }));
    await c.waitForJob(stubborn.id, (j) => (j.progress?.done ?? 0) > 0);
    const t0 = Date.now();
    await c.call('jobs.cancel', { id: stubborn.id });
    const ended = await c.waitForJob(stubborn.id, finished, 10_000);
    expect(ended.state).toBe('cancelled');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect((await c.call<{ lines: string[] }>('jobs.log', { id: stubborn.id })).lines.join('\n')).toMatch(/killing it/);
  });

  it('queues heavy jobs one at a time, starts light jobs at once, and cancels queued jobs', async () => {
    const a = await c.call<JobInfo>('jobs.start', demo({ steps: 1000, msPerStep: 20 }));
    const b = await c.call<JobInfo>('jobs.start', demo({ steps: 2, msPerStep: 1 }));
    const light = await c.call<JobInfo>('jobs.start', demo({ steps: 2, msPerStep: 1, light: true }));
    expect(b.state).toBe('queued');
    expect(light.heavy).toBe(false);
    expect((await c.waitForJob(light.id, finished)).state).toBe('succeeded');
    const list = await c.call<JobInfo[]>('jobs.list');
    expect(list.find((j) => j.id === a.id)?.state).toBe('running');
    expect(list.find((j) => j.id === b.id)?.state).toBe('queued');
    expect((await c.call<JobInfo>('jobs.cancel', { id: b.id })).state).toBe('cancelled');
    // Raising maxHeavyJobs starts a queued heavy job beside the running one.
    const d = await c.call<JobInfo>('jobs.start', demo({ steps: 2, msPerStep: 1 }));
    expect(d.state).toBe('queued');
    await c.call('settings.update', { maxHeavyJobs: 2 });
    expect((await c.waitForJob(d.id, finished)).state).toBe('succeeded');
    await c.call('settings.update', { maxHeavyJobs: 1 });
    await c.call('jobs.cancel', { id: a.id });
    await c.waitForJob(a.id, finished, 10_000);
  });

  it('fails a job whose worker is SIGKILLed, and keeps serving', async () => {
    const job = await c.call<JobInfo>('jobs.start', demo({ steps: 1000, msPerStep: 20 }));
    const running = await c.waitForJob(job.id, (j) => j.state === 'running' && typeof j.pid === 'number');
    process.kill(running.pid!, 'SIGKILL');
    const done = await c.waitForJob(job.id, finished, 10_000);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/SIGKILL/);
    expect(done.pid).toBeNull();
    expect(await c.call('app.info')).toMatchObject({ workspace: { ok: true } });
    const next = await c.call<JobInfo>('jobs.start', demo({ steps: 2, msPerStep: 1 }));
    expect((await c.waitForJob(next.id, finished)).state).toBe('succeeded');
  });

  it('clears finished jobs', async () => {
    const { removed } = await c.call<{ removed: number }>('jobs.clear');
    expect(removed).toBeGreaterThan(0);
    expect(await c.call('jobs.list')).toEqual([]);
  });
});

describe('resect serve: restarts and workspaces', () => {
  it('keeps jobs across a backend restart and fails those that were running', async () => {
    const workspace = tempDir();
    let s = await startServe(cli, ['--workspace', workspace], env());
    let c = await Client.connect(s);
    const ok = await c.call<JobInfo>('jobs.start', demo({ steps: 2, msPerStep: 1 }));
    await c.waitForJob(ok.id, finished);
    const long = await c.call<JobInfo>('jobs.start', demo({ steps: 1000, msPerStep: 20 }));
    const running = await c.waitForJob(long.id, (j) => j.state === 'running' && typeof j.pid === 'number');
    // A second backend on the same workspace is refused while this one lives.
    const second = await startServe(cli, ['--workspace', workspace], env());
    await waitUntil(() => /in use by another Resect backend \(pid \d+\)/.test(second.stderr()));
    const c2 = await Client.connect(second);
    expect(await c2.call('app.info')).toMatchObject({ workspace: { ok: false } });
    c2.close();
    await second.stop();
    c.close();
    await s.stop('SIGKILL'); // the backend dies; its worker notices and exits
    await waitUntil(() => !alive(running.pid!));

    s = await startServe(cli, ['--workspace', workspace], env());
    c = await Client.connect(s);
    const jobs = await c.call<JobInfo[]>('jobs.list');
    expect(jobs.map((j) => [j.id, j.state])).toEqual([
      [ok.id, 'succeeded'],
      [long.id, 'failed'],
    ]);
    expect(jobs[1]!.error).toMatch(/backend restarted/);
    const listed = await runCli(cli, ['jobs', '--workspace', workspace, '--json']);
    expect(JSON.parse(listed.stdout)).toHaveLength(2);
    c.close();
    await s.stop();
  });

  it('reports a corrupt workspace and recovers with workspace.open', async () => {
    const bad = tempDir();
    writeFileSync(path.join(bad, 'resect.db'), 'garbage '.repeat(1000));
    const s = await startServe(cli, ['--workspace', bad], env());
    await waitUntil(() => /corrupt/.test(s.stderr()));
    const c = await Client.connect(s);
    const info = await c.call<{ workspace: WorkspaceInfo }>('app.info');
    expect(info.workspace).toMatchObject({ ok: false, path: bad });
    expect(info.workspace.error).toMatch(/corrupt/);
    expect(await c.raw('jobs.list', {})).toMatchObject({ ok: false, error: { code: 'workspace_unavailable' } });
    const fresh = path.join(tempDir(), 'new-workspace');
    expect(await c.call('workspace.open', { path: fresh })).toEqual({ path: fresh, ok: true, error: null });
    await c.waitForEvent((e) => e.event === 'workspace.changed');
    expect(existsSync(path.join(fresh, 'resect.db'))).toBe(true);
    const job = await c.call<JobInfo>('jobs.start', demo({ steps: 2, msPerStep: 1 }));
    expect((await c.waitForJob(job.id, finished)).state).toBe('succeeded');
    c.close();
    await s.stop();
  });

  it('warns when bound beyond loopback', async () => {
    const s = await startServe(cli, ['--host', '0.0.0.0', '--workspace', tempDir()], env());
    expect(s.stdoutLines[0]).toMatch(/^Resect is serving at http:\/\/0\.0\.0\.0:\d+\/\?token=/);
    await waitUntil(() => /Warning: binding 0\.0\.0\.0/.test(s.stderr()));
    await s.stop();
  });
});

describe('resect CLI', () => {
  it('has help for every command, a version, devices, and an error for a missing workspace', async () => {
    const help = await runCli(cli, ['--help']);
    for (const cmd of ['serve', 'jobs', 'devices', 'version']) {
      expect(help.stdout).toContain(cmd);
      const r = await runCli(cli, [cmd, '--help']);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout).toContain(`Usage: resect ${cmd}`);
    }
    const v = await runCli(cli, ['version']);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const d = await runCli(cli, ['devices', '--json']);
    expect(JSON.parse(d.stdout).some((x: { id: string }) => x.id === 'cpu')).toBe(true);
    const missing = await runCli(cli, ['jobs', '--workspace', path.join(tempDir(), 'absent')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist/);
    expect((await runCli(cli, ['serve', '--port', 'x'])).code).not.toBe(0);
  });
});

/** A GET that sends the path exactly as written (fetch normalises it). */
function rawGet(s: Served, p: string, cookie: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, path: p, headers: { Cookie: cookie } }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0 });
    });
    req.on('error', reject);
    req.end();
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

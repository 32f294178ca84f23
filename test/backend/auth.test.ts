/**
 * The served backend's access token, on HTTP and on the WebSocket upgrade: the three ways of carrying it (query,
 * `Authorization: Bearer`, the per-port HttpOnly cookie) let a client in; a missing, wrong, truncated, extended or
 * differently-cased token, a token in another server's cookie or in a header with another scheme is refused with 401
 * — and a refused WebSocket never reaches the API. The server runs in this process on a fixed token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import WebSocket from 'ws';
import { Backend } from '../../main/backend';
import type { WorkerLauncher } from '../../main/jobs/launcher';
import { startServer, type RunningServer } from '../../main/server/server';
import { fakeRenderer, tempDir } from './helpers';

const TOKEN = 'tok_' + 'A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0uv';
const noWorkers: WorkerLauncher = { launch() { throw new Error('no workers in this test'); } };

let backend: Backend;
let server: RunningServer;
let base: string;
/** The cookie the server sets, named by its port. */
let cookieName: string;

beforeAll(async () => {
  backend = new Backend({ mode: 'serve', workspaceDir: tempDir(), launcher: noWorkers });
  server = await startServer({ backend, host: '127.0.0.1', port: 0, rendererDir: fakeRenderer(), token: TOKEN });
  base = `http://127.0.0.1:${server.port}`;
  cookieName = `resect_token_${server.port}`;
});
afterAll(async () => {
  await server?.close();
  await backend?.close();
});

/** Ways of presenting a credential, each as a path suffix and request headers. */
type Credential = { name: string; query?: string; headers?: Record<string, string> };

const wrongTokens = (): Credential[] => {
  const prefix = TOKEN.slice(0, -1);
  const others = [
    ['missing', null],
    ['empty', ''],
    ['wrong', 'wrong'],
    ['prefix', prefix],
    ['one character', TOKEN[0]!],
    ['extended', `${TOKEN}x`],
    ['other case', TOKEN.toUpperCase()],
    ['same length, last character changed', `${prefix}${TOKEN.endsWith('v') ? 'w' : 'v'}`],
  ] as const;
  const out: Credential[] = [];
  for (const [what, t] of others) {
    if (t === null) {
      out.push({ name: 'no token at all' });
      continue;
    }
    out.push({ name: `query: ${what}`, query: `token=${encodeURIComponent(t)}` });
    out.push({ name: `bearer: ${what}`, headers: { Authorization: `Bearer ${t}` } });
    out.push({ name: `cookie: ${what}`, headers: { Cookie: `${cookieName}=${t}` } });
  }
  // The right token in the wrong place.
  out.push({ name: 'right token in another port\'s cookie', headers: { Cookie: `resect_token_${server.port + 1}=${TOKEN}` } });
  out.push({ name: 'right token in an unnumbered cookie', headers: { Cookie: `resect_token=${TOKEN}` } });
  out.push({ name: 'right token as a foreign cookie\'s value', headers: { Cookie: `session=${TOKEN}; ${cookieName}=nope` } });
  out.push({ name: 'right token without the Bearer scheme', headers: { Authorization: TOKEN } });
  out.push({ name: 'right token under Basic', headers: { Authorization: `Basic ${TOKEN}` } });
  out.push({ name: 'right token under another query name', query: `tok=${TOKEN}` });
  return out;
};

const rightTokens = (): Credential[] => [
  { name: 'query', query: `token=${TOKEN}` },
  { name: 'bearer', headers: { Authorization: `Bearer ${TOKEN}` } },
  { name: 'cookie', headers: { Cookie: `${cookieName}=${TOKEN}` } },
  { name: 'cookie among others', headers: { Cookie: `a=1; ${cookieName}=${TOKEN}; b=2` } },
];

const withQuery = (p: string, c: Credential) => (c.query ? `${p}?${c.query}` : p);

/** Opens a WebSocket to /api; resolves 'open' (then closes it) or the HTTP status of the refusal. */
function upgrade(c: Credential): Promise<'open' | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}${withQuery('/api', c)}`, { headers: c.headers ?? {} });
    ws.once('open', () => {
      ws.close();
      resolve('open');
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.once('error', reject);
  });
}

describe('HTTP', () => {
  it('refuses every wrong or misplaced token with 401, on pages, assets, the API path and transfers', async () => {
    for (const c of wrongTokens()) {
      for (const p of ['/', '/index.html', '/assets/app.js', '/some/route', '/api', '/api/download/1']) {
        const r = await fetch(`${base}${withQuery(p, c)}`, { headers: c.headers ?? {} });
        expect(r.status, `${c.name} ${p}`).toBe(401);
        expect(r.headers.get('set-cookie'), `${c.name} ${p}`).toBeNull();
        expect(await r.text(), `${c.name} ${p}`).not.toContain('Resect test');
      }
      const put = await fetch(`${base}${withQuery('/api/upload', c)}`, { method: 'PUT', headers: c.headers ?? {}, body: 'x' });
      expect(put.status, `${c.name} upload`).toBe(401);
    }
  });

  it('serves with the right token in each place; only a non-cookie credential sets the cookie', async () => {
    for (const c of rightTokens()) {
      const r = await fetch(`${base}${withQuery('/', c)}`, { headers: c.headers ?? {} });
      expect(r.status, c.name).toBe(200);
      expect(await r.text(), c.name).toContain('Resect test');
      const setCookie = r.headers.get('set-cookie');
      if (c.name.startsWith('cookie')) expect(setCookie, c.name).toBeNull();
      else expect(setCookie, c.name).toBe(`${cookieName}=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`);
    }
  });

  it('a token that is not valid percent-encoding is a wrong token, not a crash', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, path: '/?token=%zz', method: 'GET' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);
  });
});

describe('WebSocket', () => {
  it('refuses the upgrade with 401 for every wrong or misplaced token', async () => {
    for (const c of wrongTokens()) expect(await upgrade(c), c.name).toBe(401);
  });

  it('opens with the right token in each place, and the API answers', async () => {
    for (const c of rightTokens()) expect(await upgrade(c), c.name).toBe('open');
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api`, { headers: { Cookie: `${cookieName}=${TOKEN}` } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const reply = await new Promise<{ ok: boolean; result?: { mode: string } }>((resolve) => {
      ws.once('message', (raw) => resolve(JSON.parse(raw.toString())));
      ws.send(JSON.stringify({ type: 'request', id: 1, method: 'app.info', params: {} }));
    });
    ws.close();
    expect(reply).toMatchObject({ ok: true, result: { mode: 'serve' } });
  });

  it('the right token on another path is 404, a wrong one on another path still 401 (no path probing without it)', async () => {
    const at = (p: string, c: Credential) =>
      new Promise<number | 'open'>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${server.port}${withQuery(p, c)}`, { headers: c.headers ?? {} });
        ws.once('open', () => (ws.close(), resolve('open')));
        ws.once('unexpected-response', (_req, res) => (res.resume(), resolve(res.statusCode ?? 0)));
        ws.once('error', reject);
      });
    expect(await at('/other', { name: 'right', query: `token=${TOKEN}` })).toBe(404);
    expect(await at('/other', { name: 'wrong', query: 'token=wrong' })).toBe(401);
  });
});

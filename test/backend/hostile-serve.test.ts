/**
 * Issue 15: no client can bring `resect serve` down. Against the built backend (a child process) with a job running:
 * unmasked and oversize WebSocket frames, invalid UTF-8, garbage JSON, unknown methods, a flood of requests,
 * half-closed and reset connections, a malformed HTTP request, an upload of `a` then `a/b` in one batch; after each,
 * the backend still answers and the job still finishes. Also the Host and Origin checks (DNS rebinding), and two
 * drops uploaded and imported 100 ms apart where the second drop discards the first's staging (issue 16).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { JobInfo } from '../../common/api';
import { buildBundles, Client, fakeRenderer, finished, root, startServe, tempDir, type Served } from './helpers';

let cli: string;
let cleanup: () => void;
let s: Served;
let c: Client;
let workspace: string;

beforeAll(async () => {
  const b = await buildBundles();
  cli = b.cli;
  cleanup = b.cleanup;
  workspace = tempDir();
  s = await startServe(cli, ['--workspace', workspace], { RESECT_RENDERER_DIR: fakeRenderer() });
  c = await Client.connect(s);
}, 120_000);
afterAll(async () => {
  c?.close();
  await s?.stop();
  cleanup?.();
});

/** A raw TCP connection that has done the WebSocket handshake (with the token); what comes back is collected. */
async function rawSocket(): Promise<{ sock: net.Socket; received: () => Buffer; closed: Promise<void> }> {
  const sock = net.connect(s.port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => (buf = Buffer.concat([buf, d])));
  sock.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  await new Promise<void>((resolve) => sock.once('connect', () => resolve()));
  sock.write(
    `GET /api?token=${s.token} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  for (let i = 0; i < 100 && !buf.includes('\r\n\r\n'); i++) await new Promise((r) => setTimeout(r, 20));
  expect(buf.toString()).toMatch(/^HTTP\/1\.1 101/);
  return { sock, received: () => buf, closed };
}

/** A client→server frame: FIN + opcode, masked unless told otherwise, with an optional false length. */
function frame(opcode: number, payload: Buffer, opts: { masked?: boolean; claimLength?: number } = {}): Buffer {
  const masked = opts.masked ?? true;
  const len = opts.claimLength ?? payload.length;
  const head: number[] = [0x80 | opcode];
  if (len < 126) head.push((masked ? 0x80 : 0) | len);
  else if (len < 65536) head.push((masked ? 0x80 : 0) | 126, len >> 8, len & 255);
  else {
    head.push((masked ? 0x80 : 0) | 127);
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(len));
    head.push(...b);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const key = randomBytes(4);
  const body = Buffer.from(payload.map((x, i) => x ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(head), key, body]);
}

async function stillServing(): Promise<void> {
  expect(s.proc.exitCode).toBeNull();
  const fresh = await Client.connect(s);
  expect(await fresh.call('app.info')).toMatchObject({ mode: 'serve' });
  fresh.close();
}

describe('the backend survives any client', () => {
  it('keeps serving, and a running job keeps running, through malformed frames and messages', async () => {
    const job = await c.call<JobInfo>('jobs.start', { kind: 'demo', params: { steps: 30, msPerStep: 100, size: 8 } });

    // An unmasked client frame (a protocol error the server must answer by closing that socket only).
    let r = await rawSocket();
    r.sock.write(frame(1, Buffer.from('{"type":"request","id":1,"method":"app.info"}'), { masked: false }));
    await r.closed;
    await stillServing();

    // A frame that claims more than the message limit.
    r = await rawSocket();
    r.sock.write(frame(2, Buffer.alloc(16), { claimLength: 2 ** 40 }));
    await r.closed;
    await stillServing();

    // Invalid UTF-8 in a text frame, reserved bits set, an unknown opcode.
    for (const bad of [frame(1, Buffer.from([0xff, 0xfe, 0xfd])), Buffer.concat([Buffer.from([0xf1]), frame(1, Buffer.from('x')).subarray(1)]), frame(0xb, Buffer.from('x'))]) {
      r = await rawSocket();
      r.sock.write(bad);
      await r.closed;
    }
    await stillServing();

    // Half a frame, then the client half-closes; a reset in the middle of a frame.
    r = await rawSocket();
    r.sock.write(frame(1, Buffer.from('{"type":"request","id":1,"method":"app.info","params":{}}')).subarray(0, 9));
    r.sock.end();
    r = await rawSocket();
    r.sock.write(frame(1, Buffer.alloc(2000, 0x61)).subarray(0, 100));
    r.sock.resetAndDestroy();
    await stillServing();

    // Garbage JSON, valid JSON that is not a request, unknown methods, params of the wrong type.
    for (const text of ['{', 'null', '[]', '"x"', '{"type":"request"}', '{"type":"request","id":1e400,"method":"app.info"}', '{"__proto__":{"x":1},"type":"request","id":7,"method":"app.info"}']) {
      c.ws.send(text);
    }
    expect((await c.raw('no.such.method', {})).ok).toBe(false);
    expect((await c.raw('jobs.log', { id: { $gt: '' } })).ok).toBe(false);
    expect((await c.raw('datasets.samples', 'x')).ok).toBe(false);
    await stillServing();

    // A flood: more requests at once than one socket may have in flight. Every one is answered or refused.
    const flood = await Client.connect(s);
    const answers = await Promise.all(Array.from({ length: 300 }, () => flood.raw('app.info', {})));
    expect(answers.filter((a) => a.ok).length).toBeGreaterThan(0);
    expect(answers.every((a) => a.ok || a.error.code === 'conflict')).toBe(true);
    flood.close();

    // A malformed HTTP request.
    const h = net.connect(s.port, '127.0.0.1');
    h.on('error', () => undefined);
    let reply = '';
    h.on('data', (d) => (reply += d));
    h.write('GARBAGE / HTTP/9.9\r\nHost\r\n\r\n');
    await new Promise<void>((resolve) => h.on('close', () => resolve()));
    expect(reply).toMatch(/^HTTP\/1\.1 400/);
    await stillServing();

    const done = await c.waitForJob(job.id, finished, 60_000);
    expect(done.state).toBe('succeeded');
  });

  it('answers an upload of "a" then "a/b" in one batch with 409 and keeps serving', async () => {
    const auth = { Authorization: `Bearer ${s.token}` };
    const first = await fetch(`${s.base}/api/upload?name=a`, { method: 'PUT', body: '{"text":"x"}\n', headers: auth });
    expect(first.status).toBe(200);
    const { id } = (await first.json()) as { id: string };
    const second = await fetch(`${s.base}/api/upload?name=a/b&batch=${id}`, { method: 'PUT', body: '{"text":"y"}\n', headers: auth });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: string }).error).toMatch(/a was uploaded as a file/);
    await stillServing();
  });
});

describe('Host and Origin checks (the second line behind the token)', () => {
  it('refuses a foreign Host on HTTP and WebSocket, accepts loopback names and IP literals', async () => {
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const sock = net.connect(s.port, '127.0.0.1');
        let out = '';
        sock.on('data', (d) => (out += d));
        sock.on('error', reject);
        sock.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d+)/.exec(out)?.[1] ?? 0)));
        sock.write(`GET /?token=${s.token} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      });
    expect(await get('evil.example')).toBe(421);
    expect(await get(`evil.example:${s.port}`)).toBe(421);
    expect(await get('')).toBe(421);
    expect(await get(`localhost:${s.port}`)).toBe(200);
    expect(await get(`127.0.0.1:${s.port}`)).toBe(200);
    expect(await get(`[::1]:${s.port}`)).toBe(200);
    await expect(Client.connect(s, { headers: { Host: 'evil.example' } })).rejects.toThrow('HTTP 421');
  });

  it('refuses uploads, downloads and WebSockets from another origin', async () => {
    const r = await fetch(`${s.base}/api/upload?name=x.jsonl`, { method: 'PUT', body: '{}', headers: { Authorization: `Bearer ${s.token}`, Origin: 'http://evil.example' } });
    expect(r.status).toBe(403);
    const d = await fetch(`${s.base}/api/download/abc`, { headers: { Authorization: `Bearer ${s.token}`, Origin: 'http://evil.example' } });
    expect(d.status).toBe(403);
    await expect(Client.connect(s, { headers: { Origin: 'http://evil.example' } })).rejects.toThrow('HTTP 403');
    await expect(Client.connect(s, { headers: { Origin: `http://127.0.0.1:${s.port}` } })).resolves.toBeTruthy();
  });
});

describe('two drops 100 ms apart (issue 16)', () => {
  it('imports both: staging the second drop does not remove the first drop while it imports', async () => {
    const sample = readFileSync(path.join(root, 'test', 'fixtures', 'data', 'sample.jsonl'));
    const upload = async (name: string) => {
      const r = await fetch(`${s.base}/api/upload?name=${name}`, { method: 'PUT', body: sample, headers: { Authorization: `Bearer ${s.token}` } });
      expect(r.status).toBe(200);
      return (await r.json()) as { id: string; path: string };
    };
    // What the Datasets view does for each drop: upload (its own batch), import; a new drop first discards the
    // staged one (its batch) — while that batch's import may still be running.
    const a = await upload('first.jsonl');
    const jobA = await c.call<JobInfo>('datasets.import', { paths: [a.path], name: 'first' });
    await new Promise((r) => setTimeout(r, 100));
    const b = await upload('second.jsonl');
    expect(b.id).not.toBe(a.id);
    await c.call('datasets.discardUploads', { ids: [a.id] });
    const jobB = await c.call<JobInfo>('datasets.import', { paths: [b.path], name: 'second' });
    const [doneA, doneB] = await Promise.all([c.waitForJob(jobA.id, finished, 60_000), c.waitForJob(jobB.id, finished, 60_000)]);
    expect(doneA.error).toBeNull();
    expect(doneA.state).toBe('succeeded');
    expect(doneB.state).toBe('succeeded');
    const list = await c.call<{ id: number; name: string; samples: number }[]>('datasets.list');
    expect(list.map((d) => d.name)).toEqual(expect.arrayContaining(['first', 'second']));
    // The built backend's reader threads answer the heavy reads (counts, histograms) too.
    const first = list.find((d) => d.name === 'first')!;
    expect(await c.call('datasets.count', { datasetId: first.id })).toEqual({ count: first.samples });
    const h = await c.call<{ counts: number[] }>('datasets.histogram', { datasetId: first.id, bins: 5 });
    expect(h.counts.reduce((x, y) => x + y, 0)).toBe(first.samples);
    // The first batch, discarded while in use, is removed once its import has ended; the second stays until discarded.
    const uploads = path.join(workspace, 'tmp', 'uploads');
    expect(existsSync(path.join(uploads, a.id))).toBe(false);
    expect(existsSync(path.join(uploads, b.id))).toBe(true);
    expect(await c.call('datasets.discardUploads', { ids: [b.id] })).toEqual({ removed: 1 });
    expect(existsSync(path.join(uploads, b.id))).toBe(false);
  });
});

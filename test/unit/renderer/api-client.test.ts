/**
 * The renderer's API client and WebSocket transport, against a fake WebSocket (node environment, no browser).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient } from '../../../renderer/src/api/create-client';
import { createWebSocketTransport } from '../../../renderer/src/api/websocket';
import { ApiError, describeError, isClientFailure, toApiError } from '../../../renderer/src/api/errors';
import type { Transport } from '../../../renderer/src/api/transport';
import { formatDuration, formatRate } from '../../../renderer/src/util/format';

class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 3;
  static all: FakeSocket[] = [];
  readyState = FakeSocket.CONNECTING;
  sent: { id: number; method: string; params: unknown }[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: string }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(frame: string) {
    this.sent.push(JSON.parse(frame));
  }
  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop(code = 1006, reason = '') {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code, reason });
  }
}

const job = {
  id: 'j1', kind: 'demo', title: 'Demo', state: 'running', heavy: true, createdAt: 1, startedAt: 1, endedAt: null,
  progress: { done: 1, total: 4, unit: 'steps', rate: 2, etaSeconds: 1.5 }, error: null, params: {},
};

beforeEach(() => {
  FakeSocket.all = [];
  vi.useFakeTimers();
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('fetch', vi.fn(async () => ({ status: 426 })));
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

function setup() {
  const transport = createWebSocketTransport({ url: 'ws://h/api?token=t', probeUrl: 'http://h/api?token=t', hasToken: true });
  const client = createClient(transport, 't');
  const connected: boolean[] = [];
  client.onConnected(({ reconnected }) => connected.push(reconnected));
  transport.start();
  return { transport, client, connected, socket: () => FakeSocket.all.at(-1)! };
}

describe('renderer API client over WebSocket', () => {
  it('sends typed requests, resolves validated results, and delivers validated events', async () => {
    const { client, socket, connected } = setup();
    socket().open();
    expect(connected).toEqual([false]);
    const p = client.request('jobs.list', {});
    const sent = socket().sent[0]!;
    expect(sent).toMatchObject({ type: 'request', method: 'jobs.list' });
    socket().receive({ type: 'response', id: sent.id, ok: true, result: [job] });
    await expect(p).resolves.toEqual([job]);

    vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const seen: unknown[] = [];
    client.on('job.update', (j) => seen.push(j.id));
    socket().receive({ type: 'event', event: 'job.update', data: job });
    socket().receive({ type: 'event', event: 'job.update', data: { nonsense: true } }); // dropped: not the contract
    expect(seen).toEqual(['j1']);
  });

  it('rethrows backend errors as ApiError with a readable message', async () => {
    const { client, socket } = setup();
    socket().open();
    const p = client.request('settings.update', { threads: 999 });
    const id = socket().sent[0]!.id;
    const issues = [{ path: ['threads'], message: 'Too big: expected number to be <=256' }];
    socket().receive({ type: 'response', id, ok: false, error: { code: 'invalid_params', message: 'Invalid params for settings.update', details: { issues } } });
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('invalid_params');
    expect(describeError(err)).toBe('threads: Too big: expected number to be <=256');
  });

  it('rejects an answer that does not match the contract', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const { client, socket } = setup();
    socket().open();
    const p = client.request('jobs.list', {});
    socket().receive({ type: 'response', id: socket().sent[0]!.id, ok: true, result: [{ id: 1 }] });
    const err = await p.catch((e: unknown) => e);
    expect(isClientFailure(err, 'contract')).toBe(true);
    expect(warn).toHaveBeenCalled();
  });

  it('times out with a message naming the method', async () => {
    const { client, socket } = setup();
    socket().open();
    const p = client.request('jobs.list', {}, { timeoutMs: 1000 }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1001);
    const err = await p;
    expect(isClientFailure(err, 'timeout')).toBe(true);
    expect((err as Error).message).toContain('jobs.list');
  });

  it('fails requests in flight on a drop, queues new ones, reconnects with backoff and reports it', async () => {
    const { client, socket, connected, transport } = setup();
    socket().open();
    const inFlight = client.request('jobs.list', {}).catch((e: unknown) => e);
    socket().drop();
    expect(isClientFailure(await inFlight, 'disconnected')).toBe(true);
    expect(transport.status.state).toBe('reconnecting');

    const queued = client.request('settings.get', {});
    await vi.advanceTimersByTimeAsync(1000);
    expect(FakeSocket.all).toHaveLength(2);
    socket().open();
    expect(connected).toEqual([false, true]);
    const frame = socket().sent[0]!;
    expect(frame.method).toBe('settings.get');
    socket().receive({ type: 'response', id: frame.id, ok: true, result: { theme: 'dark', device: 'auto', threads: 0, maxHeavyJobs: 1 } });
    await expect(queued).resolves.toMatchObject({ theme: 'dark' });
  });

  it('stops retrying when the backend refuses the token', async () => {
    const { socket, transport, client } = setup();
    vi.mocked(fetch).mockResolvedValue({ status: 401 } as Response);
    socket().drop(1006); // handshake failed before open
    await vi.advanceTimersByTimeAsync(0);
    expect(transport.status.state).toBe('unauthorized');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(FakeSocket.all).toHaveLength(1);
    const err = await client.request('jobs.list', {}).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/token/);
  });
});

describe('renderer error and format helpers', () => {
  it('unwraps Electron-wrapped errors', () => {
    const e = toApiError(new Error(`Error invoking remote method 'resect:request': Error: {"code":"not_found","message":"No job x"}`));
    expect(e.code).toBe('not_found');
    expect(e.message).toBe('No job x');
    expect(toApiError({ code: 'conflict', message: 'busy' }).code).toBe('conflict');
    expect(toApiError('plain').message).toBe('plain');
  });

  it('formats rates and durations for people', () => {
    expect(formatRate(9.816, 'steps')).toBe('9.82 steps/s');
    expect(formatRate(null, 'steps')).toBe('');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 m 05 s');
    expect(formatDuration(7800)).toBe('2 h 10 m');
  });
});

// Keep the Transport type referenced for readers of this file.
export type { Transport };

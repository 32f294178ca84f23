import type { ServerMessage } from '../../../common/api';
import type { ConnectionStatus, Transport } from './transport';
import { clientError } from './errors';

const formatSeconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface WebSocketTransportOptions {
  url: string;
  /** Plain-HTTP URL used to learn why a socket handshake failed (a browser hides the status code). */
  probeUrl: string;
  hasToken: boolean;
  minDelayMs?: number;
  maxDelayMs?: number;
}

/** Close codes a backend may use to say "bad token". */
const UNAUTHORIZED_CLOSE_CODES = new Set([4401, 4403, 1008]);

/**
 * `resect serve`: one WebSocket carrying request/response and event frames (common/api.ts wire messages).
 * Reconnects with exponential backoff; requests issued while disconnected wait for the socket (the client's
 * timeout bounds the wait); requests in flight when the socket drops fail with a "disconnected" error.
 */
export function createWebSocketTransport(opts: WebSocketTransportOptions): Transport {
  const minDelay = opts.minDelayMs ?? 500;
  const maxDelay = opts.maxDelayMs ?? 10_000;
  let ws: WebSocket | null = null;
  let nextId = 1;
  let everOpened = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  const pending = new Map<number, Pending>();
  const queue: { frame: string; id: number }[] = [];
  const eventListeners = new Set<(event: string, data: unknown) => void>();
  const statusListeners = new Set<Parameters<Transport['onStatus']>[0]>();
  const status: ConnectionStatus = { state: 'connecting', attempt: 0, nextAttemptAt: null, reason: null };

  function setStatus(patch: Partial<ConnectionStatus>, opened: { reconnected: boolean } | null = null) {
    Object.assign(status, patch);
    const snapshot = { ...status };
    statusListeners.forEach((cb) => cb(snapshot, opened));
  }

  function connect() {
    timer = null;
    let opened = false;
    let socket: WebSocket;
    try {
      socket = new WebSocket(opts.url);
    } catch (e) {
      scheduleReconnect(`Could not open the connection: ${(e as Error).message}`);
      return;
    }
    ws = socket;
    socket.onopen = () => {
      opened = true;
      const reconnected = everOpened;
      everOpened = true;
      setStatus({ state: 'open', attempt: 0, nextAttemptAt: null, reason: null }, { reconnected });
      for (const q of queue.splice(0)) if (pending.has(q.id)) socket.send(q.frame);
    };
    socket.onmessage = (ev) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(typeof ev.data === 'string' ? ev.data : '') as ServerMessage;
      } catch {
        console.warn('[resect] ignoring a malformed frame from the backend');
        return;
      }
      if (msg.type === 'response') {
        const p = pending.get(msg.id);
        if (!p) return;
        pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.result);
        else p.reject(msg.error);
      } else if (msg.type === 'event') {
        eventListeners.forEach((cb) => cb(msg.event, msg.data));
      }
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      ws = null;
      for (const [id, p] of pending) {
        if (queue.some((q) => q.id === id)) continue; // never sent: keep waiting for the next socket
        pending.delete(id);
        p.reject(clientError('disconnected', 'The connection to the backend was lost before it answered.'));
      }
      if (UNAUTHORIZED_CLOSE_CODES.has(ev.code)) {
        setUnauthorized();
        return;
      }
      if (!opened) {
        // The handshake failed; the browser does not say why. Ask over plain HTTP.
        void probe().then((unauthorized) => {
          if (unauthorized) setUnauthorized();
          else scheduleReconnect('The backend is not reachable.');
        });
        return;
      }
      scheduleReconnect(ev.reason || 'The connection to the backend closed.');
    };
  }

  async function probe(): Promise<boolean> {
    try {
      const res = await fetch(opts.probeUrl, { cache: 'no-store' });
      return res.status === 401 || res.status === 403;
    } catch {
      return false;
    }
  }

  function dropFromQueue(id: number): boolean {
    const i = queue.findIndex((q) => q.id === id);
    if (i >= 0) queue.splice(i, 1);
    return i >= 0;
  }

  function setUnauthorized() {
    for (const [, p] of pending) p.reject(clientError('disconnected', 'The backend refused this page’s token.'));
    pending.clear();
    queue.length = 0;
    setStatus({
      state: 'unauthorized',
      nextAttemptAt: null,
      reason: opts.hasToken ? 'The backend refused the token in this page’s address.' : 'This page has no token.',
    });
  }

  function scheduleReconnect(reason: string) {
    const attempt = status.attempt + 1;
    const base = Math.min(maxDelay, minDelay * 2 ** (attempt - 1));
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    setStatus({ state: everOpened ? 'reconnecting' : 'connecting', attempt, nextAttemptAt: Date.now() + delay, reason });
    timer = setTimeout(connect, delay);
  }

  return {
    kind: 'ws',
    get status() {
      return { ...status };
    },
    send(method, params, timeoutMs) {
      const id = nextId++;
      const frame = JSON.stringify({ type: 'request', id, method, params });
      return new Promise((resolve, reject) => {
        if (status.state === 'unauthorized') {
          reject(clientError('disconnected', 'Not connected: the backend refused this page’s token.'));
          return;
        }
        const timeout = setTimeout(() => {
          const wasQueued = dropFromQueue(id);
          pending.delete(id);
          reject(
            clientError(
              'timeout',
              wasQueued
                ? `Could not reach the backend to run “${method}” within ${formatSeconds(timeoutMs)}.`
                : `The backend did not answer “${method}” within ${formatSeconds(timeoutMs)}.`,
              { method },
            ),
          );
        }, timeoutMs);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timeout);
            resolve(v);
          },
          reject: (e) => {
            clearTimeout(timeout);
            reject(e);
          },
        });
        if (ws && ws.readyState === WebSocket.OPEN) ws.send(frame);
        else queue.push({ frame, id });
      });
    },
    onEvent(cb) {
      eventListeners.add(cb);
      return () => eventListeners.delete(cb);
    },
    onStatus(cb) {
      statusListeners.add(cb);
      return () => statusListeners.delete(cb);
    },
    start() {
      connect();
    },
    retryNow() {
      if (ws) return;
      if (timer) clearTimeout(timer);
      setStatus({ state: everOpened ? 'reconnecting' : 'connecting', nextAttemptAt: null });
      connect();
    },
  };
}

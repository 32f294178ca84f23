/**
 * The app-wide API client: Electron IPC when the preload bridge exists, otherwise the WebSocket of `resect serve`.
 *
 *   const jobs = await api.request('jobs.list', {});          // Result<'jobs.list'>
 *   const off = api.on('job.update', (job) => ...);            // EventData<'job.update'>
 */
import { createClient, type ApiClient } from './create-client';
import { createIpcTransport } from './ipc';
import { readToken } from './token';
import type { Transport } from './transport';
import { createWebSocketTransport } from './websocket';

export type { ApiClient, RequestOptions } from './create-client';
export type { ConnectionStatus } from './transport';

/** Picks the transport for where the renderer runs. Call `start()` on the result after subscribing. */
export function createDefaultClient(): { client: ApiClient; start: () => void } {
  let transport: Transport;
  let token: string | null = null;
  if (window.resect) {
    transport = createIpcTransport(window.resect);
  } else {
    token = readToken();
    const wsProto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = token ? `?token=${encodeURIComponent(token)}` : '';
    transport = createWebSocketTransport({
      url: `${wsProto}//${location.host}/api${q}`,
      probeUrl: `${location.protocol}//${location.host}/api${q}`,
      hasToken: !!token,
    });
  }
  return { client: createClient(transport, token), start: () => transport.start() };
}

const instance = createDefaultClient();

/** The app-wide client. Stores subscribe to it; `startApi()` opens the connection once they have. */
export const api: ApiClient = instance.client;
export const startApi = instance.start;

import { clientError } from './errors';
import type { ResectBridge } from '../../../common/bridge';
import type { ConnectionStatus, Transport } from './transport';

/** Electron: requests and events go through the preload bridge (`window.resect`). Always "open". */
export function createIpcTransport(bridge: ResectBridge): Transport {
  const status: ConnectionStatus = { state: 'open', attempt: 0, nextAttemptAt: null, reason: null };
  const statusListeners = new Set<Parameters<Transport['onStatus']>[0]>();
  return {
    kind: 'ipc',
    status,
    send(method, params, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(clientError('timeout', `The backend did not answer “${method}” within ${Math.round(timeoutMs / 1000)} s.`, { method })),
          timeoutMs,
        );
        bridge.request(method, params).then(
          (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          (e: unknown) => {
            clearTimeout(timer);
            reject(e);
          },
        );
      });
    },
    onEvent(cb) {
      return bridge.onEvent((msg) => cb(msg.event, msg.data));
    },
    onStatus(cb) {
      statusListeners.add(cb);
      return () => statusListeners.delete(cb);
    },
    start() {
      queueMicrotask(() => statusListeners.forEach((cb) => cb(status, { reconnected: false })));
    },
    retryNow() {},
  };
}

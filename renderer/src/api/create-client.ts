/**
 * The typed API client over any transport (no DOM or window access here, so it is unit-testable).
 * The app-wide instance lives in client.ts.
 *
 * The renderer's one way to reach the backend. Typed by the contract in common/api.ts:
 *
 *   const jobs = await api.request('jobs.list', {});          // Result<'jobs.list'>
 *   const off = api.on('job.update', (job) => ...);            // EventData<'job.update'>
 *
 * Two transports: Electron IPC when the preload bridge (`window.resect`) exists, otherwise the WebSocket of
 * `resect serve`. Failures are always rethrown as ApiError with a readable message.
 */
import {
  events,
  methods,
  type EventData,
  type EventName,
  type MethodName,
  type Params,
  type Result,
} from '../../../common/api';
import { ApiError, clientError, toApiError } from './errors';
import type { ConnectionStatus, Transport } from './transport';

export type { ConnectionStatus } from './transport';

export interface RequestOptions {
  /** Defaults to 30 s. */
  timeoutMs?: number;
}

export interface ApiClient {
  readonly kind: Transport['kind'];
  request<M extends MethodName>(method: M, params: Params<M>, opts?: RequestOptions): Promise<Result<M>>;
  on<E extends EventName>(event: E, cb: (data: EventData<E>) => void): () => void;
  /** Called on every (re)connection; re-fetch state here. `reconnected` is false the first time. */
  onConnected(cb: (info: { reconnected: boolean }) => void): () => void;
  onStatus(cb: (status: ConnectionStatus) => void): () => void;
  readonly status: ConnectionStatus;
  readonly token: string | null;
  retryNow(): void;
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function createClient(transport: Transport, token: string | null = null): ApiClient {
  const eventListeners = new Map<string, Set<(data: never) => void>>();
  const connectedListeners = new Set<(info: { reconnected: boolean }) => void>();
  const statusListeners = new Set<(status: ConnectionStatus) => void>();

  transport.onEvent((event, data) => {
    const schema = (events as Record<string, (typeof events)[EventName]>)[event];
    const listeners = eventListeners.get(event);
    if (!schema || !listeners?.size) return;
    const parsed = schema.safeParse(data);
    if (!parsed.success) {
      console.warn(`[resect] event “${event}” does not match the contract`, parsed.error.issues);
      return;
    }
    listeners.forEach((cb) => (cb as (d: unknown) => void)(parsed.data));
  });
  transport.onStatus((status, opened) => {
    statusListeners.forEach((cb) => cb(status));
    if (opened) connectedListeners.forEach((cb) => cb(opened));
  });

  return {
    kind: transport.kind,
    get status() {
      return transport.status;
    },
    token,
    async request(method, params, opts) {
      const spec = methods[method];
      if (!spec) throw new ApiError('unknown_method', `Unknown method “${String(method)}”.`);
      let raw: unknown;
      try {
        raw = await transport.send(method, params ?? {}, opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      } catch (e) {
        throw toApiError(e);
      }
      const parsed = spec.result.safeParse(raw);
      if (!parsed.success) {
        console.warn(`[resect] result of “${method}” does not match the contract`, parsed.error.issues, raw);
        throw clientError('contract', `The backend’s answer to “${method}” was not in the expected form.`, {
          issues: parsed.error.issues,
        });
      }
      return parsed.data as Result<typeof method>;
    },
    on(event, cb) {
      let set = eventListeners.get(event);
      if (!set) eventListeners.set(event, (set = new Set()));
      set.add(cb as (data: never) => void);
      return () => set.delete(cb as (data: never) => void);
    },
    onConnected(cb) {
      connectedListeners.add(cb);
      return () => connectedListeners.delete(cb);
    },
    onStatus(cb) {
      statusListeners.add(cb);
      return () => statusListeners.delete(cb);
    },
    retryNow: () => transport.retryNow(),
  };
}


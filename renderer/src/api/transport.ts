/** The contract every transport (Electron IPC, WebSocket) fulfils for the API client. */

export type ConnectionState =
  /** First connection attempt in progress. */
  | 'connecting'
  | 'open'
  /** Lost the connection; retrying with backoff. */
  | 'reconnecting'
  /** The backend refused the token (HTTP 401 / close code 4401). Retrying will not help. */
  | 'unauthorized';

export interface ConnectionStatus {
  state: ConnectionState;
  /** Reconnect attempts since the last successful connection. */
  attempt: number;
  /** When the next attempt happens (epoch ms), while reconnecting. */
  nextAttemptAt: number | null;
  /** Why the last connection ended, in words. */
  reason: string | null;
}

export interface Transport {
  readonly kind: 'ipc' | 'ws';
  /**
   * Sends one request; resolves with the result or rejects with the raw error (normalised by the client).
   * Rejects with a readable "timeout" error when no answer arrives within `timeoutMs`.
   */
  send(method: string, params: unknown, timeoutMs: number): Promise<unknown>;
  /** Backend push events. */
  onEvent(cb: (event: string, data: unknown) => void): () => void;
  /** Connection status changes; `reconnected` is true on every open after the first. */
  onStatus(cb: (status: ConnectionStatus, opened: { reconnected: boolean } | null) => void): () => void;
  readonly status: ConnectionStatus;
  start(): void;
  /** Try to connect now (skips the backoff wait). */
  retryNow(): void;
}

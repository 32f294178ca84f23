/**
 * What the Electron preload exposes to the renderer as `window.resect` (absent in a browser, where the renderer
 * talks to `resect serve` over the WebSocket at `/api` instead).
 */
import type { ApiErrorShape, EventName } from './api';

export interface ResectBridge {
  /** Calls an API method. Resolves with its result; rejects with an ApiErrorShape ({ code, message, details }). */
  request(method: string, params: unknown): Promise<unknown>;
  /** Subscribes to pushed events; returns the unsubscribe function. */
  onEvent(cb: (msg: { event: EventName; data: unknown }) => void): () => void;
  /** process.platform of the desktop app ('linux', 'darwin', 'win32'). */
  platform: string;
  /** Absolute path of a File dropped or picked in the window (drag-and-drop of models and datasets). */
  pathForFile(file: File): string;
  /** Shows the system's folder picker; resolves with the chosen folder, or null when cancelled. */
  pickFolder?(title?: string): Promise<string | null>;
}

export type { ApiErrorShape };

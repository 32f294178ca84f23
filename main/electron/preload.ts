/**
 * The only bridge between the sandboxed renderer and the backend: `window.resect` (see common/bridge.ts).
 * Requests go to the same router as the WebSocket of `resect serve`; a failed request rejects with an
 * ApiErrorShape object ({ code, message, details }).
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';

type Outcome = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string; details?: unknown } };

contextBridge.exposeInMainWorld('resect', {
  request: async (method: string, params: unknown): Promise<unknown> => {
    const out = (await ipcRenderer.invoke('resect:request', { method: String(method), params })) as Outcome;
    if (out.ok) return out.result;
    throw out.error;
  },
  onEvent: (cb: (msg: { event: string; data: unknown }) => void): (() => void) => {
    const listener = (_e: unknown, msg: { event: string; data: unknown }) => cb(msg);
    ipcRenderer.on('resect:event', listener);
    return () => {
      ipcRenderer.removeListener('resect:event', listener);
    };
  },
  platform: process.platform,
  pathForFile: (file: File): string => webUtils.getPathForFile(file),
  pickFolder: async (title?: string): Promise<string | null> => {
    const p = (await ipcRenderer.invoke('resect:pick-folder', { title: typeof title === 'string' ? title : undefined })) as unknown;
    return typeof p === 'string' ? p : null;
  },
});

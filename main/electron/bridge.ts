/**
 * The object the preload exposes as `window.resect`, built from the IPC handle it is given, in a module without
 * Electron imports so unit tests can check its whole surface (see test/electron/shell.test.ts). It reaches exactly
 * three channels and hands the renderer nothing but these functions and the platform string: never ipcRenderer
 * itself, never an event object (whose `sender` would be the ipcRenderer).
 */
import type { ResectBridge } from '../../common/bridge';

/** The IPC channels the bridge uses; main.ts handles these and no others. */
export const CHANNELS = { request: 'resect:request', event: 'resect:event', pickFolder: 'resect:pick-folder' } as const;

/** What the bridge needs of Electron's ipcRenderer. */
export interface BridgeIpc {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
}

type Outcome = { ok: true; result: unknown } | { ok: false; error: { code: string; message: string; details?: unknown } };

export function createBridge(ipc: BridgeIpc, pathForFile: (file: File) => string, platform: string): Required<ResectBridge> {
  return {
    request: async (method: string, params: unknown): Promise<unknown> => {
      const out = (await ipc.invoke(CHANNELS.request, { method: String(method), params })) as Outcome;
      if (out.ok) return out.result;
      throw out.error;
    },
    onEvent: (cb) => {
      // Only the message reaches the renderer's callback, not Electron's event.
      const listener = (_e: unknown, msg: unknown) => cb(msg as Parameters<typeof cb>[0]);
      ipc.on(CHANNELS.event, listener);
      return () => {
        ipc.removeListener(CHANNELS.event, listener);
      };
    },
    platform,
    pathForFile: (file: File): string => pathForFile(file),
    pickFolder: async (title?: string): Promise<string | null> => {
      const p = await ipc.invoke(CHANNELS.pickFolder, { title: typeof title === 'string' ? title : undefined });
      return typeof p === 'string' ? p : null;
    },
  };
}

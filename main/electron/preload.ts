/**
 * The only bridge between the sandboxed renderer and the backend: `window.resect` (see common/bridge.ts and
 * bridge.ts, which builds it). Requests go to the same router as the WebSocket of `resect serve`; a failed request
 * rejects with an ApiErrorShape object ({ code, message, details }).
 */
import { contextBridge, ipcRenderer, webUtils } from 'electron';
import { createBridge } from './bridge';

contextBridge.exposeInMainWorld('resect', createBridge(ipcRenderer, (file) => webUtils.getPathForFile(file), process.platform));

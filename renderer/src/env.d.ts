/// <reference types="vite/client" />

/** What the Electron preload exposes (contextIsolation on); absent when served to a browser by `resect serve`. */
interface ResectBridge {
  request(method: string, params: unknown): Promise<unknown>;
  onEvent(cb: (msg: { event: string; data: unknown }) => void): () => void;
  platform: string;
  pathForFile(file: File): string;
}

interface Window {
  resect?: ResectBridge;
}

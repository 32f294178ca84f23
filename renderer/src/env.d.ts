/// <reference types="vite/client" />

interface Window {
  /** The Electron preload bridge (common/bridge.ts); absent when served to a browser by `resect serve`. */
  resect?: import('../../common/bridge').ResectBridge;
}

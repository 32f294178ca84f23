/**
 * The desktop window's security-relevant options, in a module without Electron imports so unit tests can check
 * them without launching Electron.
 */
import type { BrowserWindowConstructorOptions, WebPreferences } from 'electron';

/** The renderer is served from this privileged custom scheme (files of dist/renderer, with CSP headers). */
export const APP_SCHEME = 'resect';
export const APP_ORIGIN = `${APP_SCHEME}://app`;
export const APP_ENTRY = `${APP_ORIGIN}/index.html`;

/** Whether a URL belongs to the app itself (the only place the window may navigate and IPC may come from). */
export function isAppUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === 'app';
  } catch {
    return false;
  }
}

export function webPreferences(preload: string): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    webviewTag: false,
    experimentalFeatures: false,
    navigateOnDragDrop: false,
    safeDialogs: true,
    spellcheck: false,
  };
}

export function windowOptions(preload: string): BrowserWindowConstructorOptions {
  return {
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'Resect',
    backgroundColor: '#15171c',
    webPreferences: webPreferences(preload),
  };
}

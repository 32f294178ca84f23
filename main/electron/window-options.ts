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

/** What lockDown needs of a WebContents (structural, so tests can pass a stand-in). */
export interface LockableContents {
  on(event: 'will-navigate' | 'will-redirect', listener: (e: { preventDefault(): void }, url: string) => void): unknown;
  on(event: 'will-attach-webview', listener: (e: { preventDefault(): void }) => void): unknown;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: 'deny' }): void;
}

/** Every web contents: no navigation or redirect away from the app, no new windows, no webviews. */
export function lockDown(contents: LockableContents): void {
  contents.on('will-navigate', (e, url) => {
    if (!isAppUrl(url)) e.preventDefault();
  });
  contents.on('will-redirect', (e, url) => {
    if (!isAppUrl(url)) e.preventDefault();
  });
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  contents.on('will-attach-webview', (e) => e.preventDefault());
}

/** Whether an IPC message comes from a frame showing the app (not from anything it might have loaded). */
export function isTrustedSender(event: { senderFrame?: { url: string } | null }): boolean {
  const url = event.senderFrame?.url;
  return !!url && isAppUrl(url);
}

/** What denyAllPermissions needs of a Session. */
export interface PermissionSession {
  setPermissionRequestHandler(handler: (wc: unknown, permission: string, callback: (granted: boolean) => void) => void): void;
  setPermissionCheckHandler(handler: (...args: unknown[]) => boolean): void;
}

/** Camera, microphone, notifications, geolocation, …: the app needs none, so every request and check says no. */
export function denyAllPermissions(session: PermissionSession): void {
  session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
}

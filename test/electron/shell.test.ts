/**
 * The desktop shell's security settings without the Electron binary (which cannot be downloaded here; app.test.ts
 * runs the real window where it exists): the modules main.ts and preload.ts build them from are checked directly —
 * the window's webPreferences (sandbox, context isolation, no Node), which URLs count as the app, navigation and
 * window-opening blocked for every web contents, IPC trusted only from app frames, every permission denied, and the
 * preload bridge's whole surface (its members, the channels it reaches, what it hands the renderer).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CHANNELS, createBridge, type BridgeIpc } from '../../main/electron/bridge';
import {
  APP_ENTRY, denyAllPermissions, isAppUrl, isTrustedSender, lockDown, webPreferences, windowOptions, type LockableContents,
} from '../../main/electron/window-options';
import { contentSecurityPolicy } from '../../main/server/security';

const root = path.resolve(import.meta.dirname, '../..');

describe('window', () => {
  it('is sandboxed and context-isolated, without Node in the page, frames or workers, with the preload given', () => {
    const prefs = windowOptions('/app/preload.cjs').webPreferences!;
    expect(prefs).toEqual(webPreferences('/app/preload.cjs'));
    expect(prefs).toMatchObject({
      preload: '/app/preload.cjs', sandbox: true, contextIsolation: true, nodeIntegration: false, nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false, webSecurity: true, allowRunningInsecureContent: false, webviewTag: false,
      experimentalFeatures: false, navigateOnDragDrop: false,
    });
    // No option that would loosen any of these is set at all.
    for (const k of ['enableRemoteModule', 'nodeIntegrationInSubFrames', 'disableBlinkFeatures', 'additionalArguments']) {
      if (k in prefs) expect(prefs[k as keyof typeof prefs], k).not.toBe(true);
    }
    expect(windowOptions('/p').show).toBe(false); // shown on ready-to-show: no flash of an empty window
  });

  it('counts only resect://app/ as the app', () => {
    expect(isAppUrl(APP_ENTRY)).toBe(true);
    expect(isAppUrl('resect://app/')).toBe(true);
    expect(isAppUrl('resect://app/models?x=1#y')).toBe(true);
    for (const url of [
      'https://example.com/', 'http://app/', 'file:///etc/passwd', 'resect://evil/', 'resect://app.evil.com/',
      'resect://evil.com@app.example/', 'javascript:alert(1)', 'data:text/html,<script>', 'about:blank', 'resect:app', '', 'not a url',
    ]) expect(isAppUrl(url), url).toBe(false);
  });

  it('the page CSP allows no inline or remote script and no framing', () => {
    const csp = contentSecurityPolicy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'self' 'wasm-unsafe-eval'(;|$)/);
    expect(csp).not.toMatch(/script-src[^;]*'unsafe-inline'/);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("object-src 'none'");
  });
});

/** A stand-in WebContents that records the handlers lockDown installs. */
function fakeContents() {
  const handlers = new Map<string, (e: { preventDefault(): void }, url?: string) => void>();
  let openHandler: ((d: { url: string }) => { action: string }) | null = null;
  const contents: LockableContents = {
    on: (event: string, listener: (e: { preventDefault(): void }, url?: string) => void) => handlers.set(event, listener),
    setWindowOpenHandler: (h) => {
      openHandler = h;
    },
  } as LockableContents;
  const fire = (event: string, url?: string) => {
    let prevented = false;
    handlers.get(event)!({ preventDefault: () => (prevented = true) }, url);
    return prevented;
  };
  return { contents, handlers, fire, open: (url: string) => openHandler!({ url }) };
}

describe('every web contents', () => {
  it('cannot navigate or be redirected away from the app, open windows or attach webviews', () => {
    const f = fakeContents();
    lockDown(f.contents);
    expect([...f.handlers.keys()].sort()).toEqual(['will-attach-webview', 'will-navigate', 'will-redirect']);
    for (const event of ['will-navigate', 'will-redirect']) {
      expect(f.fire(event, 'https://example.com/'), event).toBe(true);
      expect(f.fire(event, 'file:///etc/passwd'), event).toBe(true);
      expect(f.fire(event, 'resect://evil/'), event).toBe(true);
      expect(f.fire(event, 'resect://app/jobs'), event).toBe(false);
    }
    expect(f.open('https://example.com/')).toEqual({ action: 'deny' });
    expect(f.open('resect://app/')).toEqual({ action: 'deny' });
    expect(f.fire('will-attach-webview')).toBe(true);
  });

  it('IPC is trusted only from a frame showing the app', () => {
    expect(isTrustedSender({ senderFrame: { url: 'resect://app/index.html' } })).toBe(true);
    expect(isTrustedSender({ senderFrame: { url: 'https://example.com/' } })).toBe(false);
    expect(isTrustedSender({ senderFrame: { url: '' } })).toBe(false);
    expect(isTrustedSender({ senderFrame: null })).toBe(false);
    expect(isTrustedSender({})).toBe(false);
  });

  it('every permission request and check is denied', () => {
    let request: ((wc: unknown, p: string, cb: (g: boolean) => void) => void) | null = null;
    let check: ((...a: unknown[]) => boolean) | null = null;
    denyAllPermissions({ setPermissionRequestHandler: (h) => (request = h), setPermissionCheckHandler: (h) => (check = h) });
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal']) {
      let granted: boolean | null = null;
      request!(null, p, (g) => (granted = g));
      expect(granted, p).toBe(false);
      expect(check!(null, p, 'resect://app'), p).toBe(false);
    }
  });
});

/** A stand-in ipcRenderer: records invocations and listeners, answers from a script. */
function fakeIpc(answer: (channel: string, arg: unknown) => unknown) {
  const invoked: { channel: string; args: unknown[] }[] = [];
  const listeners = new Map<string, Set<(e: unknown, ...a: unknown[]) => void>>();
  const ipc: BridgeIpc = {
    invoke: async (channel, ...args) => {
      invoked.push({ channel, args });
      return answer(channel, args[0]);
    },
    on: (channel, l) => listeners.set(channel, (listeners.get(channel) ?? new Set()).add(l)),
    removeListener: (channel, l) => listeners.get(channel)?.delete(l),
  };
  return { ipc, invoked, listeners };
}

describe('preload bridge (window.resect)', () => {
  it('exposes exactly request, onEvent, platform, pathForFile and pickFolder: functions and a string, no IPC handle', () => {
    const { ipc } = fakeIpc(() => null);
    const bridge = createBridge(ipc, () => '/x', 'linux');
    expect(Object.keys(bridge).sort()).toEqual(['onEvent', 'pathForFile', 'pickFolder', 'platform', 'request']);
    expect(bridge.platform).toBe('linux');
    for (const [k, v] of Object.entries(bridge)) {
      expect(v, k).not.toBe(ipc);
      expect(typeof v === 'function' || typeof v === 'string', k).toBe(true);
    }
    // The preload exposes this object and nothing else.
    const preload = readFileSync(path.join(root, 'main/electron/preload.ts'), 'utf8');
    expect(preload.match(/exposeInMainWorld\(/g)).toHaveLength(1);
    expect(preload).toMatch(/exposeInMainWorld\('resect', createBridge\(ipcRenderer, /);
  });

  it('request reaches only the request channel, with the method as a string; a failure rejects with the error shape', async () => {
    const { ipc, invoked } = fakeIpc((channel, arg) => {
      const { method } = arg as { method: string };
      return method === 'app.info' ? { ok: true, result: { mode: 'electron' } } : { ok: false, error: { code: 'unknown_method', message: 'no' } };
    });
    const bridge = createBridge(ipc, () => '', 'linux');
    expect(await bridge.request('app.info', { a: 1 })).toEqual({ mode: 'electron' });
    await expect(bridge.request('nope', {})).rejects.toEqual({ code: 'unknown_method', message: 'no' });
    await bridge.request({ toString: () => 'app.info' } as unknown as string, null);
    expect(invoked.map((x) => x.channel)).toEqual([CHANNELS.request, CHANNELS.request, CHANNELS.request]);
    expect(invoked[0]!.args).toEqual([{ method: 'app.info', params: { a: 1 } }]);
    expect(typeof (invoked[2]!.args[0] as { method: unknown }).method).toBe('string');
  });

  it('onEvent listens on the event channel, passes only the message (never the IPC event), and unsubscribes', () => {
    const { ipc, listeners } = fakeIpc(() => null);
    const bridge = createBridge(ipc, () => '', 'linux');
    const got: unknown[][] = [];
    const off = bridge.onEvent((...args: unknown[]) => got.push(args));
    expect([...listeners.keys()]).toEqual([CHANNELS.event]);
    const ipcEvent = { sender: ipc, senderFrame: {} };
    for (const l of listeners.get(CHANNELS.event)!) l(ipcEvent, { event: 'jobs.changed', data: 1 });
    expect(got).toEqual([[{ event: 'jobs.changed', data: 1 }]]);
    off();
    expect(listeners.get(CHANNELS.event)!.size).toBe(0);
  });

  it('pickFolder sends only a string title and returns only a string path or null', async () => {
    let reply: unknown = '/home/u/model';
    const { ipc, invoked } = fakeIpc(() => reply);
    const bridge = createBridge(ipc, () => '', 'linux');
    expect(await bridge.pickFolder('Open a model')).toBe('/home/u/model');
    expect(invoked[0]).toEqual({ channel: CHANNELS.pickFolder, args: [{ title: 'Open a model' }] });
    await bridge.pickFolder({ evil: true } as unknown as string);
    expect(invoked[1]!.args).toEqual([{ title: undefined }]);
    reply = { path: '/x' };
    expect(await bridge.pickFolder()).toBeNull();
    reply = null;
    expect(await bridge.pickFolder()).toBeNull();
  });

  it('pathForFile goes through the given resolver (webUtils.getPathForFile in the preload)', () => {
    const { ipc } = fakeIpc(() => null);
    const seen: unknown[] = [];
    const bridge = createBridge(ipc, (f) => (seen.push(f), '/dropped/file.jsonl'), 'linux');
    const file = { name: 'file.jsonl' } as unknown as File;
    expect(bridge.pathForFile(file)).toBe('/dropped/file.jsonl');
    expect(seen).toEqual([file]);
  });

  it('main.ts handles exactly the bridge\'s channels, each behind the sender check', () => {
    const main = readFileSync(path.join(root, 'main/electron/main.ts'), 'utf8');
    const handled = [...main.matchAll(/ipcMain\.handle\((CHANNELS\.\w+)/g)].map((m) => m[1]);
    expect(handled.sort()).toEqual(['CHANNELS.pickFolder', 'CHANNELS.request']);
    expect(main).not.toMatch(/ipcMain\.on\(/);
    expect(main.match(/if \(!isTrustedSender\(event\)\)/g)).toHaveLength(2);
    expect(main).toMatch(/app\.on\('web-contents-created', \(_e, contents\) => lockDown\(contents\)\)/);
    expect(main).toMatch(/denyAllPermissions\(session\.defaultSession\)/);
    expect(main).toMatch(/app\.enableSandbox\(\)/);
    expect(main).toMatch(/new BrowserWindow\(windowOptions\(/);
  });
});

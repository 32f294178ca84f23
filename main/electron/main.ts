/**
 * The Electron main process: one Backend (workers in utilityProcess), one window showing the renderer from
 * the `resect://app/` scheme (files of dist/renderer, with the strict CSP), IPC bridged to the same router as
 * `resect serve`. The window is sandboxed, context-isolated, without Node, and can neither navigate away nor
 * open new windows.
 */
import { app, BrowserWindow, dialog, ipcMain, protocol, session } from 'electron';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Backend } from '../backend';
import { rendererDir, workerScript } from '../runtime-paths';
import { COMMON_HEADERS, contentSecurityPolicy } from '../server/security';
import { resolveStatic } from '../server/static';
import { keepServingOnErrors } from '../server/guards';
import { defaultWorkspaceDir, resolveUserPath } from '../workspace/paths';
import { atomicWriteSync } from '../workspace/atomic';
import { APP_ENTRY, APP_SCHEME, denyAllPermissions, isTrustedSender, lockDown, windowOptions } from './window-options';
import { CHANNELS } from './bridge';
import { UtilityProcessLauncher } from './launcher';

// This bundle is dist/electron/main.cjs; the worker and the renderer are beside it in dist/.
const bundleDir = __dirname;
const distDir = path.join(bundleDir, '..');

protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
]);
app.enableSandbox();

if (!app.requestSingleInstanceLock()) app.quit();

let backend: Backend | null = null;
let mainWindow: BrowserWindow | null = null;

function configFile(): string {
  return path.join(app.getPath('userData'), 'config.json');
}

/** `--workspace DIR`, else $RESECT_WORKSPACE, else the last workspace used, else `<userData>/workspace`. */
function initialWorkspace(): string {
  const i = process.argv.indexOf('--workspace');
  if (i > 0 && process.argv[i + 1]) return resolveUserPath(process.argv[i + 1]!);
  if (process.env.RESECT_WORKSPACE) return defaultWorkspaceDir();
  try {
    const cfg = JSON.parse(readFileSync(configFile(), 'utf8')) as { workspace?: unknown };
    if (typeof cfg.workspace === 'string' && cfg.workspace) return cfg.workspace;
  } catch {
    /* first launch */
  }
  return path.join(app.getPath('userData'), 'workspace');
}

function serveApp(request: Request): Response {
  const url = new URL(request.url);
  const root = rendererDir(distDir);
  const hit = url.host === 'app' ? resolveStatic(root, url.pathname) : null;
  if (!hit) return new Response('Not found', { status: 404 });
  const headers: Record<string, string> = { ...COMMON_HEADERS, 'Content-Type': hit.type };
  if (hit.type.startsWith('text/html')) headers['Content-Security-Policy'] = contentSecurityPolicy();
  return new Response(new Uint8Array(readFileSync(hit.file)), { status: 200, headers });
}

function createWindow(): void {
  mainWindow = new BrowserWindow(windowOptions(path.join(bundleDir, 'preload.cjs')));
  mainWindow.once('ready-to-show', () => mainWindow?.show());
  mainWindow.on('closed', () => (mainWindow = null));
  void mainWindow.loadURL(APP_ENTRY);
}

// Every web contents: no navigation away from the app, no new windows, no webviews (window-options.ts).
app.on('web-contents-created', (_e, contents) => lockDown(contents));

app.on('second-instance', () => {
  if (mainWindow) {
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  }
});

void app.whenReady().then(() => {
  // As under `resect serve`: a bug reached by one request is logged and must not end the window, every job and session
  // (Electron's default for an uncaught error in the main process is a dialog, then a dead backend).
  keepServingOnErrors();
  denyAllPermissions(session.defaultSession);
  protocol.handle(APP_SCHEME, (req) => serveApp(req));

  backend = new Backend({ mode: 'electron', workspaceDir: initialWorkspace(), launcher: new UtilityProcessLauncher(workerScript(distDir)) });
  backend.subscribe((event, data) => {
    for (const w of BrowserWindow.getAllWindows()) if (!w.isDestroyed()) w.webContents.send(CHANNELS.event, { event, data });
    if (event === 'workspace.changed') {
      try {
        atomicWriteSync(configFile(), JSON.stringify({ workspace: (data as { path: string }).path }, null, 2));
      } catch (err) {
        process.stderr.write(`Could not remember the workspace: ${(err as Error).message}\n`);
      }
    }
  });

  ipcMain.handle(CHANNELS.request, async (event, msg: { method?: unknown; params?: unknown }) => {
    if (!isTrustedSender(event)) return { ok: false, error: { code: 'unauthorized', message: 'Request from outside the app' } };
    if (!backend) return { ok: false, error: { code: 'internal', message: 'The backend is not running' } };
    return backend.router.dispatch(String(msg?.method ?? ''), msg?.params);
  });

  // The system folder picker (opening model checkpoints): only for app frames, returns a path or null.
  ipcMain.handle(CHANNELS.pickFolder, async (event, msg: { title?: unknown }) => {
    if (!isTrustedSender(event)) return null;
    const win = BrowserWindow.fromWebContents(event.sender);
    const opts = { title: typeof msg?.title === 'string' ? msg.title : 'Choose a folder', properties: ['openDirectory' as const] };
    const r = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts);
    return r.canceled ? null : (r.filePaths[0] ?? null);
  });

  createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

let quitting = false;
app.on('before-quit', (e) => {
  if (quitting || !backend) return;
  e.preventDefault();
  quitting = true;
  void backend.close().finally(() => app.quit());
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

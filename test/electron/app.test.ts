/**
 * The desktop app under Playwright's Electron driver: the window opens sandboxed with the preload's bridge, the
 * bridge reaches the backend, and the renderer has no Node. Skips (saying why) where Electron's binary is absent.
 * Needs `npm run build` first (dist/electron/main.cjs).
 */
import { describe, it, expect } from 'vitest';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const mainBundle = path.join(root, 'dist/electron/main.cjs');

function electronBinary(): string | null {
  try {
    const p = createRequire(import.meta.url)('electron') as unknown;
    return typeof p === 'string' && existsSync(p) ? p : null;
  } catch {
    return null;
  }
}

const binary = electronBinary();
const reason = !binary
  ? 'the Electron binary is absent (node_modules/electron was installed without its download)'
  : !existsSync(mainBundle)
    ? 'dist/electron/main.cjs is missing: run `npm run build`'
    : null;
if (reason) console.log(`Skipping the Electron app test: ${reason}.`);

describe.skipIf(reason !== null)('desktop app', () => {
  it('opens a sandboxed window whose bridge reaches the backend', async () => {
    const { _electron } = await import('@playwright/test');
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'resect-electron-'));
    const app = await _electron.launch({
      executablePath: binary!,
      args: [mainBundle, '--workspace', workspace],
      env: { ...process.env, RESECT_WORKSPACE: workspace },
    });
    try {
      const win = await app.firstWindow();
      expect(win.url()).toMatch(/^resect:\/\/app\//);
      const info = await win.evaluate(async () => {
        const w = window as unknown as { resect: { request(m: string, p: unknown): Promise<unknown>; platform: string }; require?: unknown; process?: unknown };
        return { info: await w.resect.request('app.info', {}), platform: w.resect.platform, node: typeof w.require + typeof w.process };
      });
      expect(info.info).toMatchObject({ mode: 'electron', workspace: { ok: true, path: workspace } });
      expect(info.node).toBe('undefinedundefined');
      const bad = await win.evaluate(() =>
        (window as unknown as { resect: { request(m: string, p: unknown): Promise<unknown> } }).resect.request('settings.update', { threads: -1 }).catch((e: unknown) => e),
      );
      expect(bad).toMatchObject({ code: 'invalid_params' });
      // Navigation away from the app is blocked.
      await win.evaluate(() => {
        location.href = 'https://example.com/';
      });
      await win.waitForTimeout(500);
      expect(win.url()).toMatch(/^resect:\/\/app\//);
    } finally {
      await app.close();
    }
  });
});

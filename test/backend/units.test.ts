import { describe, it, expect } from 'vitest';
import { ProgressTracker } from '../../main/jobs/progress';
import { webPreferences, windowOptions, isAppUrl } from '../../main/electron/window-options';
import { contentSecurityPolicy } from '../../main/server/security';
import { resolveStatic } from '../../main/server/static';
import { fakeRenderer } from './helpers';

describe('ProgressTracker', () => {
  it('smooths the rate and derives the ETA', () => {
    const t = new ProgressTracker();
    expect(t.update(0, 100, 'steps', undefined, 0)).toMatchObject({ rate: null, etaSeconds: null });
    const p1 = t.update(10, 100, 'steps', undefined, 1000);
    expect(p1.rate).toBeCloseTo(10);
    expect(p1.etaSeconds).toBeCloseTo(9);
    const p2 = t.update(40, 100, 'steps', 'faster', 2000); // instantaneous 30/s, smoothed toward it
    expect(p2.rate!).toBeGreaterThan(10);
    expect(p2.rate!).toBeLessThan(30);
    expect(p2.message).toBe('faster');
    expect(t.update(5, null, 'tokens', undefined, 3000)).toMatchObject({ rate: null, etaSeconds: null });
  });
});

describe('Electron window', () => {
  it('is isolated, sandboxed and without Node', () => {
    const wp = webPreferences('/x/preload.cjs');
    expect(wp).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false });
    expect(wp.nodeIntegrationInWorker).toBe(false);
    expect(wp.allowRunningInsecureContent).toBe(false);
    expect(windowOptions('/x/preload.cjs').webPreferences).toEqual(wp);
    expect(isAppUrl('resect://app/index.html')).toBe(true);
    expect(isAppUrl('https://example.com/')).toBe(false);
    expect(isAppUrl('file:///etc/passwd')).toBe(false);
  });

  it('has a strict content security policy', () => {
    const csp = contentSecurityPolicy();
    expect(csp).toContain("default-src 'none'");
    const script = csp.split(';').find((d) => d.trim().startsWith('script-src'))!;
    expect(script).not.toContain('unsafe-inline');
    expect(script).not.toContain("'unsafe-eval'");
    expect(csp).toContain("frame-ancestors 'none'");
  });
});

describe('static files', () => {
  it('serves files, falls back to index.html for routes, and never leaves its folder', () => {
    const root = fakeRenderer();
    expect(resolveStatic(root, '/assets/app.js')).toMatchObject({ fallback: false, type: expect.stringContaining('javascript') });
    expect(resolveStatic(root, '/')).toMatchObject({ fallback: false, type: expect.stringContaining('html') });
    expect(resolveStatic(root, '/models/monet')).toMatchObject({ fallback: true });
    expect(resolveStatic(root, '/assets/missing.js')).toBeNull();
    expect(resolveStatic(root, '/%2e%2e/%2e%2e/etc/passwd')).toBeNull();
    expect(resolveStatic(root, '/..%2f..%2fetc%2fpasswd')).toBeNull();
    expect(resolveStatic(root, '/.hidden')).toBeNull();
    expect(resolveStatic(root, '/%E0%A4%A')).toBeNull();
  });
});

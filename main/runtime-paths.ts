/** Where the built pieces are at run time, relative to the running bundle (dist/ or dist/electron/). */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The worker entry (dist/worker.mjs). `RESECT_WORKER_SCRIPT` overrides. */
export function workerScript(bundleDir: string): string {
  if (process.env.RESECT_WORKER_SCRIPT) return path.resolve(process.env.RESECT_WORKER_SCRIPT);
  const candidates = [path.join(bundleDir, 'worker.mjs'), path.join(bundleDir, '..', 'worker.mjs')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

/** The built renderer (dist/renderer). `RESECT_RENDERER_DIR` overrides. */
export function rendererDir(bundleDir: string): string {
  if (process.env.RESECT_RENDERER_DIR) return path.resolve(process.env.RESECT_RENDERER_DIR);
  const candidates = [path.join(bundleDir, 'renderer'), path.join(bundleDir, '..', 'renderer')];
  return candidates.find((c) => existsSync(path.join(c, 'index.html'))) ?? candidates[0]!;
}

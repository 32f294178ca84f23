// Vitest global setup: every test's temporary files go under one folder made for this run, removed at the end,
// so suites that forget to clean up (or crash before they can) leave nothing behind in the system's temp folder.
// os.tmpdir() reads TMPDIR on every call, and the test workers are started after this runs, so they inherit it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'resect-tests-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}

/** Small helpers shared by CLI commands. */
import { InvalidArgumentError } from 'commander';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Folder of the running bundle (dist/). */
export function bundleDir(): string {
  return path.dirname(fileURLToPath(import.meta.url));
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return n;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Issue 15, one writer at a time without failing: two `resect data import` processes into one workspace at once
 * (two terminals, or the CLI beside the app) both succeed. Write transactions start as writers (BEGIN IMMEDIATE)
 * and wait their turn within the busy timeout, instead of failing with "database is locked" when a reader
 * upgrades to a writer while the other process writes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Workspace } from '../../main/workspace/workspace';
import { buildBundles, runCli, tempDir } from './helpers';

let cli: string;
let cleanup: () => void;
beforeAll(async () => {
  const b = await buildBundles();
  cli = b.cli;
  cleanup = b.cleanup;
}, 120_000);
afterAll(() => cleanup?.());

/** A JSONL file of `n` distinct records (a few hundred batches of writes). */
function corpus(dir: string, name: string, n: number): string {
  const file = path.join(dir, `${name}.jsonl`);
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(JSON.stringify({ text: `${name} sample ${i}: ${'lorem ipsum dolor sit amet '.repeat(1 + (i % 7))}`, domain: name }));
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('two imports into one workspace at once', () => {
  it('both succeed, with every sample', async () => {
    const dir = tempDir();
    const ws = path.join(dir, 'ws');
    const n = 30_000;
    const a = corpus(dir, 'alpha', n);
    const b = corpus(dir, 'beta', n);
    Workspace.open(ws).close(); // an existing workspace, as when the app or a first import made it
    const [ra, rb] = await Promise.all([
      runCli(cli, ['data', 'import', a, '--workspace', ws, '--json']),
      runCli(cli, ['data', 'import', b, '--workspace', ws, '--json']),
    ]);
    expect(ra.stderr).not.toMatch(/database is locked/);
    expect(rb.stderr).not.toMatch(/database is locked/);
    expect([ra.code, rb.code]).toEqual([0, 0]);
    const list = JSON.parse((await runCli(cli, ['data', 'list', '--workspace', ws, '--json'])).stdout) as { name: string; samples: number }[];
    expect(list.map((d) => [d.name, d.samples]).sort()).toEqual([['alpha', n], ['beta', n]]);
  });
});

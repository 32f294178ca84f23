#!/usr/bin/env node
// The `resect` command: runs the CLI bundle built by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.mjs', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('resect: the CLI is not built (dist/cli.mjs is missing). Run `npm run build` first.\n');
  process.exit(1);
}
await import('../dist/cli.mjs');

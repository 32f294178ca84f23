#!/usr/bin/env node
// Runs a TypeScript bench script: bundles it with esbuild (as scripts/build.mjs does) into a temp file and runs it
// with the remaining arguments. Usage: node bench/monet-run.mjs bench/monet-load.ts [args…]
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node bench/monet-run.mjs <script.ts> [args…]\n');
  process.exit(2);
}
const dir = mkdtempSync(path.join(root, 'node_modules', '.resect-bench-'));
const out = path.join(dir, `${path.basename(entry, '.ts')}.mjs`);
await build({
  entryPoints: [path.resolve(entry)], outfile: out, bundle: true, platform: 'node', target: 'node20', format: 'esm',
  packages: 'external', logLevel: 'warning', alias: { '@common': path.join(root, 'common') },
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
});
const r = spawnSync(process.execPath, ['--expose-gc', out, ...args], { stdio: 'inherit', env: { ...process.env, RESECT_BENCH_BUNDLE: out } });
rmSync(dir, { recursive: true, force: true });
process.exit(r.status ?? 1);

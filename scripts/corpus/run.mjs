// Runs one of the TypeScript entry points in scripts/corpus/ under plain Node 20: bundles it with esbuild into
// dist/corpus/NAME.mjs, then imports it. Usage: node scripts/corpus/run.mjs build|train-tokenizer [args…]
import { build } from 'esbuild';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const name = process.argv[2];
const entries = { build: 'scripts/corpus/build.ts', 'train-tokenizer': 'scripts/corpus/train-tokenizer.ts' };
if (!name || !(name in entries)) {
  console.error(`usage: node scripts/corpus/run.mjs ${Object.keys(entries).join('|')} [args…]`);
  process.exit(2);
}
const outfile = path.join(root, 'dist/corpus', `${name}.mjs`);
await build({
  entryPoints: [path.join(root, entries[name])],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  logLevel: 'warning',
  alias: { '@common': path.join(root, 'common') },
});
process.argv.splice(2, 1);
process.chdir(root);
await import(pathToFileURL(outfile).href);

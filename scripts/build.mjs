// Builds every part of Resect into dist/: the backend, CLI and workers as Node ESM bundles (esbuild),
// the Electron shell and preload as CommonJS (Electron's sandboxed preload must be CJS), and the renderer (Vite).
// Native and runtime packages stay external: they are resolved from node_modules at run time.
import { build } from 'esbuild';
import { build as viteBuild } from 'vite';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet') || process.env.CI === 'true';

/** One entry per process or tool Resect starts. Entries whose source does not exist yet are skipped. */
const nodeEntries = [
  { in: 'main/cli.ts', out: 'dist/cli.mjs' },
  { in: 'workers/host.ts', out: 'dist/worker.mjs' },
  { in: 'bench/engine.ts', out: 'dist/bench/engine.mjs' },
  { in: 'bench/gpu-check.ts', out: 'dist/bench/gpu-check.mjs' },
  { in: 'bench/atlas.ts', out: 'dist/bench/atlas.mjs' },
  { in: 'bench/train.ts', out: 'dist/bench/train.mjs' },
  { in: 'bench/monet.ts', out: 'dist/bench/monet.mjs' },
  { in: 'bench/monet-load.ts', out: 'dist/bench/monet-load.mjs' },
  { in: 'scripts/build-default-atlas.ts', out: 'dist/scripts/build-default-atlas.mjs' },
  { in: 'bench/sae.ts', out: 'dist/bench/sae.mjs' },
  { in: 'bench/sae-cache.ts', out: 'dist/bench/sae-cache.mjs' },
  { in: 'bench/gpu-sae.ts', out: 'dist/bench/gpu-sae.mjs' },
];
const electronEntries = [
  { in: 'main/electron/main.ts', out: 'dist/electron/main.cjs' },
  { in: 'main/electron/preload.ts', out: 'dist/electron/preload.cjs' },
];

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  packages: 'external',
  logLevel: quiet ? 'warning' : 'info',
  alias: { '@common': path.join(root, 'common') },
};

const present = (entries) => entries.filter((e) => existsSync(path.join(root, e.in)));

await Promise.all([
  ...present(nodeEntries).map((e) =>
    build({ ...common, format: 'esm', entryPoints: [path.join(root, e.in)], outfile: path.join(root, e.out),
      // ESM bundles that call require() for CommonJS natives need a require in scope.
      banner: { js: "import { createRequire as __resectCreateRequire } from 'node:module'; const require = __resectCreateRequire(import.meta.url);" } }),
  ),
  ...present(electronEntries).map((e) =>
    build({ ...common, format: 'cjs', entryPoints: [path.join(root, e.in)], outfile: path.join(root, e.out), external: ['electron'] }),
  ),
]);

if (existsSync(path.join(root, 'renderer/index.html'))) {
  await viteBuild({ configFile: path.join(root, 'renderer/vite.config.ts'), logLevel: quiet ? 'warn' : 'info' });
}

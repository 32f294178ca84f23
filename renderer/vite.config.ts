import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));

// The renderer is served two ways: from file:// inside Electron and by `resect serve` over HTTP.
// A relative base keeps asset URLs valid in both; hash routing (see src/router.ts) keeps deep links valid too.
export default defineConfig({
  root: here,
  base: './',
  plugins: [vue()],
  resolve: {
    alias: { '@common': path.resolve(here, '../common') },
  },
  build: {
    outDir: path.resolve(here, '../dist/renderer'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 800,
    // Quiet the bundler's plugin-timing report: it is noise on a shared 2-core machine.
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  server: {
    // `vite dev` for working on the UI: proxy the API socket to a running `resect serve`
    // (set RESECT_BACKEND=http://127.0.0.1:PORT and open the dev page with ?token=...).
    proxy: process.env.RESECT_BACKEND
      ? {
          '/api': {
            target: process.env.RESECT_BACKEND,
            ws: true,
            changeOrigin: true,
            // The backend accepts sockets from its own origin only.
            headers: { Origin: process.env.RESECT_BACKEND.replace(/\/$/, '') },
          },
        }
      : undefined,
  },
});

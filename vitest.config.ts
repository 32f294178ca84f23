import { defineConfig } from 'vitest/config';

// Unit and integration tests (node). End-to-end tests in Chromium live in test/e2e and run under Playwright.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**', 'dist/**'],
    environment: 'node',
    globalSetup: ['test/setup/tmpdir.ts'],
    pool: 'forks',
    // Workspaces in tests start empty: the default model's shipped atlas (main/atlas/shipped.ts) is expanded only
    // where a test asks for it (test/atlas/compact.test.ts passes its own environment).
    env: { RESECT_SHIPPED_ATLAS: '' },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

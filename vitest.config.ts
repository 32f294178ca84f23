import { defineConfig } from 'vitest/config';

// Unit and integration tests (node). End-to-end tests in Chromium live in test/e2e and run under Playwright.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**', 'dist/**'],
    environment: 'node',
    globalSetup: ['test/setup/tmpdir.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

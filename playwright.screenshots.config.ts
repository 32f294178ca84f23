import { defineConfig } from '@playwright/test';
import base from './playwright.config';

// `npm run screenshots`: the pages captured for looking at and for the docs (test/e2e/*.shots.ts), against the same
// served backend as the end-to-end suite. They are not tests (nothing is compared), so they are kept out of
// `npm test`'s count: playwright.config.ts runs only *.spec.ts.
export default defineConfig({
  ...base,
  testMatch: '**/*.shots.ts',
  reporter: [['list']],
  outputDir: 'test-results/screenshots-artifacts',
});

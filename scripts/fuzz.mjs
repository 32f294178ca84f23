#!/usr/bin/env node
// `npm run fuzz [-- ITERATIONS]`: the API fuzz test (test/backend/api-fuzz.test.ts) for longer than CI runs it, with a
// random seed unless FUZZ_SEED is set. The seed is printed first, so a failure can be replayed exactly:
//   FUZZ_SEED=<seed> FUZZ_ITERATIONS=<n> npm run fuzz
import { spawnSync } from 'node:child_process';

const iterations = process.argv[2] ?? process.env.FUZZ_ITERATIONS ?? '30000';
const seed = process.env.FUZZ_SEED ?? String(Math.floor(Math.random() * 2 ** 31));
process.stdout.write(`API fuzz: ${iterations} calls, seed ${seed} (replay: FUZZ_SEED=${seed} FUZZ_ITERATIONS=${iterations} npm run fuzz)\n`);
const r = spawnSync('npx', ['vitest', 'run', 'test/backend/api-fuzz.test.ts', '--testTimeout', '0'], {
  stdio: 'inherit',
  shell: process.platform === 'win32',
  env: { ...process.env, FUZZ_SEED: seed, FUZZ_ITERATIONS: iterations, FUZZ_VERBOSE: '1' },
});
process.exit(r.status ?? 1);

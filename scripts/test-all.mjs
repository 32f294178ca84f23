// Runs every test suite Resect has and ends with one line that sums them: `N passed, N failed, N skipped`.
// Suites: vitest (unit + integration, node) and Playwright (end-to-end, the served UI in Debian's Chromium).
// Exit status is non-zero when any test failed or any suite could not run.
import { spawnSync } from 'node:child_process';
import { readFileSync, mkdirSync, rmSync } from 'node:fs';

mkdirSync('test-results', { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
let broken = [];

function run(name, cmd, args, reportPath, count) {
  rmSync(reportPath, { force: true });
  console.log(`\n=== ${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, FORCE_COLOR: '0' } });
  let counted;
  try {
    counted = count(JSON.parse(readFileSync(reportPath, 'utf8')));
  } catch (e) {
    broken.push(`${name}: no report (${e.message})`);
    return;
  }
  console.log(`=== ${name}: ${counted.passed} passed, ${counted.failed} failed, ${counted.skipped} skipped`);
  for (const k of Object.keys(totals)) totals[k] += counted[k];
  if (r.status !== 0 && counted.failed === 0) broken.push(`${name}: exited ${r.status ?? r.signal} with no failed test`);
}

run('unit', 'npx', ['vitest', 'run', '--reporter=default', '--reporter=json', '--outputFile=test-results/unit.json'],
  'test-results/unit.json', (j) => ({
    passed: j.numPassedTests,
    failed: j.numFailedTests + (j.numFailedTestSuites ?? 0),
    skipped: (j.numPendingTests ?? 0) + (j.numTodoTests ?? 0),
  }));

run('e2e', 'npx', ['playwright', 'test'], 'test-results/e2e.json', (j) => {
  const s = j.stats ?? {};
  return { passed: (s.expected ?? 0) + (s.flaky ?? 0), failed: (s.unexpected ?? 0) + (j.errors?.length ?? 0), skipped: s.skipped ?? 0 };
});

for (const b of broken) console.log(`suite problem: ${b}`);
console.log(`${totals.passed} passed, ${totals.failed + broken.length} failed, ${totals.skipped} skipped`);
process.exit(totals.failed + broken.length === 0 ? 0 : 1);

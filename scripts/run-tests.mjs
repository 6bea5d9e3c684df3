// Runs the vitest suite and ends with the plain summary line CI reads: "N passed, N failed[, N skipped]".
// Exits with vitest's exit code (non-zero when any test failed or no test ran).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 13)) {
  console.error(`Node ${process.versions.node} is too old for duh's tests (node:sqlite, SDKs): run them with \`npm test\`, which uses Node 24 from the \`node\` devDependency.`);
  console.log('\n0 passed, 1 failed');
  process.exit(1);
}

const root = join(import.meta.dirname, '..');
const report = join(root, '.vitest-results.json');
rmSync(report, { force: true });

const run = spawnSync(
  process.execPath,
  [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit', env: process.env },
);

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(report)) {
  const results = JSON.parse(readFileSync(report, 'utf8'));
  passed = results.numPassedTests ?? 0;
  skipped = (results.numPendingTests ?? 0) + (results.numTodoTests ?? 0);
  // A test file that failed to load has no test results but still failed.
  const brokenFiles = (results.testResults ?? []).filter((file) => file.status === 'failed' && (file.assertionResults ?? []).length === 0).length;
  failed = (results.numFailedTests ?? 0) + brokenFiles;
} else {
  failed = 1;
}
console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
const code = run.status ?? 1;
process.exit(code === 0 && passed === 0 ? 1 : code);

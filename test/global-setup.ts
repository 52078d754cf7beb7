// Builds dist/ once per test run, so tests that start real child processes
// (ledger serve, witness serve, ledger-verify) run the code under test.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  const root = join(import.meta.dirname, '..');
  try {
    execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'pipe' });
  } catch (e) {
    // Type errors still emit JavaScript; `npm test` runs tsc on its own first and fails on them.
    const out = String((e as { stdout?: Buffer }).stdout ?? '');
    if (!out.includes('error TS')) throw e;
  }
  // As `npm run build` does: the bins executable, so `npx ledger` runs.
  execFileSync(process.execPath, [join(root, 'scripts/chmod-bins.mjs')], { stdio: 'pipe' });
}

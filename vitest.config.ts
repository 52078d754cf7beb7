import { defineConfig } from 'vitest/config';

// LEDGER_TEST_REPORT=FILE also writes vitest's JSON report there (.ci/run reads the counts).
const report = process.env.LEDGER_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: report ? ['default', 'json'] : ['default'],
    ...(report ? { outputFile: { json: report } } : {}),
  },
});

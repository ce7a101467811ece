import { defineConfig } from 'vitest/config';

/** The faults suite (`npm run test:faults`): process kills, outages, hostile input, property tests. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['./test/faults/support/build-bot.ts'],
    reporters: ['default', './test/summary-reporter.ts', './test/faults/reliability-reporter.ts'],
  },
});

import { defineConfig } from 'vitest/config';

/** The faults suite (`npm run test:faults`): process kills, outages, hostile input, property tests. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Most of the long files wait (a minute of Slack outage, BullMQ noticing a dead worker), so three at
    // once on two cores keeps the suite short without starving the processes under test.
    maxWorkers: 3,
    globalSetup: ['./test/faults/support/build-bot.ts'],
    reporters: ['default', './test/summary-reporter.ts', './test/faults/reliability-reporter.ts'],
  },
});

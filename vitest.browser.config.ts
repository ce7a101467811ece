import { defineConfig } from 'vitest/config';

/** The browser suite (`npm run test:browser`): the demo console driven through Debian's chromium. */
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 240_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});

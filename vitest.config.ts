import { defineConfig } from 'vitest/config';

// Integration and e2e tests start real peers (PostgreSQL databases, HTTP servers): give them room,
// and run files one at a time on this 2-core machine so timing-sensitive e2e checks stay honest.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});

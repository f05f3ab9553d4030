import { defineConfig } from 'vitest/config';

// Tests that need a PostgreSQL server are a project of their own, so that its global setup (which
// starts a throw-away server, about a second) runs only when one of them is selected.
const postgresTests = ['test/**/postgres*.test.ts'];
// Longer fault runs (`npm run test:faults`, which sets TEST_POSTGRES_FAULTS=1): not in the default run.
const faultTests = ['test/**/*.faults.test.ts'];
const withFaults = process.env.TEST_POSTGRES_FAULTS === '1';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Most files spawn the CLI or servers and wait on them: two at a time on 2 cores halves the
    // suite's time (vitest's default on 2 cores is one), and the timing-sensitive tests poll for
    // conditions rather than sleeping, so they hold under the load.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...postgresTests, ...faultTests] },
      },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: postgresTests,
          exclude: faultTests,
          globalSetup: ['test/helpers/postgres-global-setup.ts'],
        },
      },
      ...(withFaults
        ? [
            {
              extends: true as const,
              test: { name: 'faults', include: faultTests, globalSetup: ['test/helpers/postgres-global-setup.ts'] },
            },
          ]
        : []),
    ],
  },
});

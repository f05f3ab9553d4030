import { defineConfig } from 'vitest/config';

// Tests that need a PostgreSQL server are a project of their own, so that its global setup (which
// starts a throw-away server, about a second) runs only when one of them is selected.
const postgresTests = ['test/**/postgres*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: postgresTests } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: postgresTests,
          exclude: ['test/**/*.faults.test.ts'],
          globalSetup: ['test/helpers/postgres-global-setup.ts'],
        },
      },
    ],
  },
});

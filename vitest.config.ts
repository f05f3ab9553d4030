import { defineConfig, type TestProjectInlineConfiguration } from 'vitest/config';

/**
 * One project per test tier. A tier is a folder, and its files are named `<name>.<tier>.test.ts`:
 *
 *   unit, property   pure code, in process                     npm run test:unit / test:property
 *   int              real workers, journals, servers in process npm run test:int
 *   e2e, hostile     the built CLI as a user (hostile: as an attacker or a careless user)
 *   cluster          nodes and submit over real NATS and PostgreSQL          npm run test:cluster
 *   faults           kills, restarts and cut connections, minutes each       npm run test:faults
 *
 * `npm test` runs the fast tiers (unit … hostile); .ci/run also runs cluster and faults.
 * Files that need PostgreSQL are named `postgres*`: their tier starts a throw-away server for them
 * (test/helpers/postgres-global-setup.ts, about a second), and only when such a file is selected.
 */
const postgresFiles = (tier: string): string[] => [`test/${tier}/postgres*.${tier}.test.ts`];

function tier(name: string, extra: TestProjectInlineConfiguration['test'] = {}): TestProjectInlineConfiguration[] {
  const files = `test/${name}/*.${name}.test.ts`;
  return [
    { extends: true, test: { name, include: [files], exclude: postgresFiles(name), ...extra } },
    {
      extends: true,
      test: {
        name: `${name}-postgres`,
        include: postgresFiles(name),
        globalSetup: ['test/helpers/postgres-global-setup.ts'],
        ...extra,
      },
    },
  ];
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Most files spawn the CLI or servers and wait on them: two at a time on 2 cores halves the
    // suite's time (vitest's default on 2 cores is one), and the timing-sensitive tests poll for
    // conditions rather than sleeping, so they hold under the load.
    maxWorkers: 2,
    // Runs of the CLI (spawned ones inherit it) use two workers whatever the machine's cores, so
    // that journals have two partitions, as the tests that damage or kill one expect. The default
    // itself is tested with the variable removed (test/e2e/cli.e2e.test.ts). Nodes run two shard
    // threads, so that their shards share threads on any machine.
    env: { PAYMENTS_WORKERS: '2', PAYMENTS_THREADS: '2' },
    projects: [
      ...tier('unit'),
      ...tier('property'),
      ...tier('int'),
      ...tier('e2e'),
      ...tier('hostile'),
      ...tier('cluster'),
      // Each fault run kills or restarts servers it shares with nothing else: one file at a time.
      ...tier('faults', { testTimeout: 240_000, fileParallelism: false }),
    ],
  },
});

import { defineConfig } from 'vitest/config';

// `npm run test:cluster-faults`: the cluster's longer fault runs (not part of `npm test`).
export default defineConfig({
  test: {
    include: ['test/cluster/*.cluster.ts'],
    testTimeout: 240_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});

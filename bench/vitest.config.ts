import { defineConfig } from 'vitest/config';

// Benchmarks run one at a time (no parallel forks: they measure CPU and time).
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    testTimeout: 900_000,
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    reporters: ['default'],
  },
});

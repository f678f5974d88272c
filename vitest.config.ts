import { defineConfig } from 'vitest/config';

// Two projects, run one after the other (sequence.groupOrder):
//  - "parallel": everything but *.quiet.test.ts, two forks (two cores; integration and e2e tests
//    start real processes on loopback);
//  - "quiet": *.quiet.test.ts, one file at a time once the parallel batch is done. For tests that
//    compare timings seen by two processes (weft stat against a load generator), which a parallel
//    neighbour's CPU burst would skew. Not for performance assertions: those live in `make bench`.
const shared = { testTimeout: 60_000, hookTimeout: 60_000, pool: 'forks' as const };
export default defineConfig({
  test: {
    reporters: ['default'],
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    projects: [
      {
        test: {
          ...shared,
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.quiet.test.ts', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'quiet',
          include: ['test/**/*.quiet.test.ts'],
          poolOptions: { forks: { singleFork: true } },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});

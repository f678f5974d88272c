import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The slowest files first (measured on the 2-core CI machine, 35-72 s each), then the rest as
 * vitest orders them: a fresh clone has no timing cache, and one of these starting last leaves a
 * core idle for its whole run (a 35 s tail was measured). Order only: no test depends on it.
 */
const SLOW_FIRST = [
  'e2e/replicas-netns.test.ts',
  'e2e/etcd-failover.test.ts',
  'integration/control-plane/cli.test.ts',
  'integration/sidecar/jwks-rotation.test.ts',
  'e2e/rotation.test.ts',
  'e2e/gateway-reload.test.ts',
  'e2e/mtls.test.ts',
  'e2e/sidecar-resilience.test.ts',
  'e2e/observability.test.ts',
  'e2e/proxyless-grpc.test.ts',
  'fuzz/xds-decoders.test.ts',
];
class SlowFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rest = await super.sort(files);
    const rank = (f: TestSpecification) => {
      const i = SLOW_FIRST.findIndex((s) => f.moduleId.endsWith(`/test/${s}`));
      return i < 0 ? SLOW_FIRST.length : i;
    };
    return [...rest].sort((a, b) => rank(a) - rank(b));
  }
}

// Projects, in two groups run one after the other (sequence.groupOrder):
//  - "parallel": integration, e2e and fuzz tests but *.quiet.test.ts, two forks (two cores; they
//    start real processes on loopback), each file in a fresh module graph; "unit": test/unit,
//    sharing a worker's modules between files (below); "etcd-store": see below;
//  - "quiet": *.quiet.test.ts, one file at a time once the parallel batch is done. For tests that
//    compare timings seen by two processes (weft stat against a load generator), which a parallel
//    neighbour's CPU burst would skew. Not for performance assertions: those live in `make bench`.
const shared = { testTimeout: 60_000, hookTimeout: 60_000, pool: 'forks' as const, setupFiles: ['test/harness/setup.ts'] };
export default defineConfig({
  test: {
    reporters: ['default'],
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    sequence: { sequencer: SlowFirst },
    projects: [
      {
        test: {
          ...shared,
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.quiet.test.ts', 'test/unit/**', '**/node_modules/**'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Unit tests share their workers' module cache (isolate: false): each file no longer
        // imports the sidecar, the control plane and the generated protos afresh, which was most of
        // their time (measured: 106 s -> 28 s for the 108 files on 2 cores, the same 1,512 tests
        // passing). They start no processes and keep no state between files (no vi.mock; the
        // files that fake timers or stub globals restore them).
        test: {
          ...shared,
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        // The same tests against the etcd store (issue 22): every control plane the harness starts
        // runs on a 3-member etcd (test/harness/processes.ts, WEFT_TEST_STORE). The whole suite
        // passes this way too (`WEFT_TEST_STORE=etcd npx vitest run test/e2e test/integration`,
        // 18 min on 2 cores: over make test's budget); make test runs the admin API's applies
        // (up to 20,000 resources in one, with etcd's limits raised as docs/deploy.md says).
        test: {
          ...shared,
          name: 'etcd-store',
          include: ['test/integration/control-plane/admin-apply.test.ts'],
          env: { WEFT_TEST_STORE: 'etcd' },
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

// Interop: a gRPC client that nobody here wrote (@grpc/grpc-js-xds, proxyless) resolves
// xds:///greeter through Weft's control plane, follows weighted GRPCRoute splits applied live with
// `weft apply`, and keeps working through a control-plane restart. All real processes.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInterface } from 'node:readline';
import { ROOT, eventually, spawnNode, startControlPlane, tempDir, weft, type ControlPlaneProc, type Spawned } from '../harness/processes.js';

interface RunResult {
  counts: Record<string, number>;
  errors: number;
  lastError?: string;
}

class XdsClient {
  readonly #p: Spawned;
  readonly #lines: AsyncIterator<string>;
  constructor(p: Spawned) {
    this.#p = p;
    this.#lines = createInterface({ input: p.proc.stdout! })[Symbol.asyncIterator]();
  }
  async run(n: number): Promise<RunResult> {
    this.#p.proc.stdin!.write(`run ${n}\n`);
    for (;;) {
      const { value, done } = await this.#lines.next();
      if (done) throw new Error(`xds client exited:\n${this.#p.output()}`);
      if (value.startsWith('{')) return JSON.parse(value) as RunResult;
    }
  }
  kill() {
    return this.#p.kill();
  }
}

const share = (r: RunResult, name: string) => (r.counts[name] ?? 0) / Object.values(r.counts).reduce((a, b) => a + b, 0);


/** The xDS types gRPC's xDS client uses, and those proxy-status shows SYNCED for it. */
const XDS_TYPES = ['cluster', 'endpoint', 'listener', 'route'];

describe('proxyless gRPC (@grpc/grpc-js-xds) against Weft', () => {
  let cp: ControlPlaneProc;
  let backends: Spawned[] = [];
  let client: XdsClient;
  let dir: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    backends = [spawnNode([join(ROOT, 'test/harness/grpc-backend.mjs'), 'a']), spawnNode([join(ROOT, 'test/harness/grpc-backend.mjs'), 'b'])];
    const ports = await Promise.all(backends.map(async (b) => Number((await b.waitLine(/listening (\d+)/))[1])));
    dir = tempDir('weft-files-');
    writeFileSync(
      join(dir, 'greeter.yaml'),
      `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
  endpoints:
    - { address: 127.0.0.1, port: ${ports[0]}, labels: { version: a } }
    - { address: 127.0.0.1, port: ${ports[1]}, labels: { version: b } }
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: greeter }
spec:
  targetRef: { kind: Service, name: greeter }
  loadBalancer: { type: RoundRobin }
  # Keepalive PINGs ride in the cluster's Http2ProtocolOptions: a gRPC xDS client must take the
  # cluster with them (it keeps its own channel-level keepalive).
  connectionPool: { keepalive: { interval: 30s, timeout: 5s } }
  subsets:
    - { name: a, labels: { version: a } }
    - { name: b, labels: { version: b } }
`,
    );
    writeFileSync(
      join(dir, 'split.yaml'),
      `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter-split }
spec:
  parentRefs: [{ kind: Service, name: greeter }]
  rules:
    - backendRefs:
        - { name: greeter, subset: a, weight: 90 }
        - { name: greeter, subset: b, weight: 10 }
`,
    );
    const r = await weft(['apply', '-f', join(dir, 'greeter.yaml')], { cp });
    expect(r.stderr).toBe('');
    const p = spawnNode([join(ROOT, 'test/harness/xds-client.mjs')], {
      env: { XDS_SERVER: `127.0.0.1:${cp.xdsPort}`, TARGET: 'greeter', NODE_ID: 'proxyless-client-1' },
    });
    await p.waitLine(/^ready$/);
    client = new XdsClient(p);
  });

  afterAll(async () => {
    await client?.kill();
    await Promise.all(backends.map((b) => b.kill()));
    await cp?.kill();
  });

  it('splits 1,000 calls evenly under round robin', async () => {
    const r = await client.run(1000);
    expect(r.errors, r.lastError).toBe(0);
    expect(share(r, 'a')).toBeGreaterThanOrEqual(0.45);
    expect(share(r, 'a')).toBeLessThanOrEqual(0.55);
    expect(share(r, 'b')).toBeGreaterThanOrEqual(0.45);
  });

  it('follows a 90/10 GRPCRoute applied live, and returns to even when it is deleted', async () => {
    expect((await weft(['apply', '-f', join(dir, 'split.yaml')], { cp })).code).toBe(0);
    await eventually(async () => share(await client.run(100), 'b') < 0.3, 15_000, 0);
    const split = await client.run(1000);
    expect(split.errors).toBe(0);
    expect(share(split, 'a')).toBeGreaterThanOrEqual(0.85);
    expect(share(split, 'a')).toBeLessThanOrEqual(0.95);

    expect((await weft(['delete', 'grpcroute', 'greeter-split'], { cp })).code).toBe(0);
    await eventually(async () => share(await client.run(100), 'b') > 0.4, 15_000, 0);
    const even = await client.run(1000);
    expect(even.errors).toBe(0);
    expect(share(even, 'a')).toBeGreaterThanOrEqual(0.45);
    expect(share(even, 'a')).toBeLessThanOrEqual(0.55);
  });

  it('injects a FaultPolicy aborting 30 % with UNAVAILABLE (gRPC A33 fault filter), and stops when the route goes', async () => {
    writeFileSync(
      join(dir, 'fault.yaml'),
      `apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: greeter-flaky }
spec:
  abort: { grpcStatus: 14, percentage: 30 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter-faults }
spec:
  parentRefs: [{ kind: Service, name: greeter }]
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: greeter-flaky } }]
      backendRefs: [{ name: greeter }]
`,
    );
    expect((await weft(['apply', '-f', join(dir, 'fault.yaml')], { cp })).code).toBe(0);
    await eventually(async () => (await client.run(100)).errors > 10, 15_000, 0);
    const r = await client.run(1000);
    expect(r.lastError).toMatch(/UNAVAILABLE|14/);
    expect(r.errors).toBeGreaterThanOrEqual(250);
    expect(r.errors).toBeLessThanOrEqual(350);
    expect((await weft(['delete', 'grpcroute', 'greeter-faults'], { cp })).code).toBe(0);
    await eventually(async () => (await client.run(100)).errors === 0, 15_000, 0);
    expect((await client.run(500)).errors).toBe(0);
  });

  const syncedTypes = async () => {
    const all = JSON.parse((await weft(['proxy-status', '-o', 'json'], { cp })).stdout) as Array<{ nodeId: string; types: Record<string, { state: string }> }>;
    const me = all.find((p) => p.nodeId === 'proxyless-client-1');
    return me ? Object.keys(me.types).filter((k) => me.types[k]!.state === 'SYNCED').sort() : [];
  };

  it('shows the client SYNCED in proxy-status', async () => {
    const r = await weft(['proxy-status'], { cp });
    expect(r.stdout).toMatch(/proxyless-client-1.*SYNCED/);
    expect(await syncedTypes()).toEqual(XDS_TYPES);
  });

  it('keeps serving while the control plane restarts, then resyncs', async () => {
    const port = cp.xdsPort;
    await cp.kill('SIGKILL');
    const during = await client.run(200);
    expect(during.errors, during.lastError).toBe(0);
    cp = await startControlPlane({ dataDir: cp.dataDir, xdsPort: port });
    // Resynced: the client acknowledged the new control plane's version of every type it uses.
    await eventually(async () => JSON.stringify(await syncedTypes()) === JSON.stringify(XDS_TYPES), 30_000, 200);
    const after = await client.run(200);
    expect(after.errors, after.lastError).toBe(0);
  });
});

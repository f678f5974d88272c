// Interop: gRPC C-core's xDS client (Debian 12's python3-grpcio 1.51, `make deps`) resolves
// xds:///greeter through Weft's plaintext xDS port next to @grpc/grpc-js-xds, and both ACK every
// RouteConfiguration Weft sends them: round robin, a 3:1 weighted split (weights that do not sum to
// 100), exact and regex header matches, and live changes to all of them. C-core 1.51 NACKs the
// whole RouteConfiguration for a header matcher in `string_match` form or for weights that do not
// sum to `total_weight`, and then keeps its last good routes; this test caught both.
// Backends are Service.spec.endpoints (the clients never register themselves). All real processes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyStatusJson } from '../../control-plane/admin/proxy-status.js';
import { ROOT, eventually, spawnNode, startApp, startControlPlane, tempDir, weft, type AppProc, type ControlPlaneProc, type Spawned } from '../harness/processes.js';

/** Debian's python, where python3-grpcio lives (a pyenv `python3` on PATH would not have it). */
const PYTHON = '/usr/bin/python3';
const CCORE_ID = 'ccore-client-1';
const GRPCJS_ID = 'grpc-js-client-1';
const XDS_KINDS = ['cluster', 'endpoint', 'listener', 'route'] as const;

interface RunResult {
  counts: Record<string, number>;
  errors: number;
  calls: number;
  lastError?: string;
}

/** One process that answers `run N [NAME=VALUE ...]` on stdin with a JSON summary line. */
class CallClient {
  readonly #proc: ChildProcess;
  readonly #lines: AsyncIterator<string>;
  readonly #stderr: string[] = [];
  readonly #exited: Promise<void>;

  constructor(proc: ChildProcess) {
    this.#proc = proc;
    this.#lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
    createInterface({ input: proc.stderr! }).on('line', (l) => {
      this.#stderr.push(l);
      if (this.#stderr.length > 40) this.#stderr.shift();
    });
    this.#exited = new Promise((res) => proc.once('exit', () => res()));
  }

  async #next(): Promise<string> {
    const { value, done } = await this.#lines.next();
    if (done) throw new Error(`client exited:\n${this.#stderr.join('\n')}`);
    return value;
  }

  async ready(): Promise<void> {
    while ((await this.#next()) !== 'ready');
  }

  async run(n: number, headers: Record<string, string> = {}): Promise<RunResult> {
    const md = Object.entries(headers).map(([k, v]) => ` ${k}=${v}`).join('');
    this.#proc.stdin!.write(`run ${n}${md}\n`);
    for (;;) {
      const line = await this.#next();
      if (line.startsWith('{')) return JSON.parse(line) as RunResult;
    }
  }

  async kill(): Promise<void> {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) this.#proc.kill('SIGTERM');
    await this.#exited;
  }
}

const total = (r: RunResult) => Object.values(r.counts).reduce((a, b) => a + b, 0);
const share = (r: RunResult, name: string) => (r.counts[name] ?? 0) / total(r);
const describeRun = (r: RunResult) => JSON.stringify(r);

// A 3:1 split over 400 calls: each call is an independent draw (both clients pick a weighted
// cluster at random per call), so a's share has sd sqrt(.75 * .25 / 400) = 0.0217; +-0.09 is
// 4.2 sd, a false failure about once in 30,000 runs.
const SPLIT_CALLS = 400;
const SPLIT_TOLERANCE = 0.09;

describe('proxyless gRPC C-core (python3-grpcio) against Weft', () => {
  let cp: ControlPlaneProc;
  let backends: AppProc[] = [];
  let ccore: CallClient;
  let grpcJs: CallClient;
  let grpcJsProc: Spawned;
  let dir: string;
  let adminToken: string;

  const apply = async (name: string, yaml: string) => {
    writeFileSync(join(dir, name), yaml);
    const r = await weft(['apply', '-f', join(dir, name)], { cp });
    expect(r.code, r.stderr).toBe(0);
  };

  const proxies = async (): Promise<ProxyStatusJson[]> => {
    const r = await fetch(`${cp.adminUrl}/v1/proxies`, { headers: { authorization: `Bearer ${adminToken}` } });
    return ((await r.json()) as { items: ProxyStatusJson[] }).items;
  };

  const routeVersions = async (): Promise<Map<string, string | undefined>> =>
    new Map((await proxies()).map((p) => [p.nodeId, p.types.route?.ackedVersion]));

  /**
   * Waits until both clients ACKed the latest push of every type (and, with `before`, a route
   * version other than the one they had): SYNCED in GET /v1/proxies, what `weft proxy-status`
   * shows; `cli` checks the command's table too. A NACK fails at once with the client's reason.
   */
  const synced = async (before: Map<string, string | undefined> | undefined, cli = false): Promise<void> => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const items = await proxies();
      const pending: string[] = [];
      for (const id of [CCORE_ID, GRPCJS_ID]) {
        const p = items.find((x) => x.nodeId === id);
        if (!p) {
          pending.push(`${id} not connected`);
          continue;
        }
        for (const k of XDS_KINDS) {
          const t = p.types[k];
          if (t?.state === 'NACKED') throw new Error(`${id} NACKED ${k} version ${t.nackedVersion}: ${t.nackMessage}`);
          if (t?.state !== 'SYNCED') pending.push(`${id} ${k} ${t?.state ?? 'not sent'}`);
        }
        if (before && p.types.route?.ackedVersion === before.get(id)) pending.push(`${id} route still at ${before.get(id)}`);
      }
      if (pending.length === 0) break;
      if (Date.now() > deadline) throw new Error(`not SYNCED in 20 s: ${pending.join('; ')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!cli) return;
    // What an operator sees: `weft proxy-status`, every xDS type SYNCED for both clients.
    const out = (await weft(['proxy-status'], { cp })).stdout;
    for (const id of [CCORE_ID, GRPCJS_ID]) expect(out).toMatch(new RegExp(`^${id}\\s+-\\s+proxyless/sotw\\s+SYNCED\\s+SYNCED\\s+SYNCED\\s+SYNCED\\b`, 'm'));
    expect(out).not.toMatch(/NACKED/);
  };

  /** Runs batches of `n` calls until `ok` holds (the client applied a pushed change); bounded. */
  const until = (c: CallClient, n: number, headers: Record<string, string>, ok: (r: RunResult) => boolean) =>
    eventually(async () => {
      const r = await c.run(n, headers);
      return r.errors === 0 && ok(r) ? r : undefined;
    }, 10_000, 0);

  const expectSplit = (r: RunResult, heavy: string, light: string) => {
    expect(r.errors, describeRun(r)).toBe(0);
    expect(total(r)).toBe(SPLIT_CALLS);
    expect(share(r, heavy), describeRun(r)).toBeGreaterThanOrEqual(0.75 - SPLIT_TOLERANCE);
    expect(share(r, heavy), describeRun(r)).toBeLessThanOrEqual(0.75 + SPLIT_TOLERANCE);
    expect((r.counts[heavy] ?? 0) + (r.counts[light] ?? 0)).toBe(SPLIT_CALLS);
  };

  beforeAll(async () => {
    try {
      execFileSync(PYTHON, ['-c', 'import grpc'], { stdio: 'pipe' });
    } catch {
      throw new Error(`${PYTHON} cannot import grpc: run \`make deps\` (installs Debian's python3-grpcio)`);
    }
    cp = await startControlPlane();
    adminToken = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
    backends = await Promise.all([startApp('grpc', 'a'), startApp('grpc', 'b')]);
    dir = tempDir('weft-ccore-');
    await apply(
      'greeter.yaml',
      `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
  endpoints:
    - { address: 127.0.0.1, port: ${backends[0]!.port}, labels: { version: a } }
    - { address: 127.0.0.1, port: ${backends[1]!.port}, labels: { version: b } }
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
    // The bootstrap file a C-core client reads (GRPC_XDS_BOOTSTRAP), as docs/xds.md shows it.
    const bootstrap = join(dir, 'bootstrap.json');
    writeFileSync(
      bootstrap,
      JSON.stringify({
        xds_servers: [{ server_uri: `127.0.0.1:${cp.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
        node: { id: CCORE_ID, locality: { zone: 'zone-a' } },
      }),
    );
    const py = spawn(PYTHON, [join(ROOT, 'test/harness/ccore-xds-client.py'), 'greeter', '--quiet', '--run-timeout', '20'], {
      cwd: ROOT,
      env: { ...process.env, GRPC_XDS_BOOTSTRAP: bootstrap },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    process.once('exit', () => py.kill('SIGKILL'));
    ccore = new CallClient(py);
    grpcJsProc = spawnNode([join(ROOT, 'test/harness/xds-client.mjs')], { env: { XDS_SERVER: `127.0.0.1:${cp.xdsPort}`, TARGET: 'greeter', NODE_ID: GRPCJS_ID } });
    grpcJs = new CallClient(grpcJsProc.proc);
    await Promise.all([ccore.ready(), grpcJs.ready()]);
  });

  afterAll(async () => {
    await ccore?.kill();
    await grpcJs?.kill();
    await Promise.all(backends.map((b) => b.kill()));
    await cp?.kill();
  });

  it('balances round robin across both backends; both clients SYNCED', async () => {
    const r = await ccore.run(200);
    expect(r.errors, r.lastError).toBe(0);
    // Strict alternation once both subchannels are READY; the first calls may all go to the first.
    expect(share(r, 'a'), describeRun(r)).toBeGreaterThanOrEqual(0.4);
    expect(share(r, 'b'), describeRun(r)).toBeGreaterThanOrEqual(0.4);
    expect((await grpcJs.run(20)).errors).toBe(0);
    await synced(undefined, true);
  });

  it('follows a 3:1 weighted split applied live (weights sum to 4, not 100)', async () => {
    const before = await routeVersions();
    await apply(
      'split.yaml',
      `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter-routes }
spec:
  parentRefs: [{ kind: Service, name: greeter }]
  rules:
    - backendRefs:
        - { name: greeter, subset: a, weight: 3 }
        - { name: greeter, subset: b, weight: 1 }
`,
    );
    await synced(before);
    for (const c of [ccore, grpcJs]) {
      await until(c, 100, {}, (r) => share(r, 'a') > 0.62);
      expectSplit(await c.run(SPLIT_CALLS), 'a', 'b');
    }
  });

  it('routes on exact and regex header matches; other calls keep the split', async () => {
    const before = await routeVersions();
    await apply(
      'split.yaml',
      `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter-routes }
spec:
  parentRefs: [{ kind: Service, name: greeter }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: greeter, subset: b }]
    - matches: [{ headers: [{ name: x-user, type: RegularExpression, value: "beta-[0-9]+|gamma" }] }]
      backendRefs: [{ name: greeter, subset: a }]
    - backendRefs:
        - { name: greeter, subset: a, weight: 3 }
        - { name: greeter, subset: b, weight: 1 }
`,
    );
    await synced(before);
    await until(ccore, 20, { 'x-canary': 'yes' }, (r) => r.counts.b === 20);
    expect((await ccore.run(100, { 'x-canary': 'yes' })).counts).toEqual({ b: 100 });
    for (const user of ['beta-7', 'gamma']) expect((await ccore.run(100, { 'x-user': user })).counts).toEqual({ a: 100 });
    // A regex header match is a full match: these fall through to the 3:1 split, so b answers
    // some of 200 calls (all 200 to a under the split: 0.75^200, never).
    for (const user of ['beta-7x', 'xgamma']) {
      const r = await ccore.run(200, { 'x-user': user });
      expect(r.errors, r.lastError).toBe(0);
      expect(r.counts.b ?? 0, `${user}: ${describeRun(r)}`).toBeGreaterThan(0);
    }
    expectSplit(await ccore.run(SPLIT_CALLS), 'a', 'b');
  });

  it('follows a live change of the header route and the split, then the route deleted', async () => {
    let before = await routeVersions();
    await apply(
      'split.yaml',
      `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter-routes }
spec:
  parentRefs: [{ kind: Service, name: greeter }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: greeter, subset: a }]
    - backendRefs:
        - { name: greeter, subset: a, weight: 1 }
        - { name: greeter, subset: b, weight: 3 }
`,
    );
    await synced(before);
    await until(ccore, 20, { 'x-canary': 'yes' }, (r) => r.counts.a === 20);
    expect((await ccore.run(100, { 'x-canary': 'yes' })).counts).toEqual({ a: 100 });
    await until(ccore, 100, {}, (r) => share(r, 'b') > 0.62);
    expectSplit(await ccore.run(SPLIT_CALLS), 'b', 'a');

    before = await routeVersions();
    expect((await weft(['delete', 'grpcroute', 'greeter-routes'], { cp })).code).toBe(0);
    await synced(before, true);
    const even = await until(ccore, 100, { 'x-canary': 'yes' }, (r) => share(r, 'b') >= 0.4 && share(r, 'a') >= 0.4);
    expect(even.errors).toBe(0);
  });
});

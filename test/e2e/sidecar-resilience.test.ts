// Resilience in the sidecar with real processes: retries with body replay, route timeouts and
// circuit breakers answered with x-weft-error, an instance killed under load (outlier ejection
// plus retries keep success >= 99.9%), draining on SIGTERM with zero failed requests, and a
// control plane that dies and comes back while traffic keeps flowing.
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, load, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc, figure } from '../harness/processes.js';

const ORDERS = 'outbound|8080||orders.default';
const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { kind: Service, name: orders }
  outlierDetection: { consecutiveGatewayErrors: 2, consecutive5xx: 5, interval: 1s, baseEjectionTime: 60s, maxEjectionPercent: 50 }
  retry: { attempts: 3, retryOn: [5xx, reset, connect-failure] }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: pay }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: pay }
spec:
  parentRefs: [{ kind: Service, name: pay }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /flaky } }]
      retry: { attempts: 3, retryOn: [5xx], backoff: { baseInterval: 10ms } }
      backendRefs: [{ name: pay }]
    - matches: [{ path: { type: PathPrefix, value: /slow } }]
      timeouts: { request: 300ms }
      backendRefs: [{ name: pay }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: tight }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: tight }
spec:
  targetRef: { kind: Service, name: tight }
  connectionPool: { maxConnections: 1, maxPendingRequests: 1, maxRequests: 2 }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
`;

function request(port: number, host: string, path: string, method = 'GET', body?: string): Promise<{ status: number; error?: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers: { host, ...(body ? { 'content-type': 'text/plain' } : {}) }, agent: false }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c));
      res.on('end', () => resolve({ status: res.statusCode!, error: res.headers['x-weft-error'] as string | undefined, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function metric(admin: string, name: string, cluster: string): Promise<number> {
  const text = await (await fetch(`${admin}/stats/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{cluster="${cluster}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('resilience', () => {
  let cp: ControlPlaneProc;
  let a: SidecarProc;
  let orders: Instance[] = [];
  let pay: Instance;
  let tight: Instance;

  beforeAll(async () => {
    // A long registry grace: a killed instance stays in EDS, so outlier detection must act.
    cp = await startControlPlane({ extraArgs: ['--registry-grace', '60s'] });
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, MESH);
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    const all = await Promise.all([
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'),
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-2'),
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-3'),
      startInstance(cp.xdsPort, 'http', 'pay', 'pay-1'),
      startInstance(cp.xdsPort, 'http', 'tight', 'tight-1'),
    ]);
    orders = all.slice(0, 3);
    [pay, tight] = all.slice(3) as [Instance, Instance];
    a = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1 });
    await waitForHosts(a, ORDERS, 3);
    await waitForHosts(a, 'outbound|8080||pay.default', 1);
    await waitForHosts(a, 'outbound|8080||tight.default', 1);
  });
  afterAll(async () => {
    await Promise.all([a?.kill('SIGKILL'), ...orders.map((i) => i.kill()), pay?.kill(), tight?.kill(), cp?.kill()]);
  });

  it('retries a POST that got a 503 and replays its body', async () => {
    const r = await request(a.outboundPort, 'pay', '/flaky?key=k1&fail=1', 'POST', 'the-payload');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ name: 'pay-1', attempt: 2, body: 'the-payload' });
    expect(await metric(a.admin, 'weft_upstream_retries_total', 'outbound|8080||pay.default')).toBeGreaterThanOrEqual(1);
    // Three failures exhaust the three attempts: the last answer is passed on.
    const r2 = await request(a.outboundPort, 'pay', '/flaky?key=k2&fail=3', 'POST', 'x');
    expect(r2.status).toBe(503);
  });

  it('answers 504 UPSTREAM_TIMEOUT when the route timeout passes', async () => {
    const t0 = Date.now();
    const r = await request(a.outboundPort, 'pay', '/slow?ms=3000');
    expect(r.status).toBe(504);
    expect(r.error).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('answers 503 CIRCUIT_OPEN when a circuit breaker overflows', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, () => request(a.outboundPort, 'tight', '/slow?ms=400')));
    const open = results.filter((r) => r.status === 503 && r.error === 'CIRCUIT_OPEN');
    expect(open.length, JSON.stringify(results.map((r) => r.status))).toBeGreaterThanOrEqual(1);
    expect(results.filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(1);
    expect(await metric(a.admin, 'weft_upstream_overflow_total', 'outbound|8080||tight.default')).toBe(open.length);
  });

  it('keeps >= 99.9% success when an instance is killed under load, and ejects it', async () => {
    const r = await load(a.outboundPort, {
      host: 'orders',
      total: 2000,
      concurrency: 8,
      path: '/status/200',
      onProgress: async (done) => {
        if (done === 400) await orders[1]!.kill('SIGKILL');
      },
    });
    figure('instance killed under load', { sent: r.sent, ok: r.ok, successPct: (100 * r.ok) / r.sent, failures: r.failures });
    expect(r.sent).toBe(2000);
    expect(r.ok / r.sent, JSON.stringify(r.failures)).toBeGreaterThanOrEqual(0.999);
    // Still in EDS (60 s grace) but ejected by outlier detection.
    const clusters = (await (await fetch(`${a.admin}/clusters`)).json()) as Array<{ name: string; hosts: Array<{ address: string; health: string[] }> }>;
    const dead = clusters.find((c) => c.name === ORDERS)!.hosts.find((h) => h.address.endsWith(`:${orders[1]!.sidecar.inboundPort}`));
    expect(dead?.health, JSON.stringify(clusters.find((c) => c.name === ORDERS))).toContain("outlier_ejected");
    expect(await metric(a.admin, 'weft_upstream_ejections_total', ORDERS)).toBeGreaterThanOrEqual(1);
  });

  it('drains on SIGTERM with zero failed requests and exits 0', async () => {
    let exit: Promise<number | null> | undefined;
    const r = await load(a.outboundPort, {
      host: 'orders',
      total: 1500,
      concurrency: 8,
      path: '/slow?ms=20',
      onProgress: (done) => {
        if (done === 300) exit = orders[0]!.sidecar.kill('SIGTERM');
      },
    });
    const code = await exit;
    figure('SIGTERM during load', { sent: r.sent, ok: r.ok, failures: r.failures, exitCode: code });
    expect(r.failures).toEqual({});
    expect(r.ok).toBe(1500);
    expect(await exit).toBe(0);
    // It left the registry: only orders-3 (and the ejected, killed orders-2) remain.
    await eventually(async () => {
      const clusters = (await (await fetch(`${a.admin}/clusters`)).json()) as Array<{ name: string; hosts: Array<{ address: string }> }>;
      return !clusters.find((c) => c.name === ORDERS)!.hosts.some((h) => h.address.endsWith(`:${orders[0]!.sidecar.inboundPort}`));
    });
  });

  it('serves 10 s of traffic with the control plane down, and resyncs when it returns', async () => {
    const { dataDir, xdsPort, xdsTlsPort } = cp;
    await cp.kill('SIGKILL');
    const r = await load(a.outboundPort, { host: 'pay', total: 1_000_000, concurrency: 4, path: '/', timeoutMs: 10_000 });
    figure('control plane down, 10 s', { sent: r.sent, ok: r.ok, failures: r.failures });
    expect(r.sent).toBeGreaterThan(500);
    expect(r.failures).toEqual({});
    expect(r.ok).toBe(r.sent);
    cp = await startControlPlane({ dataDir, xdsPort, xdsTlsPort, extraArgs: ['--registry-grace', '60s'] });
    // Resynced: both sidecars reconnected, and each has acknowledged the new control plane's
    // current version of every type it uses (listeners, routes, clusters, endpoints).
    type Status = { nodeId: string; types: Partial<Record<string, { state: string; ackedVersion?: string }>> };
    const KINDS = ['listener', 'route', 'cluster', 'endpoint'];
    await eventually(async () => {
      const all = JSON.parse((await weft(['proxy-status', '-o', 'json'], { cp })).stdout) as Status[];
      return [a.id, pay.sidecar.id].every((id) => {
        const p = all.find((x) => x.nodeId === id);
        return p !== undefined && KINDS.every((k) => p.types[k]?.state === 'SYNCED');
      });
    }, 30_000, 500);
    const after = await load(a.outboundPort, { host: 'pay', total: 200, concurrency: 4, path: '/' });
    expect(after.ok).toBe(200);
  });
});

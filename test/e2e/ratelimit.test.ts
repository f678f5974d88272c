// Rate limits across replicas, through real processes: a control plane, one redis-server, and
// three proxies enforcing one RateLimitPolicy: a `weft gateway` (the policy targets its
// listener) and two sidecars of `orders` (the policy targets the Service: their inbound
// listeners). 1,500 requests for one tenant, spread over the three and sent concurrently, meet a
// limit of 600 per minute: 600 +/- 1 % are admitted in total (the Lua script makes it exact),
// and the proxies' /stats/prometheus counters say the same. Then Redis is stopped: the policy
// fails closed (503 RATE_LIMIT_UNAVAILABLE on every proxy), failed_closed and the Redis-up
// gauge show it, and once Redis is back the proxies count again.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, startControlPlane, startGateway, startSidecar, weftApply, type ControlPlaneProc, type GatewayProc, type SidecarProc } from '../harness/processes.js';
import { startRedis, type RedisProc } from '../harness/redis.js';
import { edgeGateway } from '../harness/sidecar.js';

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function get(port: number, host: string, tenant: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/items', headers: { host, 'x-tenant': tenant }, agent, timeout: 10_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** One counter or gauge of a proxy's /stats/prometheus (summed over matching series). */
async function metric(admin: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${admin}/stats/prometheus`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('RateLimitPolicy: one limit across a gateway and two sidecars', () => {
  let cp: ControlPlaneProc;
  let redis: RedisProc;
  let gw: GatewayProc;
  let s1: SidecarProc;
  let s2: SidecarProc;
  let gwPort: number;
  let app: http.Server;
  let appHits = 0;
  /** [port, Host header] of each proxy's entry. */
  let entries: Array<[number, string]>;
  let admins: string[];

  beforeAll(async () => {
    app = http.createServer((_req, res) => {
      appHits++;
      res.end('ok');
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    const appPort = (app.address() as AddressInfo).port;
    [cp, redis, gwPort] = await Promise.all([startControlPlane(), startRedis(), freePort()]);
    const yaml = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: DISABLE }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: catalog }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
  endpoints: [{ address: 127.0.0.1, port: ${appPort} }]
---
${edgeGateway([{ name: 'web', port: gwPort }], '[{ backendRefs: [{ name: catalog, port: 8080 }] }]')}---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: tenant-limits }
spec:
  targetRefs:
    - { group: gateway.networking.k8s.io, kind: Gateway, name: edge }
    - { group: weft.dev, kind: Service, name: orders }
  redis: { address: "${redis.address}", timeout: 250ms }
  failMode: closed
  rules:
    - { name: per-tenant, descriptor: [{ header: x-tenant }], requests: 600, unit: minute }
`;
    const r = await weftApply(cp, yaml, 'ratelimit.yaml');
    expect(r.code, r.stderr).toBe(0);
    [gw, s1, s2] = await Promise.all([
      startGateway(cp.xdsPort, 'default/edge'),
      startSidecar(cp.xdsPort, { service: 'orders', appPort }),
      startSidecar(cp.xdsPort, { service: 'orders', appPort }),
    ]);
    entries = [[gwPort, 'api.example'], [s1.inboundPort, 'orders'], [s2.inboundPort, 'orders']];
    admins = [gw.admin, s1.admin, s2.admin];
    // Every proxy serves with the policy and reaches Redis (fail closed answers 503 until then).
    for (const [port, host] of entries) {
      await eventually(async () => {
        const x = await get(port, host, 'warmup').catch(() => undefined);
        return x?.status === 200 && x.headers.ratelimit !== undefined ? x : undefined;
      }, 30_000, 100);
    }
  }, 120_000);

  afterAll(async () => {
    agent.destroy();
    await Promise.all([gw?.kill(), s1?.kill(), s2?.kill(), cp?.kill(), redis?.stop()]);
    app?.closeAllConnections();
    app?.close();
  });

  it('admits 600 +/- 1 % of 1,500 concurrent requests in total, whichever proxy they reach', async () => {
    const TOTAL = 1500;
    const CONCURRENCY = 48;
    const statuses = new Map<number, number>();
    let next = 0;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < TOTAL && Date.now() - t0 < 40_000) {
          const i = next++;
          const [port, host] = entries[i % 3]!;
          const r = await get(port, host, 'acme');
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      }),
    );
    const ok = statuses.get(200) ?? 0;
    const limited = statuses.get(429) ?? 0;
    expect(ok + limited, JSON.stringify([...statuses])).toBe(TOTAL);
    expect(ok).toBeGreaterThanOrEqual(594);
    expect(ok).toBeLessThanOrEqual(606);
    // What the proxies counted agrees (warm-up requests are another tenant, also counted: 3).
    const allowed = (await Promise.all(admins.map((a) => metric(a, 'weft_ratelimit_decisions_total', { policy: 'default/tenant-limits', rule: 'per-tenant', result: 'allowed' })))).reduce((a, b) => a + b, 0);
    const refused = (await Promise.all(admins.map((a) => metric(a, 'weft_ratelimit_decisions_total', { rule: 'per-tenant', result: 'limited' })))).reduce((a, b) => a + b, 0);
    expect(allowed - 3).toBeGreaterThanOrEqual(ok);
    expect(refused).toBe(limited);
    // Each proxy took part: the limit is shared, not per replica.
    for (const a of admins) expect(await metric(a, 'weft_ratelimit_decisions_total', { rule: 'per-tenant', result: 'limited' })).toBeGreaterThan(0);
  }, 60_000);

  it('fails closed with Redis stopped (503 RATE_LIMIT_UNAVAILABLE, failed_closed, redis_up 0), and counts again once it is back', async () => {
    for (const a of admins) expect(await metric(a, 'weft_ratelimit_redis_up', {})).toBe(1);
    const hitsBefore = appHits;
    await redis.stop();
    for (const a of admins) await eventually(async () => (await metric(a, 'weft_ratelimit_redis_up', {})) === 0, 10_000, 50);
    for (const [port, host] of entries) {
      const r = await get(port, host, 'other');
      expect([r.status, r.headers['x-weft-error']]).toEqual([503, 'RATE_LIMIT_UNAVAILABLE']);
    }
    expect(appHits).toBe(hitsBefore);
    for (const a of admins) expect(await metric(a, 'weft_ratelimit_decisions_total', { rule: 'per-tenant', result: 'failed_closed' })).toBeGreaterThanOrEqual(1);
    // Back on the same port (empty: the counts were not persisted).
    redis = await startRedis({ port: redis.port });
    for (const [port, host] of entries) {
      await eventually(async () => (await get(port, host, 'other')).status === 200, 15_000, 100);
    }
    for (const a of admins) expect(await metric(a, 'weft_ratelimit_redis_up', {})).toBe(1);
  }, 60_000);
});

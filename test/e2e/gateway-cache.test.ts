// The gateway's HTTP cache through real processes: a control plane, a redis-server, and two
// `weft gateway` replicas of one Gateway (on 127.0.0.1 and 127.0.0.2, same port) whose CachePolicy
// stores in that Redis, in front of an origin this test runs and counts. One replica's response
// is the other's HIT; `weft cache purge --tag` through one replica's admin empties the shared store
// for both; 100 concurrent identical requests reach the origin once; and with Redis stopped the
// gateways fail open (requests still answered, by the origin).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, startControlPlane, startGateway, weft, weftApply, type ControlPlaneProc, type GatewayProc } from '../harness/processes.js';
import { startRedis, type RedisProc } from '../harness/redis.js';

function get(host: string, port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, path, headers: { host: 'shop.example.com', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('weft gateway: a cache shared by replicas through Redis', () => {
  let cp: ControlPlaneProc;
  let redis: RedisProc;
  let a: GatewayProc;
  let b: GatewayProc;
  let port: number;
  let origin: http.Server;
  const seen: string[] = [];
  /** Responses to /slow wait here until the test lets them go. */
  const held: Array<() => void> = [];

  const A = (path: string, h?: Record<string, string>) => get('127.0.0.1', port, path, h);
  const B = (path: string, h?: Record<string, string>) => get('127.0.0.2', port, path, h);
  const count = (path: string) => seen.filter((u) => u === path).length;

  beforeAll(async () => {
    origin = http.createServer((req, res) => {
      seen.push(req.url!);
      const tag = /tag=([\w-]+)/.exec(req.url!)?.[1] ?? 'none';
      const send = () => {
        res.writeHead(200, { 'cache-control': 'max-age=300', 'cache-tag': tag, 'content-type': 'text/plain' });
        res.end(`origin ${req.url}`);
      };
      if (req.url!.startsWith('/slow')) held.push(send);
      else send();
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const originPort = (origin.address() as AddressInfo).port;
    [cp, redis, port] = await Promise.all([startControlPlane(), startRedis(), freePort()]);
    const yaml = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: DISABLE }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: origin }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
  endpoints: [{ address: 127.0.0.1, port: ${originPort} }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: ${port}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: origin, port: 8080 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: edge-cache }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  redis: { address: "${redis.address}" }
`;
    const r = await weftApply(cp, yaml, 'cache.yaml');
    expect(r.code, r.stderr).toBe(0);
    [a, b] = await Promise.all([startGateway(cp.xdsPort, 'default/edge'), startGateway(cp.xdsPort, 'default/edge', { extraArgs: ['--listen-address', '127.0.0.2'] })]);
    // Both replicas serve, and both reach Redis (a store fails open until it is connected).
    for (const g of [A, B]) {
      await eventually(async () => {
        const x = await g('/warmup').catch(() => undefined);
        return x?.headers['x-cache'] === 'HIT' ? x : undefined;
      }, 30_000, 100);
    }
  }, 120_000);

  afterAll(async () => {
    for (const f of held.splice(0)) f();
    await Promise.all([a?.kill(), b?.kill(), cp?.kill(), redis?.stop()]);
    origin?.closeAllConnections();
    origin?.close();
  });

  it('answers one replica from what the other stored', async () => {
    const first = await A('/item?tag=t1');
    // The store is written as the response ends (the client does not wait for Redis), so the
    // other replica sees it a moment later: ask it with only-if-cached, which never reaches the origin.
    const second = await eventually(async () => {
      const x = await B('/item?tag=t1', { 'cache-control': 'only-if-cached' });
      return x.status === 200 ? x : undefined;
    }, 5000, 20);
    expect([first.headers['x-cache'], second.headers['x-cache'], second.body, count('/item?tag=t1')]).toEqual(['MISS', 'HIT', 'origin /item?tag=t1', 1]);
  });

  it('weft cache purge --tag through one replica empties the store for both', async () => {
    await A('/p1?tag=product-1');
    await A('/p2?tag=other');
    for (const path of ['/p1?tag=product-1', '/p2?tag=other']) await eventually(async () => (await B(path, { 'cache-control': 'only-if-cached' })).status === 200, 5000, 20);
    const purge = await weft(['cache', 'purge', '--admin', `127.0.0.1:${a.adminPort}`, '--tag', 'product-1']);
    expect(purge.code, purge.stderr).toBe(0);
    expect(purge.stdout).toMatch(/default\/edge-cache\s+1/);
    // Neither replica has it now (only-if-cached: answered from the cache or 504, the origin untouched) ...
    expect((await A('/p1?tag=product-1', { 'cache-control': 'only-if-cached' })).status).toBe(504);
    expect((await B('/p1?tag=product-1', { 'cache-control': 'only-if-cached' })).status).toBe(504);
    expect((await B('/p2?tag=other', { 'cache-control': 'only-if-cached' })).headers['x-cache']).toBe('HIT');
    // ... and the next request is a MISS from the origin.
    expect((await B('/p1?tag=product-1')).headers['x-cache']).toBe('MISS');
    expect(count('/p1?tag=product-1')).toBe(2);
  });

  it('weft cache purge --key removes one URL', async () => {
    await A('/k?tag=x');
    await eventually(async () => (await A('/k?tag=x', { 'cache-control': 'only-if-cached' })).status === 200, 5000, 20);
    const purge = await weft(['cache', 'purge', '--admin', `127.0.0.1:${b.adminPort}`, '--key', `http://shop.example.com/k?tag=x`]);
    expect(purge.code, purge.stderr).toBe(0);
    expect((await A('/k?tag=x', { 'cache-control': 'only-if-cached' })).status).toBe(504);
  });

  it('weft cache purge refuses bad usage and reports an unreachable admin', async () => {
    const both = await weft(['cache', 'purge', '--admin', '127.0.0.1:1', '--tag', 'a', '--key', 'b']);
    expect([both.code, both.stderr]).toEqual([2, expect.stringContaining('give exactly one of --tag or --key')]);
    const down = await weft(['cache', 'purge', '--admin', `127.0.0.1:${await freePort()}`, '--tag', 'a']);
    expect([down.code, down.stderr]).toEqual([1, expect.stringContaining('cannot reach')]);
  });

  it('sends 100 concurrent identical requests to the origin once', async () => {
    const all = Promise.all(Array.from({ length: 100 }, () => A('/slow?tag=s')));
    // All 100 are in the gateway (one at the origin, 99 waiting on it) before the origin answers.
    await eventually(async () => {
      const text = await (await fetch(`${a.admin}/stats/prometheus`)).text();
      return held.length >= 1 && Number(/^weft_downstream_requests_active\{listener="gateway\.web"\} (\d+)/m.exec(text)?.[1]) === 100;
    }, 20_000, 50);
    for (const f of held.splice(0)) f();
    const rs = await all;
    expect(count('/slow?tag=s')).toBe(1);
    expect(rs.every((r) => r.status === 200 && r.body === 'origin /slow?tag=s')).toBe(true);
    expect(rs.filter((r) => r.headers['x-cache'] === 'HIT').length).toBe(99);
  });

  it('fails open when Redis is down: requests are answered by the origin', async () => {
    await redis.stop();
    const r1 = await A('/down');
    const r2 = await B('/down');
    expect([r1.status, r2.status, r1.headers['x-cache'], r2.headers['x-cache'], count('/down')]).toEqual([200, 200, 'MISS', 'MISS', 2]);
    const text = await (await fetch(`${a.admin}/stats/prometheus`)).text();
    expect(Number(/^weft_cache_store_errors_total\{store="default\/edge-cache"\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0);
  });
});

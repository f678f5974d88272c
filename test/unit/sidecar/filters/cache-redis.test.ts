// The HTTP cache filter with its Redis store, in process: two gateways (two replicas) in front of
// one origin share what either stored; a Vary'd stale entry revalidated through one replica is
// fresh for both; and with Redis stopped every request still gets its answer from the origin
// (fail open), counted as store errors.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../harness/processes.js';
import { startRedis, type RedisProc } from '../../../harness/redis.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';
import type { RedisStore } from '../../../../sidecar/http/cache/redis-store.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: origin, port: 8080 }] }]
`;
const policy = (address: string) => `apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: shared }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  redis: { address: "${address}", commandTimeout: 200ms }
`;

function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  if (req.url!.startsWith('/vary-stale')) {
    if (req.headers['if-none-match'] === '"vs"') return void res.writeHead(304, { 'cache-control': 'max-age=60', etag: '"vs"' }).end();
    res.writeHead(200, { 'cache-control': 'max-age=60', age: '100', vary: 'Accept-Encoding', etag: '"vs"' });
    return void res.end(String(req.headers['accept-encoding']));
  }
  res.writeHead(200, { 'cache-control': 'max-age=60' });
  res.end(`origin ${req.url}`);
}

describe('HTTP cache filter with a Redis store', () => {
  let redis: RedisProc;
  let origin: Upstream;
  let a: InProcessGateway;
  let b: InProcessGateway;
  const via = (g: InProcessGateway, path: string, headers: Record<string, string> = {}) => send(g.port(), path, { host: 'shop.example', headers });
  const seen = (path: string) => origin.seen.filter((s) => s.url === path).length;
  const connected = (g: InProcessGateway) => Promise.all(g.runtime.caches.all().map((h) => (h.store as RedisStore).connected()));

  beforeAll(async () => {
    [redis, origin] = await Promise.all([startRedis(), upstream(answer)]);
    const yaml = [PLAINTEXT_MESH, GATEWAY, service('origin', [origin.port]), ROUTE, policy(redis.address)];
    [a, b] = await Promise.all([inProcessGateway(yaml, 'default/edge'), inProcessGateway(yaml, 'default/edge')]);
    await Promise.all([connected(a), connected(b)]);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await origin?.close();
    await redis?.stop();
  });

  it('shares stored responses between replicas', async () => {
    expect((await via(a, '/x')).headers['x-cache']).toBe('MISS');
    const hit = await eventually(async () => {
      const r = await via(b, '/x', { 'cache-control': 'only-if-cached' });
      return r.status === 200 ? r : undefined;
    }, 5000, 20);
    expect([hit.headers['x-cache'], hit.body, seen('/x')]).toEqual(['HIT', 'origin /x', 1]);
  });

  it('a Vary\'d stale entry revalidated through one replica is fresh for both, per variant', async () => {
    expect((await via(a, '/vary-stale', { 'accept-encoding': 'gzip' })).headers['x-cache']).toBe('MISS');
    await eventually(async () => (await via(b, '/vary-stale', { 'accept-encoding': 'gzip', 'cache-control': 'only-if-cached, max-stale' })).status === 200, 5000, 20);
    const reval = await via(b, '/vary-stale', { 'accept-encoding': 'gzip' });
    expect([reval.headers['x-cache'], reval.body, seen('/vary-stale')]).toEqual(['REVALIDATED', 'gzip', 2]);
    const fresh = await eventually(async () => {
      const r = await via(a, '/vary-stale', { 'accept-encoding': 'gzip', 'cache-control': 'only-if-cached' });
      return r.status === 200 ? r : undefined;
    }, 5000, 20);
    expect([fresh.headers['x-cache'], fresh.body, seen('/vary-stale')]).toEqual(['HIT', 'gzip', 2]);
  });

  it('fails open while Redis is down', async () => {
    await redis.stop();
    const r = await via(a, '/down');
    const r2 = await via(b, '/down');
    expect([r.status, r.body, r2.status, seen('/down')]).toEqual([200, 'origin /down', 200, 2]);
    expect(a.runtime.caches.all()[0]!.store.stats.errors).toBeGreaterThan(0);
  });
});

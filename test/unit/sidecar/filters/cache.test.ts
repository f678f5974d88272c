// The HTTP cache filter in process: a CachePolicy targeting a Gateway (and others named by route
// rules), through the translator, the sidecar's decoders and a real gateway listener, in front of
// a scripted origin that counts what reaches it. A table of RFC 9111 cases checks, per request,
// the x-cache status, Age, and how many requests the origin saw; then coalescing (100 identical
// concurrent misses reach the origin once), revalidation with 304, route overrides and opt-outs,
// LRU eviction, purge through the admin endpoint, and configs the sidecar refuses.
import http from 'node:http';
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CacheConfigSchema } from '../../../../proto/gen/envoy/extensions/filters/http/cache/v3/cache_pb.js';
import { MemoryHttpCacheConfigSchema, RedisHttpCacheConfigSchema } from '../../../../proto/gen/weft/v1/cache_pb.js';
import { SimpleHttpCacheConfigSchema } from '../../../../proto/gen/envoy/extensions/http/cache/simple_http_cache/v3/config_pb.js';
import { cache } from '../../../../sidecar/http/filters/cache.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import { localAdmin, serveAdmin, type AdminState } from '../../../../sidecar/admin/server.js';
import { eventually } from '../../../harness/processes.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
`;
const ref = (name: string) => `      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CachePolicy, name: ${name} } }]\n`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /heuristic } }]
${ref('heuristic')}      backendRefs: [{ name: origin, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /nocache } }]
${ref('off')}      backendRefs: [{ name: origin, port: 8080 }]
    - backendRefs: [{ name: origin, port: 8080 }]
`;
const POLICIES = `apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: edge-cache }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  maxBytes: 1Mi
  maxObjectBytes: 4Ki
  allowedVaryHeaders: [accept-encoding]
---
apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: heuristic }
spec:
  defaultTtl: 60s
  statusHeader: x-edge-cache
---
apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: off }
spec: { disabled: true }
`;

/** What the origin answers per path (the query is ignored); an ETag'd answer honours If-None-Match. */
interface Answer {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string;
  /** On a matching If-None-Match: a 304 with these headers. */
  notModified?: Record<string, string>;
}
const now = () => new Date().toUTCString();
const ANSWERS: Record<string, Answer | (() => Answer)> = {
  '/max-age': { headers: { 'cache-control': 'max-age=60' }, body: 'max-age' },
  '/s-maxage': { headers: { 'cache-control': 'max-age=0, s-maxage=60' } },
  '/no-store': { headers: { 'cache-control': 'no-store, max-age=60' } },
  '/private': { headers: { 'cache-control': 'private, max-age=60' } },
  '/no-cache': { headers: { 'cache-control': 'no-cache', etag: '"v1"' }, notModified: { 'cache-control': 'no-cache', etag: '"v1"' } },
  '/expires': () => ({ headers: { expires: new Date(Date.now() + 60_000).toUTCString(), date: now() } }),
  '/expired': () => ({ headers: { expires: 'Thu, 01 Jan 1970 00:00:00 GMT', date: now() } }),
  '/no-lifetime': { headers: {} },
  '/authz': { headers: { 'cache-control': 'max-age=60' } },
  '/authz-public': { headers: { 'cache-control': 'public, max-age=60' } },
  '/vary-star': { headers: { 'cache-control': 'max-age=60', vary: '*' } },
  '/vary-ae': { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' } },
  '/vary-stale': { headers: { 'cache-control': 'max-age=60', age: '100', vary: 'Accept-Encoding', etag: '"vs"' }, notModified: { 'cache-control': 'max-age=60', etag: '"vs"' } },
  '/vary-other': { headers: { 'cache-control': 'max-age=60', vary: 'X-Custom' } },
  '/etag': { headers: { 'cache-control': 'max-age=60', etag: '"e1"', 'last-modified': 'Mon, 01 Jun 2026 00:00:00 GMT' }, body: 'etag-body', notModified: { 'cache-control': 'max-age=60', etag: '"e1"' } },
  '/plain': { headers: { 'cache-control': 'max-age=60' } },
  '/aged': { headers: { 'cache-control': 'max-age=100', age: '30' } },
  '/stale': { headers: { 'cache-control': 'max-age=60', age: '100' } },
  '/stale-must': { headers: { 'cache-control': 'max-age=60, must-revalidate', age: '100' } },
  '/stale-etag': { headers: { 'cache-control': 'max-age=60', age: '100', etag: '"s1"' }, notModified: { 'cache-control': 'max-age=60', etag: '"s1"' } },
  '/cookie': { headers: { 'cache-control': 'max-age=60', 'set-cookie': 'a=b' } },
  '/big': { headers: { 'cache-control': 'max-age=60' }, body: 'x'.repeat(5000) },
  '/status-500': { status: 500, headers: { 'cache-control': 'max-age=60' } },
  '/status-404': { status: 404, headers: { 'cache-control': 'max-age=60' } },
  '/tagged': { headers: { 'cache-control': 'max-age=60', 'cache-tag': 'product-1, shelf', 'surrogate-key': 'sk1' } },
  '/heuristic': { headers: {} },
  '/nocache': { headers: { 'cache-control': 'max-age=60' } },
};

function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0]!;
  const a0 = ANSWERS[path] ?? { headers: { 'cache-control': 'max-age=60' } };
  const a = typeof a0 === 'function' ? a0() : a0;
  if (a.notModified && req.headers['if-none-match'] === a.headers?.etag) {
    res.writeHead(304, a.notModified);
    return void res.end();
  }
  res.writeHead(a.status ?? 200, a.headers ?? {});
  res.end(path === '/vary-stale' ? String(req.headers['accept-encoding']) : (a.body ?? `body of ${req.url}`));
}

// Age counts from the origin's Date (RFC 9111 §4.2.3 apparent_age), which has one-second
// resolution: a response a few ms old may be 1 s old by its Date, so Age checks allow that second.
type Step = [headers: Record<string, string>, status: string | number, originCount: number, check?: (r: Awaited<ReturnType<typeof send>>) => void];

describe('HTTP cache filter', () => {
  let origin: Upstream;
  let gw: InProcessGateway;
  let n = 0;
  /** Each case gets its own URLs (a query), so cases do not see each other's entries. */
  const url = (path: string) => `${path}?case=${n}`;
  const seen = (path: string) => origin.seen.filter((s) => s.url === url(path));
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => send(gw.port(), url(path), { host: 'shop.example', headers, method });

  beforeAll(async () => {
    origin = await upstream((q, s) => answer(q, s));
    gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('origin', [origin.port]), ROUTE, POLICIES], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await origin?.close();
  });
  afterEach(() => void n++);

  it.each<[string, string, Step[]]>([
    ['max-age: stored, then a HIT with Age', '/max-age', [[{}, 'MISS', 1], [{}, 'HIT', 1, (r) => (expect(['0', '1']).toContain(r.headers.age), expect(r.body).toBe('max-age'))]]],
    ['s-maxage wins over max-age=0 in a shared cache', '/s-maxage', [[{}, 'MISS', 1], [{}, 'HIT', 1]]],
    ['response no-store: never stored', '/no-store', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['response private: not stored by a shared cache', '/private', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['response no-cache: stored, but every use revalidated (304)', '/no-cache', [[{}, 'MISS', 1], [{}, 'REVALIDATED', 2], [{}, 'REVALIDATED', 3]]],
    ['Expires in the future: fresh', '/expires', [[{}, 'MISS', 1], [{}, 'HIT', 1]]],
    ['Expires in the past, no validator: refetched', '/expired', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['no lifetime and no heuristic: not stored', '/no-lifetime', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['Authorization without public/s-maxage: not stored', '/authz', [[{ authorization: 'Bearer a' }, 'MISS', 1], [{ authorization: 'Bearer a' }, 'MISS', 2]]],
    ['Authorization with public: stored', '/authz-public', [[{ authorization: 'Bearer a' }, 'MISS', 1], [{ authorization: 'Bearer b' }, 'HIT', 1]]],
    ['Vary: * is never stored', '/vary-star', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['Vary: Accept-Encoding keeps one variant per value', '/vary-ae', [
      [{ 'accept-encoding': 'gzip' }, 'MISS', 1], [{ 'accept-encoding': 'gzip' }, 'HIT', 1], [{ 'accept-encoding': 'br' }, 'MISS', 2], [{ 'accept-encoding': 'br' }, 'HIT', 2], [{ 'accept-encoding': 'gzip' }, 'HIT', 2],
    ]],
    ['a revalidated variant stays that variant', '/vary-stale', [
      [{ 'accept-encoding': 'gzip' }, 'MISS', 1], [{ 'accept-encoding': 'br' }, 'MISS', 2], [{ 'accept-encoding': 'gzip' }, 'REVALIDATED', 3, (r) => expect(r.body).toBe('gzip')], [{ 'accept-encoding': 'gzip' }, 'HIT', 3, (r) => expect(r.body).toBe('gzip')], [{ 'accept-encoding': 'br' }, 'REVALIDATED', 4, (r) => expect(r.body).toBe('br')],
    ]],
    ['Vary on a header not in allowedVaryHeaders: not stored', '/vary-other', [[{ 'x-custom': 'a' }, 'MISS', 1], [{ 'x-custom': 'a' }, 'MISS', 2]]],
    ['request no-cache: revalidates a fresh entry', '/etag', [[{}, 'MISS', 1], [{ 'cache-control': 'no-cache' }, 'REVALIDATED', 2, (r) => expect(r.body).toBe('etag-body')], [{}, 'HIT', 2]]],
    ['Pragma: no-cache (no Cache-Control) as no-cache', '/etag', [[{}, 'MISS', 1], [{ pragma: 'no-cache' }, 'REVALIDATED', 2]]],
    ['request no-cache without a validator: refetched', '/plain', [[{}, 'MISS', 1], [{ 'cache-control': 'no-cache' }, 'MISS', 2], [{}, 'HIT', 2]]],
    ['request max-age=0: revalidates', '/etag', [[{}, 'MISS', 1], [{ 'cache-control': 'max-age=0' }, 'REVALIDATED', 2]]],
    ['request no-store: answered, not stored', '/plain', [[{ 'cache-control': 'no-store' }, 'MISS', 1], [{}, 'MISS', 2], [{}, 'HIT', 2]]],
    ['only-if-cached with nothing stored: 504, origin untouched', '/plain', [[{ 'cache-control': 'only-if-cached' }, 504, 0, (r) => expect(r.headers['x-weft-error']).toBe('CACHE_ONLY_IF_CACHED')], [{}, 'MISS', 1], [{ 'cache-control': 'only-if-cached' }, 'HIT', 1]]],
    ['Age from the origin carries into current_age', '/aged', [[{}, 'MISS', 1], [{}, 'HIT', 1, (r) => expect([30, 31]).toContain(Number(r.headers.age))]]],
    ['stale entry: refetched without validators', '/stale', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['stale entry within max-stale: STALE', '/stale', [[{}, 'MISS', 1], [{ 'cache-control': 'max-stale=100' }, 'STALE', 1, (r) => expect(Number(r.headers.age)).toBeGreaterThanOrEqual(100)], [{ 'cache-control': 'max-stale' }, 'STALE', 1]]],
    ['stale entry past max-stale: refetched', '/stale', [[{}, 'MISS', 1], [{ 'cache-control': 'max-stale=10' }, 'MISS', 2]]],
    ['must-revalidate forbids serving stale', '/stale-must', [[{}, 'MISS', 1], [{ 'cache-control': 'max-stale' }, 'MISS', 2]]],
    ['stale entry with an ETag: revalidated with If-None-Match, 304 refreshes it', '/stale-etag', [[{}, 'MISS', 1], [{}, 'REVALIDATED', 2, (r) => expect(r.status).toBe(200)], [{}, 'HIT', 2]]],
    ['min-fresh beyond the remaining freshness: revalidated', '/etag', [[{}, 'MISS', 1], [{ 'cache-control': 'min-fresh=100' }, 'REVALIDATED', 2], [{ 'cache-control': 'min-fresh=10' }, 'HIT', 2]]],
    ['client If-None-Match answered 304 from the cache', '/etag', [[{}, 'MISS', 1], [{ 'if-none-match': '"e1"' }, 'HIT', 1, (r) => (expect(r.status).toBe(304), expect(r.body).toBe(''), expect(r.headers.etag).toBe('"e1"'))], [{ 'if-none-match': '"other"' }, 'HIT', 1, (r) => expect(r.status).toBe(200)]]],
    ['client If-Modified-Since answered 304 from the cache', '/etag', [[{}, 'MISS', 1], [{ 'if-modified-since': 'Tue, 02 Jun 2026 00:00:00 GMT' }, 'HIT', 1, (r) => expect(r.status).toBe(304)], [{ 'if-modified-since': 'Sun, 31 May 2026 00:00:00 GMT' }, 'HIT', 1, (r) => expect(r.status).toBe(200)]]],
    ['Set-Cookie responses are not stored', '/cookie', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['a body over maxObjectBytes streams through uncached', '/big', [[{}, 'MISS', 1, (r) => expect(r.body.length).toBe(5000)], [{}, 'MISS', 2, (r) => expect(r.body.length).toBe(5000)]]],
    ['500 is not a status the cache stores', '/status-500', [[{}, 'MISS', 1], [{}, 'MISS', 2]]],
    ['404 with max-age is stored', '/status-404', [[{}, 'MISS', 1], [{}, 'HIT', 1, (r) => expect(r.status).toBe(404)]]],
    ['Range requests bypass the cache', '/plain', [[{ range: 'bytes=0-1' }, 'BYPASS', 1], [{ range: 'bytes=0-1' }, 'BYPASS', 2], [{}, 'MISS', 3]]],
  ])('%s', async (_what, path, steps) => {
    for (const [i, [headers, status, count, check]] of steps.entries()) {
      const r = await get(path, headers);
      if (typeof status === 'number') expect(r.status, `step ${i}`).toBe(status);
      else expect(r.headers['x-cache'], `step ${i}`).toBe(status);
      expect(seen(path).length, `origin requests after step ${i}`).toBe(count);
      check?.(r);
    }
  });

  it('revalidates with the stored validators, not the client\'s', async () => {
    await get('/stale-etag');
    await get('/stale-etag', { 'if-none-match': '"client"' });
    const [, reval] = seen('/stale-etag');
    expect(reval!.headers['if-none-match']).toBe('"s1"');
  });

  it('HEAD is answered from a stored GET without a body; a HEAD miss is not stored', async () => {
    const head = await get('/plain', {}, 'HEAD');
    expect([head.headers['x-cache'], seen('/plain').length]).toEqual(['MISS', 1]);
    await get('/plain');
    const hit = await get('/plain', {}, 'HEAD');
    expect([hit.headers['x-cache'], hit.body, seen('/plain').length]).toEqual(['HIT', '', 2]);
    expect(hit.headers['content-length']).toBe(String('body of /plain?case=0'.replace('0', String(n)).length));
  });

  it('a successful POST invalidates the URL (RFC 9111 4.4)', async () => {
    expect((await get('/plain')).headers['x-cache']).toBe('MISS');
    expect((await get('/plain')).headers['x-cache']).toBe('HIT');
    const post = await get('/plain', {}, 'POST');
    expect(post.headers['x-cache']).toBeUndefined();
    await eventually(async () => (await get('/plain', { 'cache-control': 'only-if-cached' })).status === 504);
    expect((await get('/plain')).headers['x-cache']).toBe('MISS');
  });

  it('coalesces 100 concurrent identical misses into one origin request', async () => {
    const held: Array<() => void> = [];
    const slow = await upstream((q, s) => held.push(() => answer(q, s)));
    const g = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('origin', [slow.port]), ROUTE, POLICIES], 'default/edge');
    try {
      const all = Promise.all(Array.from({ length: 100 }, () => send(g.port(), '/max-age', { host: 'shop.example' })));
      const store = g.runtime.caches.all().find((h) => h.name === 'default/edge-cache')!;
      // Everyone is waiting: one at the origin, 99 on its flight.
      await eventually(() => held.length === 1 && store.inflight.get('http://shop.example/max-age')?.waiters.length === 99);
      held[0]!();
      const rs = await all;
      expect(slow.seen.length).toBe(1);
      expect(rs.every((r) => r.status === 200 && r.body === 'max-age')).toBe(true);
      expect(rs.filter((r) => r.headers['x-cache'] === 'MISS').length).toBe(1);
      expect(rs.filter((r) => r.headers['x-cache'] === 'HIT').length).toBe(99);
      expect(store.counters.coalesced).toBe(99);
    } finally {
      await g.close();
      await slow.close();
    }
  });

  it('coalesced requests go to the origin themselves when the response is not stored', async () => {
    const held: Array<() => void> = [];
    const slow = await upstream((q, s) => held.push(() => answer(q, s)));
    const g = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('origin', [slow.port]), ROUTE, POLICIES], 'default/edge');
    try {
      const all = Promise.all(Array.from({ length: 5 }, () => send(g.port(), '/private', { host: 'shop.example' })));
      const store = g.runtime.caches.all()[0]!;
      await eventually(() => held.length === 1 && store.inflight.get('http://shop.example/private')?.waiters.length === 4);
      held.shift()!();
      await eventually(() => held.length === 4);
      for (const h of held.splice(0)) h();
      const rs = await all;
      expect(slow.seen.length).toBe(5);
      expect(rs.every((r) => r.headers['x-cache'] === 'MISS')).toBe(true);
    } finally {
      await g.close();
      await slow.close();
    }
  });

  it('when the first request\'s client goes away, those waiting on it go to the origin themselves', async () => {
    const held: Array<{ go: () => void; res: http.ServerResponse }> = [];
    const slow = await upstream((q, s) => held.push({ go: () => answer(q, s), res: s }));
    const g = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('origin', [slow.port]), ROUTE, POLICIES], 'default/edge');
    try {
      const store = g.runtime.caches.all()[0]!;
      const leader = http.request({ host: '127.0.0.1', port: g.port(), path: '/max-age', headers: { host: 'shop.example' }, agent: false });
      leader.on('error', () => undefined);
      leader.end();
      await eventually(() => held.length === 1);
      const follower = send(g.port(), '/max-age', { host: 'shop.example' });
      await eventually(() => store.inflight.get('http://shop.example/max-age')?.waiters.length === 1);
      leader.destroy();
      // The follower is not left waiting on a response that will never come: it asks the origin.
      await eventually(() => held.length === 2);
      held[1]!.go();
      const r = await follower;
      expect([r.status, r.headers['x-cache'], r.body]).toEqual([200, 'MISS', 'max-age']);
    } finally {
      await g.close();
      await slow.close();
    }
  });

  it('a route rule\'s CachePolicy replaces the Gateway\'s (heuristic TTL, its own status header)', async () => {
    const a = await get('/heuristic');
    const b = await get('/heuristic');
    expect([a.headers['x-edge-cache'], b.headers['x-edge-cache'], b.headers['x-cache'], seen('/heuristic').length]).toEqual(['MISS', 'HIT', undefined, 1]);
  });

  it('a disabled CachePolicy on a rule turns caching off there', async () => {
    const a = await get('/nocache');
    const b = await get('/nocache');
    expect([a.headers['x-cache'], b.headers['x-cache'], seen('/nocache').length]).toEqual([undefined, undefined, 2]);
  });

  it('keeps entries across config pushes', async () => {
    await get('/plain');
    gw.apply([PLAINTEXT_MESH, GATEWAY, service('origin', [origin.port]), ROUTE, POLICIES]);
    expect((await get('/plain')).headers['x-cache']).toBe('HIT');
  });

  it('purges by tag and by URL through the admin endpoint', async () => {
    const state = { runtime: gw.runtime, listeners: [], xds: () => ({ versions: {} }), xdsConnected: () => true, xdsProtocol: () => 'sotw', draining: () => false, xdsCounters: new Map(), node: { id: 'edge-1', service: 'edge', namespace: 'default' } };
    const admin = await serveAdmin('127.0.0.1', 0, localAdmin(state as unknown as AdminState));
    const post = (body: string) => fetch(`http://127.0.0.1:${admin.address.port}/cache/purge`, { method: 'POST', body });
    try {
      await get('/tagged');
      await get('/plain');
      expect((await get('/tagged')).headers['x-cache']).toBe('HIT');
      const r = await post('{"tag":"shelf"}');
      expect(r.status).toBe(200);
      expect(((await r.json()) as { purged: Array<{ store: string; removed: number }> }).purged).toContainEqual({ store: 'default/edge-cache', removed: 1 });
      expect((await get('/tagged')).headers['x-cache']).toBe('MISS');
      expect((await post('{"tag":"sk1"}')).status).toBe(200);
      expect((await get('/tagged')).headers['x-cache']).toBe('MISS');
      expect((await get('/plain')).headers['x-cache']).toBe('HIT');
      expect((await post(JSON.stringify({ key: `http://shop.example${url('/plain')}` }))).status).toBe(200);
      expect((await get('/plain')).headers['x-cache']).toBe('MISS');
      expect((await post('{"tag":"a","key":"b"}')).status).toBe(400);
      expect((await post('nope')).status).toBe(400);
      expect((await fetch(`http://127.0.0.1:${admin.address.port}/cache/purge`)).status).toBe(405);
      const metrics = await (await fetch(`http://127.0.0.1:${admin.address.port}/stats/prometheus`)).text();
      const value = (re: RegExp) => Number(re.exec(metrics)?.[1]);
      expect(value(/^weft_cache_requests_total\{store="default\/edge-cache",result="hit"\} (\d+)/m)).toBeGreaterThan(0);
      expect(value(/^weft_cache_requests_total\{store="default\/edge-cache",result="miss"\} (\d+)/m)).toBeGreaterThan(0);
      expect(value(/^weft_cache_coalesced_total\{store="default\/edge-cache"\} (\d+)/m)).toBe(0);
      expect(value(/^weft_cache_entries\{store="default\/edge-cache"\} (\d+)/m)).toBe(gw.runtime.caches.all().find((h) => h.name === 'default/edge-cache')!.store.stats.entries);
      expect(value(/^weft_cache_bytes\{store="default\/edge-cache"\} (\d+)/m)).toBeGreaterThan(0);
    } finally {
      admin.server.close();
    }
  });
});

describe('HTTP cache config the sidecar refuses or takes', () => {
  const parse = (init: Parameters<typeof create<typeof CacheConfigSchema>>[1]) => {
    const p = new Problems('Listener');
    const c = cache.parse(anyPack(CacheConfigSchema, create(CacheConfigSchema, init)), p, 'f');
    return { c, errors: p.errors.map((e) => `${e.path}: ${e.message}`) };
  };
  const mem = (maxBytes: bigint, name = 'ns/x') => anyPack(MemoryHttpCacheConfigSchema, create(MemoryHttpCacheConfigSchema, { behavior: { name }, maxBytes }));

  it('takes Envoy\'s SimpleHttpCacheConfig and Weft\'s stores', () => {
    expect(parse({ typedConfig: anyPack(SimpleHttpCacheConfigSchema, create(SimpleHttpCacheConfigSchema)) }).errors).toEqual([]);
    expect(parse({ typedConfig: mem(1000n), maxBodyBytes: 10 }).c!.maxBodyBytes).toBe(10);
    expect(parse({ typedConfig: anyPack(RedisHttpCacheConfigSchema, create(RedisHttpCacheConfigSchema, { behavior: { name: 'a/b' }, address: '127.0.0.1:6379' })) }).c!.store).toMatchObject({ kind: 'redis', host: '127.0.0.1', port: 6379, commandTimeoutMs: 250 });
    expect(parse({ disabled: true }).c!.disabled).toBe(true);
  });

  it('refuses store bytes that do not decode, with the path, rather than throwing', () => {
    const p = new Problems('Listener');
    cache.parse(anyPack(CacheConfigSchema, create(CacheConfigSchema, { typedConfig: { typeUrl: 'type.googleapis.com/weft.v1.MemoryHttpCacheConfig', value: new Uint8Array([0xff, 0xff, 0xff]) } })), p, 'f');
    expect(p.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['f.typed_config: is not a weft.v1.MemoryHttpCacheConfig']);
  });

  it.each<[string, Parameters<typeof create<typeof CacheConfigSchema>>[1], string]>([
    ['no store', {}, 'f.typed_config: is required unless disabled is set'],
    ['key_creator_params', { typedConfig: mem(10n), keyCreatorParams: { excludeHost: true } }, 'f.key_creator_params: is not supported by the Weft sidecar (refused rather than ignored)'],
    ['an unknown store', { typedConfig: anyPack(CacheConfigSchema, create(CacheConfigSchema)) }, 'f.typed_config: store type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig is not one the Weft sidecar has (SimpleHttpCacheConfig, weft.v1.MemoryHttpCacheConfig, weft.v1.RedisHttpCacheConfig)'],
    ['a zero memory bound', { typedConfig: mem(0n) }, 'f.typed_config.max_bytes: must be greater than 0'],
    ['a store without a name', { typedConfig: mem(10n, '') }, 'f.typed_config.behavior.name: is required (it names the store)'],
    ['a regex Vary matcher', { typedConfig: mem(10n), allowedVaryHeaders: [{ matchPattern: { case: 'safeRegex', value: { regex: '.*' } } }] }, 'f.allowed_vary_headers[0].safe_regex: is not supported by the Weft sidecar (refused rather than ignored)'],
    ['a bad Redis address', { typedConfig: anyPack(RedisHttpCacheConfigSchema, create(RedisHttpCacheConfigSchema, { behavior: { name: 'a/b' }, address: 'redis' })) }, "f.typed_config.address: 'redis' is not host:port"],
  ])('refuses %s', (_what, init, error) => {
    expect(parse(init).errors).toContain(error);
  });
});

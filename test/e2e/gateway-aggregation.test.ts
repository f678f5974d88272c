// AggregationPolicy with real processes: a control plane, a `weft gateway`, and three services
// (users, orders, reviews), each an app behind its own sidecar. GET /dashboard/{id} at the gateway
// composes users (first), orders (with the user's JSON in its path, after users) and reviews (in
// parallel with users, slow past its timeout, optional). The answer arrives within the reviews
// timeout with `x-weft-partial: reviews`; `weft trace show` holds one trace with the gateway's
// SERVER span, a CLIENT span per call (children of it), and the upstream sidecars' SERVER spans
// (children of those). The client is undici.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { eventually, figure, freePort, startControlPlane, startGateway, startInstance, weft, weftApply, type ControlPlaneProc, type GatewayProc, type Instance } from '../harness/processes.js';
import type { StoredSpan } from '../../control-plane/telemetry/trace-store.js';
import { edgeGateway } from '../harness/sidecar.js';

const services = ['users', 'orders', 'reviews'].map((n) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${n} }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
`);
const config = (port: number) => `${services.join('---\n')}---
${edgeGateway([{ name: 'web', port }], `
    - matches: [{ path: { type: PathPrefix, value: /users } }]
      backendRefs: [{ name: users, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /orders } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /dashboard } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: AggregationPolicy, name: dashboard } }]`, ['api.example.com'])}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: reviews }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [reviews.internal]
  rules: [{ backendRefs: [{ name: reviews, port: 8080 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: AggregationPolicy
metadata: { name: dashboard }
spec:
  pathTemplate: /dashboard/{id}
  calls:
    - { name: user, path: '/users/{path.id}', timeout: 3s }
    - { name: orders, path: '/orders/by/{calls.user.body.name}?id={path.id}', dependsOn: [user], timeout: 3s }
    - { name: reviews, host: reviews.internal, path: '/slow?ms=5000', timeout: 600ms, optional: true }
`;

describe('AggregationPolicy at a weft gateway, with real services', () => {
  let cp: ControlPlaneProc;
  let gw: GatewayProc;
  let apps: Instance[] = [];
  let port: number;

  beforeAll(async () => {
    cp = await startControlPlane();
    port = await freePort();
    const r = await weftApply(cp, config(port), 'aggregation.yaml');
    expect(r.code, r.stderr).toBe(0);
    const started = await Promise.all([
      startInstance(cp.xdsPort, 'http', 'users', 'users-1'),
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'),
      startInstance(cp.xdsPort, 'http', 'reviews', 'reviews-1'),
      startGateway(cp.xdsPort, 'default/edge'),
    ]);
    apps = started.slice(0, 3) as Instance[];
    gw = started[3] as GatewayProc;
    // Serving once each upstream answers through the gateway.
    await eventually(async () => {
      const u = await request(`http://127.0.0.1:${port}/users/0`, { headers: { host: 'api.example.com' } }).catch(() => undefined);
      const o = await request(`http://127.0.0.1:${port}/orders/0`, { headers: { host: 'api.example.com' } }).catch(() => undefined);
      await Promise.all([u?.body.text(), o?.body.text()]);
      return u?.statusCode === 200 && o?.statusCode === 200;
    }, 30_000, 100);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), ...apps.map((a) => a.kill())]);
    await cp?.kill();
  });

  it('answers within the slow call\'s timeout with the partial marker, and records one trace with every fan-out span', async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpan = randomBytes(8).toString('hex');
    const t0 = performance.now();
    const r = await request(`http://127.0.0.1:${port}/dashboard/42`, { headers: { host: 'api.example.com', traceparent: `00-${traceId}-${clientSpan}-01` } });
    type Seen = { name: string; url: string; headers: Record<string, string> };
    const body = (await r.body.json()) as { user: Seen; orders: Seen; reviews: unknown };
    const ms = performance.now() - t0;
    figure('aggregated request', { status: r.statusCode, partial: r.headers['x-weft-partial'], ms: Math.round(ms), body });
    expect(r.statusCode).toBe(200);
    expect(r.headers['x-weft-partial']).toBe('reviews');
    expect([body.user.name, body.user.url]).toEqual(['users-1', '/users/42']);
    expect([body.orders.name, body.orders.url]).toEqual(['orders-1', '/orders/by/users-1?id=42']);
    expect(body.reviews).toBeNull();
    // One request id across the fan-out (the client sent none: the gateway made one).
    expect(body.user.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.orders.headers['x-request-id']).toBe(body.user.headers['x-request-id']);
    // The slow call is 5 s; its timeout 600 ms. The answer came with the timeout, not the call.
    expect(ms).toBeLessThan(2500);

    // gateway SERVER + 3 CLIENT (one per call) + users and orders SERVER; reviews' sidecar SERVER
    // span ends when the cancelled call's stream does (it may come later or be the 7th).
    let last: StoredSpan[] = [];
    const spans = await eventually(async () => {
      const x = await weft(['trace', 'show', traceId, '-o', 'json'], { cp });
      if (x.code !== 0) return undefined;
      const s = (last = (JSON.parse(x.stdout) as { spans: StoredSpan[] }).spans);
      // Waited for by name: reviews' SERVER span may come before orders' (then three SERVER spans
      // are not yet gateway + users + orders).
      const servers = new Set(s.filter((v) => v.kind === 'server').map((v) => v.service));
      const done = servers.has('users') && servers.has('orders') && s.some((v) => v.kind === 'server' && v.attributes['url.path'] === '/dashboard/42');
      return done && s.filter((v) => v.kind === 'client').length >= 3 ? s : undefined;
    }, 20_000, 300).catch((e: unknown) => {
      figure('aggregation trace so far', { spans: last.map((x) => `${x.service} ${x.kind} ${x.name} ${x.attributes['url.path'] ?? ''}`) });
      throw e;
    });
    figure('aggregation trace', { spans: spans.map((s) => `${s.service} ${s.kind} ${s.name} ${s.attributes['url.path'] ?? ''} parent=${s.parentSpanId} id=${s.spanId} ${s.status}`) });
    const gwServer = spans.find((s) => s.kind === 'server' && s.attributes['url.path'] === '/dashboard/42')!;
    expect(gwServer, 'the gateway made a SERVER span').toBeDefined();
    expect(gwServer.parentSpanId).toBe(clientSpan);
    expect(gwServer.attributes['url.path']).toBe('/dashboard/42');
    const clients = spans.filter((s) => s.kind === 'client');
    expect(clients.map((c) => c.attributes['url.path']).sort()).toEqual(['/orders/by/users-1?id=42', '/slow?ms=5000', '/users/42']);
    for (const c of clients) {
      expect(c.service).toBe(gwServer.service);
      expect(c.parentSpanId).toBe(gwServer.spanId);
    }
    // The upstream sidecars continue the trace under the call that reached them.
    for (const svc of ['users', 'orders']) {
      const s = spans.find((x) => x.kind === 'server' && x.service === svc)!;
      expect(s, `${svc}'s sidecar SERVER span`).toBeDefined();
      expect(clients.map((c) => c.spanId)).toContain(s.parentSpanId);
    }
  }, 60_000);

  it('answers 404 for a path outside the template', async () => {
    // A path outside the template is a 404 from the filter itself.
    const r = await request(`http://127.0.0.1:${port}/dashboard/42/extra`, { headers: { host: 'api.example.com' } });
    expect([r.statusCode, r.headers['x-weft-error']]).toEqual([404, 'NO_ROUTE']);
    await r.body.text();
  });
});

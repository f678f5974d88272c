// `weft gateway` in front of the mesh, through real processes: a control plane, `orders` (app +
// sidecar) and a gateway serving the Gateway API `Gateway` named edge, configured with
// `weft apply` as Gateway API users write it (a Gateway and HTTPRoutes whose parentRefs name it).
// The gateway binds the Gateway's listener, routes by the routes' hostnames (intersected with the
// listener's), reaches orders as a mesh client (mTLS to its sidecar), follows route and listener
// changes live, and shows in proxy-status.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, figure, freePort, load, startControlPlane, startGateway, startInstance, weft, weftApply, type ControlPlaneProc, type GatewayProc, type Instance } from '../harness/processes.js';

const gatewayYaml = (port: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: ${port}, protocol: HTTP, hostname: "*.example.com" }
`;
const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [shop.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
const MORE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop-v2 }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }]
  hostnames: [shop.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v2 } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /api } } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;

function get(port: number, path: string, host: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Whether anything accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

describe('weft gateway: the Gateway API front door of the mesh', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let gw: GatewayProc;
  let port: number;

  async function apply(yaml: string, name: string): Promise<void> {
    const r = await weftApply(cp, yaml, name);
    expect(r.code, r.stderr).toBe(0);
  }

  beforeAll(async () => {
    cp = await startControlPlane();
    port = await freePort();
    await apply(`${gatewayYaml(port)}---\n${MESH}`, 'edge.yaml');
    [orders, gw] = await Promise.all([startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'), startGateway(cp.xdsPort, 'default/edge')]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), orders?.kill(), cp?.kill()]);
  });

  it('binds the Gateway listener and routes a matching host to the mesh service', async () => {
    const r = await eventually(async () => {
      const x = await get(port, '/api/items?x=1', 'shop.example.com').catch(() => undefined);
      return x?.status === 200 ? x : undefined;
    }, 20_000, 100);
    const j = JSON.parse(r.body) as { name: string; url: string };
    expect([j.name, j.url]).toEqual(['orders-1', '/api/items?x=1']);
    // A Host with another port (a load balancer in front) finds the same virtual host.
    expect((await get(port, '/api/items', 'shop.example.com:9443')).status).toBe(200);
    figure('gateway first answer', { status: r.status, name: j.name });
  });

  it('answers 404 NO_ROUTE for a host no route attaches, and a path no rule matches', async () => {
    const other = await get(port, '/api/items', 'else.example.com');
    expect([other.status, other.headers['x-weft-error']]).toEqual([404, 'NO_ROUTE']);
    const path = await get(port, '/nothing-here', 'shop.example.com');
    expect([path.status, path.headers['x-weft-error']]).toEqual([404, 'NO_ROUTE']);
  });

  it('follows a route added live (sectionName), with its rewrite', async () => {
    await apply(MORE, 'more.yaml');
    const r = await eventually(async () => {
      const x = await get(port, '/v2/things', 'shop.example.com');
      return x.status === 200 ? x : undefined;
    }, 20_000, 100);
    expect((JSON.parse(r.body) as { url: string }).url).toBe('/api/things');
  });

  it('serves with zero failures while its routes are replaced over and over under load', async () => {
    // Two versions of the shop route, swapped as fast as `weft apply` goes while 4 clients send
    // requests; every request must succeed (a chain swap never touches requests or connections).
    const variant = (i: number) => MESH.replace('      backendRefs: [{ name: orders, port: 8080 }]', `      filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-version, value: "v${i}" }] } }]\n      backendRefs: [{ name: orders, port: 8080 }]`);
    const routeUpdates = async () => {
      const text = await (await fetch(`${gw.admin}/stats/prometheus`)).text();
      return Number(/^weft_xds_updates_total\{type="route",result="accepted"\} (\d+)/m.exec(text)?.[1] ?? 0);
    };
    const before = await routeUpdates();
    let done = false;
    let applied = 0;
    const changes = (async () => {
      while (!done) {
        await apply(variant(applied % 2), 'swap.yaml');
        applied++;
      }
    })();
    const r = await load(port, { host: 'shop.example.com', total: 10_000, concurrency: 4, path: (i) => `/api/${i}`, timeoutMs: 60_000 }).finally(() => (done = true));
    await changes;
    figure('gateway under route swaps', { sent: r.sent, ok: r.ok, failures: r.failures, applies: applied });
    expect(r.failures).toEqual({});
    expect(r.ok).toBe(10_000);
    expect(applied).toBeGreaterThanOrEqual(5);
    // The gateway took the new routes while the load ran (not only the control plane).
    expect((await routeUpdates()) - before).toBeGreaterThanOrEqual(3);
  });

  it('moves the listener when the Gateway changes its port: the new port serves, the old one closes', async () => {
    const moved = await freePort();
    await apply(gatewayYaml(moved), 'edge-moved.yaml');
    await eventually(async () => (await get(moved, '/api/x', 'shop.example.com').catch(() => undefined))?.status === 200, 20_000, 100);
    await eventually(async () => !(await listening(port)), 20_000, 100);
    port = moved;
  });

  it('shows in proxy-status as a gateway, synced', async () => {
    const all = JSON.parse((await weft(['proxy-status', '-o', 'json'], { cp })).stdout) as Array<{ nodeId: string; role?: string; types: Record<string, { state: string }> }>;
    const me = all.find((p) => p.nodeId === gw.id);
    expect(me, JSON.stringify(all)).toBeDefined();
    expect(Object.values(me!.types).every((t) => t.state === 'SYNCED')).toBe(true);
  });
});

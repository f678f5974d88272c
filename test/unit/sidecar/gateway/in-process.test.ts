// The in-process gateway harness itself: a Gateway with two listeners and an HTTPRoute per
// listener, translated for a gateway node and served by real listeners on loopback. Each listener
// serves only its own routes; a host no route serves is 404 NR. The gateway's policy tests build
// on this harness, so it is checked on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: api, port: 9000, protocol: HTTP, hostname: api.example }
`;
const route = (name: string, section: string, backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: ${section} }]
  rules: [{ backendRefs: [{ name: ${backend}, port: 8080 }] }]
`;

describe('in-process gateway harness', () => {
  let orders: Upstream;
  let api: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    orders = await upstream((q, s) => {
      s.setHeader('x-seen-proto', String(q.headers['x-forwarded-proto']));
      s.end('orders');
    });
    api = await upstream((_q, s) => s.end('api'));
    gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('orders', [orders.port]), service('api', [api.port]), route('web', 'web', 'orders'), route('api', 'api', 'api')], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await orders?.close();
    await api?.close();
  });

  it('binds every Gateway listener and serves each its own routes', async () => {
    expect([...gw.ports.keys()].sort()).toEqual(['api', 'web']);
    const web = await send(gw.port('web'), '/x', { host: 'shop.example', headers: { 'x-forwarded-proto': 'https' } });
    expect(web.body).toBe('orders');
    // At the edge the client's claim is not trusted: the upstream learns the scheme really used.
    expect(web.headers['x-seen-proto']).toBe('http');
    expect((await send(gw.port('api'), '/x', { host: 'api.example' })).body).toBe('api');
    const miss = await send(gw.port('api'), '/x', { host: 'other.example' });
    expect(miss.status).toBe(404);
    expect(gw.finished.at(-1)!.weftError).toBe('NO_ROUTE');
  });
});

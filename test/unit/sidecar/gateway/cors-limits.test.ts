// A limit's answer (413, 414) to a cross-origin request carries the CORS headers the policy allows,
// so the page sees the status instead of a CORS failure: the CORS filter runs before the limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const YAML = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8080, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: app, port: 8080 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: app-cors }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  allowOrigins: [{ exact: "https://page.example" }]
  allowMethods: [GET, POST]
---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: app-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  maxUriLength: 64
  maxRequestBodyBytes: 16
`;

describe('CORS headers on the limits answers', () => {
  let app: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    app = await upstream((_q, s) => s.end('ok'));
    gw = await inProcessGateway([PLAINTEXT_MESH, YAML, service('app', [app.port])], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await app?.close();
  });

  it.each([
    ['414 for a long URI', { path: `/${'x'.repeat(100)}`, method: 'GET' }, 414, 'URI_TOO_LONG'],
    ['413 for a large body', { path: '/upload', method: 'POST', body: 'y'.repeat(64) }, 413, 'BODY_TOO_LARGE'],
  ] as const)('%s carries access-control-allow-origin', async (_what, req, status, code) => {
    const r = await send(gw.port(), req.path, { host: 'app', method: req.method, headers: { origin: 'https://page.example' }, ...('body' in req ? { body: req.body } : {}) });
    expect([r.status, r.headers['x-weft-error']]).toEqual([status, code]);
    expect(r.headers['access-control-allow-origin']).toBe('https://page.example');
  });
});

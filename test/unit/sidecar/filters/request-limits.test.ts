// The URI-length filter (weft.filters.http.request_limits, ClientTrafficPolicy maxUriLength), in
// process, at its exact boundary: a target (path and query) of exactly the limit goes through, one
// byte more is answered 414 URI_TOO_LONG.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const MAX_URI = 40;
const YAML = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: app, port: 8080 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: edge-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  maxUriLength: ${MAX_URI}
`;

describe('the URI limit filter at its boundary', () => {
  let app: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    app = await upstream((_q, s, body) => s.end(`got ${body.length}`));
    gw = await inProcessGateway([PLAINTEXT_MESH, YAML, service('app', [app.port])], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await app?.close();
  });

  it.each([
    ['exactly the limit (path and query)', `/${'a'.repeat(MAX_URI - 5)}?q=1`, 200, undefined],
    ['one byte more', `/${'a'.repeat(MAX_URI - 4)}?q=1`, 414, 'URI_TOO_LONG'],
  ] as const)('a target of %s', async (_what, path, status, code) => {
    expect(path.length).toBe(status === 200 ? MAX_URI : MAX_URI + 1);
    const r = await send(gw.port(), path, { host: 'app' });
    expect([r.status, r.headers['x-weft-error']]).toEqual([status, code]);
  });
});

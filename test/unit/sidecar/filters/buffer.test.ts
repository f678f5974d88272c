// The body-size filter (envoy.filters.http.buffer, ClientTrafficPolicy maxRequestBodyBytes), in
// process, at its exact boundary: a body of exactly the limit, declared or chunked, goes through
// whole; one byte more is answered 413 BODY_TOO_LARGE and never reaches the upstream complete.
// The listener-level limits and their live changes are in test/unit/sidecar/gateway/limits.test.ts.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const MAX_BODY = 64;
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
  maxRequestBodyBytes: ${MAX_BODY}
`;

/** A chunked POST (no content-length): the filter must count the body as it streams. */
function chunked(port: number, size: number): Promise<{ status: number; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/up', method: 'POST', headers: { host: 'app', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-weft-error'] as string | undefined }));
    });
    req.on('error', reject);
    for (let i = 0; i < size; i += 16) req.write('x'.repeat(Math.min(16, size - i)));
    req.end();
  });
}

describe('the body limit filter at its boundary', () => {
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
    ['declared, exactly the limit', 'declared', MAX_BODY, 200, undefined],
    ['declared, one byte more', 'declared', MAX_BODY + 1, 413, 'BODY_TOO_LARGE'],
    ['chunked, exactly the limit', 'chunked', MAX_BODY, 200, undefined],
    ['chunked, one byte more', 'chunked', MAX_BODY + 1, 413, 'BODY_TOO_LARGE'],
  ] as const)('a body %s', async (_what, how, size, status, code) => {
    const before = app.seen.filter((r) => r.body.length > MAX_BODY).length;
    const r = how === 'declared' ? await send(gw.port(), '/up', { host: 'app', method: 'POST', body: 'x'.repeat(size) }).then((x) => ({ status: x.status, code: x.headers['x-weft-error'] as string | undefined })) : await chunked(gw.port(), size);
    expect(r).toEqual({ status, code });
    // Nothing over the limit ever arrives at the upstream whole.
    expect(app.seen.filter((x) => x.body.length > MAX_BODY).length).toBe(before);
  });

});

// The CORS filter in process, on the inbound listener of a service with a grpc port (where the
// translator puts it, with the gRPC-Web policy of common/grpc-web.ts): a preflight is answered
// here and never reaches the app; responses to an allowed origin carry the CORS headers, also
// when the sidecar itself answers after the filter; requests without an Origin pass untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRPC_WEB_EXPOSE } from '../../../../common/grpc-web.js';
import { inProcessSidecar, PLAINTEXT_MESH, send, upstream, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bookstore }
spec:
  ports: [{ name: grpc, port: 9090, protocol: grpc }]
`;
const DENY = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-admin }
spec:
  service: bookstore
  action: DENY
  rules: [{ to: [{ paths: ["/admin/*"] }] }]
`;
const ORIGIN = 'https://shop.example';

let app: Upstream;
let sc: InProcessSidecar;

beforeAll(async () => {
  app = await upstream();
  sc = await inProcessSidecar([PLAINTEXT_MESH, SVC, DENY], { service: 'bookstore', appPort: app.port, appProtocol: 'http' });
}, 30_000);
afterAll(async () => {
  await sc.close();
  await app.close();
});

describe('cors filter', () => {
  it('answers a preflight itself: 204, the origin named back, POST allowed, the asked headers allowed, max-age', async () => {
    const before = app.seen.length;
    const r = await send(sc.inbound, '/bookstore.Bookstore/GetShelf', { method: 'OPTIONS', host: 'bookstore', headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-custom' } });
    expect(r.status).toBe(204);
    expect(r.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(r.headers['access-control-allow-methods']).toContain('POST');
    expect(r.headers['access-control-allow-headers']).toBe('content-type,x-grpc-web,x-custom');
    expect(r.headers['access-control-max-age']).toBe('86400');
    expect(app.seen.length).toBe(before);
  });

  it('adds the CORS headers to the app\'s answer and to an answer the sidecar makes after it (RBAC)', async () => {
    const ok = await send(sc.inbound, '/x', { host: 'bookstore', headers: { origin: ORIGIN } });
    expect([ok.status, ok.headers['access-control-allow-origin'], ok.headers['access-control-expose-headers'], ok.headers.vary]).toEqual([200, ORIGIN, GRPC_WEB_EXPOSE, 'origin']);
    const denied = await send(sc.inbound, '/admin/x', { host: 'bookstore', headers: { origin: ORIGIN } });
    expect([denied.status, denied.headers['x-weft-error'], denied.headers['access-control-allow-origin']]).toEqual([403, 'RBAC_DENIED', ORIGIN]);
  });

  it('leaves a request without an Origin untouched', async () => {
    const r = await send(sc.inbound, '/x', { host: 'bookstore' });
    expect([r.status, r.headers['access-control-allow-origin']]).toEqual([200, undefined]);
  });
});

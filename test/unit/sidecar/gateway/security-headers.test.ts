// Security headers at the gateway, in process: a SecurityHeadersPolicy on the Gateway sets its
// headers on every response of the listener's routes (overwriting the upstream's), a rule's
// ExtensionRef policy replaces it for that rule, and a rule's ResponseHeaderModifier (Gateway API)
// is applied at the gateway after the policy. HSTS is never sent on this plain-HTTP listener.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;
const SITE = `apiVersion: weft.dev/v1alpha1
kind: SecurityHeadersPolicy
metadata: { name: site }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  hsts: { maxAgeSeconds: 31536000, includeSubDomains: true, preload: true }
  contentTypeOptions: nosniff
  frameOptions: SAMEORIGIN
  referrerPolicy: strict-origin-when-cross-origin
  contentSecurityPolicy: "default-src 'self'"
  permissionsPolicy: "camera=(), microphone=()"
`;
const STRICT = `apiVersion: weft.dev/v1alpha1
kind: SecurityHeadersPolicy
metadata: { name: strict }
spec:
  frameOptions: DENY
  contentSecurityPolicy: "default-src 'none'"
`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: SecurityHeadersPolicy, name: strict } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /embed } }]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{ name: x-frame-options, value: DENY }]
            add: [{ name: x-served-by, value: edge }]
            remove: [x-upstream-secret]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
`;

let app: Upstream;
let gw: InProcessGateway;

beforeAll(async () => {
  // The upstream sends its own (weaker) values; the gateway's win.
  app = await upstream((_q, s) => {
    s.setHeader('x-frame-options', 'ALLOWALL');
    s.setHeader('x-upstream-secret', 'internal');
    s.end('ok');
  });
  gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('orders', [app.port]), SITE, STRICT, ROUTE], 'default/edge');
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await app?.close();
});

const SECURITY = ['strict-transport-security', 'x-content-type-options', 'x-frame-options', 'referrer-policy', 'content-security-policy', 'permissions-policy', 'x-served-by', 'x-upstream-secret'];

describe('security headers at the gateway', () => {
  it.each([
    ['the Gateway policy, over the upstream value', '/', {
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'referrer-policy': 'strict-origin-when-cross-origin',
      'content-security-policy': "default-src 'self'",
      'permissions-policy': 'camera=(), microphone=()',
      'x-upstream-secret': 'internal',
    }],
    ["a rule's ExtensionRef policy instead of the Gateway's", '/admin', { 'x-frame-options': 'DENY', 'content-security-policy': "default-src 'none'", 'x-upstream-secret': 'internal' }],
    ["the Gateway policy, then the rule's ResponseHeaderModifier (set, add, remove)", '/embed', {
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'strict-origin-when-cross-origin',
      'content-security-policy': "default-src 'self'",
      'permissions-policy': 'camera=(), microphone=()',
      'x-served-by': 'edge',
    }],
  ])('%s (%s)', async (_what, path, expected) => {
    const r = await send(gw.port(), path, { host: 'shop.example' });
    expect(r.status).toBe(200);
    const got = Object.fromEntries(SECURITY.filter((h) => r.headers[h] !== undefined).map((h) => [h, r.headers[h]]));
    expect(got).toEqual(expected);
  });

  it('never sends strict-transport-security over plain HTTP (RFC 6797 section 7.2)', async () => {
    const r = await send(gw.port(), '/', { host: 'shop.example' });
    expect(r.headers['strict-transport-security']).toBeUndefined();
  });
});

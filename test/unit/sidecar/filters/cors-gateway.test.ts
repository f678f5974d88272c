// CorsPolicy and the Gateway API CORS filter at the gateway, in process: the translation (cors
// filter first on the listeners that need it, one complete policy per Envoy Route: the rule's
// ExtensionRef or CORS filter, else the listener's CorsPolicy, else the Gateway's), and what a browser sees through it: a table of preflights and actual
// requests -> exact status and access-control-* headers, Vary, and whether the upstream saw the
// request. A Gateway without a policy is untouched.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../../../common/extensions.js';
import { TYPE_URL } from '../../../../common/xds-types.js';
import { Registry } from '../../../../control-plane/registry/registry.js';
import { Translator } from '../../../../control-plane/translate/index.js';
import { CorsPolicySchema } from '../../../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.js';
import type { RouteConfiguration } from '../../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { filterNames, message, modelOf, nodeOf } from '../../../harness/mesh.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAYS = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: api, port: 9000, protocol: HTTP, hostname: api.example }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: plain }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8100, protocol: HTTP }]
`;
// The listener 'web' has its own policy; 'api' takes the Gateway-wide one.
const POLICIES = `apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: web-cors }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }]
  allowOrigins: [{ exact: "https://app.example" }, { suffix: ".partner.example" }]
  allowMethods: [GET, PUT]
  allowHeaders: [x-token, content-type]
  exposeHeaders: [x-request-id]
  allowCredentials: true
  maxAge: 10m
  allowPrivateNetworkAccess: true
---
apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: edge-cors }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  allowOrigins: [{ prefix: "https://console." }]
  allowMethods: [POST]
---
apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: open }
spec:
  allowOrigins: [{ regex: 'https://[a-z]+\\.example' }]
  allowMethods: ['*']
  allowHeaders: ['*']
`;
const route = (name: string, gw: string, section: string, rules: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ kind: Gateway, name: ${gw}, sectionName: ${section} }]
  rules: ${rules}
`;
const ROUTES = [
  route('web', 'edge', 'web', `
    - matches: [{ path: { type: PathPrefix, value: /public } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CorsPolicy, name: open } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /gep } }]
      filters: [{ type: CORS, cors: { allowOrigins: ["https://*.example.com"], allowMethods: [POST], allowCredentials: true, exposeHeaders: [x-request-id] } }]
      backendRefs: [{ name: orders, port: 8080 }]`),
  route('api', 'edge', 'api', '[{ backendRefs: [{ name: orders, port: 8080 }] }]'),
  route('plain', 'plain', 'web', '[{ backendRefs: [{ name: orders, port: 8080 }] }]'),
];

describe('CorsPolicy translation for a gateway', () => {
  const yaml = (extra: string[] = []) => [PLAINTEXT_MESH, GATEWAYS, POLICIES, service('orders', [1]), ...ROUTES, ...extra].join('---\n');
  const t = new Translator(modelOf(yaml()), new Registry());
  const edge = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge' });
  const plain = nodeOf({ id: 'gw-2', role: 'gateway', gateway: 'default/plain' });
  const policyOf = (rc: RouteConfiguration, route: string) => {
    const r = rc.virtualHosts.flatMap((v) => v.routes).find((x) => x.name === route)!;
    const any = r.typedPerFilterConfig[EXTENSIONS.cors.name];
    return any && anyUnpack(any, CorsPolicySchema);
  };

  it('puts the cors filter first on listeners whose routes have a policy, and nowhere else', () => {
    expect(filterNames(t, edge, 'gateway.web')).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.router']);
    expect(filterNames(t, edge, 'gateway.api')).toEqual(['envoy.filters.http.cors', 'envoy.filters.http.router']);
    expect(filterNames(t, plain, 'gateway.web')).toEqual(['envoy.filters.http.router']);
  });

  it('the rule\'s ExtensionRef wins, whole; else the listener\'s policy; else the Gateway\'s; never on the virtual host', () => {
    const web = message<RouteConfiguration>(t, edge, TYPE_URL.route, 'gateway.web');
    for (const v of web.virtualHosts) expect(v.typedPerFilterConfig).toEqual({});
    const open = policyOf(web, 'default/web/rule-0')!;
    expect(open.allowOriginStringMatch.map((m) => m.matchPattern)).toEqual([{ case: 'safeRegex', value: expect.objectContaining({ regex: 'https://[a-z]+\\.example' }) }]);
    expect([open.allowMethods, open.allowHeaders, open.exposeHeaders, open.maxAge, open.allowCredentials, open.forwardNotMatchingPreflights, open.allowPrivateNetworkAccess]).toEqual(['*', '*', '', '', false, false, undefined]);
    const site = policyOf(web, 'default/web/rule-1')!;
    expect(site.allowOriginStringMatch.map((m) => m.matchPattern)).toEqual([{ case: 'exact', value: 'https://app.example' }, { case: 'suffix', value: '.partner.example' }]);
    expect([site.allowMethods, site.allowHeaders, site.exposeHeaders, site.maxAge, site.allowCredentials, site.forwardNotMatchingPreflights, site.allowPrivateNetworkAccess]).toEqual(['GET,PUT', 'x-token,content-type', 'x-request-id', '600', true, false, true]);
    const gep = policyOf(web, 'default/web/rule-2')!;
    expect(gep.allowOriginStringMatch.map((m) => m.matchPattern)).toEqual([{ case: 'safeRegex', value: expect.objectContaining({ regex: 'https://.*\\.example\\.com' }) }]);
    expect([gep.allowMethods, gep.allowHeaders, gep.exposeHeaders, gep.maxAge, gep.allowCredentials, gep.forwardNotMatchingPreflights]).toEqual(['POST', '', 'x-request-id', '5', true, false]);
    const api = policyOf(message<RouteConfiguration>(t, edge, TYPE_URL.route, 'gateway.api'), 'default/api/rule-0')!;
    expect([api.allowOriginStringMatch[0]!.matchPattern, api.allowMethods]).toEqual([{ case: 'prefix', value: 'https://console.' }, 'POST']);
    expect(policyOf(message<RouteConfiguration>(t, plain, TYPE_URL.route, 'gateway.web'), 'default/plain/rule-0')).toBeUndefined();
  });
});

/** The CORS-relevant response headers, for exact comparison. */
function corsHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && (k.startsWith('access-control-') || k === 'vary')) out[k] = String(v);
  return out;
}

describe('CorsPolicy at the gateway, in process', () => {
  let orders: Upstream;
  let edge: InProcessGateway;
  let plain: InProcessGateway;
  beforeAll(async () => {
    orders = await upstream((_q, s) => {
      s.setHeader('x-request-id', '7');
      s.setHeader('vary', 'accept-encoding');
      s.end('orders');
    });
    const yaml = [PLAINTEXT_MESH, GATEWAYS, POLICIES, service('orders', [orders.port]), ...ROUTES];
    edge = await inProcessGateway(yaml, 'default/edge');
    plain = await inProcessGateway(yaml, 'default/plain');
  });
  afterAll(async () => {
    await edge?.close();
    await plain?.close();
    await orders?.close();
  });

  const APP = 'https://app.example';
  const pre = (origin: string, method = 'PUT', extra: Record<string, string> = {}) => ({ method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, ...extra } });
  const get = (origin?: string) => ({ method: 'GET', headers: origin ? { origin } : {} });
  const SITE_PREFLIGHT = { 'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'GET,PUT', 'access-control-allow-headers': 'x-token,content-type', 'access-control-max-age': '600', vary: 'origin' };

  it.each([
    ['a preflight from an exact origin is answered at the gateway', 'web', '/orders', pre(APP, 'PUT', { 'access-control-request-headers': 'x-token' }), 204, { ...SITE_PREFLIGHT, 'access-control-allow-origin': APP }, false],
    ['a preflight from a suffix origin asking for private network access', 'web', '/orders', pre('https://eu.partner.example', 'GET', { 'access-control-request-private-network': 'true' }), 204, { ...SITE_PREFLIGHT, 'access-control-allow-origin': 'https://eu.partner.example', 'access-control-allow-private-network': 'true' }, false],
    ['a preflight from an origin not allowed: answered, no allow-origin (Envoy with forward_not_matching_preflights false)', 'web', '/orders', pre('https://evil.example'), 204, SITE_PREFLIGHT, false],
    ['an actual request from an allowed origin: origin, credentials, exposed headers; Vary keeps the upstream\'s', 'web', '/orders', get(APP), 200, { 'access-control-allow-origin': APP, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-request-id', vary: 'accept-encoding, origin' }, true],
    ['an actual request from an origin not allowed: no CORS headers', 'web', '/orders', get('https://evil.example'), 200, { vary: 'accept-encoding' }, true],
    ['a request without an Origin: untouched', 'web', '/orders', get(), 200, { vary: 'accept-encoding' }, true],
    ['an OPTIONS that is no preflight goes upstream, with the CORS headers', 'web', '/orders', { method: 'OPTIONS', headers: { origin: APP } }, 200, { 'access-control-allow-origin': APP, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-request-id', vary: 'accept-encoding, origin' }, true],
    ['the rule\'s policy wins whole: `*` echoes the asked method and headers, no credentials or max-age from the listener\'s', 'web', '/public/x', pre('https://shop.example', 'DELETE', { 'access-control-request-headers': 'x-a,x-b' }), 204, { 'access-control-allow-origin': 'https://shop.example', 'access-control-allow-methods': 'DELETE', 'access-control-allow-headers': 'x-a,x-b', vary: 'origin' }, false],
    ['the rule\'s regex must match the whole origin', 'web', '/public/x', get('https://shop.example.evil.com'), 200, { vary: 'accept-encoding' }, true],
    ['the rule\'s policy on an actual request: origin only', 'web', '/public/x', get('https://shop.example'), 200, { 'access-control-allow-origin': 'https://shop.example', vary: 'accept-encoding, origin' }, true],
    ['the Gateway API CORS filter: a wildcard host origin, credentials, its default max-age of 5 s', 'web', '/gep', pre('https://eu.shop.example.com', 'POST'), 204, { 'access-control-allow-origin': 'https://eu.shop.example.com', 'access-control-allow-credentials': 'true', 'access-control-allow-methods': 'POST', 'access-control-max-age': '5', vary: 'origin' }, false],
    ['the Gateway API CORS filter: `*.example.com` needs a label before example.com', 'web', '/gep', get('https://example.com'), 200, { vary: 'accept-encoding' }, true],
    ['the Gateway API CORS filter on an actual request', 'web', '/gep', get('https://a.example.com'), 200, { 'access-control-allow-origin': 'https://a.example.com', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-request-id', vary: 'accept-encoding, origin' }, true],
    ['another listener takes the Gateway-wide policy', 'api', '/x', pre('https://console.example', 'POST'), 204, { 'access-control-allow-origin': 'https://console.example', 'access-control-allow-methods': 'POST', vary: 'origin' }, false],
    ['the Gateway-wide policy does not allow the listener policy\'s origins there', 'api', '/x', get(APP), 200, { vary: 'accept-encoding' }, true],
  ] as const)('%s', async (_what, listener, path, req, status, headers, upstreamSaw) => {
    const before = orders.seen.length;
    const r = await send(edge.port(listener), path, { host: listener === 'api' ? 'api.example' : 'shop.example', method: req.method, headers: { ...req.headers } as Record<string, string> });
    expect(r.status).toBe(status);
    expect(corsHeaders(r.headers)).toEqual(headers);
    expect(orders.seen.length - before).toBe(upstreamSaw ? 1 : 0);
  });

  it('a Gateway without a policy is untouched: a preflight goes to the upstream and comes back without CORS headers', async () => {
    const before = orders.seen.length;
    const r = await send(plain.port('web'), '/orders', { host: 'shop.example', ...pre(APP) });
    expect([r.status, corsHeaders(r.headers)]).toEqual([200, { vary: 'accept-encoding' }]);
    expect(orders.seen.slice(before).map((s) => s.method)).toEqual(['OPTIONS']);
  });
});

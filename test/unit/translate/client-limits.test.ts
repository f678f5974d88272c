// Gateway policies in translation: a ClientTrafficPolicy becomes the Envoy fields that carry
// each limit (HCM max_request_headers_kb, request_headers_timeout,
// common_http_protocol_options.idle_timeout; a connection_limit filter before the HCM; the
// buffer filter; Weft's request_limits filter), a listener's own policy winning over its
// Gateway's. A SecurityHeadersPolicy becomes response_headers_to_add on every route of the
// listener, a rule's ExtensionRef winning, before the rule's ResponseHeaderModifier; HSTS only on
// TLS listeners.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { TYPE_URL } from '../../../common/xds-types.js';
import { hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import { securityHeaderPairs } from '../../../control-plane/translate/security-headers.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { ConnectionLimitSchema } from '../../../proto/gen/envoy/extensions/filters/network/connection_limit/v3/connection_limit_pb.js';
import { BufferSchema } from '../../../proto/gen/envoy/extensions/filters/http/buffer/v3/buffer_pb.js';
import { RequestLimitsSchema } from '../../../proto/gen/weft/v1/filters_pb.js';

const base = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: api, port: 9000, protocol: HTTP }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      filters:
        - { type: ExtensionRef, extensionRef: { group: weft.dev, kind: SecurityHeadersPolicy, name: strict } }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: x-frame-options, value: SAMEORIGIN }] }
      backendRefs: [{ name: orders }]
    - backendRefs: [{ name: orders }]
`;
const POLICIES = `
---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: edge }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  maxRequestBodyBytes: 1048576
  maxRequestHeaderBytes: 8192
  maxUriLength: 2048
  requestHeaderTimeout: 5s
  idleTimeout: 90s
  maxConnections: 1000
---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: api }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: api }]
  idleTimeout: 10s
---
apiVersion: weft.dev/v1alpha1
kind: SecurityHeadersPolicy
metadata: { name: site }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  hsts: { maxAgeSeconds: 31536000, includeSubDomains: true }
  contentTypeOptions: nosniff
  referrerPolicy: no-referrer
---
apiVersion: weft.dev/v1alpha1
kind: SecurityHeadersPolicy
metadata: { name: strict }
spec:
  frameOptions: DENY
  contentSecurityPolicy: "default-src 'none'"
`;

const t = new Translator(modelOf(base + POLICIES), new Registry());
const plain = new Translator(modelOf(base.replace(/ *- \{ type: ExtensionRef[^\n]*\n/, '')), new Registry());
const gw = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge' });
const listener = (tr: Translator, name: string) => message<Listener>(tr, gw, TYPE_URL.listener, name);
const filters = (l: Listener) => hcmOf(l).httpFilters.map((f) => f.name);
const routeHeaders = (tr: Translator, listenerName: string) =>
  Object.fromEntries(message<RouteConfiguration>(tr, gw, TYPE_URL.route, listenerName).virtualHosts[0]!.routes.map((r) => [r.name, r.responseHeadersToAdd.map((h) => [h.header!.key, h.header!.value, h.appendAction])]));

describe('ClientTrafficPolicy translation', () => {
  it('sets the HCM fields, a connection_limit before the HCM and the buffer and request_limits filters first', () => {
    const l = listener(t, 'gateway.web');
    const chain = l.filterChains[0]!.filters;
    expect(chain.map((f) => f.name)).toEqual(['envoy.filters.network.connection_limit', 'envoy.filters.network.http_connection_manager']);
    const cl = anyUnpack(chain[0]!.configType.value as never, ConnectionLimitSchema)!;
    expect([cl.statPrefix, cl.maxConnections, cl.delay]).toEqual(['gateway.web', 1000n, undefined]);
    const hcm = hcmOf(l);
    expect(hcm.maxRequestHeadersKb).toBe(8);
    expect(hcm.requestHeadersTimeout).toMatchObject({ seconds: 5n, nanos: 0 });
    expect(hcm.commonHttpProtocolOptions?.idleTimeout).toMatchObject({ seconds: 90n });
    expect(filters(l)).toEqual(['weft.filters.http.request_limits', 'envoy.filters.http.buffer', 'envoy.filters.http.router']);
    expect(anyUnpack(hcm.httpFilters[0]!.configType.value as never, RequestLimitsSchema)!.maxUriLength).toBe(2048);
    expect(anyUnpack(hcm.httpFilters[1]!.configType.value as never, BufferSchema)!.maxRequestBytes).toBe(1048576);
    expect(hcm.httpFilters.every((f) => !f.isOptional)).toBe(true);
  });

  it("a listener's own policy replaces the Gateway's whole", () => {
    const l = listener(t, 'gateway.api');
    expect(l.filterChains[0]!.filters).toHaveLength(1);
    const hcm = hcmOf(l);
    expect([hcm.maxRequestHeadersKb, hcm.requestHeadersTimeout, hcm.commonHttpProtocolOptions?.idleTimeout?.seconds]).toEqual([undefined, undefined, 10n]);
    expect(filters(l)).toEqual(['envoy.filters.http.router']);
  });

  it('without a policy the listener is as before', () => {
    const l = listener(plain, 'gateway.web');
    expect(l.filterChains[0]!.filters.map((f) => f.name)).toEqual(['envoy.filters.network.http_connection_manager']);
    expect(hcmOf(l).commonHttpProtocolOptions).toBeUndefined();
    expect(filters(l)).toEqual(['envoy.filters.http.router']);
  });
});

describe('SecurityHeadersPolicy translation', () => {
  const OVERWRITE = 2; // HeaderValueOption_HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD

  it("puts the listener's headers on every route, a rule's ExtensionRef policy instead, and the rule's own modifier after it; no HSTS on an HTTP listener", () => {
    expect(routeHeaders(t, 'gateway.web')).toEqual({
      'default/shop/rule-0': [
        ['x-frame-options', 'DENY', OVERWRITE],
        ['content-security-policy', "default-src 'none'", OVERWRITE],
        ['x-frame-options', 'SAMEORIGIN', OVERWRITE],
      ],
      'default/shop/rule-1': [
        ['x-content-type-options', 'nosniff', OVERWRITE],
        ['referrer-policy', 'no-referrer', OVERWRITE],
      ],
    });
  });

  it('HSTS only over TLS (RFC 6797 7.2), with its directives', () => {
    const spec = { targetRefs: [], hsts: { maxAgeSeconds: 63072000, includeSubDomains: true, preload: true }, frameOptions: 'DENY' as const };
    expect(securityHeaderPairs(spec, false)).toEqual([['x-frame-options', 'DENY']]);
    expect(securityHeaderPairs(spec, true)).toEqual([
      ['strict-transport-security', 'max-age=63072000; includeSubDomains; preload'],
      ['x-frame-options', 'DENY'],
    ]);
    expect(securityHeaderPairs({ targetRefs: [], hsts: { maxAgeSeconds: 300, includeSubDomains: false, preload: false } }, true)).toEqual([['strict-transport-security', 'max-age=300']]);
  });

  it('without a policy routes carry only their own edits', () => {
    expect(routeHeaders(plain, 'gateway.web')).toEqual({ 'default/shop/rule-0': [['x-frame-options', 'SAMEORIGIN', OVERWRITE]], 'default/shop/rule-1': [] });
  });
});

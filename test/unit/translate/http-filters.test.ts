// HTTP filters the translator emits per listener (issue 18): CORS before the inbound filters of a
// gRPC service with its policy on the inbound virtual host; the reverse-transcoding filter on
// outbound listeners whose routes configure it; the fault filter and per-route HTTPFault for
// FaultPolicy; nothing new for meshes that use none of them.
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDescriptorSet } from '../../harness/descriptors.js';
import { filterNames, hcmOf, meshFixture, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { EXTENSIONS } from '../../../common/extensions.js';
import { GRPC_WEB_ALLOW_METHODS, GRPC_WEB_EXPOSE, GRPC_WEB_MAX_AGE } from '../../../common/grpc-web.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { HTTPFaultSchema } from '../../../proto/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { FractionalPercent_DenominatorType } from '../../../proto/gen/envoy/type/v3/percent_pb.js';
import { CorsPolicySchema } from '../../../proto/gen/envoy/extensions/filters/http/cors/v3/cors_pb.js';
import { CompressorPerRouteSchema, CompressorSchema } from '../../../proto/gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.js';
import { GzipSchema } from '../../../proto/gen/envoy/extensions/compression/gzip/compressor/v3/gzip_pb.js';
import { BrotliSchema } from '../../../proto/gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.js';

const model = modelOf;
const node = (over: Partial<NodeInfo> = {}): NodeInfo => nodeOf({ role: 'sidecar', ...over });
const SERVICES = meshFixture('orders-greeter.yaml');

const ROUTER = 'envoy.filters.http.router';
const CORS = 'envoy.filters.http.cors';
const RBAC = 'envoy.filters.http.rbac';
const GRPC_WEB = 'envoy.filters.http.grpc_web';

describe('CORS as its own filter on gRPC services inbound', () => {
  const greeter = node({ service: 'greeter', appPort: 7000, appProtocol: 'grpc' });
  const orders = node({ service: 'orders', appPort: 7001, appProtocol: 'http' });
  const DENY = `---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: no-admin }
spec:
  service: '*'
  action: DENY
  rules: [{ to: [{ paths: [/admin*] }] }]
`;

  it.each([
    ['a gRPC service', SERVICES, greeter, [CORS, GRPC_WEB, ROUTER]],
    ['a gRPC service with RBAC', SERVICES + DENY, greeter, [CORS, RBAC, GRPC_WEB, ROUTER]],
    ['an HTTP service (unchanged)', SERVICES, orders, [ROUTER]],
    ['an HTTP service with RBAC (unchanged)', SERVICES + DENY, orders, [RBAC, ROUTER]],
  ])('inbound http_filters of %s', (_what, yaml, n, expected) => {
    expect(filterNames(new Translator(model(yaml), new Registry()), n, 'inbound')).toEqual(expected);
  });

  it('the cors listener filter is an empty Cors message', () => {
    const hcm = hcmOf(message<Listener>(new Translator(model(SERVICES), new Registry()), greeter, TYPE_URL.listener, 'inbound'));
    const f = hcm.httpFilters[0]!;
    expect(f.isOptional).toBe(false);
    expect(f.configType.case === 'typedConfig' && f.configType.value).toMatchObject({ typeUrl: EXTENSIONS.cors.typeUrl, value: new Uint8Array() });
  });

  it('puts the gRPC-Web CORS policy on the inbound virtual host of a gRPC service only', () => {
    const t = new Translator(model(SERVICES), new Registry());
    const rc = message<RouteConfiguration>(t, greeter, TYPE_URL.route, 'inbound|greeter.default');
    const vh = rc.virtualHosts[0]!;
    expect(Object.keys(vh.typedPerFilterConfig)).toEqual([CORS]);
    const any = vh.typedPerFilterConfig[CORS]!;
    expect(any.typeUrl).toBe(EXTENSIONS.corsPolicy.typeUrl);
    const p = anyUnpack(any, CorsPolicySchema)!;
    expect(p.allowOriginStringMatch.map((m) => m.matchPattern)).toEqual([{ case: 'safeRegex', value: expect.objectContaining({ regex: '.*' }) }]);
    expect({ allowMethods: p.allowMethods, allowHeaders: p.allowHeaders, exposeHeaders: p.exposeHeaders, maxAge: p.maxAge }).toEqual({
      allowMethods: GRPC_WEB_ALLOW_METHODS,
      allowHeaders: '*',
      exposeHeaders: GRPC_WEB_EXPOSE,
      maxAge: GRPC_WEB_MAX_AGE,
    });
    const http = message<RouteConfiguration>(t, orders, TYPE_URL.route, 'inbound|orders.default');
    expect(http.virtualHosts[0]!.typedPerFilterConfig).toEqual({});
    // Outbound virtual hosts carry no CORS policy, and the outbound listener no CORS filter.
    const out = message<RouteConfiguration>(t, greeter, TYPE_URL.route, 'outbound');
    for (const v of out.virtualHosts) expect(Object.keys(v.typedPerFilterConfig)).toEqual([]);
    expect(filterNames(t, greeter, 'outbound')).toEqual([ROUTER]);
  });
});

describe('reverse transcoding as a filter on the outbound listener', () => {
  const REVERSE = 'weft.filters.http.grpc_json_reverse';
  let set = '';
  beforeAll(() => {
    set = Buffer.from(buildDescriptorSet(join(import.meta.dirname, '..', '..', 'fixtures', 'bookstore'))).toString('base64');
  }, 30_000);
  const translation = () => `---
apiVersion: weft.dev/v1alpha1
kind: GRPCTranslation
metadata: { name: orders-grpc }
spec:
  service: orders
  direction: grpcToJson
  descriptorSet: ${set}
  protoServices: [bookstore.Bookstore]
`;

  it('a sidecar whose outbound routes carry the reverse config gets the filter (is_optional) before the router', () => {
    const t = new Translator(model(SERVICES + translation()), new Registry());
    const n = node({ service: 'greeter', appPort: 7000, appProtocol: 'grpc' });
    const hcm = hcmOf(message<Listener>(t, n, TYPE_URL.listener, 'outbound'));
    expect(hcm.httpFilters.map((f) => f.name)).toEqual([REVERSE, ROUTER]);
    const f = hcm.httpFilters[0]!;
    expect(f.isOptional).toBe(true);
    expect(f.configType.case === 'typedConfig' && f.configType.value.typeUrl).toBe(EXTENSIONS.grpcJsonReverseFilter.typeUrl);
    // The per-virtual-host config stays where it was: on orders' outbound virtual hosts.
    const rc = message<RouteConfiguration>(t, n, TYPE_URL.route, 'outbound');
    expect(rc.virtualHosts.filter((v) => REVERSE in v.typedPerFilterConfig).map((v) => v.name)).toEqual(['orders.default:8080']);
    // Inbound listeners are untouched by it.
    expect(filterNames(t, n, 'inbound')).toEqual([CORS, GRPC_WEB, ROUTER]);
  });

  it('no reverse config, no filter; proxyless API listeners never get it', () => {
    const t = new Translator(model(SERVICES), new Registry());
    expect(filterNames(t, node({ service: 'orders', appPort: 7001 }), 'outbound')).toEqual([ROUTER]);
    const withIt = new Translator(model(SERVICES + translation()), new Registry());
    expect(filterNames(withIt, node({ role: 'proxyless' }), 'orders')).toEqual([ROUTER]);
  });
});

describe('fault injection (FaultPolicy via ExtensionRef)', () => {
  const FAULT = 'envoy.filters.http.fault';
  const POLICIES = `---
apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: flaky }
spec:
  delay: { fixedDelay: 200ms, percentage: 50 }
  abort: { httpStatus: 503, percentage: 30 }
  maxActiveFaults: 100
---
apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: from-headers }
spec:
  delay: { fromHeader: true, percentage: 0.25 }
  abort: { fromHeader: true }
---
apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: unavailable }
spec:
  abort: { grpcStatus: 14, percentage: 12.3456 }
`;
  const ROUTES = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /flaky } }, { path: { type: Exact, value: /also-flaky } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: flaky } }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /headers } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: from-headers } }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /calm } }]
      backendRefs: [{ name: orders }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - matches: [{ method: { service: helloworld.Greeter } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: unavailable } }]
      backendRefs: [{ name: greeter }]
`;
  const t = new Translator(model(SERVICES + POLICIES + ROUTES), new Registry());
  const sidecar = node({ service: 'orders', appPort: 7001 });
  const faultOf = (n: NodeInfo, route: string) => {
    const rc = message<RouteConfiguration>(t, n, TYPE_URL.route, 'outbound');
    return rc.virtualHosts.flatMap((v) => v.routes).filter((r) => r.name === route).map((r) => r.typedPerFilterConfig[FAULT]);
  };

  it('a sidecar whose outbound routes carry a fault config gets the fault filter (empty HTTPFault) before the router', () => {
    const hcm = hcmOf(message<Listener>(t, sidecar, TYPE_URL.listener, 'outbound'));
    expect(hcm.httpFilters.map((f) => f.name)).toEqual([FAULT, ROUTER]);
    const f = hcm.httpFilters[0]!;
    expect(f.configType.case === 'typedConfig' && f.configType.value).toMatchObject({ typeUrl: EXTENSIONS.fault.typeUrl, value: new Uint8Array() });
    expect(f.isOptional).toBe(false);
    // Inbound listeners are the callee's: no fault filter there.
    expect(filterNames(t, sidecar, 'inbound')).toEqual([ROUTER]);
  });

  it.each([
    ['fixed delay and HTTP abort in whole percents (HUNDRED), max active faults', 'default/orders/rule-0', {
      delay: { faultDelaySecifier: { case: 'fixedDelay', value: { seconds: 0n, nanos: 200_000_000 } }, percentage: { numerator: 50, denominator: FractionalPercent_DenominatorType.HUNDRED } },
      abort: { errorType: { case: 'httpStatus', value: 503 }, percentage: { numerator: 30, denominator: FractionalPercent_DenominatorType.HUNDRED } },
      maxActiveFaults: 100,
    }],
    ['delay and abort from headers, a fractional percent per MILLION', 'default/orders/rule-1', {
      delay: { faultDelaySecifier: { case: 'headerDelay', value: {} }, percentage: { numerator: 2500, denominator: FractionalPercent_DenominatorType.MILLION } },
      abort: { errorType: { case: 'headerAbort', value: {} }, percentage: { numerator: 100, denominator: FractionalPercent_DenominatorType.HUNDRED } },
    }],
    ['a gRPC status abort on a GRPCRoute rule', 'default/greeter/rule-0', {
      abort: { errorType: { case: 'grpcStatus', value: 14 }, percentage: { numerator: 123456, denominator: FractionalPercent_DenominatorType.MILLION } },
    }],
  ])('per-route HTTPFault: %s', (_what, route, expected) => {
    const anys = faultOf(sidecar, route);
    expect(anys.length).toBeGreaterThan(0);
    for (const any of anys) {
      expect(any!.typeUrl).toBe(EXTENSIONS.faultPolicy.typeUrl);
      const f = anyUnpack(any!, HTTPFaultSchema)!;
      const none: Record<string, unknown> = { delay: undefined, abort: undefined, maxActiveFaults: undefined };
      expect({ delay: f.delay, abort: f.abort, maxActiveFaults: f.maxActiveFaults }).toMatchObject({ ...none, ...expected });
    }
  });

  it('every Envoy route built from the rule carries it (one per match); other rules and the default route do not', () => {
    expect(faultOf(sidecar, 'default/orders/rule-0')).toHaveLength(2);
    expect(faultOf(sidecar, 'default/orders/rule-2')).toEqual([undefined]);
    expect(faultOf(sidecar, 'default')).not.toContain(expect.anything());
  });

  it('with the reverse filter too, fault comes after it', () => {
    // A sidecar of a mesh with a grpcToJson translation and a FaultPolicy: [reverse, fault, router].
    const set = Buffer.from(buildDescriptorSet(join(import.meta.dirname, '..', '..', 'fixtures', 'bookstore'))).toString('base64');
    const both = new Translator(model(`${SERVICES}${POLICIES}${ROUTES}---
apiVersion: weft.dev/v1alpha1
kind: GRPCTranslation
metadata: { name: orders-grpc }
spec: { service: orders, direction: grpcToJson, descriptorSet: ${set}, protoServices: [bookstore.Bookstore] }
`), new Registry());
    expect(filterNames(both, sidecar, 'outbound')).toEqual(['weft.filters.http.grpc_json_reverse', FAULT, ROUTER]);
  }, 30_000);

  it('nothing changes for a mesh that uses no FaultPolicy (policies alone do nothing)', () => {
    const none = new Translator(model(SERVICES + POLICIES), new Registry());
    expect(filterNames(none, sidecar, 'outbound')).toEqual([ROUTER]);
    expect(filterNames(none, node({ role: 'proxyless' }), 'orders')).toEqual([ROUTER]);
    const rc = message<RouteConfiguration>(none, sidecar, TYPE_URL.route, 'outbound');
    for (const r of rc.virtualHosts.flatMap((v) => v.routes)) expect(r.typedPerFilterConfig).toEqual({});
  });

  it('proxyless clients get the same filter and per-route HTTPFault, and grpc-js-xds parses both', async () => {
    const p = node({ role: 'proxyless' });
    const l = message<Listener>(t, p, TYPE_URL.listener, 'greeter');
    const hcm = hcmOf(l);
    expect(hcm.httpFilters.map((f) => f.name)).toEqual([FAULT, ROUTER]);
    const [g] = faultOf(p, 'default/greeter/rule-0');
    expect(anyUnpack(g!, HTTPFaultSchema)!.abort?.errorType).toEqual({ case: 'grpcStatus', value: 14 });
    // grpc-js-xds's own parser (what a proxyless client runs on the same bytes): it must accept both.
    const grpcXds = await import('@grpc/grpc-js-xds');
    grpcXds.register(); // registers the filters a real client knows, fault injection among them
    const xds = await import('@grpc/grpc-js-xds/build/src/http-filter.js');
    const top = hcm.httpFilters[0]!.configType.value as Any;
    expect(xds.parseTopLevelFilterConfig({ type_url: top.typeUrl, value: Buffer.from(top.value) } as never, true)).toMatchObject({ typeUrl: EXTENSIONS.fault.typeUrl, config: { maxActiveFaults: Infinity } });
    const [flaky] = faultOf(p, 'default/orders/rule-0');
    expect(xds.parseOverrideFilterConfig({ type_url: flaky!.typeUrl, value: Buffer.from(flaky!.value) } as never)).toMatchObject({
      config: { delay: { kind: 'fixed', durationMs: 200, percentage: { numerator: 50, denominator: 100 } }, abort: { code: expect.any(Number), percentage: { numerator: 30, denominator: 100 } }, maxActiveFaults: 100 },
    });
    expect(xds.parseOverrideFilterConfig({ type_url: g!.typeUrl, value: Buffer.from(g!.value) } as never)).toMatchObject({ config: { abort: { code: 14, percentage: { numerator: 123456, denominator: 1_000_000 } } } });
  });
});

describe('response compression (CompressionPolicy) on gateway listeners', () => {
  const ENTRY = (a: string, p: string) => `envoy.filters.http.compressor.${a}/default/${p}`;
  const YAML = `${SERVICES}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }, { name: api, port: 9000, protocol: HTTP }, { name: bare, port: 9100, protocol: HTTP }]
---
apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: site }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  minContentLength: 1024
  contentTypes: [text/html, application/json]
  disableOnETag: true
  removeAcceptEncoding: true
  gzip: { level: 9 }
  brotli: { quality: 5 }
---
apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: api-gzip }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: api }]
  algorithms: [gzip]
---
apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: bare-off }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: bare }]
  disabled: true
---
apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: assets }
spec:
  algorithms: [gzip, brotli]
---
apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: off }
spec: { disabled: true }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /assets } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CompressionPolicy, name: assets } }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /raw } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CompressionPolicy, name: off } }]
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /site } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CompressionPolicy, name: site } }]
      backendRefs: [{ name: orders }]
    - backendRefs: [{ name: orders }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: bare }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: bare }]
  rules: [{ backendRefs: [{ name: orders }] }]
`;
  const t = new Translator(model(YAML), new Registry());
  const gw = nodeOf({ role: 'gateway', gateway: 'default/edge', service: 'edge' });
  const hcm = (l: string) => hcmOf(message<Listener>(t, gw, TYPE_URL.listener, `gateway.${l}`));
  const perRoute = (l: string, route: string) => {
    const rc = message<RouteConfiguration>(t, gw, TYPE_URL.route, `gateway.${l}`);
    const r = rc.virtualHosts.flatMap((v) => v.routes).find((x) => x.name === route)!;
    return Object.fromEntries(Object.entries(r.typedPerFilterConfig).map(([k, v]) => [k, anyUnpack(v, CompressorPerRouteSchema)!.override]));
  };

  it('the Gateway policy gives one Compressor per algorithm, first; route-only policies\' entries are off on the listener', () => {
    const h = hcm('web');
    expect(h.httpFilters.map((f) => [f.name, f.disabled])).toEqual([
      [ENTRY('brotli', 'site'), false],
      [ENTRY('gzip', 'site'), false],
      [ENTRY('gzip', 'assets'), true],
      [ENTRY('brotli', 'assets'), true],
      [ROUTER, false],
    ]);
    const c = (i: number) => anyUnpack(h.httpFilters[i]!.configType.value as Any, CompressorSchema)!;
    const br = c(0);
    expect(br.responseDirectionConfig).toMatchObject({ commonConfig: { minContentLength: 1024, contentType: ['text/html', 'application/json'] }, disableOnEtagHeader: true, removeAcceptEncodingHeader: true });
    expect(br.chooseFirst).toBe(true);
    expect(br.compressorLibrary!.name).toBe(EXTENSIONS.brotli.name);
    expect(anyUnpack(br.compressorLibrary!.typedConfig!, BrotliSchema)!.quality).toBe(5);
    expect(c(1).chooseFirst).toBe(false);
    expect(anyUnpack(c(1).compressorLibrary!.typedConfig!, GzipSchema)!.compressionLevel).toBe(9);
    // assets: defaults (30 bytes, Envoy's media types), gzip preferred.
    expect(c(2).responseDirectionConfig).toMatchObject({ commonConfig: { minContentLength: 30, contentType: [] } });
    expect(c(2).chooseFirst).toBe(true);
  });

  it('a listener\'s own policy wins over its Gateway\'s; a listener opted out gets no compressor', () => {
    expect(hcm('api').httpFilters.map((f) => f.name)).toEqual([ENTRY('gzip', 'api-gzip'), ROUTER]);
    expect(hcm('bare').httpFilters.map((f) => f.name)).toEqual([ROUTER]);
  });

  it('a rule naming a policy turns the Gateway\'s entries off and its own on; an opt-out only turns them off; the Gateway\'s own policy or none changes nothing', () => {
    const off = { case: 'disabled', value: true };
    const on = { case: 'overrides', value: expect.objectContaining({ responseDirectionConfig: expect.anything() }) };
    expect(perRoute('web', 'default/web/rule-0')).toEqual({ [ENTRY('brotli', 'site')]: off, [ENTRY('gzip', 'site')]: off, [ENTRY('gzip', 'assets')]: on, [ENTRY('brotli', 'assets')]: on });
    expect(perRoute('web', 'default/web/rule-1')).toEqual({ [ENTRY('brotli', 'site')]: off, [ENTRY('gzip', 'site')]: off });
    expect(perRoute('web', 'default/web/rule-2')).toEqual({});
    expect(perRoute('web', 'default/web/rule-3')).toEqual({});
  });

  it('sidecars get no compressor', () => {
    expect(filterNames(t, node({ service: 'orders', appPort: 7001 }), 'outbound')).toEqual([ROUTER]);
  });
});

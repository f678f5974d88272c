// The API lifecycle filter (weft.filters.http.api_lifecycle, ApiLifecyclePolicy), in process:
// versions routed by path, header and query at a gateway and on a sidecar's outbound and inbound
// listeners; the exact header forms (RFC 9745 `Deprecation: @<seconds>`, RFC 8594 `Sunset:
// <IMF-fixdate>`, RFC 8288 Link values appended to the upstream's own); 410 Gone from the sunset
// second on (a fake clock), never forwarded; usage counted per consumer.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiLifecyclePolicySchema } from '../../../../proto/gen/weft/v1/lifecycle_pb.js';
import { apiLifecycle, compileLifecycle, lifecycleClock, lifecycleCounters } from '../../../../sidecar/http/filters/api-lifecycle.js';
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from '../../../../sidecar/http/filter.js';
import { inProcessGateway, inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const DEPRECATION = '@1767225600'; // 2026-01-01T00:00:00Z
const SUNSET = 'Wed, 01 Jul 2026 00:00:00 GMT'; // 2026-07-01
const SUNSET_MS = 1782864000_000;
const SUCCESSOR = '<https://api.example.com/v2/orders>; rel="successor-version"';
const DOCS = '<https://developer.example.com/deprecations/orders-v1>; rel="deprecation"';
const UPSTREAM_LINK = '</v1/orders?page=2>; rel="next"';

const POLICIES = `apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: orders-v1 }
spec:
  deprecation: "2026-01-01T00:00:00Z"
  sunset: "2026-07-01"
  successor: https://api.example.com/v2/orders
  link: https://developer.example.com/deprecations/orders-v1
  rejectAfterSunset: true
---
apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: legacy }
spec:
  deprecation: true
`;
const V1 = '{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiLifecyclePolicy, name: orders-v1 } }';
/** v1 by path, by header and by query; v2 the default. */
const rules = `
    - matches: [{ path: { type: PathPrefix, value: /v1 } }]
      filters: [${V1}]
      backendRefs: [{ name: orders-v1, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: / }, headers: [{ name: api-version, value: "1" }] }]
      filters: [${V1}]
      backendRefs: [{ name: orders-v1, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: / }, queryParams: [{ name: version, value: "1" }] }]
      filters: [${V1}]
      backendRefs: [{ name: orders-v1, port: 8080 }]
    - backendRefs: [{ name: orders-v2, port: 8080 }]`;

describe('ApiLifecyclePolicy at a gateway', () => {
  let v1: Upstream;
  let v2: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    v1 = await upstream((_q, s) => {
      s.setHeader('link', UPSTREAM_LINK);
      s.end('v1');
    });
    v2 = await upstream((_q, s) => s.end('v2'));
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [orders]
  rules:${rules}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: legacy }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [legacy]
  rules: [{ filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiLifecyclePolicy, name: legacy } }], backendRefs: [{ name: orders-v2, port: 8080 }] }]
`;
    gw = await inProcessGateway([PLAINTEXT_MESH, yaml, POLICIES, service('orders-v1', [v1.port]), service('orders-v2', [v2.port])], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([v1?.close(), v2?.close()]);
  });
  afterEach(() => {
    lifecycleClock.now = () => Date.now();
  });

  it.each([
    ['the path', '/v1/orders', {}],
    ['a header', '/orders', { 'api-version': '1' }],
    ['the query', '/orders?version=1', {}],
  ] as const)('routes v1 by %s and marks it deprecated (RFC 9745, RFC 8594, RFC 8288)', async (_by, path, headers) => {
    lifecycleClock.now = () => SUNSET_MS - 1000;
    const r = await send(gw.port(), path, { host: 'orders', headers });
    expect([r.status, r.body]).toEqual([200, 'v1']);
    expect(r.headers.deprecation).toBe(DEPRECATION);
    expect(r.headers.sunset).toBe(SUNSET);
    expect(r.headers.link).toBe(`${UPSTREAM_LINK}, ${SUCCESSOR}, ${DOCS}`);
  });

  it('leaves the default version (v2) alone', async () => {
    const r = await send(gw.port(), '/orders', { host: 'orders', headers: { 'api-version': '2' } });
    expect([r.status, r.body]).toEqual([200, 'v2']);
    expect([r.headers.deprecation, r.headers.sunset, r.headers.link]).toEqual([undefined, undefined, undefined]);
  });

  it('answers 410 Gone from the sunset second on, with the lifecycle headers, without forwarding', async () => {
    const before = v1.seen.length;
    lifecycleClock.now = () => SUNSET_MS;
    const r = await send(gw.port(), '/v1/orders', { host: 'orders' });
    expect([r.status, r.headers['x-weft-error']]).toEqual([410, 'API_SUNSET']);
    expect(r.body).toContain('https://api.example.com/v2/orders');
    expect([r.headers.deprecation, r.headers.sunset, r.headers.link]).toEqual([DEPRECATION, SUNSET, `${SUCCESSOR}, ${DOCS}`]);
    expect(v1.seen.length).toBe(before);
    expect(gw.finished.at(-1)?.weftError).toBe('API_SUNSET');
  });

  it('`deprecation: true` is `@0` (a past date: already deprecated), with no Sunset or Link', async () => {
    const r = await send(gw.port(), '/anything', { host: 'legacy' });
    expect(r.status).toBe(200);
    expect([r.headers.deprecation, r.headers.sunset, r.headers.link]).toEqual(['@0', undefined, undefined]);
  });
});

describe('ApiLifecyclePolicy on sidecars', () => {
  let v1: Upstream;
  let v2: Upstream;
  let sc: InProcessSidecar;
  beforeAll(async () => {
    v1 = await upstream((_q, s) => s.end('v1'));
    v2 = await upstream((_q, s) => s.end('v2'));
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ kind: Service, name: orders, port: 8080 }]
  rules:${rules}
---
apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: billing-v1 }
spec:
  deprecation: "2026-01-01T00:00:00Z"
  successor: https://billing.example.com/v2
  targetRefs: [{ group: weft.dev, kind: Service, name: billing }]
`;
    // This sidecar fronts `billing` (its app is v2's server) and calls `orders` (v1 or v2).
    sc = await inProcessSidecar([PLAINTEXT_MESH, yaml, POLICIES, service('orders', [v2.port]), service('orders-v1', [v1.port]), service('orders-v2', [v2.port]), service('billing', [v2.port])], { service: 'billing', appPort: v2.port });
  });
  afterAll(async () => {
    await sc?.close();
    await Promise.all([v1?.close(), v2?.close()]);
  });
  // Before orders-v1's sunset (rejectAfterSunset), whatever today is.
  beforeEach(() => {
    lifecycleClock.now = () => SUNSET_MS - 1000;
  });
  afterEach(() => {
    lifecycleClock.now = () => Date.now();
  });

  it.each([
    ['the path', '/v1/orders', {}],
    ['a header', '/orders', { 'api-version': '1' }],
    ['the query', '/orders?version=1', {}],
  ] as const)('outbound: a mesh route sends v1 by %s, with the lifecycle headers', async (_by, path, headers) => {
    const r = await send(sc.outbound, path, { host: 'orders', headers });
    expect([r.status, r.body, r.headers.deprecation, r.headers.sunset, r.headers.link]).toEqual([200, 'v1', DEPRECATION, SUNSET, `${SUCCESSOR}, ${DOCS}`]);
  });

  it('outbound: the default version has no lifecycle headers', async () => {
    const r = await send(sc.outbound, '/orders', { host: 'orders' });
    expect([r.status, r.body, r.headers.deprecation]).toEqual([200, 'v2', undefined]);
  });

  it('inbound: a policy targeting the Service marks every response of its sidecars', async () => {
    const r = await send(sc.inbound, '/invoices', { host: 'billing' });
    expect([r.status, r.headers.deprecation, r.headers.sunset, r.headers.link]).toEqual([200, DEPRECATION, undefined, '<https://billing.example.com/v2>; rel="successor-version"']);
  });
});

/** A sink that keeps what was written. */
class Sink implements ResponseSink {
  status = 0;
  headers: ResponseHeaders = {};
  headersSent = false;
  writeHead(status: number, headers: ResponseHeaders): void {
    [this.status, this.headers, this.headersSent] = [status, headers, true];
  }
  write(): boolean {
    return true;
  }
  onceDrain(): void {}
  end(): void {}
  respondTrailersOnly(headers: ResponseHeaders): void {
    this.writeHead(200, headers);
  }
  respondSimple(status: number, headers: ResponseHeaders): void {
    this.writeHead(status, headers);
  }
  abort(): void {}
  onClientGone(): void {}
  closeAfterResponse(): void {}
}

describe('the filter itself', () => {
  const head = { method: 'GET', path: '/v1', grpc: false, header: () => undefined } as unknown as RequestHead;
  afterEach(() => {
    lifecycleClock.now = () => Date.now();
  });

  it('counts usage per consumer (none: anonymous) and refusals after the sunset apart', () => {
    const l = compileLifecycle(create(ApiLifecyclePolicySchema, { name: 'test/counted', deprecated: true, deprecationTime: 1767225600n, sunsetTime: 1782864000n, rejectAfterSunset: true }));
    let forwarded = 0;
    const h = apiLifecycle.create(true, l, { listener: 'test' })!((_q, res) => {
      forwarded++;
      res.writeHead(200, { link: ['<a>; rel="x"', '<b>; rel="y"'] }, true);
    });
    const run = (consumer: string) => {
      const info = new RequestInfo();
      info.consumer = consumer;
      const s = new Sink();
      h(head, s, info);
      return s;
    };
    lifecycleClock.now = () => SUNSET_MS - 1;
    const s = run('alice');
    expect(s.headers).toEqual({ link: ['<a>; rel="x"', '<b>; rel="y"'], deprecation: '@1767225600', sunset: SUNSET });
    run('alice');
    run('');
    lifecycleClock.now = () => SUNSET_MS;
    expect(run('bob').status).toBe(410);
    expect(forwarded).toBe(3);
    const c = lifecycleCounters().get('test/counted')!;
    expect(Object.fromEntries(c)).toEqual({ alice: { deprecated: 2, sunsetRejected: 0 }, anonymous: { deprecated: 1, sunsetRejected: 0 }, bob: { deprecated: 0, sunsetRejected: 1 } });
  });
});

describe('the per-route config the proxy refuses (NACK), with field paths', () => {
  const parse = (init: MessageInitShape<typeof ApiLifecyclePolicySchema>) => {
    const p = new Problems('RouteConfiguration r');
    const v = apiLifecycle.perRoute!.parse(anyPack(ApiLifecyclePolicySchema, create(ApiLifecyclePolicySchema, init)), p, 'tpfc');
    return { v, errors: p.errors.map((e) => [e.path, e.message]) };
  };
  const ok = { name: 'ns/p', deprecated: true };

  it('accepts a complete policy', () => {
    expect(parse({ ...ok, deprecationTime: 1n, sunsetTime: 2n, successor: 'https://a.example/v2', link: 'https://a.example/docs', rejectAfterSunset: true }).errors).toEqual([]);
  });

  it.each([
    ['no name', { deprecated: true }, 'tpfc.name', 'is required (the policy label of the lifecycle metrics)'],
    ['not deprecated', { name: 'ns/p' }, 'tpfc.deprecated', 'must be true: a policy for a version that is not deprecated has nothing to say'],
    ['a sunset before the deprecation', { ...ok, deprecationTime: 10n, sunsetTime: 5n }, 'tpfc.sunset_time', 'is before deprecation_time (RFC 9745 section 4)'],
    ['a negative date', { ...ok, deprecationTime: -1n }, 'tpfc.deprecation_time', '-1 is not a date from 1970 to year 275760'],
    ['reject without a sunset', { ...ok, rejectAfterSunset: true }, 'tpfc.reject_after_sunset', 'needs sunset_time'],
    ['a relative successor', { ...ok, successor: '/v2' }, 'tpfc.successor', "'/v2' is not an absolute http(s) URL a Link header can carry"],
    ['a link that would break the header', { ...ok, link: 'https://a.example/x>; rel="evil"' }, 'tpfc.link', `'https://a.example/x>; rel="evil"' is not an absolute http(s) URL a Link header can carry`],
  ] as const)('refuses %s', (_what, init, path, message) => {
    const r = parse(init);
    expect(r.v).toBeUndefined();
    expect(r.errors).toContainEqual([path, message]);
  });
});

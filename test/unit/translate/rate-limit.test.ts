// RateLimitPolicy translation: weft.filters.http.ratelimit on the gateway listeners a policy
// targets (the listener's own policy over its Gateway's), on the inbound listener of a targeted
// Service's sidecars, as an empty filter where only routes carry one, and per route for rules
// naming a policy by ExtensionRef (replacing the listener's); never for proxyless clients. Then
// the same config through the sidecar's decoders and a real in-process gateway: the route's
// policy is the one enforced.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../../common/extensions.js';
import { SIDECAR_LISTENER, TYPE_URL } from '../../../common/xds-types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { RateLimit_FailMode, RateLimitRule_QuotaPeriod, RateLimitRule_Scope, RateLimitSchema, type RateLimit } from '../../../proto/gen/weft/v1/ratelimit_pb.js';
import { filterNames, hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../harness/sidecar.js';

const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: api, port: 9000, protocol: HTTP }
`;
const POLICIES = `apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: edge-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }]
  redis: { address: "127.0.0.1:6390", timeout: 50ms }
  failMode: closed
  rules:
    - { name: per-consumer, descriptor: [consumer, { header: x-tenant }], requests: 600, unit: minute, plans: { gold: 6000 }, missingValue: anonymous }
    - { name: burst, descriptor: [clientIp], requests: 2, period: 10s, scope: local }
  quotas:
    - { name: monthly, by: plan, requests: 100000, period: month }
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: tight }
spec:
  rules: [{ name: tight, descriptor: [route], requests: 1, unit: hour, scope: local }]
---
apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: orders-inbound }
spec:
  targetRefs: [{ group: weft.dev, kind: Service, name: orders }]
  rules: [{ name: callers, descriptor: [clientIp], requests: 50, unit: second, scope: local }]
`;
const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /tight } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: RateLimitPolicy, name: tight } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /tight } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: RateLimitPolicy, name: tight } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
`;

const RL = EXTENSIONS.rateLimit.name;

describe('RateLimitPolicy translation', () => {
  const t = new Translator(modelOf([PLAINTEXT_MESH, GW, POLICIES, service('orders', [1]), service('web', [2]), ROUTES].join('---\n')), new Registry());
  const edge = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge' });
  const listenerConfig = (n: ReturnType<typeof nodeOf>, listener: string): RateLimit => {
    const f = hcmOf(message<Listener>(t, n, TYPE_URL.listener, listener)).httpFilters.find((x) => x.name === RL)!;
    return anyUnpack(f.configType.value as never, RateLimitSchema)!;
  };
  const routeConfig = (listener: string, route: string): RateLimit | undefined => {
    const rc = message<RouteConfiguration>(t, edge, TYPE_URL.route, listener);
    const any = rc.virtualHosts.flatMap((v) => v.routes).find((r) => r.name === route)!.typedPerFilterConfig[RL];
    return any && anyUnpack(any, RateLimitSchema);
  };

  it("gives the targeted listener its policy: rules, quotas as calendar rules, Redis with the default key prefix, the fail mode", () => {
    expect(filterNames(t, edge, 'gateway.web')).toEqual([RL, 'envoy.filters.http.router']);
    const c = listenerConfig(edge, 'gateway.web');
    expect(c.policy).toBe('default/edge-limits');
    expect(c.failMode).toBe(RateLimit_FailMode.CLOSED);
    expect([c.redis?.address, c.redis?.keyPrefix, Number(c.redis?.timeout?.nanos) / 1e6]).toEqual(['127.0.0.1:6390', 'weft:rl:default/edge-limits:', 50]);
    expect(c.rules.map((r) => [r.name, r.descriptor.map((d) => d.kind.case), r.requests, Number(r.window?.seconds ?? 0), r.scope, r.planRequests, r.countMissing, r.missingValue, r.quotaPeriod])).toEqual([
      ['per-consumer', ['consumer', 'header'], 600, 60, RateLimitRule_Scope.GLOBAL, { gold: 6000 }, true, 'anonymous', RateLimitRule_QuotaPeriod.NONE],
      ['burst', ['clientIp'], 2, 10, RateLimitRule_Scope.LOCAL, {}, false, '', RateLimitRule_QuotaPeriod.NONE],
      ['monthly', ['plan'], 100000, 0, RateLimitRule_Scope.GLOBAL, {}, false, '', RateLimitRule_QuotaPeriod.MONTH],
    ]);
  });

  it('puts an empty filter on a listener where only routes carry a policy, and the policy on those routes', () => {
    expect(filterNames(t, edge, 'gateway.api')).toEqual([RL, 'envoy.filters.http.router']);
    expect(listenerConfig(edge, 'gateway.api').rules).toEqual([]);
    expect(routeConfig('gateway.api', 'default/api/rule-0')?.policy).toBe('default/tight');
    expect(routeConfig('gateway.api', 'default/api/rule-1')).toBeUndefined();
    // On the targeted listener too, the rule's policy replaces the listener's.
    expect(routeConfig('gateway.web', 'default/web/rule-0')?.rules.map((r) => r.name)).toEqual(['tight']);
  });

  it("enforces a Service's policy on its sidecars' inbound listener, not on other services' sidecars; never for proxyless clients", () => {
    const orders = nodeOf({ id: 'orders-1', role: 'sidecar', service: 'orders', appPort: 1, appProtocol: 'http' });
    const web = nodeOf({ id: 'web-1', role: 'sidecar', service: 'web', appPort: 2, appProtocol: 'http' });
    expect(filterNames(t, orders, SIDECAR_LISTENER.inbound)).toContain(RL);
    expect(listenerConfig(orders, SIDECAR_LISTENER.inbound).rules.map((r) => r.name)).toEqual(['callers']);
    expect(filterNames(t, web, SIDECAR_LISTENER.inbound)).not.toContain(RL);
    expect(filterNames(t, orders, SIDECAR_LISTENER.outbound)).not.toContain(RL);
    const proxyless = nodeOf({ id: 'p-1' });
    for (const [, rs] of t.snapshotFor(proxyless).get(TYPE_URL.listener as never)) expect(JSON.stringify(rs.message)).not.toContain(RL);
  });
});

describe('the route policy, enforced by an in-process gateway', () => {
  let app: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    app = await upstream();
    // No Redis needed: the api listener runs only the route's local policy.
    gw = await inProcessGateway([PLAINTEXT_MESH, GW, POLICIES, service('orders', [app.port]), service('web', [1]), ROUTES], 'default/edge');
  }, 30_000);
  afterAll(async () => {
    await gw.close();
    await app.close();
  });

  it('limits only the route that names the policy, with the RateLimit fields', async () => {
    const port = gw.port('api');
    const first = await send(port, '/tight/a');
    expect([first.status, first.headers['ratelimit-policy'], first.headers.ratelimit]).toEqual([200, '"tight";q=1;w=3600', '"tight";r=0;t=3600']);
    const second = await send(port, '/tight/a');
    expect([second.status, second.headers['x-weft-error'], second.headers['retry-after']]).toEqual([429, 'RATE_LIMITED', '3600']);
    // Other routes of the listener are not limited and carry no fields.
    for (let i = 0; i < 3; i++) {
      const r = await send(port, '/other');
      expect([r.status, r.headers.ratelimit]).toEqual([200, undefined]);
    }
  });
});

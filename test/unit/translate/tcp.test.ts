// Layer-4 translation (issue 21, contract items 1-6): the exact Cluster and Listener fields the
// translator emits for tcp services, their sidecars' inbound listener with network RBAC, the
// outbound listener of each Service upstream, gateway TCP and TLS passthrough listeners, and what
// proxyless clients and the HTTP outbound route leave out. Each resource is decoded from the
// snapshot and read field by field; every snapshot passes the consistency check.
import { create } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../../common/extensions.js';
import { NODE_META, TYPE_URL } from '../../../common/xds-types.js';
import { nodeInfoFromProto } from '../../../control-plane/xds/node.js';
import { NodeSchema } from '../../../proto/gen/envoy/config/core/v3/base_pb.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';
import { Cluster_DiscoveryType, Cluster_LbPolicy, type Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { TrafficDirection } from '../../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { Filter } from '../../../proto/gen/envoy/config/listener/v3/listener_components_pb.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { RBAC_Action } from '../../../proto/gen/envoy/config/rbac/v3/rbac_pb.js';
import { ConnectionLimitSchema } from '../../../proto/gen/envoy/extensions/filters/network/connection_limit/v3/connection_limit_pb.js';
import { RBACSchema } from '../../../proto/gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js';
import { TcpProxySchema, type TcpProxy } from '../../../proto/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js';
import { DownstreamTlsContextSchema, UpstreamTlsContextSchema } from '../../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { message, modelOf, nodeOf } from '../../harness/mesh.js';

const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: redis }
spec:
  ports: [{ name: redis, port: 6379, protocol: tcp }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: redis }
spec:
  targetRef: { name: redis }
  loadBalancer: { type: LeastRequest }
  connectionPool: { maxConnections: 100, connectTimeout: 2s, idleTimeout: 10m }
  outlierDetection: { consecutiveGatewayErrors: 3 }
  healthCheck: { interval: 5s }
  retry: { attempts: 4 }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: pg }
spec:
  ports: [{ name: pg, port: 5432, protocol: tcp }, { name: admin, port: 5433, protocol: tcp }]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: pg }
spec:
  targetRef: { name: pg }
  loadBalancer: { type: RingHash, ringHash: { hashOn: sourceIP } }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: secure }
spec:
  ports: [{ port: 8443, protocol: tcp }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ port: 8080, protocol: http }]
  upstreams:
    - { service: redis, localPort: 16379 }
    - { service: pg, port: 5432, localPort: 15432, bindAddress: 127.0.0.2 }
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: redis-callers }
spec:
  service: redis
  action: ALLOW
  rules:
    - from: [{ principals: ["spiffe://cluster.local/ns/default/sa/web"] }]
    - from: [{ namespaces: [ops] }]
      to: [{ paths: [/admin] }]
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: redis-deny }
spec:
  service: redis
  action: DENY
  rules:
    - from: [{ namespaces: [untrusted] }]
      when: [{ header: x-user, values: [eve] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 80, protocol: HTTP }
    - { name: db, port: 5432, protocol: TCP }
    - { name: idle, port: 6000, protocol: TCP }
    - { name: tls-any, port: 443, protocol: TLS, tls: { mode: Passthrough } }
    - { name: tls-shop, port: 443, protocol: TLS, hostname: "*.shop.example", tls: { mode: Passthrough } }
---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: db-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: db }]
  maxConnections: 10
  idleTimeout: 30s
---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: shop-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: tls-shop }]
  idleTimeout: 20s
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TCPRoute
metadata: { name: db }
spec:
  parentRefs: [{ name: edge, sectionName: db }]
  rules:
    - backendRefs: [{ name: pg, port: 5432, weight: 3 }, { name: redis, weight: 1 }, { name: secure, weight: 0 }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: secure }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [www.shop.example, secure.example]
  rules:
    - backendRefs: [{ name: secure }]
---
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: TLSRoute
metadata: { name: fallback }
spec:
  parentRefs: [{ name: edge, sectionName: tls-any }]
  rules:
    - backendRefs: [{ name: redis }]
`;

const t = new Translator(modelOf(MESH), new Registry(), { bundlePem: 'PEM' });
const redisNode = nodeOf({ id: 'redis-1', role: 'sidecar', service: 'redis', appPort: 6379, appProtocol: 'tcp' });
const webNode = nodeOf({ id: 'web-1', role: 'sidecar', service: 'web', appPort: 8080, appProtocol: 'http' });
const gateway = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge' });
const proxyless = nodeOf({ id: 'grpc-1' });

const cluster = (name: string, n: NodeInfo = webNode) => message<Cluster>(t, n, TYPE_URL.cluster, name);
const listener = (name: string, n: NodeInfo) => message<Listener>(t, n, TYPE_URL.listener, name);
const tcpProxyOf = (f: Filter): TcpProxy => {
  expect(f.name).toBe(EXTENSIONS.tcpProxy.name);
  return anyUnpack(f.configType.value as never, TcpProxySchema)!;
};
const names = (n: NodeInfo, type: string) => [...t.snapshotFor(n).get(type as never).keys()].sort();

describe('TCP cluster (contract item 1)', () => {
  it('carries connections: no HTTP options, max_connections, connect timeout, gateway-error outlier detection, a TCP connect check', () => {
    const c = cluster('outbound|6379||redis.default');
    expect(c.clusterDiscoveryType).toEqual({ case: 'type', value: Cluster_DiscoveryType.EDS });
    expect(c.edsClusterConfig?.serviceName).toBe('outbound|6379||redis.default');
    expect(c.typedExtensionProtocolOptions).toEqual({});
    expect(c.commonHttpProtocolOptions).toBeUndefined();
    expect(c.metadata?.filterMetadata.weft?.protocol).toBe('tcp');
    expect(c.lbPolicy).toBe(Cluster_LbPolicy.LEAST_REQUEST);
    // Least connections over every endpoint: a choice count past any cluster's size (a full scan).
    expect(c.lbConfig).toMatchObject({ case: 'leastRequestLbConfig', value: { choiceCount: 1000 } });
    expect(c.connectTimeout).toMatchObject({ seconds: 2n, nanos: 0 });
    expect(c.circuitBreakers?.thresholds).toHaveLength(1);
    const th = c.circuitBreakers!.thresholds[0]!;
    expect(th.maxConnections?.valueOf()).toBe(100);
    expect([th.maxPendingRequests, th.maxRequests, th.maxRetries, th.retryBudget]).toEqual([undefined, undefined, undefined, undefined]);
    expect(c.outlierDetection).toMatchObject({ consecutiveGatewayFailure: 3, enforcingConsecutiveGatewayFailure: 100, consecutive5xx: 5 });
    expect(c.healthChecks).toHaveLength(1);
    const hc = c.healthChecks[0]!;
    expect(hc.interval).toMatchObject({ seconds: 5n });
    expect(hc.healthChecker.case).toBe('tcpHealthCheck');
    const tcpCheck = hc.healthChecker.value as { send?: unknown; receive: unknown[] };
    expect(tcpCheck.send).toBeUndefined();
    expect(tcpCheck.receive).toEqual([]);
  });

  it('offers no ALPN in the mesh mTLS match (SNI and SAN as for HTTP); an HTTP cluster still offers its protocol', () => {
    const tlsOf = (c: Cluster) => {
      expect(c.transportSocketMatches.map((m) => m.name)).toEqual(['tlsMode-weft']);
      return anyUnpack(c.transportSocketMatches[0]!.transportSocket!.configType.value as never, UpstreamTlsContextSchema)!;
    };
    const tcp = tlsOf(cluster('outbound|6379||redis.default'));
    expect(tcp.commonTlsContext!.alpnProtocols).toEqual([]);
    expect(tcp.sni).toBe('outbound_.6379_._.redis.default.svc.cluster.local');
    const san = tcp.commonTlsContext!.validationContextType;
    expect(san.case).toBe('combinedValidationContext');
    expect(JSON.stringify(san.value, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).toContain('spiffe://cluster.local/ns/default/sa/redis');
    expect(tlsOf(cluster('outbound|8080||web.default')).commonTlsContext!.alpnProtocols).toEqual(['http/1.1']);
  });

  it('sends no circuit breaker and no health check when the service has no TrafficPolicy', () => {
    const c = cluster('outbound|8443||secure.default');
    expect(c.circuitBreakers).toBeUndefined();
    expect(c.healthChecks).toEqual([]);
    expect(c.typedExtensionProtocolOptions).toEqual({});
  });
});

describe('inbound TCP (contract item 2)', () => {
  it('gives a tcp sidecar a STATIC app cluster with no HTTP options', () => {
    const c = cluster('inbound|6379|redis.default', redisNode);
    expect(c.clusterDiscoveryType).toEqual({ case: 'type', value: Cluster_DiscoveryType.STATIC });
    expect(c.typedExtensionProtocolOptions).toEqual({});
    expect(c.commonHttpProtocolOptions).toBeUndefined();
    expect(c.metadata?.filterMetadata.weft).toMatchObject({ inbound: true, protocol: 'tcp' });
    const ep = c.loadAssignment!.endpoints[0]!.lbEndpoints[0]!.hostIdentifier.value as { address: { address: { value: { address: string; portSpecifier: { value: number } } } } };
    expect([ep.address.address.value.address, ep.address.address.value.portSpecifier.value]).toEqual(['127.0.0.1', 6379]);
  });

  it('listens on 0.0.0.0:15006 with mTLS offering no ALPN, then network RBAC (DENY, ALLOW), then tcp_proxy to the app; no RouteConfiguration', () => {
    const l = listener('inbound', redisNode);
    expect(l.address?.address.value).toMatchObject({ address: '0.0.0.0', portSpecifier: { value: 15006 } });
    // PERMISSIVE by default: a TLS chain, and a plaintext one with the same filters.
    expect(l.filterChains.map((c) => c.filterChainMatch?.transportProtocol)).toEqual(['tls', 'raw_buffer']);
    expect(l.filterChains[1]!.transportSocket).toBeUndefined();
    expect(l.filterChains[1]!.filters).toEqual(l.filterChains[0]!.filters);
    const chain = l.filterChains[0]!;
    expect(chain.filterChainMatch?.transportProtocol).toBe('tls');
    const tls = anyUnpack(chain.transportSocket!.configType.value as never, DownstreamTlsContextSchema)!;
    expect(tls.requireClientCertificate?.valueOf()).toBe(true);
    expect(tls.commonTlsContext!.alpnProtocols).toEqual([]);
    expect(chain.filters.map((f) => f.name)).toEqual([EXTENSIONS.networkRbac.name, EXTENSIONS.networkRbac.name, EXTENSIONS.tcpProxy.name]);
    const proxy = tcpProxyOf(chain.filters[2]!);
    expect(proxy.statPrefix).toBe('inbound');
    expect(proxy.clusterSpecifier).toEqual({ case: 'cluster', value: 'inbound|6379|redis.default' });
    expect(names(redisNode, TYPE_URL.route)).toEqual(['outbound']);
    expect(t.snapshotFor(redisNode).inconsistencies()).toEqual([]);
  });

  it('applies the Istio rules for TCP: an ALLOW rule with `to` never matches, a DENY rule with `when` matches on its `from`', () => {
    const [deny, allow] = listener('inbound', redisNode).filterChains[0]!.filters.slice(0, 2).map((f) => anyUnpack(f.configType.value as never, RBACSchema)!);
    expect(deny!.statPrefix).toBe('inbound');
    expect(deny!.rules!.action).toBe(RBAC_Action.DENY);
    expect(Object.keys(deny!.rules!.policies)).toEqual(['default/redis-deny/rules[0]']);
    const denied = deny!.rules!.policies['default/redis-deny/rules[0]']!;
    // Only the namespace principal: the header condition is gone, so the rule is no narrower than its `from`.
    expect(denied.permissions.map((p) => p.rule.case)).toEqual(['any']);
    expect(JSON.stringify(denied.principals)).toContain('/ns/untrusted/sa/');
    expect(JSON.stringify(denied.principals)).not.toContain('x-user');
    expect(allow!.statPrefix).toBe('inbound');
    expect(allow!.rules!.action).toBe(RBAC_Action.ALLOW);
    // rules[1] has `to`: left out, so namespace ops is not let in by it.
    expect(Object.keys(allow!.rules!.policies)).toEqual(['default/redis-callers/rules[0]']);
    const allowed = allow!.rules!.policies['default/redis-callers/rules[0]']!;
    expect(allowed.permissions.map((p) => p.rule.case)).toEqual(['any']);
    expect(allowed.principals[0]!.identifier).toMatchObject({ case: 'authenticated', value: { principalName: { matchPattern: { case: 'exact', value: 'spiffe://cluster.local/ns/default/sa/web' } } } });
  });

  it('has one plain chain and no trust bundle reference without a CA (mTLS off), and STRICT gives the TLS chain alone', () => {
    const plain = new Translator(modelOf(MESH), new Registry());
    const l = message<Listener>(plain, redisNode, TYPE_URL.listener, 'inbound');
    expect(l.filterChains).toHaveLength(1);
    expect(l.filterChains[0]!.filterChainMatch).toBeUndefined();
    expect(l.filterChains[0]!.filters.at(-1)!.name).toBe(EXTENSIONS.tcpProxy.name);
    expect(plain.snapshotFor(redisNode).get(TYPE_URL.listener as never).get('inbound')!.refs.map((r) => r.name)).toEqual(['inbound|6379|redis.default']);
    expect(plain.snapshotFor(redisNode).inconsistencies()).toEqual([]);
    const strict = new Translator(modelOf(MESH.replace('ports: [{ name: redis, port: 6379, protocol: tcp }]', 'ports: [{ name: redis, port: 6379, protocol: tcp }]\n  mtls: { mode: STRICT }')), new Registry(), { bundlePem: 'PEM' });
    expect(message<Listener>(strict, redisNode, TYPE_URL.listener, 'inbound').filterChains.map((c) => c.filterChainMatch?.transportProtocol)).toEqual(['tls']);
  });

  it('reads appProtocol tcp from the node metadata (an unknown value is left out: http)', () => {
    const of = (v: string) => nodeInfoFromProto(create(NodeSchema, { id: 'n', metadata: { [NODE_META.role]: 'sidecar', [NODE_META.appProtocol]: v } })).appProtocol;
    expect([of('tcp'), of('grpc'), of('udp')]).toEqual(['tcp', 'grpc', undefined]);
  });

  it('keeps the HTTP inbound listener for an http sidecar', () => {
    const l = listener('inbound', webNode);
    expect(l.filterChains[0]!.filters.at(-1)!.name).toBe(EXTENSIONS.httpConnectionManager.name);
    expect(names(webNode, TYPE_URL.route)).toContain('inbound|web.default');
  });
});

describe('outbound TCP listeners (contract item 3)', () => {
  it('opens one listener per upstream: bindAddress:localPort, OUTBOUND, tcp_proxy to the upstream cluster with its policy', () => {
    expect(names(webNode, TYPE_URL.listener)).toEqual(['inbound', 'outbound', 'outbound|tcp|15432', 'outbound|tcp|16379']);
    const redis = listener('outbound|tcp|16379', webNode);
    expect(redis.address?.address.value).toMatchObject({ address: '127.0.0.1', portSpecifier: { value: 16379 } });
    expect(redis.trafficDirection).toBe(TrafficDirection.OUTBOUND);
    expect(redis.filterChains).toHaveLength(1);
    expect(redis.filterChains[0]!.filters).toHaveLength(1);
    const p = tcpProxyOf(redis.filterChains[0]!.filters[0]!);
    expect(p.statPrefix).toBe('outbound|tcp|16379');
    expect(p.clusterSpecifier).toEqual({ case: 'cluster', value: 'outbound|6379||redis.default' });
    expect(p.idleTimeout).toMatchObject({ seconds: 600n });
    // retry.attempts counts the first attempt, as for HTTP routes.
    expect(p.maxConnectAttempts?.valueOf()).toBe(4);
    expect(p.hashPolicy).toEqual([]);
    expect(t.snapshotFor(webNode).inconsistencies()).toEqual([]);
  });

  it('defaults to a 1h idle timeout and 2 connect attempts (the retry.attempts default), and hashes the source address under RingHash', () => {
    const pg = listener('outbound|tcp|15432', webNode);
    expect(pg.address?.address.value).toMatchObject({ address: '127.0.0.2', portSpecifier: { value: 15432 } });
    const p = tcpProxyOf(pg.filterChains[0]!.filters[0]!);
    expect(p.clusterSpecifier).toEqual({ case: 'cluster', value: 'outbound|5432||pg.default' });
    expect(p.idleTimeout).toMatchObject({ seconds: 3600n });
    expect(p.maxConnectAttempts?.valueOf()).toBe(2);
    expect(p.hashPolicy.map((h) => h.policySpecifier.case)).toEqual(['sourceIp']);
  });

  it('opens none for a service without upstreams', () => {
    expect(names(redisNode, TYPE_URL.listener)).toEqual(['inbound', 'outbound']);
  });
});

describe('gateway TCP and TLS passthrough listeners (contract items 4, 5)', () => {
  it('gives a TCP listener one chain: the connection limit, then tcp_proxy to the weighted backends with the idle timeout', () => {
    const l = listener('gateway.db', gateway);
    expect(l.address?.address.value).toMatchObject({ address: '0.0.0.0', portSpecifier: { value: 5432 } });
    expect(l.listenerFilters).toEqual([]);
    expect(l.filterChains).toHaveLength(1);
    expect(l.filterChains[0]!.filterChainMatch).toBeUndefined();
    const [limit, proxy] = l.filterChains[0]!.filters;
    expect(limit!.name).toBe(EXTENSIONS.connectionLimit.name);
    expect(anyUnpack(limit!.configType.value as never, ConnectionLimitSchema)!.maxConnections?.valueOf()).toBe(10n);
    const p = tcpProxyOf(proxy!);
    expect(p.statPrefix).toBe('gateway.db');
    // Weight 0: no share.
    expect(p.clusterSpecifier.case).toBe('weightedClusters');
    expect((p.clusterSpecifier.value as { clusters: Array<{ name: string; weight: number }> }).clusters.map((c) => [c.name, c.weight])).toEqual([['outbound|5432||pg.default', 3], ['outbound|6379||redis.default', 1]]);
    // The listener's ClientTrafficPolicy idleTimeout (30s) is shorter than redis's TrafficPolicy (10m).
    expect(p.idleTimeout).toMatchObject({ seconds: 30n });
  });

  it('reads the SNI with tls_inspector and gives each served name a chain with no transport socket; no hostname is the default chain', () => {
    const l = listener('gateway.tls-any', gateway);
    expect(l.address?.address.value).toMatchObject({ address: '0.0.0.0', portSpecifier: { value: 443 } });
    expect(l.listenerFilters.map((f) => [f.name, f.configType.case])).toEqual([[EXTENSIONS.tlsInspector.name, 'typedConfig']]);
    expect(l.filterChains.map((c) => [c.filterChainMatch?.serverNames, c.filterChainMatch?.transportProtocol])).toEqual([
      // secure's hostnames meet each listener's: www.shop.example on tls-shop (*.shop.example), both on tls-any.
      [['www.shop.example'], 'tls'],
      [['secure.example'], 'tls'],
      [[], 'tls'],
    ]);
    for (const c of l.filterChains) expect(c.transportSocket).toBeUndefined();
    const clusters = l.filterChains.map((c) => tcpProxyOf(c.filters.at(-1)!).clusterSpecifier.value);
    expect(clusters).toEqual(['outbound|8443||secure.default', 'outbound|8443||secure.default', 'outbound|6379||redis.default']);
    // Each chain's listener's ClientTrafficPolicy idleTimeout (tls-shop: 20s), the backend's TrafficPolicy idleTimeout (redis: 10m), else 1h.
    expect(l.filterChains.map((c) => tcpProxyOf(c.filters.at(-1)!)).map((p) => [p.statPrefix, p.idleTimeout?.seconds])).toEqual([['gateway.tls-any', 20n], ['gateway.tls-any', 3600n], ['gateway.tls-any', 600n]]);
    // No connection limit: the port's first listener (tls-any) has no maxConnections.
    for (const c of l.filterChains) expect(c.filters.map((f) => f.name)).toEqual([EXTENSIONS.tcpProxy.name]);
  });

  it('emits no Listener for a port no route attaches to, and no RouteConfiguration for layer-4 listeners', () => {
    expect(names(gateway, TYPE_URL.listener)).toEqual(['gateway.db', 'gateway.tls-any', 'gateway.web']);
    expect(names(gateway, TYPE_URL.route)).toEqual(['gateway.web']);
    expect(t.snapshotFor(gateway).inconsistencies()).toEqual([]);
  });
});

describe('what leaves tcp ports out (contract item 6)', () => {
  it('gives proxyless clients no API listener and no virtual host for a tcp service', () => {
    const listeners = names(proxyless, TYPE_URL.listener);
    expect(listeners.filter((n) => /redis|pg|secure/.test(n))).toEqual([]);
    expect(listeners).toContain('web');
    const route = message<RouteConfiguration>(t, proxyless, TYPE_URL.route, 'outbound');
    expect(route.virtualHosts.map((v) => v.name)).toEqual(['web.default:8080']);
    expect(t.snapshotFor(proxyless).inconsistencies()).toEqual([]);
  });

  it('leaves tcp ports out of the sidecar outbound RouteConfiguration', () => {
    const route = message<RouteConfiguration>(t, webNode, TYPE_URL.route, 'outbound');
    expect(route.virtualHosts.map((v) => v.name)).toEqual(['web.default:8080']);
  });
});

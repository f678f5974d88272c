// Layer-4 configuration (issue 21): Service `protocol: tcp` and `upstreams`, TrafficPolicy on a
// tcp service (HTTP-only fields refused as written, not as defaulted), Gateway TCP and TLS
// Passthrough listeners, TCPRoute and TLSRoute, and the HTTP kinds refusing tcp services and
// layer-4 listeners. Every refusal is checked for its file, field path and reason.
import { describe, expect, it } from 'vitest';
import type { GatewayResource, ServiceResource, TCPRouteResource, TLSRouteResource, TrafficPolicyResource } from '../../../control-plane/config/types.js';
import { kindDefinition } from '../../../control-plane/config/kinds/index.js';
import { checkDelete } from '../../../control-plane/config/index.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { applyYaml } from '../../harness/mesh.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.resource, e.path, e.message] as const);

const svc = (name: string, ports: string, extra = '') => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: ${ports}
${extra}---
`;
const REDIS = svc('redis', '[{ name: redis, port: 6379, protocol: tcp }]');
const PG = svc('pg', '[{ name: pg, port: 5432, protocol: tcp }, { name: repl, port: 5433, protocol: tcp }]');
const HTTP = svc('api', '[{ port: 8080 }]');
const web = (upstreams: string) => svc('web', '[{ port: 8080, protocol: http }]', `  upstreams: ${upstreams}\n`);
const tp = (spec: string, target = 'redis') => `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: p }
spec:
  targetRef: { name: ${target} }
${spec}
---
`;
const gw = (listeners: string, name = 'edge') => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${name} }
spec:
  gatewayClassName: weft
  listeners: ${listeners}
---
`;
const L4 = gw('[{ name: web, port: 80, protocol: HTTP }, { name: db, port: 5432, protocol: TCP }, { name: tls, port: 443, protocol: TLS, hostname: "*.example.com", tls: { mode: Passthrough } }]');
const route = (kind: 'TCPRoute' | 'TLSRoute' | 'HTTPRoute', name: string, spec: string) => `apiVersion: gateway.networking.k8s.io/${kind === 'HTTPRoute' ? 'v1' : 'v1alpha2'}
kind: ${kind}
metadata: { name: ${name} }
spec:
${spec}
---
`;

describe('Service protocol tcp and upstreams', () => {
  it('accepts tcp ports and upstreams, with defaults filled (namespace, bindAddress; port left to the upstream\'s only tcp port)', () => {
    const { resources, errors } = applyYaml(REDIS + PG + web('[{ service: redis, localPort: 16379 }, { service: pg, namespace: default, port: 5433, localPort: 15433, bindAddress: "::1" }]'));
    expect(errors).toEqual([]);
    const w = resources.find((r) => r.metadata.name === 'web') as ServiceResource;
    expect(w.spec.upstreams).toEqual([
      { service: 'redis', namespace: 'default', localPort: 16379, bindAddress: '127.0.0.1' },
      { service: 'pg', namespace: 'default', port: 5433, localPort: 15433, bindAddress: '::1' },
    ]);
    expect((resources[0] as ServiceResource).spec.ports).toEqual([{ name: 'redis', port: 6379, protocol: 'tcp' }]);
    expect(kindDefinition('Service').summary(w)).toBe('ports 8080/http; static endpoints 0; upstreams 16379->redis,15433->pg');
  });

  it('refuses deleting a Service an upstream names', () => {
    const { resources } = applyYaml(REDIS + web('[{ service: redis, localPort: 16379 }]'));
    expect(checkDelete(['Service/default/redis'], buildModel(1, resources)).map((e) => [e.resource, e.path])).toEqual([['Service/default/web', 'spec.upstreams[0].service']]);
  });

  const mix = "a Service's ports are all tcp or all HTTP-family (http, http2, grpc), because its sidecar forwards inbound connections to one app port with one protocol; make two Services";
  it.each([
    ['tcp and http ports', svc('s', '[{ port: 1, protocol: tcp }, { port: 2, protocol: http }]'), [['Service/default/s', 'spec.ports[1].protocol', `'http' mixes with 'tcp' (spec.ports[0]): ${mix}`]]],
    ['grpc and tcp ports', svc('s', '[{ port: 1, protocol: grpc }, { port: 2 }, { port: 3, protocol: tcp }]'), [['Service/default/s', 'spec.ports[2].protocol', `'tcp' mixes with 'grpc' (spec.ports[0]): ${mix}`]]],
    ['an unknown protocol', svc('s', '[{ port: 1, protocol: udp }]'), [['Service/default/s', 'spec.ports[0].protocol', "must be one of http, http2, grpc, tcp; got 'udp'"]]],
    ['an upstream without service and localPort', REDIS + web('[{ port: 6379 }]'), [['Service/default/web', 'spec.upstreams[0].service', 'is required'], ['Service/default/web', 'spec.upstreams[0].localPort', 'is required']]],
    ['an unknown upstream field', REDIS + web('[{ service: redis, localPort: 16379, protocol: tcp }]'), [['Service/default/web', 'spec.upstreams[0].protocol', 'unknown field (allowed: service, namespace, port, localPort, bindAddress)']]],
    ['localPort 15001', REDIS + web('[{ service: redis, localPort: 15001 }]'), [['Service/default/web', 'spec.upstreams[0].localPort', '15001 is a port the sidecar binds itself (admin 15000, outbound 15001, inbound 15006); pick another']]],
    ['localPort 15000', REDIS + web('[{ service: redis, localPort: 15000 }]'), [['Service/default/web', 'spec.upstreams[0].localPort', '15000 is a port the sidecar binds itself (admin 15000, outbound 15001, inbound 15006); pick another']]],
    ['localPort 15006', REDIS + web('[{ service: redis, localPort: 15006 }]'), [['Service/default/web', 'spec.upstreams[0].localPort', '15006 is a port the sidecar binds itself (admin 15000, outbound 15001, inbound 15006); pick another']]],
    ['localPort 0', REDIS + web('[{ service: redis, localPort: 0 }]'), [['Service/default/web', 'spec.upstreams[0].localPort', 'must be an integer from 1 to 65535, got 0']]],
    ['a localPort twice', REDIS + PG + web('[{ service: redis, localPort: 16379 }, { service: pg, port: 5432, localPort: 16379 }]'), [['Service/default/web', 'spec.upstreams[1].localPort', '16379 is also the localPort of spec.upstreams[0]; each upstream needs its own local port']]],
    ['a bindAddress that is a name', REDIS + web('[{ service: redis, localPort: 16379, bindAddress: localhost }]'), [['Service/default/web', 'spec.upstreams[0].bindAddress', "'localhost' is not an IP address (v4 or v6 literal); the sidecar binds it as given"]]],
    ['an upstream that does not exist', web('[{ service: redis, localPort: 16379 }]'), [['Service/default/web', 'spec.upstreams[0].service', 'Service default/redis does not exist']]],
    ['an upstream in another namespace that does not exist', REDIS + web('[{ service: redis, namespace: data, localPort: 16379 }]'), [['Service/default/web', 'spec.upstreams[0].service', 'Service data/redis does not exist']]],
    ['an HTTP upstream', HTTP + web('[{ service: api, localPort: 18080 }]'), [['Service/default/web', 'spec.upstreams[0].service', 'Service default/api has no tcp port (ports: 8080/http); an upstream carries raw TCP, HTTP services are reached through the outbound listener']]],
    ['an upstream port that is not the service\'s', REDIS + web('[{ service: redis, port: 6380, localPort: 16379 }]'), [['Service/default/web', 'spec.upstreams[0].port', 'Service default/redis has no tcp port 6380 (tcp ports: 6379)']]],
    ['no port for a service with several tcp ports', PG + web('[{ service: pg, localPort: 15432 }]'), [['Service/default/web', 'spec.upstreams[0].port', 'is required: Service default/pg has several tcp ports (5432, 5433)']]],
  ])('refuses %s, with the field path and reason', (_what, yaml, expected) => {
    expect(errorsOf(yaml)).toEqual(expected);
    for (const e of applyYaml(yaml).errors) expect(e.file).toBe('f.yaml');
  });
});

describe('TrafficPolicy on a tcp service', () => {
  it('accepts the fields that act on connections', () => {
    const { resources, errors } = applyYaml(REDIS + tp(`  loadBalancer: { type: RingHash, ringHash: { hashOn: sourceIP }, localityAware: true }
  subsets: [{ name: v1, labels: { version: v1 } }]
  connectionPool: { maxConnections: 50, connectTimeout: 1s, idleTimeout: 5m }
  outlierDetection: { consecutive5xx: 2, consecutiveGatewayErrors: 2, interval: 5s }
  healthCheck: { interval: 2s, timeout: 500ms, unhealthyThreshold: 3 }
  retry: { attempts: 2 }`));
    expect(errors).toEqual([]);
    const p = resources.find((r) => r.kind === 'TrafficPolicy') as TrafficPolicyResource;
    expect(p.spec.healthCheck).toEqual({ intervalMs: 2000, timeoutMs: 500, unhealthyThreshold: 3, healthyThreshold: 2, expectedStatuses: [[200, 400]] });
  });

  const R = 'TrafficPolicy/default/p';
  it.each([
    ['maxPendingRequests', '  connectionPool: { maxPendingRequests: 10 }', 'spec.connectionPool.maxPendingRequests', 'a tcp service has no requests (limit connections with maxConnections)'],
    ['maxRequests', '  connectionPool: { maxRequests: 10 }', 'spec.connectionPool.maxRequests', 'a tcp service has no requests (limit connections with maxConnections)'],
    ['maxRetries', '  connectionPool: { maxRetries: 1 }', 'spec.connectionPool.maxRetries', 'a tcp service has no requests to retry (retry.attempts sets the connect attempts, the first included)'],
    ['loadBalancer.choiceCount', '  loadBalancer: { type: LeastRequest, choiceCount: 3 }', 'spec.loadBalancer.choiceCount', 'a tcp service balances LeastRequest by the open connections of every endpoint (a full scan): connections live long, so sampling two is not worth its error'],
    ['retry.retryOn', '  retry: { retryOn: [connect-failure] }', 'spec.retry.retryOn', 'a tcp service has no requests: a failed connect is retried (retry.attempts), nothing else'],
    ['retry.codes', '  retry: { codes: [503] }', 'spec.retry.codes', 'a tcp service has no requests, so no status codes'],
    ['retry.perTryTimeout', '  retry: { perTryTimeout: 1s }', 'spec.retry.perTryTimeout', 'a tcp service has no requests (connectionPool.connectTimeout bounds each connect attempt)'],
    ['retry.backoff', '  retry: { backoff: { baseInterval: 10ms } }', 'spec.retry.backoff', 'a tcp service has no requests: connect attempts follow one another at once'],
    ['retry.budget', '  retry: { budget: { percent: 10 } }', 'spec.retry.budget', 'a tcp service has no requests to retry'],
    ['timeout', '  timeout: 5s', 'spec.timeout', 'a tcp service has no requests (connectionPool.idleTimeout closes idle connections)'],
    ['healthCheck.path', '  healthCheck: { path: /healthz }', 'spec.healthCheck.path', 'a tcp service has no requests: its health check is a TCP connect'],
    ['healthCheck.expectedStatuses', '  healthCheck: { expectedStatuses: [{ start: 200, end: 300 }] }', 'spec.healthCheck.expectedStatuses', 'a tcp service has no requests: its health check is a TCP connect, with no status'],
    ['hashOn header', '  loadBalancer: { type: RingHash, ringHash: { hashOn: header, header: x-user } }', 'spec.loadBalancer.ringHash.hashOn', 'a tcp service has no requests, so no header to hash on: use sourceIP'],
    ['hashOn cookie', '  loadBalancer: { type: RingHash, ringHash: { hashOn: cookie, cookie: { name: c } } }', 'spec.loadBalancer.ringHash.hashOn', 'a tcp service has no requests, so no cookie to hash on: use sourceIP'],
  ])('refuses %s', (_what, spec, path, message) => {
    expect(errorsOf(REDIS + tp(spec))).toEqual([[R, path, message]]);
  });

  it('still requires an HTTP service\'s health check path, and takes the HTTP fields there', () => {
    expect(errorsOf(HTTP + tp('  healthCheck: { interval: 2s }', 'api'))).toEqual([[R, 'spec.healthCheck.path', "is required: an HTTP health check requests this path (only a tcp service's check, a TCP connect, has none)"]]);
    expect(errorsOf(HTTP + tp('  healthCheck: { path: /h }\n  timeout: 2s\n  retry: { retryOn: [5xx], perTryTimeout: 1s }\n  connectionPool: { maxRequests: 3 }', 'api'))).toEqual([]);
  });
});

describe('Gateway TCP and TLS listeners', () => {
  it('accepts TCP and TLS Passthrough listeners; TLS listeners share a port by hostname', () => {
    const { resources, errors } = applyYaml(gw('[{ name: db, port: 5432, protocol: TCP }, { name: a, port: 443, protocol: TLS, hostname: a.example, tls: { mode: Passthrough } }, { name: any, port: 443, protocol: TLS, tls: { mode: Passthrough } }]'));
    expect(errors).toEqual([]);
    const g = resources[0] as GatewayResource;
    expect(g.spec.listeners).toEqual([
      { name: 'db', port: 5432, protocol: 'TCP', allowedRoutes: { namespaces: { from: 'Same' } } },
      { name: 'a', port: 443, protocol: 'TLS', hostname: 'a.example', allowedRoutes: { namespaces: { from: 'Same' } }, tls: { mode: 'Passthrough' } },
      { name: 'any', port: 443, protocol: 'TLS', allowedRoutes: { namespaces: { from: 'Same' } }, tls: { mode: 'Passthrough' } },
    ]);
    expect(kindDefinition('Gateway').summary(g)).toBe('listeners db TCP:5432, a TLS:443 a.example passthrough, any TLS:443 passthrough');
  });

  const G = 'Gateway/default/edge';
  it.each([
    ['a TCP hostname', '[{ name: db, port: 5432, protocol: TCP, hostname: db.example }]', 'spec.listeners[0].hostname', 'a TCP listener takes every connection to its port: it has no hostname (use protocol: TLS to route by SNI)'],
    ['TCP tls settings', '[{ name: db, port: 5432, protocol: TCP, tls: { mode: Passthrough } }]', 'spec.listeners[0].tls', 'a TCP listener has no TLS settings (use protocol: TLS with tls.mode Passthrough to route TLS by SNI)'],
    ['TLS without tls', '[{ name: s, port: 443, protocol: TLS }]', 'spec.listeners[0].tls', 'a TLS listener needs tls.mode: Passthrough (Weft passes TLS through by SNI; to terminate TLS use protocol: HTTPS)'],
    ['TLS without a mode', '[{ name: s, port: 443, protocol: TLS, tls: {} }]', 'spec.listeners[0].tls.mode', 'is required: Passthrough (Weft passes TLS through by SNI; to terminate TLS use protocol: HTTPS)'],
    ['TLS Terminate', '[{ name: s, port: 443, protocol: TLS, tls: { mode: Terminate } }]', 'spec.listeners[0].tls.mode', 'Terminate is not supported on a TLS listener: use protocol: HTTPS to terminate TLS, or mode Passthrough'],
    ['TLS with certificates', '[{ name: s, port: 443, protocol: TLS, tls: { mode: Passthrough, certificateRefs: [{ name: c }] } }]', 'spec.listeners[0].tls.certificateRefs', 'a Passthrough listener never decrypts: the backend serves its own certificate'],
    ['two TCP listeners on a port', '[{ name: a, port: 5432, protocol: TCP }, { name: b, port: 5432, protocol: TCP }]', 'spec.listeners[1].port', 'spec.listeners[0] also takes port 5432 and is TCP too; a TCP listener takes every connection to its port, so it has the port alone'],
    ['TCP and HTTP on a port', '[{ name: a, port: 80, protocol: HTTP }, { name: b, port: 80, protocol: TCP }]', 'spec.listeners[1].port', 'spec.listeners[0] also takes port 80 and is HTTP; HTTP and TCP listeners cannot share a port'],
    ['TLS and HTTPS on a port', '[{ name: a, port: 443, protocol: TLS, tls: { mode: Passthrough } }, { name: b, port: 443, protocol: HTTPS, hostname: b.example, tls: { certificateRefs: [{ name: c }] } }]', 'spec.listeners[1].port', 'spec.listeners[0] also takes port 443 and is TLS; TLS and HTTPS listeners cannot share a port'],
    ['two TLS listeners with one hostname', '[{ name: a, port: 443, protocol: TLS, hostname: a.example, tls: { mode: Passthrough } }, { name: b, port: 443, protocol: TLS, hostname: a.example, tls: { mode: Passthrough } }]', 'spec.listeners[1].port', 'spec.listeners[0] also takes port 443 and has the same hostname (a.example); TLS listeners sharing a port need distinct hostnames (SNI picks one)'],
  ])('refuses %s', (_what, listeners, path, message) => {
    const secret = listeners.includes('certificateRefs: [{ name: c }] } }]') && listeners.includes('HTTPS') ? 'Secret/default/c' : undefined;
    const errs = errorsOf(gw(listeners)).filter((e) => !(secret && e[2].startsWith('Secret default/c does not exist')));
    expect(errs).toEqual([[G, path, message]]);
  });
});

describe('TCPRoute and TLSRoute', () => {
  it('accept Gateway parents (kind defaulting to Gateway), one rule, tcp backends; TLSRoute hostnames', () => {
    const { resources, errors } = applyYaml(REDIS + PG + L4
      + route('TCPRoute', 'db', '  parentRefs: [{ name: edge, sectionName: db }]\n  rules: [{ backendRefs: [{ name: pg, port: 5432, weight: 9 }, { name: redis, weight: 1 }] }]')
      + route('TLSRoute', 'tls', '  parentRefs: [{ name: edge }]\n  hostnames: [a.example.com]\n  rules: [{ backendRefs: [{ name: redis }] }]'));
    expect(errors).toEqual([]);
    const tcp = resources.find((r) => r.kind === 'TCPRoute') as TCPRouteResource;
    expect(tcp.spec).toEqual({
      parentRefs: [{ kind: 'Gateway', name: 'edge', namespace: 'default', sectionName: 'db' }],
      rules: [{ backendRefs: [{ name: 'pg', namespace: 'default', port: 5432, weight: 9 }, { name: 'redis', namespace: 'default', weight: 1 }] }],
    });
    const tls = resources.find((r) => r.kind === 'TLSRoute') as TLSRouteResource;
    expect(tls.spec.hostnames).toEqual(['a.example.com']);
    expect(kindDefinition('TLSRoute').summary(tls)).toBe('parents gateway/edge; hostnames a.example.com; backends redis');
  });

  const T = 'TCPRoute/default/r';
  const S = 'TLSRoute/default/r';
  const H = 'HTTPRoute/default/r';
  it.each([
    ['a TCPRoute with a Service parent', REDIS + route('TCPRoute', 'r', '  parentRefs: [{ kind: Service, name: redis }]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[T, 'spec.parentRefs[0].kind', 'a TCPRoute attaches to Gateway listeners only; mesh callers reach a TCP service through a local port (Service spec.upstreams)']]],
    ['a TCPRoute with two rules', REDIS + L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: redis }] }, { backendRefs: [{ name: redis }] }]'), [[T, 'spec.rules', 'a TCPRoute has one rule: layer 4 has nothing to match on, so a second rule would never be chosen (split the connections by backendRefs weight)']]],
    ['a TCPRoute with no backends', REDIS + L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [] }]'), [[T, 'spec.rules[0].backendRefs', 'must not be empty']]],
    ['a TCPRoute whose backends all weigh 0', REDIS + L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: redis, weight: 0 }] }]'), [[T, 'spec.rules[0].backendRefs', 'every backendRef has weight 0, so every connection would be refused; give one a weight (or delete the route)']]],
    ['a TCPRoute to an HTTP service', HTTP + L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: api }] }]'), [[T, 'spec.rules[0].backendRefs[0].name', 'Service default/api has no tcp port (ports: 8080/http); a TCPRoute carries raw connections, which an HTTP port\'s sidecar would refuse']]],
    ['a TCPRoute to a missing service', L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: nope }] }]'), [[T, 'spec.rules[0].backendRefs[0].name', 'Service default/nope does not exist']]],
    ['a TCPRoute backend port that is not a tcp port', REDIS + L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: redis, port: 80 }] }]'), [[T, 'spec.rules[0].backendRefs[0].port', 'Service default/redis has no tcp port 80 (tcp ports: 6379)']]],
    ['a TCPRoute backend without port, several tcp ports', PG + L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: pg }] }]'), [[T, 'spec.rules[0].backendRefs[0].port', 'is required: Service default/pg has several tcp ports (5432, 5433)']]],
    ['a TCPRoute on an HTTP listener', REDIS + L4 + route('TCPRoute', 'r', '  parentRefs: [{ name: edge, sectionName: web }]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[T, 'spec.parentRefs[0].sectionName', "listener 'web' of Gateway default/edge is HTTP; a TCPRoute attaches to TCP listeners"]]],
    ['a TCPRoute on a Gateway without TCP listeners', REDIS + gw('[{ name: web, port: 80, protocol: HTTP }, { name: web2, port: 81, protocol: HTTP }]') + route('TCPRoute', 'r', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[T, 'spec.parentRefs[0]', 'no selected listener of Gateway default/edge (web: HTTP, web2: HTTP) fits; a TCPRoute attaches to TCP listeners']]],
    ['a second TCPRoute on a TCP listener', REDIS + L4 + route('TCPRoute', 'a', '  parentRefs: [{ name: edge }]\n  rules: [{ backendRefs: [{ name: redis }] }]') + route('TCPRoute', 'r', '  parentRefs: [{ name: edge, port: 5432 }]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[T, 'spec.parentRefs[0]', "TCPRoute default/a already takes the connections of listener 'db' of Gateway default/edge; one TCPRoute per TCP listener (split connections by backendRefs weight)"]]],
    ['a TLSRoute on a TCP listener', REDIS + L4 + route('TLSRoute', 'r', '  parentRefs: [{ name: edge, sectionName: db }]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[S, 'spec.parentRefs[0].sectionName', "listener 'db' of Gateway default/edge is TCP; a TLSRoute attaches to TLS listeners"]]],
    ['a TLSRoute whose hostnames miss the listener\'s', REDIS + L4 + route('TLSRoute', 'r', '  parentRefs: [{ name: edge }]\n  hostnames: [a.example.org]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[S, 'spec.parentRefs[0]', "no hostname of the route (a.example.org) matches the hostname of listener 'tls' of Gateway default/edge (*.example.com)"]]],
    ['a TLSRoute hostname twice', REDIS + L4 + route('TLSRoute', 'r', '  parentRefs: [{ name: edge }]\n  hostnames: [a.example.com, a.example.com]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[S, 'spec.hostnames[1]', "'a.example.com' is listed twice"]]],
    ['a TLSRoute hostname that is an IP address', REDIS + L4 + route('TLSRoute', 'r', '  parentRefs: [{ name: edge }]\n  hostnames: [10.0.0.1]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[S, 'spec.hostnames[0]', "'10.0.0.1' is an IP address; SNI carries host names only"]]],
    ['a TLSRoute taking an SNI name another has', REDIS + L4 + route('TLSRoute', 'a', '  parentRefs: [{ name: edge }]\n  hostnames: [a.example.com]\n  rules: [{ backendRefs: [{ name: redis }] }]') + route('TLSRoute', 'r', '  parentRefs: [{ name: edge }]\n  hostnames: [b.example.com, a.example.com]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[S, 'spec.parentRefs[0]', "TLSRoute default/a already takes SNI a.example.com on listener 'tls' of Gateway default/edge; one TLSRoute per host name and listener"]]],
    ['an HTTPRoute on a TCP listener', HTTP + L4 + route('HTTPRoute', 'r', '  parentRefs: [{ kind: Gateway, name: edge, sectionName: db }]\n  rules: [{ backendRefs: [{ name: api }] }]'), [[H, 'spec.parentRefs[0].sectionName', "listener 'db' of Gateway default/edge is TCP; a HTTPRoute attaches to HTTP or HTTPS listeners"]]],
    ['an HTTPRoute for a tcp service', REDIS + route('HTTPRoute', 'r', '  parentRefs: [{ name: redis }]\n  rules: [{ backendRefs: [{ name: redis }] }]'), [[H, 'spec.parentRefs[0].name', 'Service default/redis is a tcp service: it has no requests for a HTTPRoute to route (its callers reach it through spec.upstreams)'], [H, 'spec.rules[0].backendRefs[0].name', 'Service default/redis port 6379 is tcp: a HTTPRoute sends requests, which a tcp port does not take (use a TCPRoute)']]],
  ])('refuses %s', (_what, yaml, expected) => {
    expect(errorsOf(yaml)).toEqual(expected);
  });

  it('attach an HTTPRoute without sectionName to the HTTP listeners only (no error for the TCP ones)', () => {
    expect(errorsOf(HTTP + L4 + route('HTTPRoute', 'r', '  parentRefs: [{ kind: Gateway, name: edge }]\n  rules: [{ backendRefs: [{ name: api }] }]'))).toEqual([]);
  });
});

describe('HTTP policies on tcp services and layer-4 listeners', () => {
  const SHP = (target: string) => `apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: v }
spec:
  targetRefs: [${target}]
  requestBodySchema: { type: object }
---
`;
  const CTP = (fields: string) => `apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: c }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: db }]
${fields}
---
`;
  it('refuses an HTTP policy targeting a tcp Service or a TCP listener', () => {
    const svcErr = errorsOf(REDIS + SHP('{ group: weft.dev, kind: Service, name: redis }'));
    expect(svcErr).toEqual([['ValidationPolicy/default/v', 'spec.targetRefs[0].name', 'Service default/redis is a tcp service: it has no requests, so a ValidationPolicy would never apply there']]);
    const lErr = errorsOf(L4 + SHP('{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: db }'));
    expect(lErr).toEqual([['ValidationPolicy/default/v', 'spec.targetRefs[0].sectionName', "listener 'db' of Gateway default/edge is TCP or TLS passthrough: no requests, so a ValidationPolicy would never apply there"]]);
  });

  it('takes a ClientTrafficPolicy\'s connection limits on a TCP listener and refuses its request limits', () => {
    expect(errorsOf(L4 + CTP('  maxConnections: 10\n  idleTimeout: 30s'))).toEqual([]);
    expect(errorsOf(L4 + CTP('  maxConnections: 10\n  maxUriLength: 100\n  requestHeaderTimeout: 1s'))).toEqual([
      ['ClientTrafficPolicy/default/c', 'spec.maxUriLength', 'every listener this policy targets is TCP or TLS passthrough: connections carry no requests (only maxConnections and idleTimeout apply)'],
      ['ClientTrafficPolicy/default/c', 'spec.requestHeaderTimeout', 'every listener this policy targets is TCP or TLS passthrough: connections carry no requests (only maxConnections and idleTimeout apply)'],
    ]);
  });

  it('refuses maxConnections on a TLS listener that is not its port\'s first (the first\'s limit holds for the port)', () => {
    const TLS2 = gw('[{ name: a, port: 443, protocol: TLS, hostname: a.example, tls: { mode: Passthrough } }, { name: b, port: 443, protocol: TLS, tls: { mode: Passthrough } }]');
    const ctp = (section: string, fields: string) => CTP(fields).replace('sectionName: db', `sectionName: ${section}`);
    expect(errorsOf(TLS2 + ctp('b', '  maxConnections: 10'))).toEqual([['ClientTrafficPolicy/default/c', 'spec.targetRefs[0].sectionName', "listener 'b' shares port 443 with 'a', whose maxConnections holds for the port (connections are counted before SNI picks a listener): target 'a' (or the Gateway)"]]);
    expect(errorsOf(TLS2 + ctp('b', '  idleTimeout: 10s'))).toEqual([]);
    expect(errorsOf(TLS2 + ctp('a', '  maxConnections: 10'))).toEqual([]);
  });

  it('lets an AuthorizationPolicy select a tcp service (its `to` and `when` apply as Istio does for TCP)', () => {
    expect(errorsOf(REDIS + `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: a }
spec:
  service: redis
  action: ALLOW
  rules: [{ from: [{ namespaces: [default] }], to: [{ paths: [/x] }] }]
`)).toEqual([]);
  });
});

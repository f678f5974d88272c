// The sidecar's decoder for layer-4 listeners refuses what it does not execute, each with its
// field path: a TCP listener accepted with an ignored field would proxy differently than asked.
import { describe, expect, it } from 'vitest';
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import { RBAC_Action } from '../../../proto/gen/envoy/config/rbac/v3/rbac_pb.js';
import { RBAC_EnforcementType } from '../../../proto/gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js';
import { listenerErrors, tcpListenerConfig, tcpProxy } from '../../harness/tcp.js';

const proxy = tcpProxy({ statPrefix: 's', cluster: 'c' });
const rbac = (over: object) => typedExtension(EXTENSIONS.networkRbac, { statPrefix: 's', rules: { action: RBAC_Action.ALLOW, policies: {} }, ...over });
const inspector = typedExtension(EXTENSIONS.tlsInspector, {});

describe('TCP listener decoding', () => {
  it('decodes tcp_proxy with its executed fields', () => {
    const c = tcpListenerConfig({ filterChains: [{ filters: [tcpProxy({ statPrefix: 's', cluster: 'c', idleTimeout: { seconds: 7n }, maxConnectAttempts: 3, hashPolicy: [{ policySpecifier: { case: 'sourceIp', value: {} } }], maxDownstreamConnectionDuration: { seconds: 60n } })] }] });
    expect(c.chains[0]!.proxy).toEqual({ statPrefix: 's', clusters: [{ name: 'c', weight: 1 }], totalWeight: 1, idleTimeoutMs: 7000, maxConnectAttempts: 3, hashSourceIp: true, maxDurationMs: 60_000 });
    // Envoy's defaults: one attempt, an hour of idleness.
    expect(tcpListenerConfig({ filterChains: [{ filters: [proxy] }] }).chains[0]!.proxy).toMatchObject({ idleTimeoutMs: 3_600_000, maxConnectAttempts: 1, hashSourceIp: false, maxDurationMs: 0 });
    const w = tcpListenerConfig({ filterChains: [{ filters: [typedExtension(EXTENSIONS.tcpProxy, { statPrefix: 's', clusterSpecifier: { case: 'weightedClusters', value: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }] } } })] }] });
    expect(w.chains[0]!.proxy).toMatchObject({ clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 3 }], totalWeight: 4 });
    const p = tcpListenerConfig({ listenerFilters: [inspector], filterChains: [{ filterChainMatch: { serverNames: ['A.Example'], transportProtocol: 'tls' }, filters: [proxy] }] });
    expect([p.passthrough, p.chains[0]!.serverNames]).toEqual([true, ['a.example']]);
  });

  const cases: Array<[string, Parameters<typeof listenerErrors>[0], string]> = [
    ['an unknown network filter', { filterChains: [{ filters: [typedExtension(EXTENSIONS.httpConnectionManager, {}), proxy] }] }, "filter_chains[0].filters[0].typed_config.type_url: network filter 'envoy.filters.network.http_connection_manager'"],
    ['tcp_proxy without a cluster', { filterChains: [{ filters: [typedExtension(EXTENSIONS.tcpProxy, { statPrefix: 's' })] }] }, 'filter_chains[0].filters[0].typed_config: needs cluster or weighted_clusters'],
    ['tcp_proxy without stat_prefix', { filterChains: [{ filters: [tcpProxy({ statPrefix: '', cluster: 'c' })] }] }, 'filter_chains[0].filters[0].typed_config.stat_prefix: is required'],
    ['an access log on tcp_proxy', { filterChains: [{ filters: [tcpProxy({ statPrefix: 's', cluster: 'c', accessLog: [{ name: 'x' }] })] }] }, 'filter_chains[0].filters[0].typed_config.access_log: is not supported by the Weft sidecar'],
    ['upstream_idle_timeout', { filterChains: [{ filters: [tcpProxy({ statPrefix: 's', cluster: 'c', upstreamIdleTimeout: { seconds: 1n } })] }] }, 'filter_chains[0].filters[0].typed_config.upstream_idle_timeout: is not supported'],
    ['a filter_state hash', { filterChains: [{ filters: [tcpProxy({ statPrefix: 's', cluster: 'c', hashPolicy: [{ policySpecifier: { case: 'filterState', value: { key: 'k' } } }] })] }] }, 'hash_policy[0].filter_state: is not supported'],
    ['0 connect attempts', { filterChains: [{ filters: [tcpProxy({ statPrefix: 's', cluster: 'c', maxConnectAttempts: 0 })] }] }, 'filter_chains[0].filters[0].typed_config.max_connect_attempts: must be 1..100'],
    ['a weighted cluster of weight 0', { filterChains: [{ filters: [typedExtension(EXTENSIONS.tcpProxy, { statPrefix: 's', clusterSpecifier: { case: 'weightedClusters', value: { clusters: [{ name: 'a', weight: 0 }] } } })] }] }, 'weighted_clusters.clusters[0].weight: must be at least 1'],
    ['RBAC after tcp_proxy', { filterChains: [{ filters: [proxy, rbac({})] }] }, 'filter_chains[0].filters[0]: tcp_proxy must be the last filter of the chain'],
    ['RBAC enforced continuously', { filterChains: [{ filters: [rbac({ enforcementType: RBAC_EnforcementType.CONTINUOUS }), proxy] }] }, 'filter_chains[0].filters[0].typed_config.enforcement_type: only ONE_TIME_ON_FIRST_BYTE is supported'],
    ['RBAC shadow rules', { filterChains: [{ filters: [rbac({ shadowRules: { action: RBAC_Action.DENY } }), proxy] }] }, 'filter_chains[0].filters[0].typed_config.shadow_rules: is not supported'],
    [
      'an HTTP header condition in network RBAC',
      { filterChains: [{ filters: [rbac({ rules: { action: RBAC_Action.ALLOW, policies: { p: { permissions: [{ rule: { case: 'header', value: { name: ':method' } } }], principals: [{ identifier: { case: 'any', value: true } }] } } } }), proxy] }] },
      'filter_chains[0].filters[0].typed_config.rules.policies["p"].permissions[0].header: is an HTTP condition; network RBAC (a TCP connection) has no headers or path',
    ],
    ['server_names without tls_inspector', { filterChains: [{ filterChainMatch: { serverNames: ['a.example'] }, filters: [proxy] }] }, 'filter_chains[0].filter_chain_match.server_names: SNI matching needs the envoy.filters.listener.tls_inspector listener filter'],
    ['a passthrough chain that terminates TLS', { listenerFilters: [inspector], filterChains: [{ filters: [proxy], transportSocket: typedExtension(EXTENSIONS.downstreamTls, {}) }] }, 'filter_chains[0].transport_socket: a TLS passthrough chain never terminates TLS'],
    ['two default passthrough chains', { listenerFilters: [inspector], filterChains: [{ filters: [proxy] }, { filters: [proxy] }] }, 'filter_chains: 2 chains have no server_names; at most one may be the default'],
    ['the same SNI twice', { listenerFilters: [inspector], filterChains: [{ filterChainMatch: { serverNames: ['a.example'] }, filters: [proxy] }, { filterChainMatch: { serverNames: ['a.example'] }, filters: [proxy] }] }, "filter_chains[1].filter_chain_match.server_names[0]: 'a.example' is also matched by filter_chains[0]"],
    ['an SNI that is not a host name', { listenerFilters: [inspector], filterChains: [{ filterChainMatch: { serverNames: ['a b'] }, filters: [proxy] }] }, "filter_chains[0].filter_chain_match.server_names[0]: 'a b' is not a host name or *.suffix wildcard"],
    ['tls_inspector options', { listenerFilters: [typedExtension(EXTENSIONS.tlsInspector, { enableJa3Fingerprinting: true })], filterChains: [{ filters: [proxy] }] }, 'listener_filters[0].typed_config: tls_inspector options are not supported'],
    ['chains that differ in filters (no SNI)', { filterChains: [{ filters: [proxy] }, { filters: [tcpProxy({ statPrefix: 's', cluster: 'other' })] }] }, "filter_chains[1].filters: must equal filter_chains[0]'s"],
    ['a passthrough chain without tcp_proxy (its SNI names would fall to another chain)', { listenerFilters: [inspector], filterChains: [{ filterChainMatch: { serverNames: ['a.example'] }, filters: [proxy] }, { filterChainMatch: { serverNames: ['b.example'] }, filters: [rbac({})] }] }, 'filter_chains[1].filters: must end with tcp_proxy'],
    ['listener filters on an HTTP listener', { listenerFilters: [inspector], filterChains: [{ filters: [typedExtension(EXTENSIONS.httpConnectionManager, {})] }] }, 'listener_filters: only TCP (tcp_proxy) listeners take listener filters'],
  ];
  it.each(cases)('refuses %s', (_name, init, want) => {
    const errs = listenerErrors(init);
    expect(errs.some((e) => e.includes(want)), `got:\n${errs.join('\n')}`).toBe(true);
  });
});

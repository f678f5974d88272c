/**
 * The sidecar's admin listener (loopback by default): `/ready` (200 once config arrived, the app
 * port accepts connections and not draining), `/config_dump` (accepted resources and versions as proto3 JSON), `/clusters`
 * (endpoints, health, counters) and `/stats/prometheus` (docs/observability.md lists the metrics);
 * `POST /cache/purge` with `{"tag": T}` or `{"key": URL}` purges the HTTP cache's stores (a
 * Redis store is shared, so one replica's purge empties it for all).
 */
import { faultCounters, type FaultCounters } from '../http/filters/fault.js';
import { lifecycleCounters, type LifecycleCounters } from '../http/filters/api-lifecycle.js';
import type { ConsumerStats } from '../telemetry/consumer-stats.js';
import { validationCounters } from '../http/filters/validation.js';
import { compressorCounters, type CompressorCounters } from '../http/filters/compressor.js';
import type { PurgeResult } from '../http/cache/stores.js';
import { uncaughtErrors } from '../telemetry/guard.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry, toJson, type DescMessage, type Message } from '@bufbuild/protobuf';
import { ClusterSchema } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { SecretSchema } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { EXTENSION_SCHEMAS } from '../../common/extensions.js';
import { LIMIT_NAMES } from '../listeners/http-listener.js';
import type { ServingListener } from '../listeners/gateway-listeners.js';
import { CONNECTION_DURATION_BOUNDS, type TcpStats } from '../telemetry/tcp-stats.js';
import type { Runtime } from '../runtime.js';
import type { AppProbe } from '../upstream/app-probe.js';
import type { XdsConfig } from '../xds/ads-client.js';
import { splitPem, summarize, type MeshTls } from '../tls/mesh-tls.js';
import type { Tracing } from '../telemetry/tracing.js';
import type { AccessLog } from '../telemetry/access-log.js';
import { DURATION_BOUNDS, type RequestStats } from '../telemetry/request-stats.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import { Metrics } from '../../common/prometheus.js';
import { ExplainInputError, explainListener, explainRequestOf, type ExplainRequest } from '../explain/explain.js';

// Every typed config Weft emits (common/extensions.ts) renders in the dump, and secrets.
const registry = createRegistry(...EXTENSION_SCHEMAS, SecretSchema);

export interface AdminState {
  runtime: Runtime;
  listeners: readonly ServingListener[];
  /** Layer-4 connection counters per cluster (TCP services). */
  tcp?: TcpStats;
  xds: () => XdsConfig;
  xdsConnected: () => boolean;
  /** 'delta' or 'sotw': the ADS variant in use. */
  xdsProtocol: () => string;
  draining: () => boolean;
  /** xDS updates accepted / rejected per type. */
  xdsCounters: Map<string, { accepted: number; rejected: number }>;
  node: { id: string; service: string; namespace: string };
  tls?: MeshTls;
  tracing?: Tracing;
  requests?: RequestStats;
  /** Per-consumer analytics (absent: --metrics-max-consumers 0). */
  consumers?: ConsumerStats;
  accessLog?: AccessLog;
  loadReports?: { readonly sent: number };
  /** The app port probe (a sidecar; a gateway has no app). */
  app?: Pick<AppProbe, 'state' | 'address'>;
}

function json<T extends DescMessage>(schema: T, m: Message): unknown {
  try {
    return toJson(schema, m as never, { registry });
  } catch (e) {
    // An Any of a type this sidecar does not know (it would have been NACKed if it mattered).
    return { error: `cannot render as JSON: ${(e as Error).message}` };
  }
}

export function configDump(s: AdminState): unknown {
  const x = s.xds();
  return {
    node: s.node,
    xds: { protocol: s.xdsProtocol(), connected: s.xdsConnected() },
    versions: x.versions,
    listeners: [...x.listeners.values()].map((l) => json(ListenerSchema, l.listener)),
    routes: [...x.routes.values()].map((r) => json(RouteConfigurationSchema, r)),
    clusters: [...x.clusters.values()].map((c) => json(ClusterSchema, c.cluster)),
    endpoints: [...x.endpoints.values()].map((e) => json(ClusterLoadAssignmentSchema, e.cla)),
    secrets: secretsView(s),
  };
}

/** Certificates in use: facts only (subject, SAN, serial, validity, fingerprints), never key material. */
export function secretsView(s: AdminState): unknown {
  const t = s.tls;
  if (!t) return [];
  const out: unknown[] = [];
  const c = t.cert;
  if (c) out.push({ name: 'default', kind: 'workload certificate', ...summarize(c.chainPem[0]!), spiffeId: c.spiffeId, chain: c.chainPem.slice(1).map(summarize), rotations: t.rotations });
  const b = splitPem(t.bundlePem);
  if (b.length) out.push({ name: 'ROOTCA', kind: 'trust bundle', roots: b.map(summarize), version: s.xds().versions.secret ?? '' });
  return out;
}

/** Why a host is not healthy, as /clusters and /explain say it (empty when healthy). */
function healthOf(h: UpstreamCluster['hosts'][number]): string[] {
  return [h.hcFailed ? 'failed_active_hc' : '', h.edsUnhealthy ? 'eds_unhealthy' : '', h.ejectedUntil ? 'outlier_ejected' : ''].filter(Boolean);
}

/**
 * `/explain?method=GET&url=http://orders/v1/items&header=x-canary:%20yes[&listener=outbound|inbound][&principal=spiffe://...]`:
 * one listener's decision for a request on this proxy's accepted config (sidecar/explain), with
 * its hosts' health as this proxy sees it now (active checks, outlier ejections).
 */
async function explainHere(s: AdminState, listener: string, req: ExplainRequest): Promise<unknown> {
  const live = new Map(
    [...s.runtime.clusters().values()].map((c) => [
      c.name,
      c.hosts.map((h) => ({ address: h.key, zone: h.zone, priority: h.priority, weight: h.weight, healthy: h.healthy, health: healthOf(h), mtls: h.mesh })),
    ]),
  );
  return explainListener(s.xds(), listener, req, { hosts: (name) => live.get(name) });
}

export function clustersView(s: AdminState): unknown {
  return [...s.runtime.clusters().values()].map((c) => ({
    name: c.name,
    protocol: c.http2 ? 'h2' : 'http/1.1',
    limits: c.limits,
    stats: { ...c.stats, ejections: c.ejectionsTotal, retriesActive: c.retriesActive },
    hosts: c.hosts.map((h) => ({
      address: h.key,
      zone: h.zone,
      priority: h.priority,
      weight: h.weight,
      healthy: h.healthy,
      health: healthOf(h),
      active: h.active,
      rqTotal: h.rqTotal,
      rqError: h.rqError,
      cxConnectFail: h.cxConnectFail,
      ejections: h.ejections,
    })),
  }));
}

/**
 * The API analytics and lifecycle metrics: per (direction, route, cluster, consumer) from
 * ConsumerStats (absent: --metrics-max-consumers 0), per (policy, consumer) from the lifecycle
 * filter. Consumer label values are bounded by telemetry/consumer-label.ts.
 */
export function registerConsumerMetrics(m: Metrics, consumers: ConsumerStats | undefined): void {
  if (consumers) {
    const c = consumers;
    const L4 = ['direction', 'route', 'cluster', 'consumer'];
    m.pull('counter', 'weft_consumer_requests_total', 'Requests finished, per direction, route, cluster and API consumer (anonymous: none; other: past --metrics-max-consumers).', L4, () => c.groups.map((g) => [g.labels, g.requests] as const));
    m.pull('counter', 'weft_consumer_errors_total', 'Requests that failed (no response, 5xx, server-side gRPC error) or that the proxy refused (x-weft-error), per direction, route, cluster and API consumer.', L4, () => c.groups.map((g) => [g.labels, g.errors] as const));
    m.pull('counter', 'weft_consumer_rate_limited_total', 'Requests refused RATE_LIMITED or QUOTA_EXCEEDED, per direction, route, cluster and API consumer.', L4, () => c.groups.map((g) => [g.labels, g.rateLimited] as const));
    m.histogram('weft_consumer_request_duration_seconds', 'Request duration per direction, route, cluster and API consumer.', DURATION_BOUNDS, () => c.groups);
    m.pull('counter', 'weft_consumer_series_overflow_total', 'Per-consumer series folded into route, cluster and consumer "other" because --metrics-max-series was reached.', [], () => [[{}, c.overflowed]]);
    m.pull('counter', 'weft_consumer_label_folded_total', 'Requests whose consumer was counted as "other" because --metrics-max-consumers names already had a label.', [], () => [[{}, c.folded]]);
  }
  const lc = (f: (x: LifecycleCounters) => number) => () => [...lifecycleCounters()].flatMap(([policy, byConsumer]) => [...byConsumer].map(([consumer, x]) => [{ policy, consumer }, f(x)] as const));
  m.pull('counter', 'weft_api_deprecated_requests_total', 'Requests forwarded to an API version with an ApiLifecyclePolicy (a deprecated version), per policy and consumer.', ['policy', 'consumer'], lc((x) => x.deprecated));
  m.pull('counter', 'weft_api_sunset_rejections_total', 'Requests answered 410 Gone after an ApiLifecyclePolicy sunset, per policy and consumer.', ['policy', 'consumer'], lc((x) => x.sunsetRejected));
}

/**
 * Registers every sidecar metric on `m`. Counters the sidecar keeps in plain fields are read at
 * scrape time; request series come from RequestStats. Label values are bounded: listener names,
 * cluster and route names from the pushed config, status classes, gRPC code names, xDS types.
 */
export function registerSidecarMetrics(m: Metrics, s: AdminState): void {
  const L = () => s.listeners;
  const C = () => [...s.runtime.clusters().values()];
  const perListener = (f: (l: ServingListener) => number) => () => L().map((l) => [{ listener: l.name }, f(l)] as const);
  const perCluster = (f: (c: UpstreamCluster) => number) => () => C().map((c) => [{ cluster: c.name }, f(c)] as const);
  if (s.requests) {
    const r = s.requests;
    m.histogram('weft_request_duration_seconds', 'Request duration from the first byte received to the response end, by direction, service, route, cluster, status class and gRPC status.', DURATION_BOUNDS, () => r.series);
    m.pull('counter', 'weft_requests_total', 'Requests finished, by direction, service, route, cluster, status class and gRPC status.', ['direction', 'service', 'route', 'cluster', 'status_class', 'grpc_status'], () => r.series.map((x) => [x.labels, x.count] as const));
    m.pull('counter', 'weft_metrics_series_overflow_total', 'Requests whose (route, cluster) was folded into route="other" because the series limit was reached.', [], () => [[{}, r.overflowed]]);
  }
  registerConsumerMetrics(m, s.consumers);
  m.pull('counter', 'weft_downstream_requests_total', 'Requests received per listener.', ['listener'], perListener((l) => l.stats.rqTotal));
  m.pull('gauge', 'weft_downstream_requests_active', 'Requests in flight per listener.', ['listener'], perListener((l) => l.stats.rqActive));
  m.pull('counter', 'weft_downstream_requests_rejected_total', 'Malformed requests answered 4xx by the parser.', ['listener'], perListener((l) => l.stats.rqRejected));
  m.pull('counter', 'weft_downstream_connections_total', 'Connections accepted per listener.', ['listener'], perListener((l) => l.stats.cxTotal));
  m.pull('gauge', 'weft_downstream_connections_active', 'Open downstream connections per listener.', ['listener'], perListener((l) => l.stats.cxActive));
  m.pull('counter', 'weft_sidecar_uncaught_errors_total', 'Exceptions and rejections no handler caught; logged, and the sidecar kept serving. Should stay 0.', [], () => [[{}, uncaughtErrors()] as const]);
  m.pull('counter', 'weft_downstream_internal_errors_total', 'Requests our own code failed on (answered 500 or cut short; the sidecar kept serving). Should stay 0.', ['listener'], perListener((l) => l.stats.internalErrors));
  m.pull('counter', 'weft_downstream_tls_handshake_errors_total', 'Failed TLS handshakes (no or untrusted client certificate) per listener.', ['listener'], perListener((l) => l.stats.tlsHandshakeErrors));
  m.pull('counter', 'weft_downstream_limit_rejections_total', 'Requests and connections a listener limit refused or closed (ClientTrafficPolicy), per listener and limit.', ['listener', 'limit'], () =>
    L().flatMap((l) => LIMIT_NAMES.filter((k) => l.stats.limits[k] > 0).map((k) => [{ listener: l.name, limit: k }, l.stats.limits[k]] as const)),
  );
  m.pull('counter', 'weft_downstream_connections_refused_total', 'Connections refused for their transport (plaintext in STRICT mTLS) per listener.', ['listener'], perListener((l) => l.stats.cxRefusedTransport));
  const faults = (f: (c: FaultCounters) => number) => () => [...faultCounters()].map(([listener, c]) => [{ listener }, f(c)] as const);
  m.pull('counter', 'weft_fault_delays_injected_total', 'Requests a fault filter (FaultPolicy) delayed, per listener.', ['listener'], faults((c) => c.delays));
  m.pull('counter', 'weft_fault_aborts_injected_total', 'Requests a fault filter (FaultPolicy) aborted, per listener.', ['listener'], faults((c) => c.aborts));
  const comp = (f: (c: CompressorCounters) => number) => () =>
    [...compressorCounters()].map(([key, c]) => {
      const bar = key.lastIndexOf('|');
      return [{ listener: key.slice(0, bar), encoding: key.slice(bar + 1) }, f(c)] as const;
    });
  m.pull('counter', 'weft_compressor_compressed_total', 'Responses a compressor filter (CompressionPolicy) compressed, per listener and encoding (Envoy compressor.<lib>.compressed).', ['listener', 'encoding'], comp((c) => c.compressed));
  m.pull('counter', 'weft_compressor_not_compressed_total', 'Eligible-looking responses a compressor entry did not compress (another encoding chosen, the client did not ask, too small, ETag), per listener and encoding.', ['listener', 'encoding'], comp((c) => c.notCompressed));
  m.pull('counter', 'weft_compressor_no_accept_header_total', 'Compressible responses to requests without Accept-Encoding, per listener and encoding.', ['listener', 'encoding'], comp((c) => c.noAcceptHeader));
  m.pull('counter', 'weft_compressor_content_length_too_small_total', 'Responses under the policy\'s minContentLength, per listener and encoding.', ['listener', 'encoding'], comp((c) => c.contentLengthTooSmall));
  m.pull('counter', 'weft_compressor_not_compressed_etag_total', 'Responses left alone for their ETag (disableOnETag), per listener and encoding.', ['listener', 'encoding'], comp((c) => c.notCompressedEtag));
  m.pull('counter', 'weft_compressor_uncompressed_bytes_total', 'Body bytes that went into a compressor, per listener and encoding (Envoy total_uncompressed_bytes).', ['listener', 'encoding'], comp((c) => c.totalUncompressedBytes));
  m.pull('counter', 'weft_compressor_compressed_bytes_total', 'Body bytes a compressor sent, per listener and encoding (Envoy total_compressed_bytes).', ['listener', 'encoding'], comp((c) => c.totalCompressedBytes));
  m.pull('gauge', 'weft_fault_active', 'Requests being delayed or aborted by a fault filter now, per listener.', ['listener'], faults((c) => c.active));
  const vc = () => [...validationCounters()];
  m.pull('counter', 'weft_validation_requests_total', 'Requests a ValidationPolicy checked, per policy and result (passed, failed).', ['policy', 'result'], () =>
    vc().flatMap(([policy, c]) => [[{ policy, result: 'passed' }, c.passed] as const, [{ policy, result: 'failed' }, c.failed] as const]),
  );
  m.pull('counter', 'weft_validation_responses_audited_total', 'JSON responses a ValidationPolicy audited (auditResponses), per policy.', ['policy'], () => vc().map(([policy, c]) => [{ policy }, c.responsesAudited] as const));
  m.pull('counter', 'weft_validation_response_violations_total', 'Audited responses that did not match their schema (logged, not changed), per policy.', ['policy'], () => vc().map(([policy, c]) => [{ policy }, c.responseViolations] as const));
  const stores = () => s.runtime.caches.all();
  m.pull('counter', 'weft_cache_requests_total', 'GET/HEAD requests through the HTTP cache (CachePolicy), per store and result: hit, stale, revalidated, miss, bypass.', ['store', 'result'], () =>
    stores().flatMap((h) => (['hit', 'stale', 'revalidated', 'miss', 'bypass'] as const).map((r) => [{ store: h.name, result: r }, h.counters[r]] as const)),
  );
  m.pull('counter', 'weft_cache_coalesced_total', 'Requests answered from another request\'s origin response (request coalescing), per store.', ['store'], () => stores().map((h) => [{ store: h.name }, h.counters.coalesced] as const));
  m.pull('counter', 'weft_cache_inserts_total', 'Origin responses stored, and not stored (uncacheable or too large), per store.', ['store', 'result'], () =>
    stores().flatMap((h) => [[{ store: h.name, result: 'stored' }, h.counters.stored] as const, [{ store: h.name, result: 'not_stored' }, h.counters.notStored] as const]),
  );
  m.pull('gauge', 'weft_cache_bytes', 'Bytes held by an in-memory cache store.', ['store'], () => stores().filter((h) => h.store.kind === 'memory').map((h) => [{ store: h.name }, h.store.stats.bytes] as const));
  m.pull('gauge', 'weft_cache_entries', 'Entries held by an in-memory cache store.', ['store'], () => stores().filter((h) => h.store.kind === 'memory').map((h) => [{ store: h.name }, h.store.stats.entries] as const));
  m.pull('counter', 'weft_cache_evictions_total', 'Entries an in-memory cache store evicted to stay within maxBytes.', ['store'], () => stores().filter((h) => h.store.kind === 'memory').map((h) => [{ store: h.name }, h.store.stats.evictions] as const));
  m.pull('counter', 'weft_cache_store_errors_total', 'Redis commands that failed or timed out; the cache failed open (the request went to the origin).', ['store'], () => stores().filter((h) => h.store.kind === 'redis').map((h) => [{ store: h.name }, h.store.stats.errors] as const));
  const jwks = () => s.runtime.jwks.all();
  m.pull('counter', 'weft_jwks_fetches_total', 'Remote JWKS fetches per JWT provider and result: success, error (network, TLS, status, timeout), invalid (not a usable key set); on failure the last good keys stay in force.', ['provider', 'result'], () =>
    jwks().flatMap((j) => (['success', 'error', 'invalid'] as const).map((r) => [{ provider: j.name, result: r }, j.counts[r]] as const)),
  );
  m.pull('counter', 'weft_jwks_unknown_kid_total', 'Tokens whose kid the provider\'s keys lack: refetched (at most once per 30 s), or refused without a fetch (rate limited).', ['provider', 'action'], () =>
    jwks().flatMap((j) => [[{ provider: j.name, action: 'refetched' }, j.kidRefetches] as const, [{ provider: j.name, action: 'rate_limited' }, j.kidRefused] as const]),
  );
  m.pull('gauge', 'weft_jwks_stale', '1 while a provider serves keys older than its cacheDuration (its JWKS endpoint has been failing).', ['provider'], () => jwks().map((j) => [{ provider: j.name }, j.stale ? 1 : 0] as const), 'max');
  const rl = () => s.runtime.rateLimits;
  m.pull('counter', 'weft_ratelimit_decisions_total', 'Requests a RateLimitPolicy rule or quota decided, per policy, rule and result: allowed, limited (429), failed_open (Redis unreachable, admitted), failed_closed (Redis unreachable, 503).', ['policy', 'rule', 'result'], () =>
    [...rl().allDecisions()].flatMap((d) => [
      [{ policy: d.policy, rule: d.rule, result: 'allowed' }, d.c.allowed] as const,
      [{ policy: d.policy, rule: d.rule, result: 'limited' }, d.c.limited] as const,
      [{ policy: d.policy, rule: d.rule, result: 'failed_open' }, d.c.failedOpen] as const,
      [{ policy: d.policy, rule: d.rule, result: 'failed_closed' }, d.c.failedClosed] as const,
    ]),
  );
  m.pull('gauge', 'weft_ratelimit_redis_up', '1 while the rate-limit filter\'s connection to this Redis is ready, 0 while it is down (global rules and quotas then apply their fail mode).', ['redis'], () => rl().connections().map((c) => [{ redis: c.address }, c.up ? 1 : 0] as const), 'max');
  m.pull('counter', 'weft_ratelimit_redis_errors_total', 'Rate-limit script calls to this Redis that failed or timed out.', ['redis'], () => rl().connections().map((c) => [{ redis: c.address }, c.errors] as const));
  m.pull('counter', 'weft_upstream_requests_total', 'Requests sent to a cluster (not counting retries).', ['cluster'], perCluster((c) => c.stats.rqTotal));
  m.pull('counter', 'weft_upstream_attempts_total', 'Upstream attempts (first tries and retries) per cluster.', ['cluster'], perCluster((c) => c.stats.rqAttempts));
  m.pull('gauge', 'weft_upstream_requests_active', 'Requests in flight per cluster.', ['cluster'], perCluster((c) => c.stats.rqActive));
  m.pull('counter', 'weft_upstream_responses_total', 'Responses per cluster and status class (5xx includes errors the sidecar made).', ['cluster', 'class'], () => {
    const rows: Array<readonly [Record<string, string>, number]> = [];
    for (const c of C()) for (let k = 1; k <= 5; k++) if (c.stats.rqByClass[k]) rows.push([{ cluster: c.name, class: `${k}xx` }, c.stats.rqByClass[k]!]);
    return rows;
  });
  m.pull('counter', 'weft_upstream_retries_total', 'Retries per cluster.', ['cluster'], perCluster((c) => c.stats.rqRetry));
  m.pull('counter', 'weft_upstream_retry_overflow_total', 'Retries refused by max_retries or the retry budget.', ['cluster'], perCluster((c) => c.stats.rqRetryOverflow));
  m.pull('counter', 'weft_upstream_overflow_total', 'Requests refused by a circuit breaker.', ['cluster'], perCluster((c) => c.stats.rqOverflow));
  m.pull('counter', 'weft_upstream_timeouts_total', 'Route or per-try timeouts.', ['cluster'], perCluster((c) => c.stats.rqTimeout));
  if (s.tcp) {
    const t = s.tcp;
    const rows = (f: (x: import('../telemetry/tcp-stats.js').ClusterTcpStats) => number) => () => [...t.all()].map((x) => [x.labels, f(x)] as const);
    m.pull('counter', 'weft_tcp_connections_opened_total', 'TCP connections opened to a cluster (tcp_proxy: TCP services, TCPRoute, TLSRoute).', ['cluster'], rows((x) => x.opened));
    m.pull('gauge', 'weft_tcp_connections_active', 'TCP connections open (or being opened) to a cluster.', ['cluster'], rows((x) => x.active));
    m.pull('counter', 'weft_tcp_connections_closed_total', 'TCP connections to a cluster that ended.', ['cluster'], rows((x) => x.closed));
    m.pull('counter', 'weft_tcp_connect_failures_total', 'TCP connect attempts to a cluster that failed (refused, reset, timed out, TLS handshake failed).', ['cluster'], rows((x) => x.connectFailures));
    m.pull('counter', 'weft_tcp_overflow_total', 'TCP connections refused by the cluster\'s max_connections.', ['cluster'], rows((x) => x.overflow));
    m.pull('counter', 'weft_tcp_sent_bytes_total', 'Bytes sent to a cluster\'s hosts (from downstream clients).', ['cluster'], rows((x) => x.sentBytes));
    m.pull('counter', 'weft_tcp_received_bytes_total', 'Bytes received from a cluster\'s hosts (to downstream clients).', ['cluster'], rows((x) => x.receivedBytes));
    m.histogram('weft_tcp_connection_duration_seconds', 'How long TCP connections to a cluster lasted, from accept to close.', CONNECTION_DURATION_BOUNDS, () => t.all());
  }
  m.pull('counter', 'weft_upstream_connect_failures_total', 'Failed connection attempts (TLS handshake failures included).', ['cluster'], perCluster((c) => c.stats.cxConnectFail));
  m.pull('counter', 'weft_upstream_ejections_total', 'Outlier ejections.', ['cluster'], perCluster((c) => c.ejectionsTotal));
  m.pull('gauge', 'weft_upstream_hosts', 'Hosts per cluster by health.', ['cluster', 'health'], () =>
    C().flatMap((c) => {
      const healthy = c.hosts.filter((h) => h.healthy).length;
      return [[{ cluster: c.name, health: 'healthy' }, healthy] as const, [{ cluster: c.name, health: 'unhealthy' }, c.hosts.length - healthy] as const];
    }),
    // Every worker of a --workers N sidecar sees the same hosts: merging them is not a sum.
    'max',
  );
  m.pull('counter', 'weft_xds_updates_total', 'xDS responses accepted (ACK) or rejected (NACK) per type.', ['type', 'result'], () =>
    [...s.xdsCounters].flatMap(([type, v]) => [[{ type, result: 'accepted' }, v.accepted] as const, [{ type, result: 'rejected' }, v.rejected] as const]),
  );
  m.pull('gauge', 'weft_xds_config_version', 'The version_info of the accepted config per type (value 1; the version is the label).', ['type', 'version'], () =>
    Object.entries(s.xds().versions).map(([type, version]) => [{ type, version: String(version) }, 1] as const),
    'max',
  );
  m.pull('gauge', 'weft_xds_connected', '1 while the ADS stream to the control plane is up (with --workers N: how many workers have theirs up).', [], () => [[{}, s.xdsConnected() ? 1 : 0]]);
  if (s.tracing) {
    const t = s.tracing.stats;
    m.pull('counter', 'weft_tracing_spans_started_total', 'Sampled spans started.', [], () => [[{}, t.spansStarted]]);
    m.pull('counter', 'weft_tracing_spans_exported_total', 'Spans accepted by the trace collector.', [], () => [[{}, t.spansExported]]);
    m.pull('counter', 'weft_tracing_spans_dropped_total', 'Spans dropped: export queue full or the collector failed (requests never wait).', [], () => [[{}, t.spansDropped]]);
  }
  if (s.accessLog) {
    const a = s.accessLog;
    m.pull('counter', 'weft_access_log_lines_total', 'Access log lines written, and requests not logged because of sampling.', ['result'], () => [[{ result: 'written' }, a.written], [{ result: 'sampled_out' }, a.sampledOut]]);
  }
  if (s.loadReports) {
    const lr = s.loadReports;
    m.pull('counter', 'weft_load_reports_total', 'Load reports sent to the control plane (LRS).', [], () => [[{}, lr.sent]]);
  }
  if (s.tls) {
    const tls = s.tls;
    m.pull('gauge', 'weft_workload_cert_expiry_seconds', 'Unix time the workload certificate expires.', [], () => (tls.cert ? [[{}, Math.floor(tls.cert.notAfter.getTime() / 1000)]] : []), 'min');
    m.pull('counter', 'weft_workload_cert_rotations_total', 'Workload certificates replaced since start.', [], () => [[{}, tls.rotations]]);
  }
}

/**
 * /ready: 200 once config (and the workload certificate) arrived and the app port accepts
 * connections; 503 before that, while the app is not listening, and while draining.
 */
export function readyState(s: AdminState): AdminReady {
  if (s.draining()) return { ok: false, text: 'DRAINING' };
  if (!(s.runtime.ready && (!s.tls || s.tls.ready))) return { ok: false, text: 'NOT READY: waiting for configuration' };
  const app = s.app?.state;
  if (app?.up === false) return { ok: false, text: `NOT READY: nothing listening on the app port ${s.app!.address} (${app.reason})` };
  // Not LIVE before the first probe has answered (it runs at start; a moment at most).
  if (app && app.up === undefined) return { ok: false, text: `NOT READY: checking the app port ${s.app!.address}` };
  return { ok: true, text: 'LIVE' };
}

export interface AdminReady {
  ok: boolean;
  /** One line, without the newline: LIVE, DRAINING or NOT READY: why. */
  text: string;
}

/**
 * What the admin listener answers from. A single-process sidecar answers from its own state
 * (`localAdmin`); with `--workers N` the primary answers from every worker (sidecar/workers/primary.ts).
 */
export interface AdminSource {
  ready(): Promise<AdminReady>;
  configDump(): Promise<unknown>;
  clusters(): Promise<unknown>;
  /** GET /explain: what a listener decides for a request (sidecar/explain), with the hosts' live health. */
  explain?(listener: string, req: ExplainRequest): Promise<unknown>;
  metrics(): Promise<{ text: string; contentType: string }>;
  /** More JSON endpoints by path (the primary's `/workers`). */
  readonly extra?: Readonly<Record<string, () => Promise<unknown>>>;
  /** POST /cache/purge: purges every cache store by tag or URL; rejects when a store could not. */
  purgeCache?(what: { tag: string } | { key: string }): Promise<PurgeResult[]>;
}

/** This process's admin view, plus its metrics as prom-client JSON (what a primary aggregates). */
export interface LocalAdmin extends AdminSource {
  metricsJson(): Promise<unknown[]>;
}

export function localAdmin(s: AdminState): LocalAdmin {
  const metrics = new Metrics();
  registerSidecarMetrics(metrics, s);
  return {
    ready: async () => readyState(s),
    configDump: async () => configDump(s),
    explain: async (listener, req) => explainHere(s, listener, req),
    clusters: async () => clustersView(s),
    metrics: async () => ({ text: await metrics.text(), contentType: metrics.contentType }),
    metricsJson: async () => (await metrics.registry.getMetricsAsJSON()) as unknown[],
    purgeCache: (what) => s.runtime.caches.purge(what),
  };
}

export async function startAdmin(host: string, port: number, s: AdminState): Promise<{ server: http.Server; address: AddressInfo }> {
  return serveAdmin(host, port, localAdmin(s));
}

const MAX_PURGE_BODY = 8192;

/** POST /cache/purge {"tag": T} | {"key": URL} -> 200 {"purged": [{store, removed}]}, 400 on a bad body, 502 when a store failed. */
function purge(req: http.IncomingMessage, run: NonNullable<AdminSource['purgeCache']>, send: (status: number, type: string, body: string) => void): void {
  if (req.method !== 'POST') return send(405, 'text/plain', 'POST {"tag": "..."} or {"key": "http://host/path"}\n');
  const chunks: Buffer[] = [];
  let n = 0;
  req.on('error', () => undefined);
  req.on('data', (c: Buffer) => {
    n += c.length;
    if (n <= MAX_PURGE_BODY) chunks.push(c);
  });
  req.on('end', () => {
    const bad = (why: string) => send(400, 'application/json', `${JSON.stringify({ code: 'ADMIN_BAD_REQUEST', message: why })}\n`);
    if (n > MAX_PURGE_BODY) return bad('body too large');
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return bad('body is not JSON');
    }
    const o = body as { tag?: unknown; key?: unknown } | null;
    const keys = o && typeof o === 'object' ? Object.keys(o) : [];
    if (keys.length !== 1 || (typeof o!.tag !== 'string' && typeof o!.key !== 'string') || (o!.tag === '' || o!.key === '')) return bad('want exactly one of {"tag": "..."} or {"key": "http://host/path"}');
    const what = typeof o!.tag === 'string' ? { tag: o!.tag } : { key: o!.key as string };
    run(what).then(
      (purged) => send(200, 'application/json', `${JSON.stringify({ purged }, null, 2)}\n`),
      (e: Error) => send(/is not a URL/.test(e.message) ? 400 : 502, 'application/json', `${JSON.stringify({ code: /is not a URL/.test(e.message) ? 'ADMIN_BAD_REQUEST' : 'INTERNAL', message: e.message })}\n`),
    );
  });
}

/** Serves an AdminSource over HTTP (GET/HEAD; POST /cache/purge). */
export async function serveAdmin(host: string, port: number, src: AdminSource): Promise<{ server: http.Server; address: AddressInfo }> {
  const endpoints = ['/ready', '/config_dump', '/clusters', ...(src.explain ? ['/explain'] : []), '/stats/prometheus', ...Object.keys(src.extra ?? {})].join(' ');
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const fail = (e: Error) => send(500, 'text/plain', `${path}: ${e.message}\n`);
    const sendJson = (p: Promise<unknown>) => p.then((v) => send(200, 'application/json', `${JSON.stringify(v, null, 2)}\n`), fail);
    if (path === '/cache/purge' && src.purgeCache) return purge(req, src.purgeCache, send);
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/ready':
        return void src.ready().then((r) => send(r.ok ? 200 : 503, 'text/plain', `${r.text}\n`), fail);
      case '/config_dump':
        return void sendJson(src.configDump());
      case '/clusters':
        return void sendJson(src.clusters());
      case '/explain': {
        if (!src.explain) return send(404, 'text/plain', `endpoints: ${endpoints}\n`);
        const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
        let r: ExplainRequest;
        try {
          if (!q.get('url')) throw new ExplainInputError('want url=http://HOST/PATH (and method=, header=name: value, listener=outbound|inbound, principal=)');
          r = explainRequestOf(q.get('method') ?? 'GET', q.get('url')!, q.getAll('header'), q.get('principal') ?? undefined);
        } catch (e) {
          return send(400, 'text/plain', `/explain: ${(e as Error).message}\n`);
        }
        return void sendJson(src.explain(q.get('listener') ?? 'outbound', r));
      }
      case '/stats/prometheus':
        return void src.metrics().then((m) => send(200, m.contentType, m.text), (e: Error) => send(500, 'text/plain', `metrics: ${e.message}\n`));
      default: {
        const extra = src.extra?.[path];
        if (extra) return void sendJson(extra());
        return send(404, 'text/plain', `endpoints: ${endpoints}\n`);
      }
    }
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res());
  });
  return { server, address: server.address() as AddressInfo };
}

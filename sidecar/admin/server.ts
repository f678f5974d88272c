/**
 * The sidecar's admin listener (loopback by default): `/ready` (200 once config arrived and not
 * draining), `/config_dump` (accepted resources and versions as proto3 JSON), `/clusters`
 * (endpoints, health, counters) and `/stats/prometheus`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry, toJson, type DescMessage, type Message } from '@bufbuild/protobuf';
import { ClusterSchema } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '../../proto/gen/envoy/config/route/v3/route_pb.js';
import { HttpConnectionManagerSchema } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { RouterSchema } from '../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { HttpProtocolOptionsSchema } from '../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { DownstreamTlsContextSchema, UpstreamTlsContextSchema } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { SecretSchema } from '../../proto/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { RBACSchema } from '../../proto/gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import type { HttpListener } from '../listeners/http-listener.js';
import type { Runtime } from '../runtime.js';
import type { XdsConfig } from '../xds/ads-client.js';
import { splitPem, summarize, type MeshTls } from '../tls/mesh-tls.js';
import type { Tracing } from '../telemetry/tracing.js';

const registry = createRegistry(HttpConnectionManagerSchema, RouterSchema, HttpProtocolOptionsSchema, UpstreamTlsContextSchema, DownstreamTlsContextSchema, SecretSchema, RBACSchema);

export interface AdminState {
  runtime: Runtime;
  listeners: readonly HttpListener[];
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
    clusters: [...x.clusters.values()].map((c) => json(ClusterSchema, c)),
    endpoints: [...x.endpoints.values()].map((e) => json(ClusterLoadAssignmentSchema, e)),
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
      health: [h.hcFailed ? 'failed_active_hc' : '', h.edsUnhealthy ? 'eds_unhealthy' : '', h.ejectedUntil ? 'outlier_ejected' : ''].filter(Boolean),
      active: h.active,
      rqTotal: h.rqTotal,
      rqError: h.rqError,
      cxConnectFail: h.cxConnectFail,
      ejections: h.ejections,
    })),
  }));
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export function prometheus(s: AdminState): string {
  const out: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, rows: Array<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) {
      const l = Object.entries(labels).map(([k, x]) => `${k}="${esc(x)}"`).join(',');
      out.push(`${name}${l ? `{${l}}` : ''} ${v}`);
    }
  };
  const L = s.listeners;
  metric('weft_downstream_requests_total', 'counter', 'Requests received per listener.', L.map((l) => [{ listener: l.name }, l.stats.rqTotal]));
  metric('weft_downstream_requests_active', 'gauge', 'Requests in flight per listener.', L.map((l) => [{ listener: l.name }, l.stats.rqActive]));
  metric('weft_downstream_requests_rejected_total', 'counter', 'Malformed requests answered 4xx by the parser.', L.map((l) => [{ listener: l.name }, l.stats.rqRejected]));
  metric('weft_downstream_connections_total', 'counter', 'Connections accepted per listener.', L.map((l) => [{ listener: l.name }, l.stats.cxTotal]));
  metric('weft_downstream_connections_active', 'gauge', 'Open downstream connections per listener.', L.map((l) => [{ listener: l.name }, l.stats.cxActive]));
  const C = [...s.runtime.clusters().values()];
  metric('weft_upstream_requests_total', 'counter', 'Requests sent to a cluster (not counting retries).', C.map((c) => [{ cluster: c.name }, c.stats.rqTotal]));
  metric('weft_upstream_requests_active', 'gauge', 'Requests in flight per cluster.', C.map((c) => [{ cluster: c.name }, c.stats.rqActive]));
  const byClass: Array<[Record<string, string>, number]> = [];
  for (const c of C) for (let k = 1; k <= 5; k++) if (c.stats.rqByClass[k]) byClass.push([{ cluster: c.name, class: `${k}xx` }, c.stats.rqByClass[k]!]);
  metric('weft_upstream_responses_total', 'counter', 'Responses per cluster and status class (5xx includes errors the sidecar made).', byClass);
  metric('weft_upstream_retries_total', 'counter', 'Retries per cluster.', C.map((c) => [{ cluster: c.name }, c.stats.rqRetry]));
  metric('weft_upstream_retry_overflow_total', 'counter', 'Retries refused by max_retries or the retry budget.', C.map((c) => [{ cluster: c.name }, c.stats.rqRetryOverflow]));
  metric('weft_upstream_overflow_total', 'counter', 'Requests refused by a circuit breaker.', C.map((c) => [{ cluster: c.name }, c.stats.rqOverflow]));
  metric('weft_upstream_timeouts_total', 'counter', 'Route or per-try timeouts.', C.map((c) => [{ cluster: c.name }, c.stats.rqTimeout]));
  metric('weft_upstream_connect_failures_total', 'counter', 'Failed connection attempts.', C.map((c) => [{ cluster: c.name }, c.stats.cxConnectFail]));
  metric('weft_upstream_ejections_total', 'counter', 'Outlier ejections.', C.map((c) => [{ cluster: c.name }, c.ejectionsTotal]));
  metric('weft_upstream_hosts', 'gauge', 'Hosts per cluster by health.', C.flatMap((c) => {
    const healthy = c.hosts.filter((h) => h.healthy).length;
    return [[{ cluster: c.name, health: 'healthy' }, healthy], [{ cluster: c.name, health: 'unhealthy' }, c.hosts.length - healthy]] as Array<[Record<string, string>, number]>;
  }));
  const xr: Array<[Record<string, string>, number]> = [];
  for (const [type, v] of s.xdsCounters) xr.push([{ type, result: 'accepted' }, v.accepted], [{ type, result: 'rejected' }, v.rejected]);
  metric('weft_xds_updates_total', 'counter', 'xDS responses accepted (ACK) or rejected (NACK) per type.', xr);
  metric('weft_downstream_tls_handshake_errors_total', 'counter', 'Failed TLS handshakes (no or untrusted client certificate) per listener.', L.map((l) => [{ listener: l.name }, l.stats.tlsHandshakeErrors]));
  metric('weft_downstream_connections_refused_total', 'counter', 'Connections refused for their transport (plaintext in STRICT mTLS) per listener.', L.map((l) => [{ listener: l.name }, l.stats.cxRefusedTransport]));
  if (s.tracing) {
    const t = s.tracing.stats;
    metric('weft_tracing_spans_started_total', 'counter', 'Sampled spans started.', [[{}, t.spansStarted]]);
    metric('weft_tracing_spans_exported_total', 'counter', 'Spans accepted by the trace collector.', [[{}, t.spansExported]]);
    metric('weft_tracing_spans_dropped_total', 'counter', 'Spans dropped: export queue full or the collector failed (requests never wait).', [[{}, t.spansDropped]]);
  }
  if (s.tls?.cert) {
    metric('weft_workload_cert_expiry_seconds', 'gauge', 'Unix time the workload certificate expires.', [[{}, Math.floor(s.tls.cert.notAfter.getTime() / 1000)]]);
    metric('weft_workload_cert_rotations_total', 'counter', 'Workload certificates replaced since start.', [[{}, s.tls.rotations]]);
  }
  metric('weft_xds_connected', 'gauge', '1 while the ADS stream to the control plane is up.', [[{}, s.xdsConnected() ? 1 : 0]]);
  return `${out.join('\n')}\n`;
}

export async function startAdmin(host: string, port: number, s: AdminState): Promise<{ server: http.Server; address: AddressInfo }> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    switch (path) {
      case '/ready': {
        const ok = s.runtime.ready && (!s.tls || s.tls.ready) && !s.draining();
        return send(ok ? 200 : 503, 'text/plain', s.draining() ? 'DRAINING\n' : ok ? 'LIVE\n' : 'NOT READY: waiting for configuration\n');
      }
      case '/config_dump':
        return send(200, 'application/json', `${JSON.stringify(configDump(s), null, 2)}\n`);
      case '/clusters':
        return send(200, 'application/json', `${JSON.stringify(clustersView(s), null, 2)}\n`);
      case '/stats/prometheus':
        return send(200, 'text/plain; version=0.0.4', prometheus(s));
      default:
        return send(404, 'text/plain', 'endpoints: /ready /config_dump /clusters /stats/prometheus\n');
    }
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => res());
  });
  return { server, address: server.address() as AddressInfo };
}

/** Cluster resources: decode and check what the sidecar can honour. */
import { unpackAny, decodeMessage } from '../../../common/wire-decode.js';
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy, type Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { checkDuration, durationMs, Problems, sameBytes, type Decoded } from './decoded.js';
import type { H2Keepalive } from '../../h2/client.js';
import { isOriginCluster, originTlsOf, upstreamTlsOf } from './tls.js';
import { HttpProtocolOptionsSchema, type HttpProtocolOptions } from '../../../proto/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { checkSupported, CLUSTER_FIELDS, supportedFields } from './supported.js';
import { Http2ProtocolOptionsSchema, type Http2ProtocolOptions } from '../../../proto/gen/envoy/config/core/v3/protocol_pb.js';

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
/** Of the upstream HTTP options, the sidecar executes the protocol choice and h2 keepalive PINGs. */
const HTTP_OPTIONS_FIELDS = supportedFields({
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': ['explicit_http_config'],
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig': ['http_protocol_options', 'http2_protocol_options'],
  'envoy.config.core.v3.Http1ProtocolOptions': [],
  'envoy.config.core.v3.Http2ProtocolOptions': ['connection_keepalive'],
  'envoy.config.core.v3.KeepaliveSettings': ['interval', 'timeout', 'interval_jitter'],
  'envoy.type.v3.Percent': ['value'],
});

/** Envoy's rules for KeepaliveSettings: a timeout of at least 1 ms; an interval of 0 (no PINGs) or at least 1 ms; jitter 0..100 %. */
function checkKeepalive(p: Problems, path: string, o: Http2ProtocolOptions | undefined): void {
  const k = o?.connectionKeepalive;
  if (!k) return;
  const at = `${path}.connection_keepalive`;
  if (!k.timeout) p.add(`${at}.timeout`, 'is required');
  checkDuration(p, `${at}.timeout`, k.timeout, { positive: true, minMs: 1 });
  checkDuration(p, `${at}.interval`, k.interval, { minMs: 1 });
  const j = k.intervalJitter?.value;
  if (j !== undefined && !(j >= 0 && j <= 100)) p.add(`${at}.interval_jitter.value`, `must be a percentage from 0 to 100, got ${j}`);
}

const LB = new Set([Cluster_LbPolicy.ROUND_ROBIN, Cluster_LbPolicy.LEAST_REQUEST, Cluster_LbPolicy.RANDOM, Cluster_LbPolicy.RING_HASH]);

/**
 * An accepted Cluster, held as its bytes with the few facts the ADS client and the runtime read on
 * every update (HeldEndpoints says why: a decoded Cluster is about 3 KB of heap, 1,000 of them 3 MB
 * held for nothing, and a push that decodes them all at once grows the old generation). The
 * runtime decodes a cluster again only to build it, when it is new or its bytes changed.
 */
export class HeldCluster {
  /** EDS: the assignment it follows (eds_cluster_config.service_name, else its name). */
  readonly eds: string | undefined;
  /** Without inline endpoints: the assignment the runtime gives it (it may arrive by EDS). */
  readonly assignment: string | undefined;
  /** An origin cluster (isOriginCluster): a server outside the mesh, not routed to. */
  readonly origin: boolean;
  /** The SDS trust bundle its TLS names, if any. */
  readonly caSecret: string | undefined;

  /** `bytes` must be its own copy (see HeldEndpoints). */
  constructor(
    readonly bytes: Uint8Array,
    c: Cluster,
  ) {
    const name = c.edsClusterConfig?.serviceName || c.name;
    this.eds = c.clusterDiscoveryType.case === 'type' && c.clusterDiscoveryType.value === Cluster_DiscoveryType.EDS ? name : undefined;
    this.assignment = c.clusterDiscoveryType.case === 'type' && !c.loadAssignment ? name : undefined;
    this.origin = isOriginCluster(c);
    this.caSecret = upstreamTlsOf(c, new Problems(''))?.caSecret;
  }

  /** The cluster, decoded now (the bytes were checked when they were accepted). */
  get cluster(): Cluster {
    return decodeMessage(ClusterSchema, this.bytes);
  }

  sameAs(o: HeldCluster): boolean {
    return sameBytes(this.bytes, o.bytes);
  }
}

/**
 * The HTTP/2 options a cluster speaks h2 with, or undefined when it speaks HTTP/1.1: the typed
 * extension's explicit_http_config when present (Envoy's current place), else the deprecated field.
 */
export function http2OptionsOf(c: Cluster): Http2ProtocolOptions | undefined {
  const any = c.typedExtensionProtocolOptions[HTTP_OPTIONS];
  if (!any) return c.http2ProtocolOptions;
  const o = unpackAny(any, HttpProtocolOptionsSchema);
  return o && explicitHttp2(o);
}

/** HttpProtocolOptions' explicit_http_config.http2_protocol_options, when that is its choice. */
function explicitHttp2(o: HttpProtocolOptions): Http2ProtocolOptions | undefined {
  const u = o.upstreamProtocolOptions;
  return u.case === 'explicitHttpConfig' && u.value.protocolConfig.case === 'http2ProtocolOptions' ? u.value.protocolConfig.value : undefined;
}

/** The keepalive PINGs of those options (connection_keepalive), if any. */
export function keepaliveOf(o: Http2ProtocolOptions | undefined): H2Keepalive | undefined {
  const k = o?.connectionKeepalive;
  const intervalMs = durationMs(k?.interval, 0);
  if (!k || intervalMs <= 0) return undefined;
  // Envoy's default jitter is 15 % of the interval.
  return { intervalMs, timeoutMs: durationMs(k.timeout, 0), jitterPercent: k.intervalJitter?.value ?? 15 };
}

/** A cluster's h2 keepalive PINGs, if any. */
export function h2KeepaliveOf(c: Cluster): H2Keepalive | undefined {
  return keepaliveOf(http2OptionsOf(c));
}

export function decodeCluster(bytes: Uint8Array): Decoded<HeldCluster> {
  const c = decodeMessage(ClusterSchema, bytes);
  const p = new Problems(`Cluster/${c.name || '?'}`);
  if (!c.name) p.add('name', 'is required');
  checkSupported(ClusterSchema, c, CLUSTER_FIELDS, p, '');
  if (c.http2ProtocolOptions) checkSupported(Http2ProtocolOptionsSchema, c.http2ProtocolOptions, HTTP_OPTIONS_FIELDS, p, 'http2_protocol_options');
  checkKeepalive(p, 'http2_protocol_options', c.http2ProtocolOptions);
  for (const [k, any] of Object.entries(c.typedExtensionProtocolOptions)) {
    const kp = `typed_extension_protocol_options["${k}"]`;
    if (k !== HTTP_OPTIONS || !any.typeUrl.endsWith(`/${HTTP_OPTIONS}`)) {
      p.add(kp, `'${k}' is not supported by the Weft sidecar (${HTTP_OPTIONS} only)`);
      continue;
    }
    const o = unpackAny(any, HttpProtocolOptionsSchema);
    if (!o) continue;
    checkSupported(HttpProtocolOptionsSchema, o, HTTP_OPTIONS_FIELDS, p, kp);
    checkKeepalive(p, `${kp}.explicit_http_config.http2_protocol_options`, explicitHttp2(o));
  }
  const type = c.clusterDiscoveryType.case === 'type' ? c.clusterDiscoveryType.value : undefined;
  // A cluster to a server outside the mesh with its own roots (a remote JWKS): STATIC or
  // STRICT_DNS with one endpoint; the proxy fetches through it and routes nothing to it.
  const origin = isOriginCluster(c);
  if (origin) {
    if (type !== Cluster_DiscoveryType.STATIC && type !== Cluster_DiscoveryType.STRICT_DNS) p.add('type', 'an origin cluster (own trusted_ca) is STATIC or STRICT_DNS');
    if (c.loadAssignment?.endpoints.length !== 1 || c.loadAssignment.endpoints[0]!.lbEndpoints.length !== 1) p.add('load_assignment', 'an origin cluster (own trusted_ca) has exactly one endpoint');
    originTlsOf(c, p);
    return { name: c.name, value: p.errors.length ? undefined : new HeldCluster(bytes.slice(), c), errors: p.errors };
  }
  if (type !== Cluster_DiscoveryType.EDS && type !== Cluster_DiscoveryType.STATIC) {
    p.add('type', `unsupported discovery type '${type === undefined ? c.clusterDiscoveryType.case : Cluster_DiscoveryType[type]}' (EDS or STATIC)`);
  }
  if (type === Cluster_DiscoveryType.EDS && c.edsClusterConfig?.edsConfig?.configSourceSpecifier.case !== 'ads') {
    p.add('eds_cluster_config.eds_config', 'must be ads');
  }
  if (type === Cluster_DiscoveryType.STATIC && !c.loadAssignment?.endpoints.length) p.add('load_assignment', 'a STATIC cluster needs endpoints');
  if (!LB.has(c.lbPolicy)) p.add('lb_policy', `unsupported value '${Cluster_LbPolicy[c.lbPolicy] ?? c.lbPolicy}' (ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH)`);
  checkDuration(p, 'connect_timeout', c.connectTimeout, { positive: true });
  checkDuration(p, 'common_http_protocol_options.idle_timeout', c.commonHttpProtocolOptions?.idleTimeout);
  const od = c.outlierDetection;
  if (od) {
    checkDuration(p, 'outlier_detection.interval', od.interval, { positive: true });
    checkDuration(p, 'outlier_detection.base_ejection_time', od.baseEjectionTime, { positive: true });
    checkDuration(p, 'outlier_detection.max_ejection_time', od.maxEjectionTime, { positive: true });
    for (const [f, v] of [['max_ejection_percent', od.maxEjectionPercent], ['enforcing_consecutive_5xx', od.enforcingConsecutive5xx], ['enforcing_consecutive_gateway_failure', od.enforcingConsecutiveGatewayFailure]] as const) {
      if (v !== undefined && v > 100) p.add(`outlier_detection.${f}`, `must be 0..100, got ${v}`);
    }
  }
  c.healthChecks.forEach((hc, i) => {
    if (i > 0) p.add(`health_checks[${i}]`, 'only one health check per cluster is supported');
    checkDuration(p, `health_checks[${i}].interval`, hc.interval, { positive: true });
    checkDuration(p, `health_checks[${i}].timeout`, hc.timeout, { positive: true });
    if (hc.healthChecker.case === 'tcpHealthCheck') {
      // A connect check: sending and expecting payloads is not implemented.
      if (hc.healthChecker.value.send) p.add(`health_checks[${i}].tcp_health_check.send`, 'is not supported (a TCP check connects, and for mesh hosts completes the mTLS handshake)');
      if (hc.healthChecker.value.receive.length) p.add(`health_checks[${i}].tcp_health_check.receive`, 'is not supported (a TCP check connects, and for mesh hosts completes the mTLS handshake)');
    } else if (hc.healthChecker.case !== 'httpHealthCheck') p.add(`health_checks[${i}].health_checker`, 'only http_health_check and tcp_health_check are supported');
    else {
      const path = hc.healthChecker.value.path;
      if (path && !path.startsWith('/')) p.add(`health_checks[${i}].http_health_check.path`, 'must start with /');
      hc.healthChecker.value.expectedStatuses.forEach((r, j) => {
        if (!(r.start >= 100n && r.end <= 600n && r.start < r.end)) p.add(`health_checks[${i}].http_health_check.expected_statuses[${j}]`, 'must be a range within [100, 600) with start < end');
      });
    }
  });
  const rh = c.lbConfig.case === 'ringHashLbConfig' ? c.lbConfig.value : undefined;
  if (rh && ((rh.minimumRingSize ?? 1024n) < 1n || (rh.maximumRingSize ?? 8_388_608n) > 8_388_608n || (rh.minimumRingSize ?? 1024n) > (rh.maximumRingSize ?? 8_388_608n))) p.add('ring_hash_lb_config', 'ring sizes must satisfy 1 <= minimum <= maximum <= 8388608');
  const lr = c.lbConfig.case === 'leastRequestLbConfig' ? c.lbConfig.value : undefined;
  if (lr?.choiceCount !== undefined && lr.choiceCount < 2) p.add('least_request_lb_config.choice_count', 'must be at least 2');
  upstreamTlsOf(c, p);
  return { name: c.name, value: p.errors.length ? undefined : new HeldCluster(bytes.slice(), c), errors: p.errors };
}

/**
 * Service ports and TrafficPolicy -> Envoy Clusters (EDS), and the sidecar's local app cluster.
 * A tcp port's cluster carries connections for tcp_proxy: no HTTP protocol options, a TCP connect
 * health check, max_connections as its only breaker, and its idle timeout on the tcp_proxy that
 * uses it (translate/tcp.ts) rather than in common_http_protocol_options.
 */
import { UNLIMITED_RETRIES } from '../config/kinds/traffic-policy.js';
import { create } from '@bufbuild/protobuf';
import { EXTENSIONS, packExtension } from '../../common/extensions.js';
import { TYPE_URL } from '../../common/xds-types.js';
import {
  ClusterSchema,
  Cluster_DiscoveryType,
  Cluster_LbPolicy,
  type Cluster,
} from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { AppProtocol, ConnectionPool, ServiceResource, TrafficPolicyResource } from '../config/types.js';
import { makeResource, type Resource } from '../xds/snapshot.js';
import { clusterName, inboundClusterName } from './names.js';
import { ADS_SOURCE, duration, socketAddress } from './proto-helpers.js';
import { ROOTCA_SECRET, meshTransportSocketMatch, type MeshTlsFloor } from './tls.js';

/** LeastRequest on a tcp port: a full scan of the endpoints (see least-request.ts in the sidecar). */
export const TCP_LEAST_CONNECTIONS_CHOICES = 1000;

function protocolOptions(protocol: AppProtocol, keepalive?: ConnectionPool['keepalive']): Cluster['typedExtensionProtocolOptions'] {
  // tcp_proxy writes bytes, not HTTP: an HTTP protocol option would have no effect (and is NACKed).
  if (protocol === 'tcp') return {};
  const opts = EXTENSIONS.httpProtocolOptions;
  // HTTP/2 keepalive PINGs (TrafficPolicy connectionPool.keepalive) go on h2 ports only.
  const h2 = keepalive ? { connectionKeepalive: { interval: duration(keepalive.intervalMs), timeout: duration(keepalive.timeoutMs) } } : {};
  return {
    [opts.name]: packExtension(opts, {
      upstreamProtocolOptions: {
        case: 'explicitHttpConfig',
        value: { protocolConfig: protocol === 'http' ? { case: 'httpProtocolOptions', value: {} } : { case: 'http2ProtocolOptions', value: h2 } },
      },
    }),
  };
}

/**
 * One EDS cluster per (service port, subset). `proxyless` restricts lb_policy to what gRPC xDS
 * clients accept (ROUND_ROBIN, RING_HASH).
 */
export function outboundCluster(svc: ServiceResource, portIndex: number, subset: string, policy: TrafficPolicyResource | undefined, proxyless: boolean, mtls?: { trustDomain: string; minProtocolVersion: MeshTlsFloor }): Resource {
  const port = svc.spec.ports[portIndex]!;
  const name = clusterName(svc.metadata.namespace, svc.metadata.name, port.port, subset);
  const p = policy?.spec;
  const lb = p?.loadBalancer;
  let lbPolicy = Cluster_LbPolicy.ROUND_ROBIN;
  let lbConfig: Cluster['lbConfig'] = { case: undefined };
  switch (lb?.type) {
    case 'LeastRequest':
      if (!proxyless) {
        lbPolicy = Cluster_LbPolicy.LEAST_REQUEST;
        // A tcp port: least connections over every endpoint (a choice count past any cluster's
        // size is a full scan in the sidecar, and in Envoy samples so often it finds the least).
        lbConfig = { case: 'leastRequestLbConfig', value: create(ClusterSchema.field.leastRequestLbConfig.message!, { choiceCount: port.protocol === 'tcp' ? TCP_LEAST_CONNECTIONS_CHOICES : lb.choiceCount }) } as Cluster['lbConfig'];
      }
      break;
    case 'Random':
      if (!proxyless) lbPolicy = Cluster_LbPolicy.RANDOM;
      break;
    case 'RingHash':
      lbPolicy = Cluster_LbPolicy.RING_HASH;
      lbConfig = {
        case: 'ringHashLbConfig',
        value: create(ClusterSchema.field.ringHashLbConfig.message!, { minimumRingSize: BigInt(lb.ringHash?.minRingSize ?? 1024), maximumRingSize: BigInt(lb.ringHash?.maxRingSize ?? 8388608) }),
      } as Cluster['lbConfig'];
      break;
    default:
      break;
  }
  const cp = p?.connectionPool;
  const od = p?.outlierDetection;
  const hc = p?.healthCheck;
  const budget = p?.retry?.budget;
  const tcp = port.protocol === 'tcp';
  // Validation refuses request limits on a tcp service: only max_connections breaks connections.
  const breakers = tcp
    ? cp ? { circuitBreakers: { thresholds: [{ maxConnections: cp.maxConnections }] } } : {}
    : {
        // Always sent: max_retries is not limited unless the policy says (Envoy's default is 3).
        circuitBreakers: {
          thresholds: [
            {
              ...(cp ? { maxConnections: cp.maxConnections, maxPendingRequests: cp.maxPendingRequests, maxRequests: cp.maxRequests } : {}),
              maxRetries: cp?.maxRetries ?? UNLIMITED_RETRIES,
              ...(budget ? { retryBudget: { budgetPercent: { value: budget.budgetPercent }, minRetryConcurrency: budget.minRetryConcurrency } } : {}),
            },
          ],
        },
      };
  const msg = create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: name, edsConfig: ADS_SOURCE },
    connectTimeout: duration(cp?.connectTimeoutMs ?? 5000),
    lbPolicy,
    lbConfig,
    commonLbConfig: {
      healthyPanicThreshold: { value: lb?.panicThresholdPercent ?? 50 },
      ...(lb?.localityAware ? { localityConfigSpecifier: { case: 'zoneAwareLbConfig' as const, value: {} } } : {}),
    },
    ...breakers,
    ...(od
      ? {
          outlierDetection: {
            consecutive5xx: od.consecutive5xx,
            consecutiveGatewayFailure: od.consecutiveGatewayErrors,
            enforcingConsecutiveGatewayFailure: 100,
            interval: duration(od.intervalMs),
            baseEjectionTime: duration(od.baseEjectionTimeMs),
            maxEjectionPercent: od.maxEjectionPercent,
          },
        }
      : {}),
    ...(hc
      ? {
          healthChecks: [
            {
              timeout: duration(hc.timeoutMs),
              interval: duration(hc.intervalMs),
              unhealthyThreshold: hc.unhealthyThreshold,
              healthyThreshold: hc.healthyThreshold,
              // A tcp service's check is a bare connect (no send, no receive): it speaks first or not at all.
              healthChecker: tcp
                ? { case: 'tcpHealthCheck' as const, value: {} }
                : { case: 'httpHealthCheck' as const, value: { path: hc.path ?? '/', expectedStatuses: hc.expectedStatuses.map(([s, e]) => ({ start: BigInt(s), end: BigInt(e) })) } },
            },
          ],
        }
      : {}),
    ...(tcp ? {} : idleOptions(cp?.idleTimeoutMs)),
    typedExtensionProtocolOptions: protocolOptions(port.protocol, cp?.keepalive),
    metadata: { filterMetadata: { weft: { service: svc.metadata.name, namespace: svc.metadata.namespace, port: port.port, protocol: port.protocol, subset } } },
    ...(mtls ? { transportSocketMatches: [meshTransportSocketMatch(mtls.trustDomain, svc.metadata.namespace, svc.metadata.name, port.port, subset, port.protocol, mtls.minProtocolVersion)] } : {}),
  });
  const refs = [{ typeUrl: TYPE_URL.endpoint, name }, ...(mtls ? [{ typeUrl: TYPE_URL.secret, name: ROOTCA_SECRET }] : [])];
  return makeResource(TYPE_URL.cluster, name, ClusterSchema, msg, refs);
}

function idleOptions(idleMs: number | undefined): Partial<{ commonHttpProtocolOptions: { idleTimeout: ReturnType<typeof duration> } }> {
  return idleMs ? { commonHttpProtocolOptions: { idleTimeout: duration(idleMs) } } : {};
}

/** The sidecar's local app: a STATIC cluster to 127.0.0.1:appPort. */
export function inboundCluster(namespace: string, service: string, appPort: number, protocol: AppProtocol): Resource {
  const name = inboundClusterName(namespace, service, appPort);
  const msg = create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.STATIC },
    connectTimeout: duration(1000),
    loadAssignment: {
      clusterName: name,
      endpoints: [{ lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: socketAddress('127.0.0.1', appPort) } } }] }],
    },
    typedExtensionProtocolOptions: protocolOptions(protocol),
    // A tcp app's connections are its callers' connections: the callers' own clusters limit them
    // (their TrafficPolicy maxConnections), so the inbound side adds no limit of its own (as Istio).
    ...(protocol === 'tcp' ? { circuitBreakers: { thresholds: [{ maxConnections: 0xffffffff }] } } : {}),
    metadata: { filterMetadata: { weft: { service, namespace, port: appPort, protocol, inbound: true } } },
  });
  return makeResource(TYPE_URL.cluster, name, ClusterSchema, msg);
}

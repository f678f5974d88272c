/** Cluster resources: decode and check what the sidecar can honour. */
import { fromBinary } from '@bufbuild/protobuf';
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy, type Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { Problems, type Decoded } from './decoded.js';
import { upstreamTlsOf } from './tls.js';

const LB = new Set([Cluster_LbPolicy.ROUND_ROBIN, Cluster_LbPolicy.LEAST_REQUEST, Cluster_LbPolicy.RANDOM, Cluster_LbPolicy.RING_HASH]);

export function decodeCluster(bytes: Uint8Array): Decoded<Cluster> {
  const c = fromBinary(ClusterSchema, bytes);
  const p = new Problems(`Cluster/${c.name || '?'}`);
  if (!c.name) p.add('name', 'is required');
  const type = c.clusterDiscoveryType.case === 'type' ? c.clusterDiscoveryType.value : undefined;
  if (type !== Cluster_DiscoveryType.EDS && type !== Cluster_DiscoveryType.STATIC) {
    p.add('type', `unsupported discovery type '${type === undefined ? c.clusterDiscoveryType.case : Cluster_DiscoveryType[type]}' (EDS or STATIC)`);
  }
  if (type === Cluster_DiscoveryType.EDS && c.edsClusterConfig?.edsConfig?.configSourceSpecifier.case !== 'ads') {
    p.add('eds_cluster_config.eds_config', 'must be ads');
  }
  if (type === Cluster_DiscoveryType.STATIC && !c.loadAssignment?.endpoints.length) p.add('load_assignment', 'a STATIC cluster needs endpoints');
  if (!LB.has(c.lbPolicy)) p.add('lb_policy', `unsupported value '${Cluster_LbPolicy[c.lbPolicy] ?? c.lbPolicy}' (ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH)`);
  if (c.connectTimeout && (c.connectTimeout.seconds < 0n || c.connectTimeout.nanos < 0)) p.add('connect_timeout', 'must not be negative');
  upstreamTlsOf(c, p);
  return { name: c.name, value: p.errors.length ? undefined : c, errors: p.errors };
}

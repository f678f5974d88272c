/**
 * Endpoints -> ClusterLoadAssignments: static endpoints from Service config plus instances from
 * the registry, filtered by subset labels, grouped by zone into localities that always carry a
 * load_balancing_weight (gRPC clients drop localities without one). With locality-aware balancing
 * the caller's zone is priority 0 and every other zone priority 1, so it depends on the caller.
 */
import { create } from '@bufbuild/protobuf';
import { TYPE_URL } from '../../common/xds-types.js';
import { ClusterLoadAssignmentSchema } from '../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { HealthStatus } from '../../proto/gen/envoy/config/core/v3/health_check_pb.js';
import type { ServiceResource } from '../config/types.js';
import type { RegistryView } from '../registry/types.js';
import { makeResource, type Resource } from '../xds/snapshot.js';
import { socketAddress } from './proto-helpers.js';

interface Ep {
  address: string;
  port: number;
  labels: Readonly<Record<string, string>>;
  zone: string;
  weight: number;
  healthy: boolean;
  /** A sidecar with a workload certificate: tagged tlsMode: weft so clusters dial it with mTLS. */
  mtls?: boolean;
}

/** Every endpoint of a service port: static ones first, then registered instances. */
export function serviceEndpoints(svc: ServiceResource, portIndex: number, registry: RegistryView): Ep[] {
  const port = svc.spec.ports[portIndex]!.port;
  const out: Ep[] = svc.spec.endpoints.map((e) => ({ address: e.address, port: e.port ?? port, labels: e.labels, zone: e.zone ?? '', weight: e.weight, healthy: true }));
  for (const e of registry.endpoints(svc.metadata.namespace, svc.metadata.name)) {
    out.push({ address: e.address, port: e.port, labels: e.labels, zone: e.zone ?? '', weight: e.weight, healthy: e.healthy, ...(e.mtls ? { mtls: true } : {}) });
  }
  return out;
}

function matches(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | undefined): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

export function loadAssignment(name: string, endpoints: readonly Ep[], selector: Readonly<Record<string, string>> | undefined, callerZone: string | undefined): Resource {
  const byZone = new Map<string, Ep[]>();
  for (const e of endpoints) {
    if (!matches(e.labels, selector)) continue;
    const list = byZone.get(e.zone) ?? [];
    list.push(e);
    byZone.set(e.zone, list);
  }
  const zones = [...byZone.keys()].sort();
  // Priorities must start at 0 with no gaps (gRPC clients reject gaps): prefer the caller's zone
  // only when it has endpoints.
  const local = callerZone !== undefined && byZone.has(callerZone) ? callerZone : undefined;
  const msg = create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: zones.map((zone) => {
      const eps = byZone.get(zone)!;
      return {
        locality: { zone },
        loadBalancingWeight: eps.reduce((s, e) => s + e.weight, 0),
        priority: local === undefined || zone === local ? 0 : 1,
        lbEndpoints: eps.map((e) => ({
          hostIdentifier: { case: 'endpoint' as const, value: { address: socketAddress(e.address, e.port) } },
          healthStatus: e.healthy ? HealthStatus.HEALTHY : HealthStatus.UNHEALTHY,
          loadBalancingWeight: e.weight,
          metadata: { filterMetadata: { weft: { labels: { ...e.labels } }, ...(e.mtls ? { 'envoy.transport_socket_match': { tlsMode: 'weft' } } : {}) } },
        })),
      };
    }),
  });
  return makeResource(TYPE_URL.endpoint, name, ClusterLoadAssignmentSchema, msg);
}

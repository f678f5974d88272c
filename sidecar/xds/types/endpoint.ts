/** ClusterLoadAssignment resources: every endpoint must be an IP literal with a valid port. */
import { fromBinary } from '@bufbuild/protobuf';
import { isIP } from 'node:net';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { Problems, type Decoded } from './decoded.js';
import { checkSupported, CLUSTER_FIELDS } from './supported.js';

export function decodeEndpoint(bytes: Uint8Array): Decoded<ClusterLoadAssignment> {
  const cla = fromBinary(ClusterLoadAssignmentSchema, bytes);
  const p = new Problems(`ClusterLoadAssignment/${cla.clusterName || '?'}`);
  if (!cla.clusterName) p.add('cluster_name', 'is required');
  checkSupported(ClusterLoadAssignmentSchema, cla, CLUSTER_FIELDS, p, '');
  cla.endpoints.forEach((l, li) => {
    l.lbEndpoints.forEach((e, ei) => {
      const path = `endpoints[${li}].lb_endpoints[${ei}].endpoint.address.socket_address`;
      const sa = e.hostIdentifier.case === 'endpoint' && e.hostIdentifier.value.address?.address.case === 'socketAddress' ? e.hostIdentifier.value.address.address.value : undefined;
      if (!sa) return p.add(path, 'is required');
      if (isIP(sa.address) === 0) p.add(`${path}.address`, `'${sa.address}' is not an IP literal`);
      const port = sa.portSpecifier.case === 'portValue' ? sa.portSpecifier.value : 0;
      if (port < 1 || port > 65535) p.add(`${path}.port_value`, `must be 1..65535, got ${port}`);
    });
  });
  return { name: cla.clusterName, value: p.errors.length ? undefined : cla, errors: p.errors };
}

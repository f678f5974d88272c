/** ClusterLoadAssignment resources: every endpoint must be an IP literal with a valid port. */
import { decodeMessage } from '../../../common/wire-decode.js';
import { isIP } from 'node:net';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { Problems, sameBytes, type Decoded } from './decoded.js';
import { checkSupported, CLUSTER_FIELDS } from './supported.js';

/**
 * An accepted ClusterLoadAssignment, held as its bytes. A decoded CLA costs about 20 times its
 * wire size in heap (10,000 endpoints: about 10 MB against 0.3 MB), and a sidecar needs it only
 * while it builds one cluster's hosts from it. So a CLA is decoded once to check it, dropped, and
 * decoded again (`cla`) when the runtime applies it, one at a time: a push of 1,000 assignments
 * never has them all decoded at once, and what it decodes dies young instead of growing the old
 * generation (and the RSS) of a sidecar that then sits idle. The decoding costs microseconds per
 * assignment; config dumps and /explain decode on demand too.
 */
export class HeldEndpoints {
  /** `bytes` must be its own copy (a subarray of a response would keep the whole response alive). */
  constructor(readonly bytes: Uint8Array) {}

  /** The assignment, decoded now (the bytes were checked when they were accepted). */
  get cla(): ClusterLoadAssignment {
    return decodeMessage(ClusterLoadAssignmentSchema, this.bytes);
  }

  /** Same bytes, so the same assignment (the converse need not hold: a re-encoding may differ). */
  sameAs(o: HeldEndpoints): boolean {
    return sameBytes(this.bytes, o.bytes);
  }
}

export function decodeEndpoint(bytes: Uint8Array): Decoded<HeldEndpoints> {
  const cla = decodeMessage(ClusterLoadAssignmentSchema, bytes);
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
  return { name: cla.clusterName, value: p.errors.length ? undefined : new HeldEndpoints(bytes.slice()), errors: p.errors };
}

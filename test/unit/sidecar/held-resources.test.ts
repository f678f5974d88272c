// Clusters and EDS assignments are held as bytes (issue 24 item 4: a smaller sidecar with 1,000
// clusters / 10,000 endpoints). What must hold: the held bytes are the sidecar's own copy, not a
// view of the response they arrived in (a view keeps the whole response alive); what is decoded
// from them is what was accepted; sameAs tells a changed resource from an unchanged one; and a
// held cluster's facts (the assignment it follows, origin, trust bundle) are the decoded ones'.
import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ClusterLoadAssignmentSchema } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { decodeEndpoint, HeldEndpoints } from '../../../sidecar/xds/types/endpoint.js';
import { decodeCluster } from '../../../sidecar/xds/types/cluster.js';
import { ClusterSchema, Cluster_DiscoveryType } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { fromJson, type JsonObject } from '@bufbuild/protobuf';
import { xdsTypeRegistry } from '../../../control-plane/xds/type-registry.js';

const cla = (name: string, ports: number[]) =>
  toBinary(
    ClusterLoadAssignmentSchema,
    create(ClusterLoadAssignmentSchema, {
      clusterName: name,
      endpoints: [{ lbEndpoints: ports.map((port) => ({ hostIdentifier: { case: 'endpoint' as const, value: { address: { address: { case: 'socketAddress' as const, value: { address: '127.0.0.1', portSpecifier: { case: 'portValue' as const, value: port } } } } } } })) }],
    }),
  );

describe('HeldEndpoints', () => {
  it('holds its own copy of the bytes, not a view of the response they came in', () => {
    const one = cla('a', [9000, 9001]);
    const response = new Uint8Array(one.length + 64);
    response.set(one, 32);
    const view = response.subarray(32, 32 + one.length);
    const d = decodeEndpoint(view);
    expect(d.errors).toEqual([]);
    const held = d.value!;
    expect(held.bytes.byteLength).toBe(one.length);
    expect(held.bytes.buffer.byteLength).toBe(one.length);
    response.fill(0); // the response buffer is reused or freed: what is held does not change
    expect(held.cla.clusterName).toBe('a');
    expect(held.cla.endpoints[0]!.lbEndpoints.map((e) => (e.hostIdentifier.case === 'endpoint' && e.hostIdentifier.value.address?.address.case === 'socketAddress' ? e.hostIdentifier.value.address.address.value.portSpecifier.value : 0))).toEqual([9000, 9001]);
  });

  it('sameAs compares the bytes: equal for the same assignment, different for any change', () => {
    const a = new HeldEndpoints(cla('a', [9000, 9001]));
    expect(a.sameAs(a)).toBe(true);
    expect(a.sameAs(new HeldEndpoints(cla('a', [9000, 9001])))).toBe(true);
    expect(a.sameAs(new HeldEndpoints(cla('a', [9000, 9002])))).toBe(false); // same length, one byte differs
    expect(a.sameAs(new HeldEndpoints(cla('a', [9000])))).toBe(false);
    expect(a.sameAs(new HeldEndpoints(cla('b', [9000, 9001])))).toBe(false);
  });

  it('a CLA the sidecar refuses is not held', () => {
    const d = decodeEndpoint(cla('', [9000]));
    expect(d.value).toBeUndefined();
    expect(d.errors.map((e) => e.path)).toContain('cluster_name');
  });
});

const cluster = (j: JsonObject) => toBinary(ClusterSchema, fromJson(ClusterSchema, j, { registry: xdsTypeRegistry }));
const ads = { ads: {} };

describe('HeldCluster', () => {
  it('an EDS cluster follows its service_name, else its own name; a STATIC one with endpoints follows none', () => {
    const named = decodeCluster(cluster({ name: 'outbound|80||a', type: 'EDS', edsClusterConfig: { serviceName: 'a-eds', edsConfig: ads } }));
    expect(named.errors).toEqual([]);
    expect([named.value!.eds, named.value!.assignment, named.value!.origin]).toEqual(['a-eds', 'a-eds', false]);
    const plain = decodeCluster(cluster({ name: 'b', type: 'EDS', edsClusterConfig: { edsConfig: ads } })).value!;
    expect([plain.eds, plain.assignment]).toEqual(['b', 'b']);
    const fixed = decodeCluster(cluster({ name: 'c', type: 'STATIC', loadAssignment: { clusterName: 'c', endpoints: [{ lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: 9 } } } }] }] } })).value!;
    expect([fixed.eds, fixed.assignment, fixed.origin]).toEqual([undefined, undefined, false]);
    expect(fixed.cluster.clusterDiscoveryType).toEqual({ case: 'type', value: Cluster_DiscoveryType.STATIC });
  });

  it('holds its own copy; sameAs is false for any change', () => {
    const bytes = cluster({ name: 'b', type: 'EDS', edsClusterConfig: { edsConfig: ads }, connectTimeout: '1s' });
    const response = new Uint8Array(bytes.length + 8);
    response.set(bytes, 8);
    const held = decodeCluster(response.subarray(8)).value!;
    expect(held.bytes.buffer.byteLength).toBe(bytes.length);
    response.fill(0);
    expect(held.cluster.name).toBe('b');
    expect(held.sameAs(decodeCluster(bytes).value!)).toBe(true);
    expect(held.sameAs(decodeCluster(cluster({ name: 'b', type: 'EDS', edsClusterConfig: { edsConfig: ads }, connectTimeout: '2s' })).value!)).toBe(false);
  });
});

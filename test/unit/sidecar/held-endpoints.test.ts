// EDS assignments are held as bytes (issue 24 item 4: a smaller sidecar with 1,000 clusters /
// 10,000 endpoints). What must hold: the held bytes are the sidecar's own copy, not a view of the
// response they arrived in (a view keeps the whole response alive); the assignment decoded from
// them is the one accepted; and the runtime re-applies an assignment only when its bytes changed.
import { create, toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ClusterLoadAssignmentSchema } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { decodeEndpoint, HeldEndpoints } from '../../../sidecar/xds/types/endpoint.js';

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

/**
 * Scripts one invalid Cluster into a proxy's snapshot in an in-process control plane (the
 * translator itself never emits one): the Cluster `cluster` gets lb_policy MAGLEV, which Weft's
 * sidecar does not implement, so the sidecar NACKs it. `keep()` scripts it again should a
 * registry change have re-translated the proxy's snapshot meanwhile; call it while waiting.
 */
import { create } from '@bufbuild/protobuf';
import { TYPE_URL } from '../../common/xds-types.js';
import type { SnapshotCache } from '../../control-plane/xds/cache.js';
import { makeResource, Snapshot } from '../../control-plane/xds/snapshot.js';
import { ClusterSchema, Cluster_LbPolicy, type Cluster } from '../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';

export function scriptBadCluster(cache: SnapshotCache, nodeId: string, cluster: string): { keep(): void } {
  let injected: Snapshot | undefined;
  const inject = () => {
    const snap = cache.getSnapshot(nodeId)!;
    const bad = [...snap.resources.values()].flatMap((set) => [...set.values()]).map((r) => {
      if (r.typeUrl !== TYPE_URL.cluster || r.name !== cluster) return r;
      const c = create(ClusterSchema, r.message as Cluster);
      c.lbPolicy = Cluster_LbPolicy.MAGLEV;
      return makeResource(TYPE_URL.cluster, r.name, ClusterSchema, c, r.refs);
    });
    cache.setSnapshot(nodeId, (injected = new Snapshot(bad)));
  };
  inject();
  return {
    keep() {
      if (cache.getSnapshot(nodeId) !== injected) inject();
    },
  };
}

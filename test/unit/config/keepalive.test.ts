// TrafficPolicy connectionPool.keepalive: HTTP/2 PINGs toward a service's grpc and http2 ports.
// What the config accepts and refuses (with file, path and reason), what the translator puts in
// each port's Cluster, and that the sidecar's decoder accepts it and runs it with those values.
import { describe, expect, it } from 'vitest';
import type { ServiceResource, TrafficPolicyResource } from '../../../control-plane/config/types.js';
import { outboundCluster } from '../../../control-plane/translate/clusters.js';
import type { Cluster } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { decodeCluster, h2KeepaliveOf } from '../../../sidecar/xds/types/cluster.js';
import { applyYaml } from '../../harness/mesh.js';

const svc = (name: string, ports: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: ${ports}
---
`;
const tp = (target: string, pool: string) => `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: ${target} }
spec:
  targetRef: { name: ${target} }
  connectionPool: ${pool}
`;
const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const GRPC = svc('ledger', '[{ name: grpc, port: 50051, protocol: grpc }]');
const MIXED = svc('ledger', '[{ name: grpc, port: 50051, protocol: grpc }, { name: admin, port: 8080, protocol: http }]');
const H2 = svc('ledger', '[{ name: h2, port: 8443, protocol: http2 }]');

describe('TrafficPolicy connectionPool.keepalive', () => {
  it('is taken for a service with a grpc or http2 port; timeout defaults to 20s', () => {
    for (const s of [GRPC, MIXED, H2]) {
      const { resources, errors } = applyYaml(s + tp('ledger', '{ keepalive: { interval: 30s } }'));
      expect(errors).toEqual([]);
      const p = resources.find((r) => r.kind === 'TrafficPolicy') as TrafficPolicyResource;
      expect(p.spec.connectionPool?.keepalive).toEqual({ intervalMs: 30_000, timeoutMs: 20_000 });
    }
    const p = applyYaml(GRPC + tp('ledger', '{ keepalive: { interval: 10s, timeout: 500ms } }')).resources.find((r) => r.kind === 'TrafficPolicy') as TrafficPolicyResource;
    expect(p.spec.connectionPool?.keepalive).toEqual({ intervalMs: 10_000, timeoutMs: 500 });
  });

  it('is refused with its path and why: no HTTP/2 port, no interval, bad durations, unknown fields', () => {
    const cases: [string, string, RegExp][] = [
      [svc('ledger', '[{ port: 8080, protocol: http }]') + tp('ledger', '{ keepalive: { interval: 30s } }'), 'spec.connectionPool.keepalive', /HTTP\/2: Service default\/ledger has no grpc or http2 port/],
      [svc('ledger', '[{ port: 6379, protocol: tcp }]') + tp('ledger', '{ keepalive: { interval: 30s } }'), 'spec.connectionPool.keepalive', /no grpc or http2 port/],
      [GRPC + tp('ledger', '{ keepalive: { timeout: 5s } }'), 'spec.connectionPool.keepalive.interval', /required/],
      [GRPC + tp('ledger', '{ keepalive: { interval: 0s } }'), 'spec.connectionPool.keepalive.interval', /./],
      [GRPC + tp('ledger', '{ keepalive: { interval: 30s, timeout: soon } }'), 'spec.connectionPool.keepalive.timeout', /./],
      [GRPC + tp('ledger', '{ keepalive: { interval: 30s, idle: 5s } }'), 'spec.connectionPool.keepalive.idle', /./],
    ];
    for (const [yaml, path, why] of cases) {
      const errs = errorsOf(yaml);
      const e = errs.find(([p]) => p === path);
      expect(e, `${path}: ${JSON.stringify(errs)}`).toBeDefined();
      expect(e![1]).toMatch(why);
    }
  });

  it('goes into the cluster of each grpc/http2 port (not an http port), and the sidecar runs it with those values', () => {
    const { resources } = applyYaml(MIXED + tp('ledger', '{ keepalive: { interval: 15s, timeout: 3s } }'));
    const s = resources.find((r) => r.kind === 'Service') as ServiceResource;
    const p = resources.find((r) => r.kind === 'TrafficPolicy') as TrafficPolicyResource;
    const grpc = outboundCluster(s, 0, '', p, false);
    const http = outboundCluster(s, 1, '', p, false);
    const d = decodeCluster(grpc.body);
    expect(d.errors).toEqual([]);
    expect(h2KeepaliveOf(grpc.message as Cluster)).toEqual({ intervalMs: 15_000, timeoutMs: 3000, jitterPercent: 15 });
    expect(decodeCluster(http.body).errors).toEqual([]);
    expect(h2KeepaliveOf(http.message as Cluster)).toBeUndefined();
    // Without the field: none.
    const plain = applyYaml(GRPC).resources.find((r) => r.kind === 'Service') as ServiceResource;
    expect(h2KeepaliveOf(outboundCluster(plain, 0, '', undefined, false).message as Cluster)).toBeUndefined();
  });
});

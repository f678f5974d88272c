// The ADS server over real gRPC on loopback: SotW and delta flows, ACK/NACK, subscriptions,
// deletion, push order, and 200 concurrent clients.
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TYPE_URL } from '../../../common/xds-types.js';
import { ClusterSchema, Cluster_DiscoveryType } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { SnapshotCache } from '../../../control-plane/xds/cache.js';
import { XdsServer } from '../../../control-plane/xds/server.js';
import { Snapshot, makeResource, type Resource } from '../../../control-plane/xds/snapshot.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';
import { DeltaClient, SotwClient } from '../../harness/ads-client.js';
import type { DiscoveryResponse } from '../../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { eventually } from '../../harness/processes.js';

const cluster = (name: string, timeoutSec = 1): Resource =>
  makeResource(TYPE_URL.cluster, name, ClusterSchema, create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: name, edsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
    connectTimeout: { seconds: BigInt(timeoutSec) },
  }), [{ typeUrl: TYPE_URL.endpoint, name }]);
const cla = (name: string, port = 9000): Resource =>
  makeResource(TYPE_URL.endpoint, name, ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [{ loadBalancingWeight: 1, lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: { address: { case: 'socketAddress', value: { address: '127.0.0.1', portSpecifier: { case: 'portValue', value: port } } } } } } }] }],
  }));
const route = (name: string, clusterName: string): Resource =>
  makeResource(TYPE_URL.route, name, RouteConfigurationSchema, create(RouteConfigurationSchema, {
    name,
    virtualHosts: [{ name, domains: ['*'], routes: [{ match: { pathSpecifier: { case: 'prefix', value: '/' } }, action: { case: 'route', value: { clusterSpecifier: { case: 'cluster', value: clusterName } } } }] }],
  }), [{ typeUrl: TYPE_URL.cluster, name: clusterName }]);
const listener = (name: string, routeName: string): Resource =>
  makeResource(TYPE_URL.listener, name, ListenerSchema, create(ListenerSchema, { name, statPrefix: routeName }), [{ typeUrl: TYPE_URL.route, name: routeName }]);

/** A consistent mesh: clusters c..., their CLAs, one route to the first, one listener. */
function mesh(clusters: string[], opts: { timeout?: number; port?: number } = {}): Snapshot {
  return new Snapshot([
    ...clusters.flatMap((c) => [cluster(c, opts.timeout), cla(c, opts.port)]),
    route('r1', clusters[0]!),
    listener('l1', 'r1'),
  ]);
}

const node = (id: string) => ({ id, cluster: 'test', metadata: { WEFT_ROLE: 'sidecar' } });
const names = (r: { resources: Array<{ value: Uint8Array }> }) => r.resources.map((a) => fromBinary(ClusterSchema, a.value).name).sort();

/**
 * Decides "no response to what was sent before" by a later event, not a sleep: a first EDS
 * subscription is always answered, and the server reads a stream's requests in order, so every
 * response to the earlier requests arrives before this answer. Returns the responses since `from`.
 */
async function answeredBefore(c: SotwClient, from: number): Promise<DiscoveryResponse[]> {
  c.subscribe(TYPE_URL.endpoint, ['a']);
  const probe = await c.next(TYPE_URL.endpoint);
  return c.responses.all.slice(from, c.responses.all.indexOf(probe));
}

describe('ADS server', () => {
  const cache = new SnapshotCache();
  const opened: NodeInfo[] = [];
  const nacks: string[] = [];
  const server = new XdsServer({
    cache,
    callbacks: {
      onStreamOpen: (n) => {
        opened.push(n);
        if (!cache.getSnapshot(n.id)) cache.setSnapshot(n.id, mesh(['a', 'b']));
      },
      onNack: (_n, _t, _nonce, msg) => nacks.push(msg),
    },
  });
  let address = '';
  const clients: Array<{ close(): void }> = [];
  const sotw = (id: string) => {
    const c = new SotwClient(address, node(id));
    clients.push(c);
    return c;
  };
  const delta = (id: string) => {
    const c = new DeltaClient(address, node(id));
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    address = `127.0.0.1:${await server.listen('127.0.0.1:0', grpc.ServerCredentials.createInsecure())}`;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await server.close();
  });
  beforeEach(() => {
    nacks.length = 0;
  });

  it('SotW: wildcard CDS, named EDS, ACK -> SYNCED', async () => {
    const c = sotw('sotw-1');
    c.subscribe(TYPE_URL.cluster);
    const cds = await c.next(TYPE_URL.cluster);
    expect(names(cds)).toEqual(['a', 'b']);
    expect(cds.nonce).not.toBe('');
    c.ack(cds);
    c.subscribe(TYPE_URL.endpoint, ['a']);
    const eds = await c.next(TYPE_URL.endpoint);
    expect(eds.resources).toHaveLength(1);
    c.ack(eds);
    await eventually(() => server.status().find((s) => s.nodeId === 'sotw-1')?.types.endpoint?.state === 'SYNCED');
    const st = server.status().find((s) => s.nodeId === 'sotw-1')!;
    expect(st.types.cluster).toMatchObject({ state: 'SYNCED', ackedVersion: cds.versionInfo });
    expect(st.types.endpoint?.state).toBe('SYNCED');
    expect(opened.some((n) => n.id === 'sotw-1' && n.role === 'sidecar')).toBe(true);
  });

  it('SotW: a NACK is recorded with its message once per nonce, not answered by a resend, and the next good snapshot goes out', async () => {
    const c = sotw('sotw-nack');
    c.subscribe(TYPE_URL.cluster);
    const first = await c.next(TYPE_URL.cluster);
    c.ack(first);
    await eventually(() => server.status().find((s) => s.nodeId === 'sotw-nack')?.types.cluster?.state === 'SYNCED');
    cache.setSnapshot('sotw-nack', mesh(['a', 'b', 'bad']));
    const bad = await c.next(TYPE_URL.cluster);
    const sent = c.responses.all.length;
    c.nack(bad, 'clusters[2].lb_policy: unknown', first.versionInfo);
    c.nack(bad, 'clusters[2].lb_policy: unknown', first.versionInfo); // duplicate NACK for the same nonce
    expect(await answeredBefore(c, sent)).toEqual([]);
    const st = server.status().find((s) => s.nodeId === 'sotw-nack')!;
    expect(st.types.cluster).toMatchObject({ state: 'NACKED', nackMessage: 'clusters[2].lb_policy: unknown', ackedVersion: first.versionInfo, nackedVersion: bad.versionInfo });
    expect(nacks).toEqual(['clusters[2].lb_policy: unknown']);
    expect(server.counters().nacks).toBeGreaterThanOrEqual(1);
    cache.setSnapshot('sotw-nack', mesh(['a', 'c']));
    // Make-before-break: first a, b, bad, c (nothing removed yet), then a, c.
    expect(names(await c.next(TYPE_URL.cluster))).toEqual(['a', 'b', 'bad', 'c']);
    const good = await c.next(TYPE_URL.cluster);
    expect(names(good)).toEqual(['a', 'c']);
    c.ack(good);
    await eventually(() => server.status().find((s) => s.nodeId === 'sotw-nack')!.types.cluster?.state === 'SYNCED');
  });

  it('SotW: remembers names that do not exist yet and pushes them when they appear; answers re-subscribes', async () => {
    const c = sotw('sotw-names');
    c.subscribe(TYPE_URL.endpoint, ['a', 'later']);
    const r1 = await c.next(TYPE_URL.endpoint);
    expect(r1.resources).toHaveLength(1);
    c.ack(r1);
    cache.setSnapshot('sotw-names', mesh(['a', 'b', 'later']));
    const r2 = await c.next(TYPE_URL.endpoint);
    expect(r2.resources.map((a) => fromBinary(ClusterLoadAssignmentSchema, a.value).clusterName).sort()).toEqual(['a', 'later']);
    c.ack(r2);
    // Re-subscribe to a different set: answered at once even though nothing changed in the snapshot.
    c.send({ typeUrl: TYPE_URL.endpoint, resourceNames: ['b'], versionInfo: r2.versionInfo, responseNonce: r2.nonce });
    const r3 = await c.next(TYPE_URL.endpoint);
    expect(r3.resources.map((a) => fromBinary(ClusterLoadAssignmentSchema, a.value).clusterName)).toEqual(['b']);
  });

  it('SotW: LDS/CDS deletion by omission; ignores stale nonces', async () => {
    const c = sotw('sotw-del');
    c.subscribe(TYPE_URL.cluster);
    const r1 = await c.next(TYPE_URL.cluster);
    c.ack(r1);
    cache.setSnapshot('sotw-del', mesh(['a']));
    const r2 = await c.next(TYPE_URL.cluster);
    expect(names(r2)).toEqual(['a']);
    // An ACK echoing the older nonce is stale: it neither ACKs r2 nor triggers a response.
    const sent = c.responses.all.length;
    c.send({ typeUrl: TYPE_URL.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce });
    expect(await answeredBefore(c, sent)).toEqual([]);
    expect(server.status().find((s) => s.nodeId === 'sotw-del')!.types.cluster?.state).toBe('STALE');
  });

  it('pushes make-before-break: CDS (old+new), EDS, LDS, RDS, then CDS without the stale cluster', async () => {
    const c = sotw('order');
    c.autoAck = true;
    cache.setSnapshot('order', mesh(['a', 'b']));
    c.subscribe(TYPE_URL.cluster);
    c.subscribe(TYPE_URL.endpoint, ['a', 'b', 'n']);
    c.subscribe(TYPE_URL.listener);
    c.subscribe(TYPE_URL.route, ['r1']);
    await c.next(TYPE_URL.route);
    await c.responses.quiet(100);
    const from = c.responses.all.length;
    // b goes away, n arrives, and the route moves to n.
    cache.setSnapshot('order', new Snapshot([cluster('a'), cla('a'), cluster('n'), cla('n'), route('r1', 'n'), listener('l1', 'r1'), listener('l2', 'r1')]));
    await c.next(TYPE_URL.cluster); // wait for the final pass
    await c.responses.quiet(150);
    const seq = c.responses.all.slice(from).map((r) => [r.typeUrl.split('.').pop(), r.typeUrl === TYPE_URL.cluster ? names(r).join(',') : '']);
    expect(seq).toEqual([
      ['Cluster', 'a,b,n'],
      ['ClusterLoadAssignment', ''],
      ['Listener', ''],
      ['RouteConfiguration', ''],
      ['Cluster', 'a,n'],
    ]);
  });

  it('delta: initial fetch, initial_resource_versions, subscribe/unsubscribe, removed_resources, ACK/NACK', async () => {
    const snap = mesh(['a', 'b']);
    cache.setSnapshot('delta-1', snap);
    const c = delta('delta-1');
    c.send({ typeUrl: TYPE_URL.cluster, initialResourceVersions: { a: snap.get(TYPE_URL.cluster).get('a')!.version } });
    const r1 = await c.next(TYPE_URL.cluster);
    expect(r1.resources.map((r) => r.name)).toEqual(['b']); // the client already holds a at that version
    c.ack(r1);
    cache.setSnapshot('delta-1', mesh(['a', 'c'], { timeout: 2 }));
    // Make-before-break: changed and new first, the removal of b last.
    const r2 = await c.next(TYPE_URL.cluster);
    expect(r2.resources.map((r) => r.name).sort()).toEqual(['a', 'c']);
    expect(r2.removedResources).toEqual([]);
    c.ack(r2);
    const r3 = await c.next(TYPE_URL.cluster);
    expect(r3.removedResources).toEqual(['b']);
    c.nack(r3, 'refused');
    await eventually(() => server.status().find((s) => s.nodeId === 'delta-1')?.types.cluster?.state === 'NACKED');
    expect(server.status().find((s) => s.nodeId === 'delta-1')).toMatchObject({ stream: 'delta', types: { cluster: { state: 'NACKED', nackMessage: 'refused' } } });

    c.send({ typeUrl: TYPE_URL.endpoint, resourceNamesSubscribe: ['a'] });
    const e1 = await c.next(TYPE_URL.endpoint);
    expect(e1.resources.map((r) => r.name)).toEqual(['a']);
    c.ack(e1);
    c.send({ typeUrl: TYPE_URL.endpoint, resourceNamesSubscribe: ['c'], resourceNamesUnsubscribe: ['a'] });
    const e2 = await c.next(TYPE_URL.endpoint);
    expect(e2.resources.map((r) => r.name)).toEqual(['c']);
    c.ack(e2);
    // An unchanged snapshot for unsubscribed names sends nothing.
    cache.setSnapshot('delta-1', mesh(['a', 'c'], { timeout: 2, port: 9999 }));
    const e3 = await c.next(TYPE_URL.endpoint);
    expect(e3.resources.map((r) => r.name)).toEqual(['c']);
  });

  it('refuses an inconsistent snapshot and keeps the previous one', () => {
    cache.setSnapshot('incons', mesh(['a']));
    const before = cache.getSnapshot('incons');
    expect(() => cache.setSnapshot('incons', new Snapshot([cluster('x')]))).toThrowError(/dangling/);
    expect(cache.getSnapshot('incons')).toBe(before);
  });

  it('200 concurrent clients all receive and ACK an update', async () => {
    const n = 200;
    const cs = Array.from({ length: n }, (_, i) => {
      const id = `many-${i}`;
      cache.setSnapshot(id, mesh(['a', 'b']));
      const c = sotw(id);
      c.autoAck = true;
      c.subscribe(TYPE_URL.cluster);
      return c;
    });
    await Promise.all(cs.map((c) => c.next(TYPE_URL.cluster, 20_000)));
    const update = mesh(['a', 'b', 'z']);
    for (let i = 0; i < n; i++) cache.setSnapshot(`many-${i}`, update);
    const got = await Promise.all(cs.map((c) => c.next(TYPE_URL.cluster, 20_000)));
    expect(got.every((r) => names(r).join() === 'a,b,z')).toBe(true);
    const deadline = Date.now() + 10_000;
    const synced = () => server.status().filter((s) => s.nodeId.startsWith('many-') && s.types.cluster?.state === 'SYNCED' && s.types.cluster.ackedVersion === update.versions.get(TYPE_URL.cluster)).length;
    while (synced() < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(synced()).toBe(n);
  });
});

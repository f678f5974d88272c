// The sidecar's xDS client against (1) a scriptable control plane (Weft's real ADS server fed
// hand-made snapshots) for NACK and reconnect cases, over delta and state of the world, and (2) the
// real control-plane process.
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TYPE_URL } from '../../../common/xds-types.js';
import { ClusterSchema, Cluster_DiscoveryType, Cluster_LbPolicy } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { SnapshotCache } from '../../../control-plane/xds/cache.js';
import { XdsServer } from '../../../control-plane/xds/server.js';
import { Snapshot, makeResource, type Resource } from '../../../control-plane/xds/snapshot.js';
import { AdsClient, type AdsClientOptions, type XdsConfig, type XdsProtocolMode } from '../../../sidecar/xds/ads-client.js';
import type { FieldError } from '../../../common/errors.js';
import { PrepareRefusal } from '../../../sidecar/xds/decode-needs.js';
import { eventually, startControlPlane, tempDir, weft } from '../../harness/processes.js';

const cluster = (name: string, lbPolicy = Cluster_LbPolicy.ROUND_ROBIN): Resource =>
  makeResource(TYPE_URL.cluster, name, ClusterSchema, create(ClusterSchema, {
    name,
    clusterDiscoveryType: { case: 'type', value: Cluster_DiscoveryType.EDS },
    edsClusterConfig: { serviceName: name, edsConfig: { configSourceSpecifier: { case: 'ads', value: {} } } },
    lbPolicy,
  }), [{ typeUrl: TYPE_URL.endpoint, name }]);
const cla = (name: string, address = '127.0.0.1'): Resource =>
  makeResource(TYPE_URL.endpoint, name, ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, {
    clusterName: name,
    endpoints: [{ loadBalancingWeight: 1, lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: { address: { case: 'socketAddress', value: { address, portSpecifier: { case: 'portValue', value: 9000 } } } } } } }] }],
  }));

const stops: Array<() => unknown> = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

async function fakeControlPlane(port = 0, delta = true) {
  const cache = new SnapshotCache();
  const server = new XdsServer({ cache, delta });
  const bound = await server.listen(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure());
  return { cache, server, port: bound };
}

function client(address: string, id: string, events: { updates: XdsConfig[]; nacks: FieldError[][] }, protocol: XdsProtocolMode = 'auto', extra: Partial<AdsClientOptions> = {}) {
  const c = new AdsClient({
    address,
    protocol,
    node: { id, cluster: 'orders', metadata: { WEFT_ROLE: 'sidecar', WEFT_SERVICE: 'orders' } },
    onUpdate: (cfg) => events.updates.push(cfg),
    onNack: (_k, errs) => events.nacks.push(errs),
    backoff: { baseMs: 50, maxMs: 400 },
    ...extra,
  });
  c.start();
  stops.push(() => c.close());
  return c;
}

describe.each(['delta', 'sotw'] as const)('sidecar ADS client over %s', (protocol) => {
  const kindOf = (cp: { server: XdsServer }, id: string) => cp.server.status().find((s) => s.nodeId === id)?.stream;

  it('follows clusters to their endpoints, NACKs an invalid cluster with its field path, keeps the last good config', async () => {
    const cp = await fakeControlPlane();
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('s1', new Snapshot([cluster('a'), cla('a')]));
    const ev = { updates: [] as XdsConfig[], nacks: [] as FieldError[][] };
    const c = client(`127.0.0.1:${cp.port}`, 's1', ev, protocol);
    await eventually(() => kindOf(cp, 's1') === protocol);
    await eventually(() => c.config.endpoints.has('a'));
    const good = c.config;

    cp.cache.setSnapshot('s1', new Snapshot([cluster('a'), cla('a'), cluster('b', Cluster_LbPolicy.MAGLEV), cla('b')]));
    await eventually(() => ev.nacks.length > 0);
    expect(ev.nacks[0]).toEqual([{ resource: 'Cluster/b', path: 'lb_policy', message: "unsupported value 'MAGLEV' (ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH)" }]);
    expect(c.config).toBe(good);
    await eventually(() => cp.server.status().find((s) => s.nodeId === 's1')?.types.cluster?.state === 'NACKED');
    expect(cp.server.status().find((s) => s.nodeId === 's1')!.types.cluster!.nackMessage).toContain('Cluster/b lb_policy: unsupported value');

    cp.cache.setSnapshot('s1', new Snapshot([cluster('a'), cla('a'), cluster('c'), cla('c')]));
    await eventually(() => c.config.endpoints.has('c'));
    expect([...c.config.clusters.keys()].sort()).toEqual(['a', 'c']);
  });

  it('NACKs an endpoint that is not an IP literal', async () => {
    const cp = await fakeControlPlane();
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('s2', new Snapshot([cluster('a'), cla('a', 'example.com')]));
    const ev = { updates: [] as XdsConfig[], nacks: [] as FieldError[][] };
    client(`127.0.0.1:${cp.port}`, 's2', ev, protocol);
    await eventually(() => ev.nacks.length > 0);
    expect(ev.nacks[0]![0]!.path).toBe('endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address');
  });

  it('keeps its config while the control plane is away and resyncs when it returns', async () => {
    let cp = await fakeControlPlane();
    const port = cp.port;
    cp.cache.setSnapshot('s3', new Snapshot([cluster('a'), cla('a')]));
    const ev = { updates: [] as XdsConfig[], nacks: [] as FieldError[][] };
    const c = client(`127.0.0.1:${port}`, 's3', ev, protocol);
    await eventually(() => c.config.endpoints.has('a'));
    cp.server.close();
    await eventually(() => !c.connected);
    expect(c.config.clusters.has('a')).toBe(true);
    cp = await fakeControlPlane(port);
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('s3', new Snapshot([cluster('a'), cla('a'), cluster('z'), cla('z')]));
    await eventually(() => c.config.endpoints.has('z'), 15_000);
    expect(c.connected).toBe(true);
  });

  it('after a reconnect holds exactly the new state: unchanged kept, removed-while-away gone', async () => {
    let cp = await fakeControlPlane();
    const port = cp.port;
    cp.cache.setSnapshot('s4', new Snapshot([cluster('a'), cla('a'), cluster('b'), cla('b')]));
    const ev = { updates: [] as XdsConfig[], nacks: [] as FieldError[][] };
    const c = client(`127.0.0.1:${port}`, 's4', ev, protocol);
    await eventually(() => c.config.endpoints.has('a') && c.config.endpoints.has('b'));
    const a = c.config.clusters.get('a');
    await cp.server.close();
    await eventually(() => !c.connected);
    cp = await fakeControlPlane(port);
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('s4', new Snapshot([cluster('a'), cla('a'), cluster('n'), cla('n')]));
    await eventually(() => c.config.endpoints.has('n') && !c.config.clusters.has('b'), 15_000);
    expect([...c.config.clusters.keys()].sort()).toEqual(['a', 'n']);
    expect([...c.config.endpoints.keys()].sort()).toEqual(['a', 'n']);
    // Delta told the server what it held, so the unchanged cluster was not sent (or decoded) again.
    if (protocol === 'delta') expect(c.config.clusters.get('a')).toBe(a);
    expect(ev.nacks).toEqual([]);
  });
});

describe.each(['delta', 'sotw'] as const)('sidecar ADS client: an update that needs code loaded first (prepare), over %s', (protocol) => {
  const typeStatus = (cp: { server: XdsServer }, id: string) => cp.server.status().find((s) => s.nodeId === id)?.types.cluster;

  it('is neither applied nor ACKed until prepare resolves; then both; a failed prepare NACKs and keeps the config', async () => {
    const cp = await fakeControlPlane();
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('p1', new Snapshot([cluster('a'), cla('a')]));
    const ev = { updates: [] as XdsConfig[], nacks: [] as FieldError[][] };
    // Updates naming cluster 'b' or 'x' wait for a promise this test settles.
    const held: Array<{ names: string[]; resolve: () => void; reject: (e: Error) => void }> = [];
    const c = client(`127.0.0.1:${cp.port}`, 'p1', ev, protocol, {
      prepare: (kind, accepted) => {
        if (kind !== 'cluster' || (!accepted.has('b') && !accepted.has('x'))) return undefined;
        return new Promise<void>((resolve, reject) => held.push({ names: [...accepted.keys()], resolve, reject }));
      },
    });
    await eventually(() => c.config.endpoints.has('a') && typeStatus(cp, 'p1')?.state === 'SYNCED');
    const acked = typeStatus(cp, 'p1')!.ackedVersion;

    cp.cache.setSnapshot('p1', new Snapshot([cluster('a'), cla('a'), cluster('b'), cla('b')]));
    await eventually(() => held.length === 1);
    // The client is waiting on the promise (nothing can run the rest before it settles).
    expect(c.config.clusters.has('b')).toBe(false);
    expect(typeStatus(cp, 'p1')!.ackedVersion).toBe(acked);
    held[0]!.resolve();
    await eventually(() => c.config.endpoints.has('b') && typeStatus(cp, 'p1')?.state === 'SYNCED' && typeStatus(cp, 'p1')!.ackedVersion !== acked);
    expect(ev.nacks).toEqual([]);

    const good = c.config;
    cp.cache.setSnapshot('p1', new Snapshot([cluster('a'), cla('a'), cluster('b'), cla('b'), cluster('x'), cla('x')]));
    await eventually(() => held.length === 2);
    held[1]!.reject(new Error('no such module'));
    await eventually(() => ev.nacks.length === 1 && typeStatus(cp, 'p1')?.state === 'NACKED');
    expect(ev.nacks[0]![0]!.message).toBe('the sidecar could not load what this config needs: no such module');
    expect(c.config).toBe(good);
  });

  it('a refusal that may pass later (PrepareRefusal.retry) is NACKed once, prepared again with back-off and ACKed once it passes; a newer update ends the retries', async () => {
    const cp = await fakeControlPlane();
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('r1', new Snapshot([cluster('a'), cla('a')]));
    const ev = { updates: [] as XdsConfig[], nacks: [] as FieldError[][] };
    // Cluster 'b' (or 'c') is refused while its name is in `taken`, as a gateway refuses a listener whose port another process holds.
    const taken = new Set(['b', 'c']);
    // What each prepare was asked about (state of the world: every cluster; delta: the changed ones).
    const asked: string[][] = [];
    const tries = (name: string) => asked.filter((x) => x.includes(name)).length;
    const c = client(`127.0.0.1:${cp.port}`, 'r1', ev, protocol, {
      prepare: (kind, accepted) => {
        if (kind !== 'cluster') return undefined;
        asked.push([...accepted.keys()]);
        const refused = [...accepted.keys()].filter((n) => taken.has(n));
        return refused.length ? Promise.reject(new PrepareRefusal(refused.map((n) => ({ resource: n, path: 'name', message: 'taken' })), true)) : Promise.resolve();
      },
      prepareRetry: { baseMs: 20, maxMs: 80 },
    });
    await eventually(() => c.config.endpoints.has('a') && typeStatus(cp, 'r1')?.state === 'SYNCED');
    const acked = typeStatus(cp, 'r1')!.ackedVersion;

    cp.cache.setSnapshot('r1', new Snapshot([cluster('a'), cla('a'), cluster('b'), cla('b')]));
    await eventually(() => typeStatus(cp, 'r1')?.state === 'NACKED' && tries('b') >= 3);
    expect(ev.nacks).toHaveLength(1); // the retries do not NACK again
    expect(c.config.clusters.has('b')).toBe(false);
    taken.delete('b');
    await eventually(() => c.config.endpoints.has('b') && typeStatus(cp, 'r1')?.state === 'SYNCED' && typeStatus(cp, 'r1')!.ackedVersion !== acked);
    expect(ev.nacks).toHaveLength(1);

    // Refused again (c), then a newer update without it: that one is applied, the retry of the old one never is.
    cp.cache.setSnapshot('r1', new Snapshot([cluster('a'), cla('a'), cluster('b'), cla('b'), cluster('c'), cla('c')]));
    await eventually(() => ev.nacks.length === 2 && tries('c') >= 2);
    cp.cache.setSnapshot('r1', new Snapshot([cluster('a'), cla('a'), cluster('d'), cla('d')]));
    await eventually(() => c.config.endpoints.has('d') && typeStatus(cp, 'r1')?.state === 'SYNCED');
    const triesOfC = tries('c');
    // 'c' is free now: a retry of the old update still alive would apply it. Whether one is, is
    // told by time passing on the client's own clock: a third update, refused (e), retried three
    // times (20 + 40 + 80 ms), by when the old retry (due within 80 ms of the newer update) has run.
    taken.delete('c');
    taken.add('e');
    cp.cache.setSnapshot('r1', new Snapshot([cluster('a'), cla('a'), cluster('d'), cla('d'), cluster('e'), cla('e')]));
    await eventually(() => tries('e') >= 4);
    expect(tries('c')).toBe(triesOfC);
    expect([...c.config.clusters.keys()].sort()).toEqual(['a', 'd']);
  });
});

describe('sidecar ADS client protocol choice', () => {
  it('uses state of the world when the control plane does not offer delta', async () => {
    const cp = await fakeControlPlane(0, false);
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('old-cp', new Snapshot([cluster('a'), cla('a')]));
    const ev = { updates: [] as XdsConfig[], nacks: [] as FieldError[][] };
    const c = client(`127.0.0.1:${cp.port}`, 'old-cp', ev);
    await eventually(() => c.config.endpoints.has('a'));
    expect(c.protocol).toBe('sotw');
    expect(cp.server.status().find((s) => s.nodeId === 'old-cp')?.stream).toBe('sotw');
  });

  it('stays on delta when told to, retrying, if the control plane lacks it', async () => {
    const cp = await fakeControlPlane(0, false);
    stops.push(() => cp.server.close());
    cp.cache.setSnapshot('d-only', new Snapshot([cluster('a'), cla('a')]));
    // Its own log says each time it will retry, and why.
    const retries: string[] = [];
    const logger = pino({ level: 'warn' }, new Writable({
      write(chunk: Buffer, _enc, done) {
        const line = JSON.parse(chunk.toString()) as { msg: string; why?: string };
        if (line.msg.startsWith('control plane unreachable')) retries.push(line.why ?? '');
        done();
      },
    }));
    const c = new AdsClient({ address: `127.0.0.1:${cp.port}`, protocol: 'delta', node: { id: 'd-only', cluster: 'orders', metadata: { WEFT_ROLE: 'sidecar', WEFT_SERVICE: 'orders' } }, logger, backoff: { baseMs: 20, maxMs: 80 } });
    c.start();
    stops.push(() => c.close());
    await eventually(() => retries.length >= 3);
    expect(retries.every((w) => /UNIMPLEMENTED|unimplemented/i.test(w)), retries.join(' | ')).toBe(true);
    // Three refusals later: still delta, never connected, no config, and no SotW stream at the server.
    expect(c.protocol).toBe('delta');
    expect(c.connected).toBe(false);
    expect(c.config.clusters.size).toBe(0);
    expect(cp.server.status().find((s) => s.nodeId === 'd-only')).toBeUndefined();
  });

  it('takes listeners, routes, clusters and endpoints from the real control plane, over delta', async () => {
    // This client registers over plaintext xDS, which the control plane allows only when told to.
    const cp = await startControlPlane({ extraArgs: ['--xds-plaintext-register'] });
    stops.push(() => cp.kill());
    const dir = tempDir('weft-files-');
    writeFileSync(join(dir, 's.yaml'), 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: orders }\nspec:\n  ports: [{ port: 8080 }]\n  endpoints: [{ address: 127.0.0.1, port: 9001 }]\n');
    expect((await weft(['apply', '-f', join(dir, 's.yaml')], { cp })).code).toBe(0);
    const c = new AdsClient({
      address: `127.0.0.1:${cp.xdsPort}`,
      node: { id: 'orders-1', cluster: 'orders', metadata: { WEFT_ROLE: 'sidecar', WEFT_SERVICE: 'orders', WEFT_INSTANCE_IP: '127.0.0.1', WEFT_INSTANCE_PORT: '15006', WEFT_APP_PORT: '9001' } },
    });
    c.start();
    stops.push(() => c.close());
    await eventually(() => c.config.routes.has('outbound') && c.config.routes.has('inbound|orders.default') && c.config.endpoints.has('outbound|8080||orders.default'));
    expect([...c.config.listeners.keys()].sort()).toEqual(['inbound', 'outbound']);
    // It registered itself: its own instance is now an endpoint of orders.
    await eventually(() => (c.config.endpoints.get('outbound|8080||orders.default')?.cla.endpoints.flatMap((l) => l.lbEndpoints).length ?? 0) === 2);
    await eventually(async () => /orders-1\s+orders\.default\s+sidecar\/delta\s+SYNCED\s+SYNCED\s+SYNCED\s+SYNCED/.test((await weft(['proxy-status'], { cp })).stdout));
  });
});

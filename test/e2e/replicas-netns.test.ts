// Issue 22 acceptance, on separate network hosts: network namespaces joined by a bridge (created
// and removed here; nothing is added to the machine's own namespace). Three control-plane hosts,
// each running an etcd member (Debian's etcd) and a Weft control-plane replica; three service
// hosts (orders-1, orders-2, web with its load generator), each sidecar knowing all three
// replicas. Measured and printed: an apply on one replica until a sidecar on another ACKs it (p50,
// max); kill -9 of the replica web is on under load (failed requests, time until SYNCED on another
// replica, the fewest orders hosts web held meanwhile); conflicting applies on two replicas;
// a replica's host cut off by taking its link down (its sidecars fail over; it catches up from
// the watch when the link returns); one etcd member down, then quorum lost (serving goes on,
// applies get 503 STORE_UNAVAILABLE) and back (applies work again, nothing done by hand).
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.js';
import { createHosts, type Agent, type Host, type Netlab } from '../harness/netns.js';
import { eventually, figure, tempDir } from '../harness/processes.js';
import { ReplicaLab, type LabCp as Cp, type LabReplica as Replica } from '../harness/replica-lab.js';

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

describe('replicas on etcd across network hosts (netns): failover, partition, quorum', () => {
  let lab: Netlab;
  let etcd: EtcdCluster;
  let ctl: Agent;
  let loadAgent: Agent;
  let webAgent: Agent;
  let kek: string;
  const rl = new ReplicaLab({ etcd: () => etcd, kekFile: () => kek, agent: () => ctl, dir: (prefix) => tempDir(prefix), logLevel: process.env.WEFT_TEST_LOG_LEVEL ?? 'warn', readyMs: 30_000 });
  const cps = rl.cps;
  const admin = rl.admin.bind(rl);
  const apply = (cp: Cp, yaml: string, timeoutMs?: number) => rl.apply(cp, yaml, timeoutMs);
  const proxies = rl.proxies.bind(rl);
  const alive = rl.alive.bind(rl);
  const startReplica = rl.startReplica.bind(rl);
  const startInstance = async (host: Host, service: string, name: string) => void (await rl.startInstance(host, service, name));

  beforeAll(async () => {
    lab = await createHosts(['cp1', 'cp2', 'cp3', 'svc1', 'svc2', 'web']);
    const cpHosts = ['cp1', 'cp2', 'cp3'].map((n) => lab.host(n));
    etcd = await startEtcdCluster(3, { hosts: cpHosts });
    kek = join(tempDir('weft-kek-'), 'kek');
    writeFileSync(kek, randomBytes(32).toString('base64'), { mode: 0o600 });
    ctl = await lab.host('svc1').agent();
    const [first] = await Promise.all([startReplica('r1', cpHosts[0]!), startReplica('r2', cpHosts[1]!), startReplica('r3', cpHosts[2]!)]);
    // One admin token for all three (it lives in etcd); each replica also writes it to its data dir.
    rl.token = readFileSync(join(first.dataDir, 'admin-token'), 'utf8').trim();
    expect(readFileSync(join(cps.get('r3')!.dataDir, 'admin-token'), 'utf8').trim()).toBe(rl.token);
    rl.placeReplicas(cpHosts);
    const svc = (n: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`;
    expect((await apply(first, `${svc('orders')}---\n${svc('web')}`)).status).toBe(200);
    await Promise.all([startInstance(lab.host('svc1'), 'orders', 'orders-1'), startInstance(lab.host('svc2'), 'orders', 'orders-2'), startInstance(lab.host('web'), 'web', 'web-1')]);
    loadAgent = await lab.host('web').agent();
    webAgent = await lab.host('web').agent();
    await eventually(async () => {
      const r = await loadAgent.load({ url: 'http://127.0.0.1:15001/', headers: { host: 'orders' }, total: 20, concurrency: 2, timeoutMs: 2000, durationMs: 5000 });
      return r.ok === 20 ? true : undefined;
    }, 60_000, 250);
  }, 180_000);

  afterAll(async () => {
    await lab?.close();
    await etcd?.stop();
  }, 60_000);

  it('an apply on one replica reaches sidecars on the others: time until each ACKs (p50, max)', async () => {
    const ms: number[] = [];
    // Writers: replicas with at least one proxy on another replica (proxies start on a replica
    // chosen from their instance id, so all three may share one).
    const placed = await proxies(alive()[0]!);
    const writers = alive().filter((c) => placed.some((p) => p.replica !== c.name));
    for (let i = 0; i < 6; i++) {
      // Each proxy's cluster version before: the TrafficPolicy below changes web's orders cluster.
      const writer = writers[i % writers.length]!;
      const all = await proxies(writer);
      const before = new Map(all.filter((p) => p.replica !== writer.name).map((p) => [p.nodeId, p.types.cluster?.ackedVersion]));
      expect(before.size, JSON.stringify(all.map((p) => [p.nodeId, p.replica]))).toBeGreaterThan(0);
      const t0 = performance.now();
      const r = await apply(writer, `apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: orders }\nspec:\n  targetRef: { kind: Service, name: orders }\n  connectionPool: { connectTimeout: ${1000 + i}ms }\n`);
      expect(r.status).toBe(200);
      // Every proxy on another replica has ACKed a new cluster version.
      await eventually(async () => {
        const now = (await proxies(writer)).filter((p) => before.has(p.nodeId));
        return now.length === before.size && now.every((p) => p.types.cluster?.state === 'SYNCED' && p.types.cluster.ackedVersion !== before.get(p.nodeId)) ? true : undefined;
      }, 10_000, 10);
      ms.push(performance.now() - t0);
    }
    figure('apply on one replica -> ACK by every sidecar on the other replicas', { applies: ms.length, p50Ms: Math.round(quantile(ms, 0.5)), maxMs: Math.round(Math.max(...ms)) });
    expect(Math.max(...ms)).toBeLessThan(10_000);
  });

  it('weft explain as a proxy connected to another replica: the replica asked gets that proxy\'s explanation from its replica', async () => {
    const placed = await proxies(alive()[0]!);
    const web = placed.find((p) => p.nodeId.startsWith('web'));
    expect(web, JSON.stringify(placed.map((p) => p.nodeId))).toBeDefined();
    const other = alive().find((c) => c.name !== web!.replica)!;
    const q = new URLSearchParams({ method: 'GET', url: 'http://orders/', from: 'web', proxy: web!.nodeId });
    const r = await admin<{ hops: Array<{ proxy: string; connected: boolean; route: string; listener: string }> }>(other, 'GET', `/v1/explain?${q}`);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.hops[0]).toMatchObject({ proxy: web!.nodeId, connected: true, listener: 'outbound' });
    expect(r.body.hops[0]!.route).not.toBe('');
    expect(r.body.hops.some((h) => h.listener === 'inbound')).toBe(true);
  });

  it('kill -9 of the replica web is on, under load: no failed request, SYNCED on another within 5 s, orders never leaves web', async () => {
    const web = (await proxies(alive()[0]!)).find((p) => p.service === 'web')!;
    const victim = cps.get(web.replica!)!;
    const survivor = alive().find((c) => c !== victim)!;
    let minHosts = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await webAgent.http({ url: 'http://127.0.0.1:15000/clusters', timeoutMs: 2000 }).catch(() => undefined);
        if (r?.status === 200) minHosts = Math.min(minHosts, (JSON.parse(r.body) as Array<{ name: string; hosts: unknown[] }>).find((c) => c.name === 'outbound|8080||orders.default')?.hosts.length ?? 0);
        await new Promise((res) => setTimeout(res, 25));
      }
    })();
    const load = loadAgent.load({ url: 'http://127.0.0.1:15001/', headers: { host: 'orders' }, total: 3000, concurrency: 4, timeoutMs: 5000, durationMs: 30_000 });
    // Let the load run, then kill the replica under it (a fault injected mid-run, not a check).
    await new Promise((res) => setTimeout(res, 1500));
    const t0 = performance.now();
    victim.proc.kill('SIGKILL');
    const syncedMs = await eventually(async () => {
      const p = (await proxies(survivor).catch(() => [])).find((x) => x.service === 'web');
      return p && p.replica !== victim.name && Object.values(p.types).every((x) => x.state === 'SYNCED') ? performance.now() - t0 : undefined;
    }, 15_000, 25);
    const r = await load;
    sampling = false;
    await sampler;
    figure('kill -9 of the replica web is on, under load (netns)', { replica: victim.name, sent: r.ok + r.failed, ok: r.ok, failed: r.failed, errors: r.errors, statuses: r.statuses, syncedOnAnotherReplicaMs: Math.round(syncedMs), minOrdersHostsSeenByWeb: minHosts });
    expect(r.failed).toBe(0);
    expect(r.ok).toBeGreaterThan(500);
    expect(syncedMs).toBeLessThan(5000);
    expect(minHosts).toBe(2);
    // The replica comes back (same name, same host): it reads the store and serves again.
    // The dead replica leaves the list within its lease (5 s), and one replica leads.
    const after = await eventually(async () => {
      const items = (await admin<{ items: Replica[] }>(survivor, 'GET', '/v1/replicas')).body.items;
      return items.length === 2 && items.filter((x) => x.leader).length === 1 && items.every((x) => x.healthy) ? items : undefined;
    }, 15_000, 100);
    figure('replicas after kill -9 (netns)', { replicas: after.map((x) => `${x.name}${x.leader ? '*' : ''}`) });
    await victim.proc.exited;
    await startReplica(victim.name, victim.host);
    await eventually(async () => ((await admin<{ items: Replica[] }>(survivor, 'GET', '/v1/replicas')).body.items.length === 3 ? true : undefined), 15_000, 100);
  }, 120_000);

  it('two replicas applying conflicting changes at once: one wins, the other gets a clear 409, nothing is lost', async () => {
    const [a, b] = alive();
    const rev = (await admin<{ revision: number }>(a!, 'GET', '/v1/resources')).body.revision;
    await eventually(async () => ((await admin<{ revision: number }>(b!, 'GET', '/v1/resources')).body.revision === rev ? true : undefined), 5000, 20);
    const doc = (who: string) => ({ files: [{ name: 'c.yaml', content: `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: conflict, labels: { by: ${who} } }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n` }] });
    const [ra, rb] = await Promise.all([admin<{ code?: string; message?: string }>(a!, 'POST', `/v1/apply?ifRevision=${rev}`, doc('a')), admin<{ code?: string; message?: string }>(b!, 'POST', `/v1/apply?ifRevision=${rev}`, doc('b'))]);
    figure('conflicting applies on two replicas (netns)', { a: ra.status, b: rb.status, loser: (ra.status === 409 ? ra : rb).body.message });
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    expect((ra.status === 409 ? ra : rb).body.code).toBe('CONFIG_CONFLICT');
    const winner = ra.status === 200 ? 'a' : 'b';
    for (const cp of [a!, b!]) {
      await eventually(async () => {
        const items = (await admin<{ items: Array<{ metadata: { labels?: Record<string, string> } }> }>(cp, 'GET', '/v1/resources?kind=Service&name=conflict')).body.items;
        return items[0]?.metadata.labels?.by === winner ? true : undefined;
      }, 5000, 20);
    }
  });

  it('a replica cut off from the network: its sidecars fail over; it catches up from the watch when the link returns', async () => {
    const ps = await proxies(alive()[0]!);
    // The replica with the most proxies on it (web's, at least one).
    const count = new Map<string, number>();
    for (const p of ps) count.set(p.replica!, (count.get(p.replica!) ?? 0) + 1);
    const victim = cps.get([...count.entries()].sort((x, y) => y[1] - x[1])[0]![0])!;
    const moved = ps.filter((p) => p.replica === victim.name).map((p) => p.nodeId);
    const other = alive().find((c) => c !== victim)!;
    // The replicas left connected keep their etcd leases (registry records, candidacy) while an
    // etcd member is cut off with the victim: 'lease lost' in their logs would say otherwise.
    const leaseLosses = () => alive().filter((c) => c !== victim).map((c) => `${c.name}:${c.proc.output().split('lease lost').length - 1}`);
    const lossesBefore = leaseLosses();
    const t0 = performance.now();
    await victim.host.linkDown();
    try {
      // Keepalive notices the dead path; each proxy moves to a reachable replica.
      const failoverMs = await eventually(async () => {
        const now = await proxies(other).catch(() => []);
        return moved.every((id) => now.some((p) => p.nodeId === id && p.replica !== victim.name && Object.values(p.types).every((t) => t.state === 'SYNCED'))) ? performance.now() - t0 : undefined;
      }, 40_000, 100);
      // Meanwhile the configuration moves on without the cut-off replica. (A call the replica's etcd
      // client sends to the cut-off member costs one attempt, 2.5 s, before it turns to another.)
      const r = await eventually(async () => {
        const x = await admin<{ revision?: number; code?: string; message?: string }>(other, 'POST', '/v1/apply', { files: [{ name: 'p.yaml', content: 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: during-partition }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' }] }, 15_000);
        return x.status === 200 ? x : undefined;
      }, 40_000, 250).catch((e: unknown) => {
        // (Seen under a loaded CI machine: the apply answered nothing within 15 s, three times in
        // about ten runs; alone it passes. What the replica said is what the next look needs.)
        figure('apply during the partition failed', { replica: other.name, log: other.proc.output().slice(-4000) });
        throw e;
      });
      const load = await loadAgent.load({ url: 'http://127.0.0.1:15001/', headers: { host: 'orders' }, total: 200, concurrency: 4, timeoutMs: 5000, durationMs: 20_000 });
      expect(load.failed).toBe(0);
      figure('replica partitioned: its sidecars failed over', { replica: victim.name, proxies: moved.length, failoverMs: Math.round(failoverMs), revisionDuringPartition: r.body.revision });
      expect(leaseLosses()).toEqual(lossesBefore);
      const t1 = performance.now();
      await victim.host.linkUp();
      // No manual step: its watch brings the newer configuration.
      const caughtUpMs = await eventually(async () => {
        const me = (await admin<{ items: Replica[] }>(victim, 'GET', '/v1/replicas', undefined, 2000).catch(() => undefined))?.body.items?.find((x) => x.self);
        return me && me.revision >= r.body.revision! ? performance.now() - t1 : undefined;
      }, 30_000, 100);
      const names = (await admin<{ items: Array<{ metadata: { name: string } }> }>(victim, 'GET', '/v1/resources?kind=Service')).body.items.map((x) => x.metadata.name);
      expect(names).toContain('during-partition');
      figure('partitioned replica caught up after the link returned', { replica: victim.name, ms: Math.round(caughtUpMs) });
    } finally {
      await victim.host.linkUp();
    }
  }, 120_000);

  it('one etcd member down: no effect; quorum lost: serving goes on, applies get 503; recovery by itself', async () => {
    const cp = alive()[0]!;
    const svc = (n: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`;
    // A member on a host whose replica is not `cp`... any member: quorum is what matters.
    const [m0, m1] = etcd.members.filter((m) => !m.endpoint.startsWith(`${cp.host.ip}:`));
    await m0!.stop();
    try {
      // No effect means the apply succeeds; it may wait out the stopped member (a commit waits
      // 2.5 s for each) and an etcd election, so the bound is the refused apply's 15 s, not 5.
      const one = await apply(cp, svc('one-member-down'), 15_000);
      expect(one.status, JSON.stringify(one.body)).toBe(200);
      await m1!.stop();
      const refused = await eventually(async () => {
        // A commit waits 2.5 s for each member before it is refused.
        const r = await admin<{ code?: string; message?: string }>(cp, 'POST', '/v1/apply', { files: [{ name: 'a.yaml', content: svc('no-quorum') }] }, 15_000);
        return r.status === 503 ? r : undefined;
      }, 40_000, 200);
      expect(refused.body.code).toBe('STORE_UNAVAILABLE');
      const load = await loadAgent.load({ url: 'http://127.0.0.1:15001/', headers: { host: 'orders' }, total: 200, concurrency: 4, timeoutMs: 5000, durationMs: 20_000 });
      figure('quorum lost', { apply: refused.status, message: refused.body.message, requests: load.ok + load.failed, failed: load.failed, errors: load.errors, statuses: load.statuses });
      expect(load.failed).toBe(0);
    } finally {
      await m1!.start();
      await m0!.start();
    }
    const t0 = performance.now();
    await eventually(async () => ((await apply(cp, svc('after-quorum'))).status === 200 ? true : undefined), 60_000, 250);
    figure('quorum back: applies accepted again', { ms: Math.round(performance.now() - t0) });
  }, 150_000);
});

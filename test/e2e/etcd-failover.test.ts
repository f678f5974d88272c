// Three control-plane replicas on a real 3-member etcd cluster, sidecars that know all three
// (issue 22), on loopback: one CA for every replica (mTLS between sidecars of different replicas;
// join tokens from one replica work on all), `weft get replicas` with one leader, `weft
// proxy-status` and `weft stat` answering the same on every replica, applies to different
// resources on two replicas both landing, the shared registry (an instance joining or draining
// through one replica seen by the others), and a root rotation asked of a replica that does not
// lead, driven by the leader, with traffic flowing. Failover (kill -9, partitions, quorum) runs
// across network namespaces: replicas-netns.test.ts.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.js';
import { eventually, figure, load, startControlPlane, startInstance, tempDir, weft, type ControlPlaneProc, type Instance } from '../harness/processes.js';

interface Proxy {
  nodeId: string;
  service?: string;
  replica?: string;
  types: Record<string, { state: string }>;
}
interface Replica {
  name: string;
  revision: number;
  leader: boolean;
  healthy: boolean;
  proxies: number;
}

const token = (cp: ControlPlaneProc) => readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();

async function get<T>(cp: ControlPlaneProc, path: string): Promise<T> {
  const r = await fetch(`${cp.adminUrl}${path}`, { headers: { authorization: `Bearer ${token(cp)}` }, signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as T;
}

async function apply(cp: ControlPlaneProc, yaml: string): Promise<number> {
  const r = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${token(cp)}`, 'content-type': 'application/json' }, body: JSON.stringify({ files: [{ name: 'a.yaml', content: yaml }] }) });
  return r.status;
}

const service = (name: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`;

describe('three control-plane replicas on etcd: one CA, failover, leader', () => {
  let etcd: EtcdCluster;
  const cps = new Map<string, ControlPlaneProc>();
  let orders: Instance[] = [];
  let web: Instance;
  /** An orders instance pinned to a replica other than web's (the trace test), if one was needed. */
  let pinned: Instance | undefined;
  let list = '';

  const live = () => [...cps.entries()].filter(([, cp]) => cp.proc.exitCode === null && cp.proc.signalCode === null);
  const anyLive = () => live()[0]![1];
  const proxies = async (cp = anyLive()) => (await get<{ items: Proxy[] }>(cp, '/v1/proxies')).items;
  const replicas = async (cp = anyLive()) => (await get<{ items: Replica[] }>(cp, '/v1/replicas')).items;

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
    const kek = join(tempDir('weft-kek-'), 'kek');
    writeFileSync(kek, randomBytes(32).toString('base64'), { mode: 0o600 });
    const started = await Promise.all(
      ['r1', 'r2', 'r3'].map((name) => startControlPlane({ extraArgs: ['--store', `etcd://${etcd.endpoints}`, '--ca-kek-file', kek, '--replica-name', name, '--load-report-interval', '500ms', '--ca-rotation-step-timeout', '15s'] })),
    );
    started.forEach((cp, i) => cps.set(`r${i + 1}`, cp));
    list = started.map((cp) => `127.0.0.1:${cp.xdsTlsPort}`).join(',');
    expect(await apply(started[0]!, service('orders') + '---\n' + service('web'))).toBe(200);
    // Every sidecar knows all three replicas and starts at a random one; join tokens from r1 work
    // on every replica (the token key is shared).
    orders = await Promise.all([1, 2, 3].map((i) => startInstance(started[0]!.xdsPort, 'http', 'orders', `orders-${i}`, { controlPlane: list })));
    web = await startInstance(started[0]!.xdsPort, 'http', 'web', 'web-1', { controlPlane: list });
    await eventually(async () => {
      const r = await load(web.sidecar.outboundPort, { host: 'orders', total: 30, concurrency: 3 });
      return r.ok === 30 && Object.keys(r.byName).length === 3;
    }, 30_000, 200);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...orders, web, pinned].map((i) => i?.kill()));
    await Promise.all([...cps.values()].map((cp) => cp.kill()));
    await etcd?.stop();
  }, 30_000);

  it('every replica lists the same three replicas, one of them leading, all serving the newest revision', async () => {
    for (const cp of cps.values()) {
      const items = await eventually(async () => {
        const r = await replicas(cp);
        return r.length === 3 && r.filter((x) => x.leader).length === 1 && r.every((x) => x.healthy) ? r : undefined;
      }, 15_000, 100);
      expect(items.map((r) => r.name)).toEqual(['r1', 'r2', 'r3']);
    }
    // The same seen in each replica's metrics: three live, exactly one leading, none lagging.
    const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const texts = await Promise.all([...cps.values()].map(async (cp) => (await fetch(`${cp.adminUrl}/metrics`)).text()));
    expect(texts.map((t) => metric(t, 'weft_control_plane_replicas'))).toEqual([3, 3, 3]);
    expect(texts.map((t) => metric(t, 'weft_control_plane_leader')).reduce((a, b) => a + b, 0)).toBe(1);
    expect(texts.map((t) => metric(t, 'weft_control_plane_lagging_replicas'))).toEqual([0, 0, 0]);
    const out = await weft(['get', 'replicas'], { cp: anyLive() });
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/NAME\s+XDS\s+ADMIN\s+REVISION\s+PROXIES\s+LEADER\s+HEALTHY/);
    expect(out.stdout.match(/^r\d/gm)).toHaveLength(3);
  });

  it('proxy-status from any replica lists every proxy with the replica it is on', async () => {
    // The registry is shared through etcd: a replica sees another's proxies once its watch delivers
    // them (a proxy that reconnected under load moves replica), so the views agree within a bound.
    const views = () => Promise.all([...cps.values()].map(async (cp) => (await proxies(cp)).map((p) => `${p.nodeId}@${p.replica}`).sort()));
    const seen = await eventually(async () => {
      const v = await views();
      return v[0]!.length === 4 && v.every((x) => JSON.stringify(x) === JSON.stringify(v[0])) ? v : undefined;
    }, 10_000, 50).catch(async () => views());
    expect(seen[0]).toHaveLength(4);
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
    // Each proxy is served the configuration revision every replica is at: the etcd revision.
    const rev = (await get<{ revision: number }>(anyLive(), '/v1/resources')).revision;
    await eventually(async () => ((await proxies()) as Array<Proxy & { revision?: number }>).every((p) => p.revision === rev) || undefined, 10_000, 50);
    const table = await weft(['proxy-status'], { cp: anyLive() });
    expect(table.stdout).toMatch(/PROXY\s+SERVICE\s+KIND\s+REPLICA\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS\s+REVISION/);
    expect(table.stdout).toMatch(new RegExp(`SYNCED\\s+${rev}\\s*$`, 'm'));
  });

  it('different resources applied on two replicas at once both land (the later one is validated again)', async () => {
    const [a, b] = live().map(([, cp]) => cp);
    const [ra, rb] = await Promise.all([apply(a!, service('billing')), apply(b!, service('search'))]);
    expect([ra, rb]).toEqual([200, 200]);
    for (const cp of [a!, b!]) {
      await eventually(async () => {
        const names = (await get<{ items: Array<{ metadata: { name: string } }> }>(cp, '/v1/resources?kind=Service')).items.map((x) => x.metadata.name);
        return names.includes('billing') && names.includes('search') ? true : undefined;
      }, 5000, 20);
    }
  });

  it('an instance that drains leaves every replica at once (the shared registry), and one that joins is served everywhere', async () => {
    const extra = await startInstance(anyLive().xdsPort, 'http', 'orders', 'orders-4', { controlPlane: list });
    try {
      await eventually(async () => ((await load(web.sidecar.outboundPort, { host: 'orders', total: 40, concurrency: 4 })).byName['orders-4'] ? true : undefined), 20_000, 100);
      const t0 = performance.now();
      await extra.sidecar.kill('SIGTERM');
      await eventually(async () => (!(await load(web.sidecar.outboundPort, { host: 'orders', total: 40, concurrency: 4 })).byName['orders-4'] ? true : undefined), 10_000, 50);
      figure('drained instance gone from the sidecar of another replica', { ms: Math.round(performance.now() - t0) });
    } finally {
      await extra.kill();
    }
  }, 60_000);

  it('weft stat gives the same answer on every replica (each sidecar reports to its own)', async () => {
    const r = await load(web.sidecar.outboundPort, { host: 'orders', total: 200, concurrency: 4 });
    expect(r.ok).toBe(200);
    // The orders sidecars are spread over the replicas: the inbound row adds all their reports.
    const rows = await eventually(async () => {
      const answers = await Promise.all(live().map(async ([, cp]) => (await get<{ items: Array<{ service: string; requests: number; sidecars: number }> }>(cp, '/v1/stats?windowMs=900000&direction=inbound')).items.find((x) => x.service === 'orders.default')));
      // Every report of this load arrived (>= 200), and every replica gives the same figures.
      return answers.every((a) => a && a.requests >= 200 && a.sidecars >= 3 && a.sidecars === answers[0]!.sidecars && a.requests === answers[0]!.requests) ? answers : undefined;
    }, 15_000, 200);
    expect(rows[0]!.requests).toBeGreaterThanOrEqual(200);
  });

  it('weft trace show gives a whole trace on every replica when its hops reported to different replicas', async () => {
    expect(await apply(anyLive(), 'apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  tracing: { samplingPercent: 100 }\n')).toBe(200);
    type Span = { spanId: string; service: string };
    // A split needs web's sidecar and an orders sidecar on different replicas. Each sidecar
    // reconnects to a random live replica, so after the failovers above they may all be on one:
    // then one more orders instance is started on another replica (its only control plane).
    const at = await proxies();
    const webAt = at.find((p) => p.nodeId.startsWith('web-'))?.replica;
    if (!at.some((p) => p.nodeId.startsWith('orders-') && p.replica !== undefined && p.replica !== webAt)) {
      const other = live().find(([name]) => name !== webAt)![1];
      pinned = await startInstance(other.xdsPort, 'http', 'orders', 'orders-9', { controlPlane: `127.0.0.1:${other.xdsTlsPort}` });
    }
    // A trace split over replicas: web's sidecar reported to its replica, the orders instance's
    // to another (each sidecar sends spans to the replica it is connected to).
    const split = await eventually(async () => {
      await load(web.sidecar.outboundPort, { host: 'orders', total: 12, concurrency: 3 });
      const lists = await Promise.all(live().map(([, cp]) => get<{ items: Array<{ traceId: string }> }>(cp, '/v1/traces?local=1&limit=100')));
      const holders = new Map<string, number>();
      for (const l of lists) for (const t of l.items) holders.set(t.traceId, (holders.get(t.traceId) ?? 0) + 1);
      return [...holders.entries()].find(([, n]) => n >= 2)?.[0];
    }, 30_000, 500);
    // A hop's spans may still be on their way (batched export) when the split is first seen: read
    // the parts and the merged views until two reads agree, then check them.
    type Whole = { summary: { spans: number; services: string[] }; spans: Span[] };
    const read = async () => {
      const parts = await Promise.all(live().map(([, cp]) => get<{ spans: Span[] }>(cp, `/v1/traces/${split}?local=1`).then((r) => r.spans.length, () => 0)));
      const whole = await Promise.all(live().map(([, cp]) => get<Whole>(cp, `/v1/traces/${split}`)));
      return { parts, whole };
    };
    const settled = (x: Awaited<ReturnType<typeof read>>) => x.whole.every((w) => w.summary.spans === x.parts.reduce((a, b) => a + b, 0)) && x.whole[0]!.summary.services.includes('orders') && x.whole[0]!.summary.services.includes('web');
    const { parts, whole } = await eventually(async () => {
      const x = await read();
      return settled(x) ? x : undefined;
    }, 10_000, 200).catch(read);
    figure('trace split over replicas, shown whole by each', { traceId: split, spansPerReplica: parts, merged: whole[0]!.summary.spans });
    for (const w of whole) {
      expect(w.summary.spans).toBe(parts.reduce((a, b) => a + b, 0));
      expect(w.spans.map((x) => x.spanId).sort()).toEqual(whole[0]!.spans.map((x) => x.spanId).sort());
    }
    expect(whole[0]!.summary.services).toEqual(expect.arrayContaining(['orders', 'web']));
    // The list agrees too: the trace appears whole (not as two partial rows) on every replica.
    for (const [, cp] of live()) {
      const rows = (await get<{ items: Array<{ traceId: string; spans: number }> }>(cp, '/v1/traces?limit=1000')).items.filter((t) => t.traceId === split);
      expect(rows).toEqual([expect.objectContaining({ spans: whole[0]!.summary.spans })]);
    }
    await pinned?.kill();
    pinned = undefined;
  }, 90_000);

  it('a root rotation asked of a replica that does not lead is driven by the leader; traffic keeps flowing', async () => {
    const items = await replicas();
    const follower = cps.get(items.find((x) => !x.leader)!.name)!;
    const before = await get<{ roots: Array<{ fingerprint: string; signing: boolean }> }>(follower, '/v1/ca');
    const post = await fetch(`${follower.adminUrl}/v1/ca/rotate`, { method: 'POST', headers: { authorization: `Bearer ${token(follower)}` } });
    expect(post.status).toBe(202);
    let failed = 0;
    let ok = 0;
    let rotating = true;
    const traffic = (async () => {
      while (rotating) {
        const r = await load(web.sidecar.outboundPort, { host: 'orders', total: 20, concurrency: 2 });
        ok += r.ok;
        failed += r.sent - r.ok;
      }
    })();
    const t0 = performance.now();
    const done = await eventually(async () => {
      const all = await Promise.all(live().map(([, cp]) => get<{ roots: Array<{ fingerprint: string; signing: boolean }>; rotation: { phase: string } }>(cp, '/v1/ca')));
      const fp = all[0]!.roots[0]!.fingerprint;
      return all.every((c) => c.rotation.phase === 'none' && c.roots.length === 1 && c.roots[0]!.fingerprint === fp) && fp !== before.roots[0]!.fingerprint ? fp : undefined;
    }, 60_000, 200);
    rotating = false;
    await traffic;
    figure('root rotation asked of a follower, driven by the leader', { ms: Math.round(performance.now() - t0), requests: ok + failed, failed });
    expect(done).not.toBe(before.roots[0]!.fingerprint);
    expect(failed).toBe(0);
    // Every sidecar, whichever replica it is on, now holds a leaf from the new root.
    // (The replica a proxy is on signed its renewal: it follows the same ControlPlanes choice.)
    const issuers = await Promise.all((await proxies()).map(async (p) => (await get<{ workloadCertificate: { issuerFingerprint: string } | null }>(cps.get(p.replica!)!, `/v1/proxies/${encodeURIComponent(p.nodeId)}/secrets`)).workloadCertificate?.issuerFingerprint));
    expect(issuers).toEqual([done, done, done, done]);
  }, 120_000);
});

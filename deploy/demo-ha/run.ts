// `make demo-ha`: Weft's high-availability layout (docs/deploy.md) on this one machine, with
// network namespaces as hosts, ending by itself.
//
//   cp1 10.x.0.1  etcd m0 + replica r1 ┐
//   cp2 10.x.0.2  etcd m1 + replica r2 ├─ one bridge (in a namespace of its own)
//   cp3 10.x.0.3  etcd m2 + replica r3 │
//   svc1          orders-1 + sidecar   │  every sidecar: --control-plane cp1:15010,cp2:15010,cp3:15010
//   svc2          orders-2 + sidecar   │
//   web           web-1 + sidecar, and a load generator sending to orders through web's sidecar
//
// Steps: `weft apply` the services; `weft get replicas` and `weft proxy-status` (REPLICA column);
// steady load while the replica web is on is killed with SIGKILL; a replica's host cut off (its
// link down, then up); two of three etcd members stopped (applies refused with 503, traffic still
// served) and started again (applies accepted). A summary table, then everything is stopped and the
// namespaces removed, on error and on Ctrl-C too. Exit code 0 only if every step met its expectation.
//
// Needs root and `ip netns` (iproute2), etcd (`make deps`), and dist/ (`make build`).
// Run: npx vite-node deploy/demo-ha/run.ts   (it reuses the test harness, which is TypeScript).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startEtcdCluster, type EtcdCluster } from '../../test/harness/etcd.js';
import { createHosts, type Agent, type Host, type LabProcess, type LoadResult, type Netlab } from '../../test/harness/netns.js';
import { ROOT, WEFT, eventually, tempDir } from '../../test/harness/processes.js';
import { LAB_ADMIN_PORT, LAB_XDS_PORT, ReplicaLab, type LabCp as Cp } from '../../test/harness/replica-lab.js';

interface Row {
  step: string;
  measured: string;
  expected: string;
  ok: boolean;
}

const XDS = LAB_XDS_PORT;
const ADMIN = LAB_ADMIN_PORT;
/** The whole demo, start to finish (it normally takes 2 to 4 minutes). */
const DEMO_LIMIT_MS = 10 * 60_000;
const LOG_LEVEL = process.env.DEMO_LOG_LEVEL ?? 'warn';

// ---- preconditions -------------------------------------------------------------------------
function precondition(): string | undefined {
  if (process.platform !== 'linux') return 'make demo-ha needs Linux (network namespaces).';
  if (process.getuid?.() !== 0) return 'make demo-ha needs root: it creates network namespaces as hosts (try: sudo make demo-ha).';
  const ipns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 });
  if (ipns.error || ipns.status !== 0) return `make demo-ha needs \`ip netns\` (iproute2): ${ipns.error?.message ?? ipns.stderr.trim()}`;
  const etcdBin = process.env.WEFT_ETCD ?? 'etcd';
  const et = spawnSync(etcdBin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (et.error || et.status !== 0) return `make demo-ha needs etcd (${etcdBin}); \`make deps\` installs Debian's etcd-server.`;
  if (!existsSync(join(ROOT, 'dist'))) return 'dist/ is missing: run `make build` first (make demo-ha does).';
  return undefined;
}

const why = precondition();
if (why) {
  console.error(why);
  process.exit(2);
}

// ---- state and cleanup ---------------------------------------------------------------------
let lab: Netlab | undefined;
let etcd: EtcdCluster | undefined;
const dirs: string[] = [];
let ctl: Agent;
let loadAgent: Agent;
let webAgent: Agent;
let kek = '';
const rows: Row[] = [];
const sidecars = new Map<string, LabProcess>();

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const bounded = <T>(p: Promise<T>, ms: number) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, ms).unref())]);
    await bounded(lab?.close() ?? Promise.resolve(), 20_000);
    await bounded(etcd?.stop() ?? Promise.resolve(), 10_000);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  })();
  return cleaning;
}
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n${sig}: stopping everything (namespaces, etcd, replicas, sidecars)...`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---- helpers -------------------------------------------------------------------------------
const step = (s: string) => console.log(`\n==> ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const dir = (prefix: string) => {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
};
const record = (r: Row) => {
  rows.push(r);
  console.log(`    ${r.ok ? 'ok' : 'NOT MET'}: ${r.measured}  (expected: ${r.expected})`);
};
const loadLine = (r: LoadResult) => {
  const errs = Object.entries({ ...r.errors, ...Object.fromEntries(Object.entries(r.statuses).filter(([s]) => !s.startsWith('2')).map(([s, c]) => [`HTTP ${s}`, c])) });
  return `${n(r.ok + r.failed)} requests, ${n(r.failed)} failed${errs.length ? ` (${errs.map(([k, v]) => `${k} x${v}`).join(', ')})` : ''}`;
};

const rl = new ReplicaLab({ etcd: () => etcd!, kekFile: () => kek, agent: () => ctl, dir: (prefix) => dir(`weft-demo-ha-${prefix.replace(/^weft-/, '')}`), logLevel: LOG_LEVEL, readyMs: 60_000, appReadyMs: 20_000 });
const cps = rl.cps;
const admin = rl.admin.bind(rl);
const apply = rl.apply.bind(rl);
const proxies = (cp: Cp) => rl.proxies(cp);
const replicas = rl.replicas.bind(rl);
const alive = rl.alive.bind(rl);
const svc = (name: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`;
const ordersLoad = (total: number, durationMs: number) => loadAgent.load({ url: 'http://127.0.0.1:15001/', headers: { host: 'orders' }, total, concurrency: 4, timeoutMs: 5000, durationMs });

/** The weft CLI run inside `host`'s namespace against a replica's admin API; its output indented. */
async function cli(host: Host, cp: Cp, args: string[]): Promise<string> {
  console.log(`    $ weft ${args.join(' ')} --server http://${cp.host.ip}:${ADMIN}   (on ${host.name})`);
  const r = await host.exec(process.execPath, [WEFT, ...args, '--server', `http://${cp.host.ip}:${ADMIN}`, '--token', rl.token], { timeoutMs: 30_000 });
  if (r.stdout.trim()) console.log(r.stdout.trimEnd().replace(/^/gm, '    '));
  if (r.code !== 0) throw new Error(`weft ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.trim()}`);
  return r.stdout;
}

async function startReplica(name: string, host: Host): Promise<Cp> {
  const cp = await rl.startReplica(name, host);
  console.log(`    replica ${name} on ${host.name} (${host.ip}): xDS :${XDS}, admin :${ADMIN}`);
  return cp;
}

async function startInstance(host: Host, service: string, name: string): Promise<void> {
  const { sidecar, appPort } = await rl.startInstance(host, service, name);
  sidecars.set(name, sidecar);
  console.log(`    ${name.padEnd(9)} on ${host.name.padEnd(4)} (${host.ip}): app :${appPort}, sidecar in :15006 out :15001`);
}

// ---- the demo ------------------------------------------------------------------------------
async function main(): Promise<void> {
  step('network namespaces as hosts: cp1..cp3 (etcd + replica each), svc1, svc2, web');
  lab = await createHosts(['cp1', 'cp2', 'cp3', 'svc1', 'svc2', 'web']);
  for (const h of lab.hosts) console.log(`    ${h.name.padEnd(4)} ${h.ip.padEnd(12)} namespace ${h.ns}`);
  const cpHosts = ['cp1', 'cp2', 'cp3'].map((x) => lab!.host(x));

  step('etcd: 3 members, one per control-plane host (client :2379, peer :2380)');
  etcd = await startEtcdCluster(3, { hosts: cpHosts });
  console.log(`    --store etcd://${etcd.endpoints}`);

  step('3 control-plane replicas on etcd, sharing one CA through the key-encryption key (--ca-kek-file)');
  kek = join(dir('weft-demo-ha-kek-'), 'kek');
  writeFileSync(kek, randomBytes(32).toString('base64'), { mode: 0o600 });
  ctl = await lab.host('svc1').agent();
  const first = await startReplica('r1', cpHosts[0]!);
  rl.token = readFileSync(join(first.dataDir, 'admin-token'), 'utf8').trim();
  await Promise.all([startReplica('r2', cpHosts[1]!), startReplica('r3', cpHosts[2]!)]);
  rl.placeReplicas(cpHosts);

  step('weft apply -f services.yaml   (Services orders and web)');
  const svcDir = dir('weft-demo-ha-svc-');
  writeFileSync(join(svcDir, 'services.yaml'), `${svc('orders')}---\n${svc('web')}`);
  await cli(lab.host('svc1'), first, ['apply', '-f', join(svcDir, 'services.yaml')]);

  step(`instances, each sidecar given every replica: --control-plane ${rl.list}`);
  await Promise.all([startInstance(lab.host('svc1'), 'orders', 'orders-1'), startInstance(lab.host('svc2'), 'orders', 'orders-2'), startInstance(lab.host('web'), 'web', 'web-1')]);
  loadAgent = await lab.host('web').agent();
  webAgent = await lab.host('web').agent();
  await eventually(async () => ((await ordersLoad(20, 5000)).ok === 20 ? true : undefined), 60_000, 250);
  console.log('    web -> orders: 20/20 requests ok');

  step('weft get replicas');
  await eventually(async () => {
    const items = await replicas(first);
    return items.length === 3 && items.every((x) => x.healthy) && items.filter((x) => x.leader).length === 1 ? true : undefined;
  }, 30_000, 200);
  await cli(lab.host('svc1'), first, ['get', 'replicas']);
  step('weft proxy-status   (asked of one replica; REPLICA says which one each proxy is on)');
  await eventually(async () => ((await proxies(first)).length === 3 ? true : undefined), 30_000, 200);
  await cli(lab.host('svc1'), first, ['proxy-status']);

  await killUnderLoad();
  await partition();
  await quorum();
}

async function killUnderLoad(): Promise<void> {
  const web = (await proxies(alive()[0]!)).find((p) => p.service === 'web');
  if (!web?.replica) throw new Error('web\'s sidecar is not listed by the control plane');
  const victim = cps.get(web.replica)!;
  const survivor = alive().find((c) => c !== victim)!;
  step(`steady load from web to orders; kill -9 of ${victim.name} (the replica web is on) after 2 s`);
  let minHosts = Infinity;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const r = await webAgent.http({ url: 'http://127.0.0.1:15000/clusters', timeoutMs: 2000 }).catch(() => undefined);
      if (r?.status === 200) minHosts = Math.min(minHosts, (JSON.parse(r.body) as Array<{ name: string; hosts: unknown[] }>).find((c) => c.name === 'outbound|8080||orders.default')?.hosts.length ?? 0);
      await sleep(25);
    }
  })();
  const load = ordersLoad(100_000, 12_000);
  await sleep(2000);
  const t0 = performance.now();
  victim.proc.kill('SIGKILL');
  console.log(`    kill -9 ${victim.name} (pid ${victim.proc.pid ?? '?'})`);
  // Meanwhile: the dead replica leaves the list once its lease ends (5 s), and one replica leads.
  const left = eventually(async () => {
    const items = await replicas(survivor);
    return items.length === 2 && items.filter((x) => x.leader).length === 1 && items.every((x) => x.healthy) ? { items, ms: performance.now() - t0 } : undefined;
  }, 25_000, 100).catch(() => undefined);
  const syncedMs = await eventually(async () => {
    const p = (await proxies(survivor).catch(() => [])).find((x) => x.service === 'web');
    return p && p.replica && p.replica !== victim.name && Object.values(p.types).every((x) => x.state === 'SYNCED') ? { ms: performance.now() - t0, on: p.replica } : undefined;
  }, 30_000, 25).catch(() => undefined);
  const r = await load;
  sampling = false;
  await sampler;
  console.log(`    load: ${loadLine(r)}; web SYNCED on ${syncedMs?.on ?? '-'} ${syncedMs ? `${n(syncedMs.ms)} ms after the kill` : 'not within 30 s'}; fewest orders hosts web held: ${minHosts}`);
  record({ step: `kill -9 ${victim.name} under load`, measured: loadLine(r), expected: '0 failed', ok: r.failed === 0 && r.ok > 0 });
  record({ step: '  web re-homed', measured: syncedMs ? `SYNCED on ${syncedMs.on} in ${n(syncedMs.ms)} ms` : 'not SYNCED elsewhere within 30 s', expected: '< 5,000 ms', ok: !!syncedMs && syncedMs.ms < 5000 });
  record({ step: '  orders endpoints at web', measured: `fewest seen: ${minHosts}`, expected: '2 (never dropped)', ok: minHosts === 2 });

  step(`${victim.name} leaves the replica list (its lease ends); restarted on ${victim.host.name}, it rejoins`);
  const after = await left;
  console.log(`    ${after ? `listed: ${after.items.map((x) => `${x.name}${x.leader ? ' (leader)' : ''}`).join(', ')}, ${n(after.ms)} ms after the kill` : `${victim.name} still listed 25 s after the kill`}`);
  await victim.proc.exited;
  await startReplica(victim.name, victim.host);
  const back = await eventually(async () => ((await replicas(survivor)).length === 3 ? true : undefined), 20_000, 100).catch(() => false);
  record({ step: `  ${victim.name} restarted`, measured: `${after ? `left the list in ${n(after.ms)} ms` : 'still listed after 25 s'}; ${back ? 'rejoined' : 'did not rejoin in 20 s'}`, expected: 'leaves < 25 s, rejoins', ok: !!after && back });
  await cli(lab!.host('svc1'), survivor, ['get', 'replicas']);
}

async function partition(): Promise<void> {
  const ps = await proxies(alive()[0]!);
  const count = new Map<string, number>();
  for (const p of ps) if (p.replica) count.set(p.replica, (count.get(p.replica) ?? 0) + 1);
  const victim = cps.get([...count.entries()].sort((x, y) => y[1] - x[1])[0]![0])!;
  const moved = ps.filter((p) => p.replica === victim.name).map((p) => p.nodeId);
  const other = alive().find((c) => c !== victim)!;
  step(`${victim.host.name}'s link down: ${victim.name} and etcd ${victim.host.ip} cut off (${moved.length} prox${moved.length === 1 ? 'y' : 'ies'} on ${victim.name})`);
  const t0 = performance.now();
  await victim.host.linkDown();
  try {
    const failoverMs = await eventually(async () => {
      const now = await proxies(other).catch(() => []);
      return moved.every((id) => now.some((p) => p.nodeId === id && p.replica !== victim.name && Object.values(p.types).every((t) => t.state === 'SYNCED'))) ? performance.now() - t0 : undefined;
    }, 45_000, 100).catch(() => undefined);
    console.log(`    ${failoverMs ? `its sidecars SYNCED on other replicas ${n(failoverMs)} ms after the link went down (keepalive 5 s + 5 s)` : 'its sidecars did not fail over within 45 s'}`);
    if (!failoverMs) {
      const now = await proxies(other).catch((e: Error) => e.message);
      console.log(`    proxies as ${other.name} sees them: ${typeof now === 'string' ? now : JSON.stringify(now.map((p) => [p.nodeId, p.replica, Object.fromEntries(Object.entries(p.types).map(([k, v]) => [k, v.state]))]))}`);
      for (const [name, sc] of sidecars) console.log(`    ${name} sidecar, last output:\n${sc.output().slice(-1500).replace(/^/gm, '      ')}`);
    }
    record({ step: `${victim.host.name} link down`, measured: failoverMs ? `${moved.length} prox${moved.length === 1 ? 'y' : 'ies'} failed over in ${n(failoverMs)} ms` : 'no failover in 45 s', expected: 'failover < 45 s', ok: !!failoverMs });
    const r = await apply(other, svc('during-partition'));
    console.log(`    apply on ${other.name} while ${victim.name} is cut off: HTTP ${r.status}, revision ${r.body.revision ?? '-'}`);
    const load = await ordersLoad(400, 15_000);
    console.log(`    load: ${loadLine(load)}`);
    record({ step: '  apply + traffic meanwhile', measured: `apply ${r.status}; ${loadLine(load)}`, expected: '200; 0 failed', ok: r.status === 200 && load.failed === 0 });
    step(`${victim.host.name}'s link up: ${victim.name} catches up from its etcd watch`);
    const t1 = performance.now();
    await victim.host.linkUp();
    const caughtUpMs = r.body.revision === undefined ? undefined : await eventually(async () => {
      const me = (await replicas(victim, 2000).catch(() => [])).find((x) => x.self);
      return me && me.revision >= r.body.revision! ? performance.now() - t1 : undefined;
    }, 30_000, 100).catch(() => undefined);
    const names = caughtUpMs === undefined ? [] : (await admin<{ items: Array<{ metadata: { name: string } }> }>(victim, 'GET', '/v1/resources?kind=Service')).body.items.map((x) => x.metadata.name);
    const ok = caughtUpMs !== undefined && names.includes('during-partition');
    console.log(`    ${ok ? `${victim.name} serves revision >= ${r.body.revision} ${n(caughtUpMs!)} ms after the link came back` : `${victim.name} did not catch up within 30 s`}`);
    record({ step: `  ${victim.host.name} link up`, measured: ok ? `${victim.name} caught up in ${n(caughtUpMs!)} ms` : 'not caught up in 30 s', expected: 'catches up < 30 s', ok });
  } finally {
    await victim.host.linkUp();
  }
  await eventually(async () => {
    const items = await replicas(other);
    return items.length === 3 && items.every((x) => x.healthy) ? true : undefined;
  }, 30_000, 200).catch(() => undefined);
  await cli(lab!.host('svc1'), other, ['get', 'replicas']);
}

async function quorum(): Promise<void> {
  const cp = alive()[0]!;
  const [m0, m1] = etcd!.members.filter((m) => !m.endpoint.startsWith(`${cp.host.ip}:`));
  step(`etcd quorum lost: members ${m0!.name} and ${m1!.name} stopped (of 3); applies go to ${cp.name}`);
  let refused: { status: number; body: { code?: string; message?: string } } | undefined;
  let load: LoadResult | undefined;
  await m0!.stop();
  await m1!.stop();
  try {
    // A commit waits for etcd up to its deadline (5 s) before it is refused.
    refused = await eventually(async () => {
      const r = await apply(cp, svc('no-quorum'), 15_000);
      return r.status === 503 ? r : undefined;
    }, 45_000, 200).catch(() => undefined);
    console.log(`    apply: ${refused ? `HTTP ${refused.status} ${refused.body.code ?? ''}: ${refused.body.message ?? ''}` : 'not refused with 503 within 45 s'}`);
    load = await ordersLoad(400, 15_000);
    console.log(`    traffic meanwhile: ${loadLine(load)}`);
  } finally {
    await m1!.start();
    await m0!.start();
  }
  record({ step: '2 of 3 etcd members down', measured: refused ? `apply ${refused.status} ${refused.body.code ?? ''}` : 'apply not refused', expected: '503 STORE_UNAVAILABLE', ok: refused?.body.code === 'STORE_UNAVAILABLE' });
  record({ step: '  traffic meanwhile', measured: load ? loadLine(load) : '-', expected: '0 failed', ok: !!load && load.failed === 0 && load.ok > 0 });
  step(`etcd members ${m0!.name} and ${m1!.name} started again: applies accepted, nothing done by hand`);
  const t0 = performance.now();
  const back = await eventually(async () => {
    const r = await apply(cp, svc('after-quorum'), 15_000);
    return r.status === 200 ? r : undefined;
  }, 60_000, 250).catch(() => undefined);
  const ms = performance.now() - t0;
  console.log(`    apply: ${back ? `HTTP 200, revision ${back.body.revision}, ${n(ms)} ms after the members were started` : 'still refused after 60 s'}`);
  record({ step: '  etcd members back', measured: back ? `apply 200 after ${n(ms)} ms` : 'apply still refused after 60 s', expected: 'apply 200 < 60 s', ok: !!back });
}

function summary(): void {
  step('summary');
  const head = ['step', 'measured', 'expected', 'result'];
  const cells = rows.map((r) => [r.step, r.measured, r.expected, r.ok ? 'ok' : 'NOT MET']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) => c.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(fmt(head));
  for (const c of cells) console.log(fmt(c));
}

const limit = setTimeout(() => {
  console.error(`\ndemo-ha did not finish within ${DEMO_LIMIT_MS / 60_000} minutes; stopping everything.`);
  summary();
  void cleanup().finally(() => process.exit(1));
}, DEMO_LIMIT_MS);
limit.unref();

let code = 0;
try {
  await main();
  summary();
  const failed = rows.filter((r) => !r.ok);
  if (failed.length > 0) {
    code = 1;
    console.log(`\ndemo-ha: ${failed.length} step(s) did not meet expectations: ${failed.map((r) => r.step.trim()).join('; ')}`);
  } else console.log('\ndemo-ha: every step met its expectation (3 replicas on a 3-member etcd, across 6 network namespaces).');
} catch (e) {
  code = 1;
  if (interrupted) await new Promise(() => {}); // the signal handler cleans up and exits
  if (rows.length > 0) summary();
  console.error(`\ndemo-ha failed: ${(e as Error).message}`);
}
if (!interrupted) {
  console.log('stopping everything (replicas, sidecars, etcd) and removing the namespaces.');
  await cleanup();
  clearTimeout(limit);
  process.exit(code);
}

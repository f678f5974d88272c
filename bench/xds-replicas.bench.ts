// xDS convergence with control-plane replicas (issue 22): 3 replicas on one real 3-member etcd
// cluster with 1,000 simulated proxies each (3,000), against one replica on the same etcd cluster
// with 1,000 (the baseline: same store, so the ratio isolates replication) and, for reference, one
// control plane on the file store with 1,000; all in one run. Each change is one TrafficPolicy
// applied on replica 1 (admin API, what `weft apply` sends); convergence = from the apply until
// every proxy on every replica ACKed a new CDS version. p50 and max over CHANGES changes, VmRSS and
// VmHWM of every replica. Aim: under 1 s, under 300 MB per replica.
// The simulated proxies (bench/sim-proxy.ts) run in one child process per replica
// (bench/sim-proxy-host.ts), so the 3-replica row is not 3x the decoding in one event loop.
// Run by `make bench` (scenario xdsReplicas); prints a table, writes bench/results/xds-replicas.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../test/harness/etcd.js';
import { ROOT, WEFT, startControlPlane, tempDir, type ControlPlaneProc } from '../test/harness/processes.js';

/** Simulated proxies per replica (the 3-replica row has 3x this many). */
const PER_REPLICA = Number(process.env.XDS_REPLICA_BENCH_PROXIES ?? 1000);
const REPLICAS = Number(process.env.XDS_REPLICA_BENCH_REPLICAS ?? 3);
const SERVICES = Number(process.env.XDS_REPLICA_BENCH_SERVICES ?? 100);
const ENDPOINTS = Number(process.env.XDS_REPLICA_BENCH_ENDPOINTS_PER_SERVICE ?? 90);
const CHANGES = Number(process.env.XDS_REPLICA_BENCH_CHANGES ?? 5);
const PROTOCOL = (process.env.XDS_REPLICA_BENCH_PROTOCOL ?? 'delta') as 'delta' | 'sotw';
/** The file-store row (one control plane, PER_REPLICA proxies): on unless set to 0. */
const FILE_ROW = process.env.XDS_REPLICA_BENCH_FILE_ROW !== '0';
const CP_ARGS = (process.env.XDS_REPLICA_BENCH_CP_ARGS ?? '').split(' ').filter(Boolean);
/** A change not converged within this is a FAILED row; so is a start that did not sync. */
const CHANGE_TIMEOUT_MS = Number(process.env.XDS_REPLICA_BENCH_CHANGE_TIMEOUT_MS ?? 60_000);
// 3 replicas x 1,000 proxies took 170 s to sync on a busy 2-core machine (every registration is an
// etcd put each replica follows and pushes as EDS to its proxies), 240 s was too short once.
const SYNC_TIMEOUT_MS = Number(process.env.XDS_REPLICA_BENCH_SYNC_TIMEOUT_MS ?? 420_000);
const AIM = { p50Ms: 1000, maxMs: 1000, rssMB: 300 };

// Flags that exist only in newer builds: passed when `weft control-plane --help` mentions them.
const HELP = spawnSync(process.execPath, [WEFT, 'control-plane', '--help'], { encoding: 'utf8' });
const cpHelp = `${HELP.stdout}${HELP.stderr}`;
const KEK_FLAG = cpHelp.includes('--ca-kek-file');
const REPLICA_NAME_FLAG = cpHelp.includes('--replica-name');

const now = () => performance.timeOrigin + performance.now();
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function memOf(pid: number): { rssMiB: number; peakMiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const f = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) / 1024;
  return { rssMiB: f('VmRSS'), peakMiB: f('VmHWM') };
}
const mb = (mib: number) => (mib * 2 ** 20) / 1e6;
/** CPU seconds (user + system) a process used so far. */
function cpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // after "pid (comm) ": field 3 on
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15), USER_HZ 100
}
/** The machine's busy and total jiffies (every core), from /proc/stat. */
function machine(): { busy: number; total: number } {
  const t = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = t.reduce((a, b) => a + b, 0);
  return { busy: total - t[3]! - (t[4] ?? 0), total };
}

async function apply(cp: ControlPlaneProc, content: string): Promise<number | undefined> {
  const tokenFile = join(cp.dataDir, 'admin-token');
  if (!existsSync(tokenFile)) throw new Error(`no admin token in ${cp.dataDir}`);
  const token = readFileSync(tokenFile, 'utf8').trim();
  const res = await fetch(`${cp.adminUrl}/v1/apply`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ files: [{ name: 'bench.yaml', content }] }),
  });
  if (!res.ok) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { revision?: number }).revision;
}

/** The mesh as YAML documents: SERVICES services with ENDPOINTS static endpoints each. */
function serviceDocs(): string[] {
  return Array.from({ length: SERVICES }, (_, s) => {
    const eps = Array.from({ length: ENDPOINTS }, (_, e) => `    - { address: 127.1.${s % 250}.${(e % 250) + 1}, port: ${9000 + e} }`).join('\n');
    return `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: svc-${s} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n  endpoints:\n${eps}`;
  });
}
const policy = (timeoutMs: number) =>
  `apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: svc-0 }\nspec:\n  targetRef: { kind: Service, name: svc-0 }\n  connectionPool: { connectTimeout: ${timeoutMs}ms }`;

/** The mesh, in applies of 20 services (etcd bounds a transaction's operations and bytes). */
async function applyMesh(cp: ControlPlaneProc): Promise<void> {
  const docs = serviceDocs();
  for (let i = 0; i < docs.length; i += 20) await apply(cp, docs.slice(i, i + 20).join('\n---\n'));
  await apply(cp, policy(1000));
}

/** One bench/sim-proxy-host.ts process: `count` simulated proxies on one control plane. */
class Host {
  readonly proc: ChildProcess;
  readonly #events: Array<Record<string, unknown>> = [];
  readonly #waiters: Array<{ ev: string; resolve: (e: Record<string, unknown>) => void }> = [];
  pending = '';
  err = '';
  constructor(xdsPort: number, count: number, firstId: number, prefix: string) {
    this.proc = spawn(join(ROOT, 'node_modules/.bin/vite-node'), [join(ROOT, 'bench/sim-proxy-host.ts')], {
      cwd: ROOT,
      env: { ...process.env, SIM_ADDRESS: `127.0.0.1:${xdsPort}`, SIM_COUNT: String(count), SIM_FIRST: String(firstId), SIM_SERVICES: String(SERVICES), SIM_PROTOCOL: PROTOCOL, SIM_PREFIX: prefix },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    hosts.add(this.proc);
    this.proc.once('exit', () => hosts.delete(this.proc));
    this.proc.stderr!.on('data', (d: Buffer) => (this.err = (this.err + d.toString()).slice(-2000)));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (e.ev === 'pending') {
        this.pending = e.synced !== undefined ? `${e.synced}/${e.total} synced` : `${e.changed}/${e.total} ACKed`;
        if (e.errors) this.pending += `, ${e.errors} streams failed: ${e.error ?? ''}`;
        return;
      }
      const w = this.#waiters.findIndex((x) => x.ev === e.ev);
      if (w >= 0) this.#waiters.splice(w, 1)[0]!.resolve(e);
      else this.#events.push(e);
    });
  }
  /** The next event `ev` (an earlier unclaimed one first); rejects after `ms` or when the host exits. */
  next(ev: string, ms: number): Promise<Record<string, unknown>> {
    const i = this.#events.findIndex((e) => e.ev === ev);
    if (i >= 0) return Promise.resolve(this.#events.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const onExit = () => done(new Error(`simulated-proxy host exited (${this.proc.exitCode}) waiting for ${ev}: ${this.err.slice(-500)}`));
      const t = setTimeout(() => done(new Error(`timeout after ${ms} ms waiting for ${ev}${this.pending ? ` (${this.pending})` : ''}`)), ms);
      const entry = { ev, resolve: (e: Record<string, unknown>) => (clearTimeout(t), this.proc.off('exit', onExit), resolve(e)) };
      const done = (err: Error) => {
        clearTimeout(t);
        this.proc.off('exit', onExit);
        const k = this.#waiters.indexOf(entry);
        if (k >= 0) this.#waiters.splice(k, 1);
        reject(err);
      };
      this.#waiters.push(entry);
      this.proc.once('exit', onExit);
    });
  }
  send(cmd: string): void {
    if (cmd === 'mark') this.pending = '';
    this.proc.stdin!.write(`${cmd}\n`);
  }
  async close(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.send('close');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}
const hosts = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of hosts) p.kill('SIGKILL');
});

interface ReplicaMem { name: string; pid: number; rssMiB: number; peakMiB: number; heapMiB: number; p50Ms: number; changesCpuS: number }
interface Row {
  key: string;
  store: 'file' | 'etcd';
  replicas: number;
  proxies: number;
  proxiesPerReplica: number;
  changes?: number;
  timesMs?: number[];
  /** From connecting until every proxy had CDS, EDS and RDS (the slowest replica's proxies). */
  syncMs?: number;
  /** How long the registrations took to go quiet (no response to any proxy for 1 s) after sync. */
  settleMs?: number;
  /** EDS responses the proxies ACKed while the changes converged, over all changes (0: no registry churn). */
  edsPushesDuringChanges?: number;
  /** Control-plane log lines about a lost registry lease, over every replica. */
  leaseLost?: number;
  /** How busy the whole machine (every core) was while the changes ran, %: near 100 = CPU-bound. */
  machineBusyPct?: number;
  /** CPU seconds the simulated-proxy processes used during the changes, over all of them. */
  simCpuS?: number;
  p50Ms?: number;
  maxMs?: number;
  /** Per replica, read after the last change. */
  memory?: ReplicaMem[];
  maxRssMiB?: number;
  maxPeakMiB?: number;
  aim?: { latency: 'pass' | 'miss'; memory: 'pass' | 'miss' };
  failed?: string;
}

async function heapMiB(cp: ControlPlaneProc): Promise<number> {
  try {
    const text = await (await fetch(`${cp.adminUrl}/metrics`)).text();
    return Number(/^nodejs_heap_size_total_bytes(?:\{[^}]*\})? (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
  } catch {
    return NaN;
  }
}

/**
 * Measures one row: `n` control planes started by `startOne` (the first one takes the applies),
 * PER_REPLICA simulated proxies on each; the mesh is applied before the others start (they read it
 * at start). Any error or timeout makes the row FAILED with the phase it happened in.
 */
async function measure(key: string, store: 'file' | 'etcd', n: number, startOne: (i: number) => Promise<ControlPlaneProc>): Promise<Row> {
  const row: Row = { key, store, replicas: n, proxies: n * PER_REPLICA, proxiesPerReplica: PER_REPLICA };
  const cps: ControlPlaneProc[] = [];
  const sims: Host[] = [];
  const phase = { name: 'start' };
  try {
    cps.push(await startOne(0));
    phase.name = 'apply the mesh';
    await applyMesh(cps[0]!);
    phase.name = 'start replicas';
    for (let i = 1; i < n; i++) cps.push(await startOne(i));
    phase.name = 'connect and sync the simulated proxies';
    for (let i = 0; i < n; i++) sims.push(new Host(cps[i]!.xdsPort, PER_REPLICA, i * PER_REPLICA, `${key}`));
    const synced = await Promise.all(sims.map((s, i) => s.next('synced', SYNC_TIMEOUT_MS).catch((e: Error) => {
      throw new Error(`replica ${i + 1}: ${e.message}`);
    })));
    row.syncMs = Math.max(...synced.map((e) => Number(e.ms)));
    // Registrations settle (debounced EDS pushes; on etcd, every replica follows every registration).
    phase.name = 'settle';
    await sleep(1000);
    const tSettle = now();
    for (const s of sims) s.send('settle');
    await Promise.all(sims.map((s) => s.next('settled', 60_000)));
    row.settleMs = Math.round(now() - tSettle);
    const times: number[] = [];
    const perReplica: number[][] = cps.map(() => []);
    let edsPushes = 0;
    const cpu0 = cps.map((cp) => cpuS(cp.proc.pid!));
    const sim0 = sims.reduce((n, s) => n + cpuS(s.proc.pid!), 0);
    const m0 = machine();
    for (let c = 1; c <= CHANGES; c++) {
      phase.name = `change ${c} of ${CHANGES}`;
      for (const s of sims) s.send('mark');
      await Promise.all(sims.map((s) => s.next('marked', 10_000)));
      const t0 = now();
      await apply(cps[0]!, policy(1000 + c));
      const done = await Promise.all(
        sims.map((s, i) => s.next('converged', CHANGE_TIMEOUT_MS).catch((e: Error) => {
          throw new Error(`replica ${i + 1}: ${e.message}`);
        })),
      );
      times.push(Math.max(...done.map((d) => Number(d.at))) - t0);
      done.forEach((d, i) => perReplica[i]!.push(Number(d.at) - t0));
      edsPushes += done.reduce((n, d) => n + Number(d.edsPushes ?? 0), 0);
      await sleep(300); // the next change does not ride on this one's debounce
    }
    const m1 = machine();
    row.machineBusyPct = Math.round(((m1.busy - m0.busy) / (m1.total - m0.total)) * 100);
    row.simCpuS = Math.round((sims.reduce((n, s) => n + cpuS(s.proc.pid!), 0) - sim0) * 10) / 10;
    const r1 = (x: number) => Math.round(x * 10) / 10;
    const memory = await Promise.all(cps.map(async (cp, i) => {
      const m = memOf(cp.proc.pid!);
      return { name: `r${i + 1}`, pid: cp.proc.pid!, rssMiB: r1(m.rssMiB), peakMiB: r1(m.peakMiB), heapMiB: r1(await heapMiB(cp)), p50Ms: r1(pct(perReplica[i]!, 50)), changesCpuS: r1(cpuS(cp.proc.pid!) - cpu0[i]!) };
    }));
    const maxRssMiB = Math.max(...memory.map((m) => m.rssMiB));
    const maxPeakMiB = Math.max(...memory.map((m) => m.peakMiB));
    const p50Ms = r1(pct(times, 50));
    const maxMs = r1(Math.max(...times));
    Object.assign(row, {
      changes: CHANGES, timesMs: times.map(r1), edsPushesDuringChanges: edsPushes, p50Ms, maxMs, memory, maxRssMiB, maxPeakMiB,
      aim: { latency: maxMs < AIM.maxMs ? 'pass' : 'miss', memory: mb(maxPeakMiB) < AIM.rssMB ? 'pass' : 'miss' },
    });
  } catch (e) {
    row.failed = `${phase.name}: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    row.leaseLost = cps.reduce((n, cp) => n + (cp.output().match(/lease lost/g)?.length ?? 0), 0);
    await Promise.all(sims.map((s) => s.close()));
    await Promise.all(cps.map((cp) => cp.kill()));
  }
  return row;
}

function kekFile(): string {
  const f = join(tempDir('weft-kek-'), 'kek');
  writeFileSync(f, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
  return f;
}

describe('xDS convergence with control-plane replicas', () => {
  it('apply on replica 1 -> every proxy on every replica ACKs', async () => {
    const rows: Row[] = [];
    // The default registry grace (10 s): on etcd it is the registry lease's TTL, and a 1 s lease
    // (what xds-convergence uses to clear instances between sizes) lapses on a busy 2-core machine,
    // when every instance is deleted and written again (churn no deployment would run with).
    const base = ['--xds-plaintext-register', ...CP_ARGS];
    if (FILE_ROW) rows.push(await measure('file-1', 'file', 1, () => startControlPlane({ extraArgs: base })));
    let etcd: EtcdCluster | undefined;
    try {
      etcd = await startEtcdCluster(3);
      const kek = kekFile();
      const onEtcd = (prefix: string) => (i: number) =>
        startControlPlane({
          extraArgs: [
            ...base, '--store', `etcd://${etcd!.endpoints}`, '--etcd-prefix', prefix,
            ...(KEK_FLAG ? ['--ca-kek-file', kek] : []), ...(REPLICA_NAME_FLAG ? ['--replica-name', `r${i + 1}`] : []),
          ],
        });
      // Fresh prefixes: the replicas do not see the baseline's configuration or registrations.
      rows.push(await measure('etcd-1', 'etcd', 1, onEtcd(`/bench-${process.pid}-1`)));
      rows.push(await measure(`etcd-${REPLICAS}`, 'etcd', REPLICAS, onEtcd(`/bench-${process.pid}-${REPLICAS}`)));
    } catch (e) {
      rows.push({ key: `etcd-${REPLICAS}`, store: 'etcd', replicas: REPLICAS, proxies: REPLICAS * PER_REPLICA, proxiesPerReplica: PER_REPLICA, failed: `etcd cluster: ${(e as Error).message.split('\n')[0]}` });
    } finally {
      await etcd?.stop();
    }
    const one = rows.find((r) => r.key === 'etcd-1');
    const many = rows.find((r) => r.key === `etcd-${REPLICAS}`);
    const ratio = one?.p50Ms && many?.p50Ms && !one.failed && !many.failed ? Math.round((many.p50Ms / one.p50Ms) * 100) / 100 : null;

    const f0 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(0));
    const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(1));
    const label = (r: Row) => `${r.store} x${r.replicas}`;
    const lines = [
      `xDS replicas: apply on replica 1 -> every proxy on every replica ACKed the new CDS version (${PROTOCOL}); aim: max < ${AIM.maxMs} ms, peak RSS < ${AIM.rssMB} MB per replica`,
      `${'row'.padEnd(10)}${'proxies'.padStart(8)}${'per CP'.padStart(8)}${'p50 ms'.padStart(9)}${'max ms'.padStart(9)}  ${'RSS MiB per replica (peak)'.padEnd(44)}${'latency'.padStart(8)}${'memory'.padStart(8)}${'sync s'.padStart(8)}${'settle s'.padStart(10)}${'EDS acks'.padStart(10)}`,
      ...rows.map((r) =>
        r.failed
          ? `${label(r).padEnd(10)}${String(r.proxies).padStart(8)}${String(r.proxiesPerReplica).padStart(8)} FAILED: ${r.failed}`
          : `${label(r).padEnd(10)}${String(r.proxies).padStart(8)}${String(r.proxiesPerReplica).padStart(8)}${f0(r.p50Ms).padStart(9)}${f0(r.maxMs).padStart(9)}  ${r.memory!.map((m) => `${f1(m.rssMiB)} (${f1(m.peakMiB)})`).join(', ').padEnd(44)}${r.aim!.latency.padStart(8)}${r.aim!.memory.padStart(8)}${f1((r.syncMs ?? NaN) / 1000).padStart(8)}${f1((r.settleMs ?? NaN) / 1000).padStart(10)}${String(r.edsPushesDuringChanges ?? '-').padStart(10)}${r.leaseLost ? `  (registry lease lost ${r.leaseLost}x)` : ''}` +
            `\n${''.padEnd(10)}  per replica p50 ms: ${r.memory!.map((m) => f0(m.p50Ms)).join(', ')}; CPU s during the changes: replicas ${r.memory!.map((m) => f1(m.changesCpuS)).join(', ')}, simulated proxies ${f1(r.simCpuS)}; machine busy ${r.machineBusyPct}%`,
      ),
      `ratio p50 etcd x${REPLICAS} / etcd x1: ${ratio === null ? '- (a row FAILED)' : `${ratio.toFixed(2)}x`}`,
      `(${CHANGES} changes per row; ${SERVICES} services x ${ENDPOINTS} endpoints; etcd: 3 members on loopback; one simulated-proxy process per replica; memory read after the last change; settle: registrations quiet for 1 s; EDS acks: EDS responses the proxies ACKed during the changes, 0 when the registry was quiet; machine busy: every core, during the changes, ${os.cpus().length} cores)`,
    ];
    console.log(`\n${lines.join('\n')}\n`);
    const dir = join(ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const config = { perReplica: PER_REPLICA, replicas: REPLICAS, services: SERVICES, endpointsPerService: ENDPOINTS, changes: CHANGES, protocol: PROTOCOL, changeTimeoutMs: CHANGE_TIMEOUT_MS, kekFlag: KEK_FLAG, aim: AIM };
    writeFileSync(join(dir, 'xds-replicas.json'), JSON.stringify({ at: new Date().toISOString(), config, rows, ratioP50: ratio }, null, 2));
    writeFileSync(join(dir, 'xds-replicas.txt'), `${lines.join('\n')}\n`);
  }, 1_800_000);
});

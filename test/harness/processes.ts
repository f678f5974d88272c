/**
 * Launches Weft's real programs for integration and e2e tests: the control plane daemon (ports 0,
 * a fresh data dir), CLI invocations, and helper processes. Every process is killed at teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir } from './temp.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const WEFT = join(ROOT, 'bin/weft.js');

const live = new Set<ChildProcess>();
/**
 * What this worker stops when it ends: every process a test started, and the shared etcd cluster.
 * vitest ends its fork workers with SIGTERM, which skips 'exit': a process a test started but had
 * no handle to kill (a start that resolved after a sibling start rejected in the same Promise.all)
 * outlived the run (two sidecars were found running under a benchmark an hour later), and so did
 * the etcd cluster before. The signal is raised again afterwards, so the worker still ends as it says.
 */
const teardown: Array<() => void> = [() => {
  for (const p of live) p.kill('SIGKILL');
}];
const runTeardown = (): void => {
  for (const f of teardown.splice(0)) f();
};
process.on('exit', runTeardown);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    runTeardown();
    process.kill(process.pid, sig);
  });
}

/**
 * `p.waitLine(re)` for a process a start helper just spawned; when the line never comes, the
 * process is killed before the error propagates (a test failing in its beforeAll has no handle to
 * kill it by, and a vitest worker that is stopped by a signal runs no 'exit' handler: one such
 * control plane once kept running for 45 minutes, under a benchmark).
 */
async function readyLine(p: Spawned, re: RegExp, timeoutMs?: number): Promise<RegExpExecArray> {
  try {
    return await p.waitLine(re, timeoutMs);
  } catch (e) {
    await p.kill('SIGKILL');
    throw e;
  }
}

// tempDir lives in ./temp.js (the per-file setup imports it without this module); re-exported
// here, where most tests import it from.
export { tempDir } from './temp.js';

export interface Spawned {
  proc: ChildProcess;
  /** Resolves with the first stdout line matching `re`. */
  waitLine(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Every line written so far (stdout and stderr, tagged). */
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnNode(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Spawned {
  const proc = spawn(process.execPath, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(proc);
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (m: RegExpExecArray) => void }> = [];
  const onLine = (tag: string) => (line: string) => {
    lines.push(`${tag} ${line}`);
    if (tag !== 'out') return;
    for (const w of [...waiters]) {
      const m = w.re.exec(line);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  createInterface({ input: proc.stdout! }).on('line', onLine('out'));
  createInterface({ input: proc.stderr! }).on('line', onLine('err'));
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => {
    live.delete(proc);
    res(code);
  }));
  return {
    proc,
    output: () => lines.join('\n'),
    waitLine(re, timeoutMs = 20_000) {
      for (const l of lines) {
        if (!l.startsWith('out ')) continue;
        const m = re.exec(l.slice(4));
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timeout waiting for ${re} from ${args.join(' ')}\n${lines.slice(-30).join('\n')}`)), timeoutMs);
        const entry = { re, resolve: (m: RegExpExecArray) => (clearTimeout(t), resolve(m)) };
        waiters.push(entry);
        exited.then(() => {
          clearTimeout(t);
          reject(new Error(`process exited while waiting for ${re}: ${args.join(' ')}\n${lines.slice(-30).join('\n')}`));
        });
      });
    },
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
}

export interface ControlPlaneProc extends Spawned {
  dataDir: string;
  /** Plaintext xDS (raw test clients, proxyless gRPC). */
  xdsPort: number;
  /** xDS over TLS, where sidecars connect (with a join token, then their workload certificate). */
  xdsTlsPort: number;
  adminPort: number;
  adminUrl: string;
  /** Embedded OTLP/HTTP trace receiver. */
  otlpPort: number;
}

/** Control planes by plaintext xDS port, so startSidecar(xdsPort) finds where to get a token. */
interface CpRef {
  dataDir: string;
  adminUrl: string;
  xdsTlsPort: number;
}
const controlPlanes = new Map<number, CpRef>();

/** For an in-process control plane: lets startSidecar(xdsPort) find its TLS port and admin API. */
export function registerControlPlane(xdsPort: number, ref: CpRef): void {
  controlPlanes.set(xdsPort, ref);
}

/**
 * WEFT_TEST_STORE=etcd: every control plane the harness starts (unless its test chose a store)
 * runs on etcd instead of the file store: one 3-member cluster per test process, started on first
 * use, and a key prefix per data directory (a control plane restarted on the same directory finds
 * its configuration again, as with the file store). This is how the suite runs against both stores.
 */
let sharedEtcd: Promise<{ endpoints: string; kek: string }> | undefined;
async function etcdStoreArgs(dataDir: string): Promise<string[]> {
  sharedEtcd ??= (async () => {
    const { startEtcdCluster } = await import('./etcd.js');
    // Limits raised as an operator with large configurations would (the suite applies 20,000
    // resources at once): see --etcd-max-txn-ops.
    const cluster = await startEtcdCluster(3, { extraArgs: ['--max-txn-ops', '100000', '--max-request-bytes', String(64 * 1024 * 1024)] });
    // The members get SIGTERM synchronously in stop(). vitest ends its fork workers with SIGTERM,
    // which skips 'exit': without the signal handlers the cluster outlived the suite.
    // (Stopped when the worker ends, signals included: see `teardown`.)
    teardown.push(() => void cluster.stop());
    const kek = join(tempDir('weft-kek-'), 'kek');
    writeFileSync(kek, `${'k'.repeat(8)}${Date.now()}${Math.random()}`.padEnd(48, 'x'), { mode: 0o600 });
    return { endpoints: cluster.endpoints, kek };
  })();
  const { endpoints, kek } = await sharedEtcd;
  const prefix = `/t-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;
  return ['--store', `etcd://${endpoints}`, '--etcd-prefix', prefix, '--ca-kek-file', kek, '--etcd-max-txn-ops', '100000'];
}

/**
 * What the control plane of `dataDir` has stored, whichever store it runs on: the file store's
 * config.json, or its keys in etcd (WEFT_TEST_STORE=etcd). `text` changes exactly when what is
 * stored does (tests check that a refused apply leaves it byte for byte).
 */
export async function storedConfig(dataDir: string): Promise<{ text: string; revision: number; resources: Array<{ metadata: { name: string } }> }> {
  if (process.env.WEFT_TEST_STORE !== 'etcd' || !sharedEtcd) {
    const text = readFileSync(join(dataDir, 'config.json'), 'utf8');
    const parsed = JSON.parse(text) as { revision: number; resources: Array<{ metadata: { name: string } }> };
    return { text, revision: parsed.revision, resources: parsed.resources };
  }
  const { Etcd3 } = await import('etcd3');
  const client = new Etcd3({ hosts: (await sharedEtcd).endpoints.split(',').map((h) => `http://${h}`) });
  try {
    const dir = `/t-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}/config/`;
    const res = await client.getAll().prefix(dir).exec();
    const kvs = res.kvs.map((kv) => [kv.key.toString('utf8'), kv.value.toString('utf8'), Number(kv.mod_revision)] as const).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const marker = kvs.find(([k]) => k === `${dir}.revision`);
    return {
      text: kvs.map(([k, v, r]) => `${k} ${r} ${v}`).join('\n'),
      revision: marker?.[2] ?? 0,
      resources: kvs.filter(([k]) => k !== `${dir}.revision`).map(([, v]) => JSON.parse(v) as { metadata: { name: string } }),
    };
  } finally {
    client.close();
  }
}

/** Starts `weft control-plane` on free loopback ports; resolves once it printed its ready line. */
export async function startControlPlane(opts: { dataDir?: string; xdsPort?: number; xdsTlsPort?: number; extraArgs?: string[] } = {}): Promise<ControlPlaneProc> {
  const dataDir = opts.dataDir ?? tempDir('weft-cp-');
  const storeArgs = process.env.WEFT_TEST_STORE === 'etcd' && !opts.extraArgs?.includes('--store') ? await etcdStoreArgs(dataDir) : [];
  // WEFT_CP_NODE_FLAGS: node flags for the control plane (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p"
  // to profile it under a benchmark; NODE_OPTIONS refuses --cpu-prof).
  const p = spawnNode([
    ...(process.env.WEFT_CP_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
    WEFT, 'control-plane', '--data-dir', dataDir,
    '--xds-address', `127.0.0.1:${opts.xdsTlsPort ?? 0}`, '--xds-plaintext-address', `127.0.0.1:${opts.xdsPort ?? 0}`, '--admin-address', '127.0.0.1:0', '--otlp-address', '127.0.0.1:0',
    '--log-level', process.env.WEFT_TEST_LOG_LEVEL ?? 'warn',
    ...storeArgs,
    ...(opts.extraArgs ?? []),
  ]);
  // (`--otlp-address off` in extraArgs: no receiver, no otlp= in the ready line, otlpPort 0.)
  const m = await readyLine(p, /ready xds=([\d.]+):(\d+) admin=([\d.]+):(\d+) xds-plaintext=([\d.]+):(\d+)(?: otlp=([\d.]+):(\d+))?/);
  const cp = { ...p, dataDir, xdsPort: Number(m[6]), xdsTlsPort: Number(m[2]), adminPort: Number(m[4]), adminUrl: `http://127.0.0.1:${m[4]}`, otlpPort: Number(m[8] ?? 0) };
  controlPlanes.set(cp.xdsPort, cp);
  return cp;
}

/** Creates a join token through the admin API (what `weft token create` does). */
export async function joinToken(cp: CpRef, service: string, namespace = 'default', ttlSeconds = 3600): Promise<string> {
  const admin = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
  const r = await fetch(`${cp.adminUrl}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' }, body: JSON.stringify({ service, namespace, ttlSeconds }) });
  if (!r.ok) throw new Error(`token create: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { token: string }).token;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `weft ARGS` against a control plane (its admin URL and data dir for the token). */
export function weft(args: string[], opts: { cp?: ControlPlaneProc; stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  if (opts.cp) {
    env.WEFT_SERVER = opts.cp.adminUrl;
    env.WEFT_DATA_DIR = opts.cp.dataDir;
  }
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [WEFT, ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdin.end(opts.stdin ?? '');
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Polls `fn` until it returns a truthy value or the time is up. */
export async function eventually<T>(fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface SidecarProc extends Spawned {
  id: string;
  outboundPort: number;
  inboundPort: number;
  adminPort: number;
  /** http://127.0.0.1:<outbound> */
  outbound: string;
  admin: string;
}

export interface SidecarOptions {
  service: string;
  appPort: number;
  namespace?: string;
  /** 'tcp': a TCP service's instance (issue 21; the sidecar refuses it until that code is merged). */
  appProtocol?: 'auto' | 'http' | 'http2' | 'grpc' | 'tcp';
  labels?: Record<string, string>;
  id?: string;
  extraArgs?: string[];
  /** Join token to use (default: a fresh one for the service from the control plane). */
  token?: string;
  /** --control-plane (default: the TLS xDS address of the control plane `xdsPort` names); replicas: a list. */
  controlPlane?: string;
  /** More environment for the sidecar process (NODE_OPTIONS, say). */
  env?: NodeJS.ProcessEnv;
}

/** Starts `weft sidecar` on free ports; resolves once it printed its ready line. */
export async function startSidecar(xdsPort: number, o: SidecarOptions): Promise<SidecarProc> {
  const cp = controlPlanes.get(xdsPort);
  if (!cp) throw new Error(`no control plane started by the harness has xDS port ${xdsPort}`);
  const token = o.token ?? (await joinToken(cp, o.service, o.namespace ?? 'default'));
  const tokenFile = join(tempDir('weft-token-'), 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const p = spawnNode(
    [
      WEFT, 'sidecar', '--service', o.service, '--namespace', o.namespace ?? 'default', '--app-port', String(o.appPort),
      // 'auto': no flag at all (the sidecar's default: the Service's ports decide).
      ...(o.appProtocol === 'auto' ? [] : ['--app-protocol', o.appProtocol ?? 'http']), '--control-plane', o.controlPlane ?? `127.0.0.1:${cp.xdsTlsPort}`, '--token-file', tokenFile,
      '--outbound-port', '0', '--inbound-port', '0', '--inbound-address', '127.0.0.1', '--admin-port', '0', '--drain-delay', '300ms',
      ...(o.labels ? ['--labels', Object.entries(o.labels).map(([k, v]) => `${k}=${v}`).join(',')] : []),
      ...(o.id ? ['--id', o.id] : []),
      ...(o.extraArgs ?? []),
    ],
    { env: { WEFT_LOG_LEVEL: process.env.WEFT_TEST_LOG_LEVEL ?? 'warn', ...o.env } },
  );
  const m = await readyLine(p, /ready id=(\S+) outbound=[\d.]+:(\d+) inbound=[\d.]+:(\d+) admin=[\d.]+:(\d+)/);
  const outboundPort = Number(m[2]);
  const adminPort = Number(m[4]);
  return { ...p, id: m[1]!, outboundPort, inboundPort: Number(m[3]), adminPort, outbound: `http://127.0.0.1:${outboundPort}`, admin: `http://127.0.0.1:${adminPort}` };
}

/** `weft apply -f` of `yaml` (written to a temp file named `name`) against `cp`. */
export async function weftApply(cp: ControlPlaneProc, yaml: string, name = 'apply.yaml'): Promise<CliResult> {
  const f = join(tempDir('weft-apply-'), name);
  writeFileSync(f, yaml);
  return weft(['apply', '-f', f], { cp });
}

export interface GatewayProc extends Spawned {
  id: string;
  adminPort: number;
  admin: string;
}

/**
 * Starts `weft gateway` for the Gateway `namespace/name` (joined with a token for `service`,
 * default the Gateway's name), its listeners bound on 127.0.0.1. Resolves once it runs; its
 * listeners follow the Gateway's config (wait on them with `eventually`).
 */
export async function startGateway(xdsPort: number, gateway: string, o: { service?: string; extraArgs?: string[]; controlPlane?: string } = {}): Promise<GatewayProc> {
  const cp = controlPlanes.get(xdsPort);
  if (!cp) throw new Error(`no control plane started by the harness has xDS port ${xdsPort}`);
  const [namespace, name] = gateway.split('/') as [string, string];
  const token = await joinToken(cp, o.service ?? name, namespace);
  const tokenFile = join(tempDir('weft-token-'), 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const p = spawnNode(
    [WEFT, 'gateway', '--gateway', gateway, ...(o.service ? ['--service', o.service] : []), '--control-plane', o.controlPlane ?? `127.0.0.1:${cp.xdsTlsPort}`, '--token-file', tokenFile, '--listen-address', '127.0.0.1', '--admin-port', '0', '--drain-delay', '300ms', ...(o.extraArgs ?? [])],
    { env: { WEFT_LOG_LEVEL: process.env.WEFT_TEST_LOG_LEVEL ?? 'warn' } },
  );
  const m = await readyLine(p, /ready id=(\S+) gateway=\S+ admin=[\d.]+:(\d+)/);
  const adminPort = Number(m[2]);
  return { ...p, id: m[1]!, adminPort, admin: `http://127.0.0.1:${adminPort}` };
}

/** A loopback TCP port free right now (for a Gateway listener a test configures). */
export { freePort } from './l4-servers.js';

export interface AppProc extends Spawned {
  port: number;
}

/** Starts a test app (http-app.mjs or grpc-backend.mjs) on a free port. */
export async function startApp(kind: 'http' | 'grpc', name: string, env: NodeJS.ProcessEnv = {}): Promise<AppProc> {
  const p = spawnNode([join(ROOT, 'test/harness', kind === 'http' ? 'http-app.mjs' : 'grpc-backend.mjs'), name, '0'], { env });
  const m = await readyLine(p, /listening (\d+)/);
  return { ...p, port: Number(m[1]) };
}

/** A service instance: an app and its sidecar. */
export interface Instance {
  app: AppProc;
  sidecar: SidecarProc;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Resolves once the sidecar's admin `/ready` answers 200: its outbound and inbound listeners have
 * their routes, its certificate arrived and its app port accepts connections. Before that its
 * listeners answer `503 NOT_READY`, so a test that sends to an instance right after its ready
 * line races the first xDS push. Throws with the last `/ready` answer after `timeoutMs`.
 */
export async function waitSidecarReady(s: SidecarProc, timeoutMs = 30_000): Promise<void> {
  let last = '';
  try {
    await eventually(async () => {
      const r = await fetch(`${s.admin}/ready`);
      last = `${r.status} ${(await r.text()).trim()}`;
      return r.status === 200;
    }, timeoutMs, 25);
  } catch (e) {
    throw new Error(`sidecar ${s.id} not ready in ${timeoutMs} ms (last /ready: ${last || (e as Error).message})`);
  }
}

/**
 * Starts an app and its sidecar; resolves once the sidecar is ready (`waitSidecarReady`), unless
 * `ready: false` (a test that looks at the time before config arrives).
 */
export async function startInstance(xdsPort: number, kind: 'http' | 'grpc', service: string, name: string, o: Partial<SidecarOptions> & { appEnv?: NodeJS.ProcessEnv; ready?: boolean } = {}): Promise<Instance> {
  const app = await startApp(kind, name, o.appEnv);
  let sidecar: SidecarProc;
  try {
    sidecar = await startSidecar(xdsPort, { service, appPort: app.port, appProtocol: kind === 'grpc' ? 'grpc' : 'http', ...o });
  } catch (e) {
    await app.kill('SIGKILL');
    throw e;
  }
  const inst: Instance = {
    app,
    sidecar,
    async kill(signal = 'SIGKILL') {
      await Promise.all([sidecar.kill(signal), app.kill(signal)]);
    },
  };
  if (o.ready !== false) {
    try {
      await waitSidecarReady(sidecar);
    } catch (e) {
      await inst.kill();
      throw e;
    }
  }
  return inst;
}

export interface LoadResult {
  sent: number;
  ok: number;
  /** Answers per instance (the app's `name`), and failures by status or error. */
  byName: Record<string, number>;
  failures: Record<string, number>;
  /** Keys (the x-user header) per instance, when `key` was given. */
  keys: Map<string, Set<string>>;
  latenciesMs: number[];
}

/**
 * A bounded load loop through a sidecar's outbound listener: `total` requests, `concurrency` at a
 * time, `Host: host`. Reads the app's JSON `name` from each answer. Stops by itself; `onProgress`
 * is called after each answer (to kill something mid-run).
 */
export async function load(outboundPort: number, o: { host: string; total: number; concurrency: number; path?: string | ((i: number) => string); key?: (i: number) => string; method?: string; body?: string; onProgress?: (done: number) => void | Promise<void>; timeoutMs?: number }): Promise<LoadResult> {
  const { Pool } = await import('undici');
  const pool = new Pool(`http://127.0.0.1:${outboundPort}`, { connections: o.concurrency });
  const r: LoadResult = { sent: 0, ok: 0, byName: {}, failures: {}, keys: new Map(), latenciesMs: [] };
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < o.total && Date.now() < deadline) {
      const i = next++;
      r.sent++;
      const key = o.key?.(i);
      const t0 = performance.now();
      try {
        const res = await pool.request({ path: typeof o.path === 'function' ? o.path(i) : (o.path ?? '/'), method: (o.method ?? 'GET') as 'GET', headers: { host: o.host, ...(key ? { 'x-user': key } : {}) }, body: o.body ?? null });
        const text = await res.body.text();
        r.latenciesMs.push(performance.now() - t0);
        if (res.statusCode === 200) {
          r.ok++;
          const name = (JSON.parse(text) as { name: string }).name;
          r.byName[name] = (r.byName[name] ?? 0) + 1;
          if (key) {
            let s = r.keys.get(key);
            if (!s) r.keys.set(key, (s = new Set()));
            s.add(name);
          }
        } else {
          const why = `${res.statusCode} ${res.headers['x-weft-error'] ?? ''}`.trim();
          r.failures[why] = (r.failures[why] ?? 0) + 1;
        }
      } catch (e) {
        const why = (e as { code?: string }).code ?? (e as Error).message;
        r.failures[why] = (r.failures[why] ?? 0) + 1;
      }
      done++;
      await o.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  await pool.close();
  return r;
}

/** Waits until the sidecar's admin /clusters shows `cluster` with `n` healthy hosts. */
export async function waitForHosts(sidecar: SidecarProc, cluster: string, n: number, timeoutMs = 15_000): Promise<void> {
  await eventually(async () => {
    const r = await fetch(`${sidecar.admin}/clusters`);
    const list = (await r.json()) as Array<{ name: string; hosts: Array<{ healthy: boolean }> }>;
    const c = list.find((x) => x.name === cluster);
    return c !== undefined && c.hosts.filter((h) => h.healthy).length === n;
  }, timeoutMs, 100);
}

/** Prints a measured figure in the test output (`figure: label {...}`), for closing notes and CI logs. */
export function figure(label: string, data: Record<string, unknown>): void {
  process.stdout.write(`figure: ${label} ${JSON.stringify(data)}\n`);
}

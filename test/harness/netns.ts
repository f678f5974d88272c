/**
 * A lab of network namespaces for acceptance tests that need real processes on separate "hosts"
 * (issue 22: replicas on etcd, kill -9, partitions, quorum loss). One "switch" namespace holds a
 * Linux bridge; every host is a namespace of its own, joined to the bridge by a veth pair (`eth0`
 * on the host side, `v<i>` on the bridge side) with the address 10.<octet>.0.<i+1>/24. Nothing is
 * added to the root namespace: the test process reaches the lab through processes it starts
 * inside it (`Host.spawn`, `Host.exec`) and through an in-namespace agent (`Host.agent`).
 *
 * Namespace names are `wft<rand4>-<pid>-sw<octet>` and `wft<rand4>-<pid>-h-<host>`: the pid of the
 * creating process is in the name, so `createHosts` deletes the leftovers of crashed runs (their
 * pid is gone) before it builds a lab, and two labs (two vitest forks) never share a name.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** The prefix of every namespace a lab creates. */
export const NS_PREFIX = 'wft';
const NS_RE = /^wft([0-9a-z]{4})-(\d+)-(sw(\d+)|h-.+)$/;
/** Each captured stream keeps its last 64 KiB. */
const OUTPUT_LIMIT = 64 * 1024;
const IP_TIMEOUT_MS = 10_000;
const AGENT_PATH = resolve(import.meta.dirname, 'ns-agent.mjs');

/** A process started inside a host's namespace, with its output kept for error messages. */
export interface LabProcess {
  readonly proc: ChildProcess;
  readonly pid: number | undefined;
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** The last 64 KiB of stdout and of stderr, tagged, for error messages. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `re` (lines already printed count); rejects on timeout or exit. */
  waitLine(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends `signal` (SIGTERM by default); false when the process had already exited. */
  kill(signal?: NodeJS.Signals): boolean;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000); resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface ExecResult {
  /** Exit code; null when it was killed (by a signal or the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface HttpRequest {
  method?: string;
  url: string;
  /** Sent as given; `host` may be set (virtual hosts). */
  headers?: Record<string, string>;
  body?: string;
  /** Whole-request limit (default 5000 ms); past it the request fails with code ETIMEDOUT. */
  timeoutMs?: number;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

export interface LoadRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Requests to send at most (1..1,000,000). */
  total: number;
  /** Requests in flight at once (1..256), over keep-alive connections. */
  concurrency: number;
  /** Per-request limit (default 5000 ms). */
  timeoutMs?: number;
  /** No request is started after this long (default 60,000 ms); the rest count in `notSent`. */
  durationMs?: number;
}

export interface LoadResult {
  /** Responses with a 2xx status. */
  ok: number;
  /** Every other outcome: another status or an error (never thrown). */
  failed: number;
  /** Not started because `durationMs` ran out. */
  notSent: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Failed requests by error code (ECONNREFUSED, ETIMEDOUT, ...). */
  errors: Record<string, number>;
  /** Median and maximum duration of every request started, ok or not. */
  p50Ms: number;
  maxMs: number;
  elapsedMs: number;
}

/** A client living inside a host's namespace, driven over JSON lines. Its failures reject with its message. */
export interface Agent {
  http(r: HttpRequest): Promise<HttpResult>;
  /** True when a TCP connection to host:port opens within `timeoutMs` (default 1000). */
  tcpProbe(r: { host: string; port: number; timeoutMs?: number }): Promise<boolean>;
  load(r: LoadRequest): Promise<LoadResult>;
  /** Ends the agent; idempotent. */
  close(): Promise<void>;
}

export interface Host {
  readonly name: string;
  /** The namespace's name. */
  readonly ns: string;
  /** The address of `eth0`, e.g. 10.77.0.1. */
  readonly ip: string;
  /** Runs `ip netns exec <ns> cmd ...args`; the lab kills it on close(). */
  spawn(cmd: string, args: string[], o?: SpawnOptions): LabProcess;
  /** Runs a command to completion inside the namespace; killed (SIGKILL) after `timeoutMs` (default 10,000). */
  exec(cmd: string, args: string[], o?: SpawnOptions & { timeoutMs?: number }): Promise<ExecResult>;
  /** Takes the host's port on the bridge down: no traffic either way until linkUp(). */
  linkDown(): Promise<void>;
  linkUp(): Promise<void>;
  /** Starts an agent inside the namespace (one process per call); the lab closes it on close(). */
  agent(): Promise<Agent>;
}

export interface Netlab {
  readonly hosts: readonly Host[];
  /** The second octet of every address in the lab. */
  readonly octet: number;
  /** Every namespace of the lab, the switch first. */
  readonly namespaces: readonly string[];
  /** The host called `name`; throws when there is none. */
  host(name: string): Host;
  /** Kills every process started in the lab (SIGTERM, then SIGKILL) and deletes its namespaces; idempotent. */
  close(): Promise<void>;
}

/** Runs `ip ...args`; rejects with its stderr. */
async function ip(args: string[]): Promise<string> {
  const r = await run('ip', args, { timeoutMs: IP_TIMEOUT_MS });
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.trim()}`);
  return r.stdout;
}

function appendBounded(s: string, d: Buffer | string): string {
  const n = s + d.toString();
  return n.length > OUTPUT_LIMIT ? n.slice(-OUTPUT_LIMIT) : n;
}

/** Runs a command in the root namespace to completion, bounded by a timeout. */
function run(cmd: string, args: string[], o: SpawnOptions & { timeoutMs: number }): Promise<ExecResult> {
  return new Promise((res) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const p = spawn(cmd, args, { env: { ...process.env, ...o.env }, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const t = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, o.timeoutMs);
    p.stdout!.on('data', (d: Buffer) => (stdout = appendBounded(stdout, d)));
    p.stderr!.on('data', (d: Buffer) => (stderr = appendBounded(stderr, d)));
    p.stdout!.on('error', () => {});
    p.stderr!.on('error', () => {});
    p.once('error', (e) => {
      clearTimeout(t);
      res({ code: null, stdout, stderr: `${stderr}spawn ${cmd}: ${e.message}\n`, timedOut });
    });
    let settled = false;
    const done = (code: number | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      res({ code, stdout, stderr, timedOut });
    };
    p.once('close', (code) => done(code));
    // A grandchild holding the pipes open must not hang the caller past the process's exit.
    p.once('exit', (code) => setTimeout(() => done(code), 500).unref());
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter((n) => n.length > 0);
}

/** SIGKILLs every process still inside `ns` (grandchildren included), then deletes it. Synchronous: also used on 'exit'. */
function destroyNamespaceSync(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { timeout: IP_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'] }).toString().split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  } catch {
    /* the namespace may be gone already */
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { timeout: IP_TIMEOUT_MS, stdio: 'ignore' });
  } catch {
    /* already deleted */
  }
}

async function destroyNamespace(ns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', ns], { timeoutMs: IP_TIMEOUT_MS });
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  const r = await run('ip', ['netns', 'del', ns], { timeoutMs: IP_TIMEOUT_MS });
  if (r.code !== 0 && (await listNamespaces()).includes(ns)) throw new Error(`ip netns del ${ns}: ${r.stderr.trim()}`);
}

/** Deletes the namespaces of labs whose creating process is gone; returns the octets live labs use. */
async function sweepStale(): Promise<Set<number>> {
  const used = new Set<number>();
  for (const ns of await listNamespaces()) {
    const m = NS_RE.exec(ns);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && !pidAlive(pid)) {
      await destroyNamespace(ns).catch(() => {});
      continue;
    }
    if (m[4] !== undefined) used.add(Number(m[4]));
  }
  return used;
}

function parseSubnet(subnet: string): { a: number; b: number; c: number } {
  const m = /^(\d+)\.(\d+)\.(\d+)\.0(?:\/24)?$/.exec(subnet);
  const parts = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  if (!m || parts.some((p) => p > 255)) throw new Error(`createHosts: subnet must look like 10.77.0.0/24, got ${JSON.stringify(subnet)}`);
  return { a: parts[0]!, b: parts[1]!, c: parts[2]! };
}

function spawnInNs(ns: string, cmd: string, args: string[], o: SpawnOptions, track: Set<LabProcess>): LabProcess {
  const proc = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { env: { ...process.env, ...o.env }, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let tagged = '';
  const lines: string[] = [];
  const waiters = new Set<(line: string) => void>();
  proc.stdin!.on('error', () => {});
  proc.stdout!.on('error', () => {});
  proc.stderr!.on('error', () => {});
  proc.stdout!.on('data', (d: Buffer) => (out = appendBounded(out, d)));
  proc.stderr!.on('data', (d: Buffer) => {
    err = appendBounded(err, d);
    tagged = appendBounded(tagged, d.toString().replace(/^(?=.)/gm, 'err '));
  });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    tagged = appendBounded(tagged, `out ${line}\n`);
    lines.push(line);
    if (lines.length > 2000) lines.splice(0, lines.length - 2000);
    for (const w of [...waiters]) w(line);
  });
  let spawnError = '';
  proc.once('error', (e) => (spawnError = `spawn ${cmd}: ${e.message}`));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    // 'exit', not 'close': a grandchild holding the pipes must not keep the process "running".
    proc.once('exit', (code, signal) => res({ code, signal }));
  });
  const lp: LabProcess = {
    proc,
    pid: proc.pid,
    exited,
    running: () => proc.exitCode === null && proc.signalCode === null && spawnError === '',
    output: () => (spawnError ? `${tagged}${spawnError}\n` : tagged),
    stdout: () => out,
    stderr: () => err,
    waitLine(re, timeoutMs = 20_000) {
      for (const l of lines) {
        const m = re.exec(l);
        if (m) return Promise.resolve(m);
      }
      return new Promise((resolveLine, reject) => {
        const done = () => {
          clearTimeout(t);
          waiters.delete(onLine);
        };
        const onLine = (line: string) => {
          const m = re.exec(line);
          if (m) {
            done();
            resolveLine(m);
          }
        };
        const t = setTimeout(() => {
          done();
          reject(new Error(`timeout (${timeoutMs} ms) waiting for ${re} from ${cmd} in ${ns}\n${lp.output().slice(-2000)}`));
        }, timeoutMs);
        waiters.add(onLine);
        void exited.then((x) => {
          if (!waiters.has(onLine)) return;
          done();
          reject(new Error(`${cmd} in ${ns} exited (${x.code ?? x.signal}) while waiting for ${re}\n${lp.output().slice(-2000)}`));
        });
      });
    },
    kill(signal = 'SIGTERM') {
      if (!lp.running()) return false;
      return proc.kill(signal);
    },
    async stop(graceMs = 3000) {
      if (!lp.running()) {
        await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
        return;
      }
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  track.add(lp);
  void exited.then(() => track.delete(lp));
  return lp;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

async function startAgent(host: string, spawnIt: () => LabProcess): Promise<Agent> {
  const lp = spawnIt();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let closed = false;
  const failAll = (why: string) => {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.reject(new Error(`agent on ${host}: ${why}`));
    }
  };
  createInterface({ input: lp.proc.stdout! }).on('line', (line) => {
    let msg: { id?: number; result?: unknown; error?: { message?: string; code?: string } };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (typeof msg.id !== 'number') return;
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) {
      const e = new Error(`agent on ${host}: ${msg.error.message ?? 'unknown error'}`) as NodeJS.ErrnoException;
      if (msg.error.code) e.code = msg.error.code;
      p.reject(e);
    } else p.resolve(msg.result);
  });
  void lp.exited.then((x) => failAll(`exited (${x.code ?? x.signal}): ${lp.stderr().slice(-1000)}`));
  await lp.waitLine(/^\{"ready":true\}$/, 10_000);

  function call<T>(op: string, args: object, limitMs: number): Promise<T> {
    if (closed || !lp.running()) return Promise.reject(new Error(`agent on ${host}: closed`));
    const id = nextId++;
    return new Promise<T>((res, rej) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        rej(new Error(`agent on ${host}: no answer to ${op} within ${limitMs} ms`));
      }, limitMs);
      pending.set(id, { resolve: res as (v: unknown) => void, reject: rej, timer });
      lp.proc.stdin!.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }
  const MARGIN = 5000;
  return {
    http: (r) => call<HttpResult>('http', r, (r.timeoutMs ?? 5000) + MARGIN),
    tcpProbe: (r) => call<boolean>('tcpProbe', r, (r.timeoutMs ?? 1000) + MARGIN),
    load: (r) => call<LoadResult>('load', r, (r.durationMs ?? 60_000) + (r.timeoutMs ?? 5000) + MARGIN),
    async close() {
      if (closed) return;
      closed = true;
      lp.proc.stdin!.end();
      await lp.stop(2000);
      failAll('closed');
    },
  };
}

const liveLabs = new Set<() => void>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const f of [...liveLabs]) f();
  });
}

/**
 * Builds a lab: a switch namespace with a bridge and one namespace per name in `names`, host i at
 * 10.<octet>.0.<i+1> (or `o.subnet`, e.g. "10.77.0.0/24"). The octet is random among those no
 * live lab on this machine uses. Deletes the leftovers of crashed runs first.
 */
export async function createHosts(names: string[], o: { subnet?: string } = {}): Promise<Netlab> {
  if (names.length === 0 || names.length > 250) throw new Error(`createHosts: between 1 and 250 hosts, got ${names.length}`);
  const seen = new Set<string>();
  for (const n of names) {
    if (!/^[a-z0-9][a-z0-9-]{0,31}$/.test(n)) throw new Error(`createHosts: host name ${JSON.stringify(n)} must match [a-z0-9][a-z0-9-]{0,31}`);
    if (seen.has(n)) throw new Error(`createHosts: host name ${n} given twice`);
    seen.add(n);
  }
  const used = await sweepStale();
  let net: { a: number; b: number; c: number };
  if (o.subnet !== undefined) net = parseSubnet(o.subnet);
  else {
    const free: number[] = [];
    for (let b = 64; b <= 250; b++) if (!used.has(b)) free.push(b);
    if (free.length === 0) throw new Error('createHosts: no free 10.x.0.0/24 subnet (186 live labs?)');
    net = { a: 10, b: free[randomInt(free.length)]!, c: 0 };
  }
  const id = `${NS_PREFIX}${randomBytes(3).toString('hex').slice(0, 4)}-${process.pid}`;
  const sw = `${id}-sw${net.b}`;
  const created: string[] = [];
  const procs = new Set<LabProcess>();
  const agents = new Set<Agent>();
  let closing: Promise<void> | undefined;

  const destroySync = () => {
    for (const p of procs) p.kill('SIGKILL');
    for (const ns of [...created].reverse()) destroyNamespaceSync(ns);
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      await Promise.all([...agents].map((a) => a.close().catch(() => {})));
      await Promise.all([...procs].map((p) => p.stop(3000)));
      for (const ns of [...created].reverse()) await destroyNamespace(ns);
      liveLabs.delete(destroySync);
    })();
    return closing;
  };

  installExitHook();
  liveLabs.add(destroySync);
  try {
    await ip(['netns', 'add', sw]);
    created.push(sw);
    await ip(['-n', sw, 'link', 'set', 'lo', 'up']);
    await ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    const hosts: Host[] = [];
    for (const [i, name] of names.entries()) {
      const ns = `${id}-h-${name}`;
      const port = `v${i}`;
      const addr = `${net.a}.${net.b}.${net.c}.${i + 1}`;
      await ip(['netns', 'add', ns]);
      created.push(ns);
      // Both ends are created directly in their namespaces: nothing appears in the root namespace.
      await ip(['link', 'add', port, 'netns', sw, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await ip(['-n', sw, 'link', 'set', port, 'master', 'br0']);
      await ip(['-n', sw, 'link', 'set', port, 'up']);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ip(['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      const host: Host = {
        name,
        ns,
        ip: addr,
        spawn: (cmd, args, so = {}) => {
          if (closing) throw new Error(`lab ${id} is closed`);
          return spawnInNs(ns, cmd, args, so, procs);
        },
        async exec(cmd, args, eo = {}) {
          if (closing) throw new Error(`lab ${id} is closed`);
          return run('ip', ['netns', 'exec', ns, cmd, ...args], { env: eo.env, cwd: eo.cwd, timeoutMs: eo.timeoutMs ?? 10_000 });
        },
        // The bridge side: the host's eth0 loses carrier, so nothing leaves or arrives, while
        // its address and routes stay as they are (a cut cable, not an unconfigured host).
        linkDown: async () => void (await ip(['-n', sw, 'link', 'set', port, 'down'])),
        linkUp: async () => void (await ip(['-n', sw, 'link', 'set', port, 'up'])),
        async agent() {
          if (closing) throw new Error(`lab ${id} is closed`);
          const a = await startAgent(name, () => spawnInNs(ns, process.execPath, [AGENT_PATH], {}, procs));
          agents.add(a);
          return a;
        },
      };
      hosts.push(host);
    }
    return {
      hosts,
      octet: net.b,
      namespaces: created,
      host(n) {
        const h = hosts.find((x) => x.name === n);
        if (!h) throw new Error(`no host ${n} in lab ${id} (hosts: ${names.join(', ')})`);
        return h;
      },
      close,
    };
  } catch (e) {
    await close().catch(() => {});
    throw e;
  }
}

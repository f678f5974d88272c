/**
 * Real layer-4 servers from Debian for tests, each on its own loopback port: redis-server,
 * PostgreSQL (initdb + postgres) and a server-first line protocol (greeter-server.mjs, SMTP-like),
 * with the clients that talk to them (redis-cli, redis-benchmark, psql, a greeter client). Every
 * server lives in a temporary directory removed when it stops; stop() is idempotent and every
 * process left at exit is killed. Start errors carry what the process wrote (its stderr), so a
 * failing test says why.
 *
 * Ports: a free one is found with a `net` server on port 0, then the server is started on it; if
 * something took the port in between, the start is retried on a new one (START_ATTEMPTS times).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

const HARNESS = import.meta.dirname;
const START_ATTEMPTS = 5;
/** How much of a process's output is kept for error messages. */
const OUTPUT_KEEP = 32 * 1024;

export type L4ErrorCode = 'START_FAILED' | 'PORT_IN_USE' | 'TOOL_FAILED' | 'TIMEOUT' | 'NOT_INSTALLED';

/** Every error this harness throws: a stable code, and a message with the process output. */
export class L4HarnessError extends Error {
  constructor(readonly code: L4ErrorCode, message: string) {
    super(message);
    this.name = 'L4HarnessError';
  }
}

/** A server process the test owns. */
export interface L4Server {
  /** What runs ("redis-server", "postgres", "greeter"). */
  readonly name: string;
  readonly port: number;
  /** 127.0.0.1:port */
  readonly address: string;
  /** The server's process id (postgres: the postmaster). */
  readonly pid: number;
  /** What the process wrote so far (stdout and stderr, the last 32 KiB). */
  output(): string;
  /** Stops it (a graceful signal, SIGKILL after 3 s), removes its directory; idempotent. */
  stop(): Promise<void>;
  /** Kills it at once (SIGKILL), as a crash would; idempotent, and stop() after it is a no-op. */
  kill(): Promise<void>;
}

export interface PostgresServer extends L4Server {
  /** The database superuser to connect as (trust authentication from 127.0.0.1). */
  readonly user: string;
  /** The OS user the server runs as (not root: postgres refuses to). */
  readonly osUser: string;
}

// ------------------------------------------------------------------------------- processes

const live = new Set<ChildProcess>();
const dirs = new Set<string>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Child {
  readonly proc: ChildProcess;
  output(): string;
  /** Resolves when the process ended (or could not start). */
  readonly exited: Promise<void>;
  running(): boolean;
  /** Sends `signal`, then SIGKILL after `graceMs`; resolves once it exited. Idempotent. */
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

function spawnChild(cmd: string, args: readonly string[], o: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Child {
  const proc = spawn(cmd, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > OUTPUT_KEEP) out = out.slice(-OUTPUT_KEEP);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  let ended = false;
  const exited = new Promise<void>((resolve) => {
    const done = () => {
      ended = true;
      live.delete(proc);
      resolve();
    };
    proc.once('exit', (code, signal) => {
      out += `\n[${cmd} exited: ${signal ?? `code ${code}`}]`;
      done();
    });
    // ENOENT and the like: no process, and maybe no 'exit' event.
    proc.once('error', (e) => {
      out += `\n[${cmd}: ${e.message}]`;
      if (proc.pid === undefined) done();
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    proc,
    output: () => out,
    exited,
    running: () => !ended,
    stop(signal, graceMs) {
      stopping ??= (async () => {
        if (ended) return;
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      })();
      return stopping;
    },
  };
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The tool was killed after its time bound. */
  timedOut: boolean;
}

/** Runs a client tool to its end within `timeoutMs` (then SIGKILL); never rejects. */
export function runTool(cmd: string, args: readonly string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<ToolResult> {
  return new Promise((resolve) => {
    const proc = spawn(cmd, args, { env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      proc.kill('SIGKILL');
    }, o.timeoutMs ?? 10_000);
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.stdin.on('error', () => undefined); // a tool that exits without reading its input
    proc.stdin.end(o.input ?? '');
    let settled = false;
    const settle = (code: number | null, extra = '') => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      resolve({ code, stdout, stderr: stderr + extra, timedOut });
    };
    proc.once('error', (e) => settle(null, `${cmd}: ${e.message}`));
    proc.once('close', (code) => settle(code));
  });
}

const describeRun = (cmd: string, args: readonly string[], r: ToolResult): string =>
  `${cmd} ${args.join(' ')}: ${r.timedOut ? 'timed out' : `exit ${r.code}`}\n${r.stdout}${r.stderr}`.trimEnd();

/** Where freePort draws from: below the kernel's ephemeral range (32768-60999 by default), a block per worker. */
const PORT_FIRST = 12_000;
const PORT_BLOCK = 4000;
let portCursor = -1;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A loopback TCP port nothing listens on right now, for a process the test starts next to bind
 * (a gateway listener named in config, etcd's ports, Redis). Not one from listen(0): that is an
 * ephemeral port, and between this check and the other process's bind the kernel may hand it to
 * any outgoing connection or listen(0) on the machine; a gateway then could not bind its listener
 * while the test talked to whatever had the port (seen in CI: gateway-compression got another
 * process's answers for 30 s). Below the ephemeral range ports are only handed out here, and each
 * vitest worker (VITEST_POOL_ID) draws from its own block, from a random point on, so two files
 * running at once never get the same port.
 */
export async function freePort(): Promise<number> {
  const worker = Math.max(0, Number(process.env.VITEST_POOL_ID ?? 1) - 1) % 5;
  const base = PORT_FIRST + worker * PORT_BLOCK;
  if (portCursor < 0) portCursor = Math.floor(Math.random() * PORT_BLOCK);
  for (let i = 0; i < PORT_BLOCK; i++) {
    const port = base + (portCursor++ % PORT_BLOCK);
    if (await canListen(port)) return port;
  }
  throw new Error(`freePort: no free port in ${base}-${base + PORT_BLOCK - 1}`);
}

/** Options every start function takes. */
export interface StartOptions {
  /** How long the server may take to be ready (default: 10 s; postgres 20 s). */
  timeoutMs?: number;
  /**
   * Where ports come from (default freePort). Tests of the retry hand out a taken port first;
   * a start that finds its port taken tries the next one, START_ATTEMPTS times in all.
   */
  portSource?: () => Promise<number>;
}

/** Calls start(port) on a free port; when it fails with PORT_IN_USE (a race), tries a new one. */
async function onFreePort<T>(what: string, o: StartOptions, start: (port: number) => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    try {
      return await start(await (o.portSource ?? freePort)());
    } catch (e) {
      if (!(e instanceof L4HarnessError && e.code === 'PORT_IN_USE')) throw e;
      last = e;
    }
  }
  throw new L4HarnessError('START_FAILED', `${what}: no free port after ${START_ATTEMPTS} attempts; last: ${(last as Error).message}`);
}

const IN_USE = /address already in use|EADDRINUSE/i;

/**
 * Polls `ready()` every 25 ms until it is true. Throws PORT_IN_USE if the child exited saying its
 * port was taken, START_FAILED if it exited otherwise, TIMEOUT after `timeoutMs` (child stopped).
 */
async function waitReady(what: string, child: Child, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!child.running()) {
      throw new L4HarnessError(IN_USE.test(child.output()) ? 'PORT_IN_USE' : 'START_FAILED', `${what} exited before it was ready:\n${child.output()}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) {
      await child.stop('SIGKILL', 0);
      throw new L4HarnessError('TIMEOUT', `${what} was not ready in ${timeoutMs} ms:\n${child.output()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A new directory under `base` (default the OS temp dir), removed at stop or exit. */
function tempDir(prefix: string, base = tmpdir()): string {
  const d = mkdtempSync(join(base, prefix));
  dirs.add(d);
  return d;
}
function removeDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

/** The L4Server of a started child; `stopSignal` is the graceful one (postgres: SIGINT, fast shutdown). */
function serverOf(name: string, port: number, child: Child, dir: string | undefined, stopSignal: NodeJS.Signals = 'SIGTERM'): L4Server {
  const cleanup = () => {
    if (dir) removeDir(dir);
  };
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    pid: child.proc.pid ?? -1,
    output: () => child.output(),
    stop: () => child.stop(stopSignal, 3000).then(cleanup),
    kill: () => child.stop('SIGKILL', 0).then(cleanup),
  };
}

/** Whether `cmd` is an executable on PATH. */
function onPath(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return undefined;
}

// ----------------------------------------------------------------------------------- Redis

export const REDIS_SERVER = process.env.WEFT_REDIS_SERVER ?? 'redis-server';

/**
 * Whether the Redis on `port` is process `pid` and answers PING: PING and INFO server pipelined
 * over a raw socket, +PONG and `process_id:<pid>` within 500 ms. The pid check keeps a server that
 * took the port in the race from passing for ours before ours exits.
 */
function redisAnswers(port: number, pid: number | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('error', () => done(false));
    s.on('connect', () => s.write('PING\r\nINFO server\r\n'));
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (!buf.startsWith('+PONG')) return void (buf.length >= 5 && done(false));
      const m = /process_id:(\d+)\r\n/.exec(buf);
      if (m) done(Number(m[1]) === pid);
    });
  });
}

/**
 * Starts redis-server on 127.0.0.1 on a free port: no persistence (`--save '' --appendonly no`),
 * protected mode off, its own temporary directory. Resolves once it answers PING (and is the
 * process we started).
 */
export function startRedis(o: StartOptions = {}): Promise<L4Server> {
  return onFreePort('redis-server', o, async (port) => {
    const dir = tempDir('weft-l4-redis-');
    const child = spawnChild(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning']);
    try {
      await waitReady(`redis-server on ${port}`, child, () => redisAnswers(port, child.proc.pid), o.timeoutMs ?? 10_000);
    } catch (e) {
      await child.stop('SIGKILL', 0);
      removeDir(dir);
      throw e;
    }
    return serverOf('redis-server', port, child, dir);
  });
}

/** `redis-cli -h 127.0.0.1 -p PORT ARGS...` within `timeoutMs`; never rejects. */
export function redisCli(port: number, args: readonly string[], o: { timeoutMs?: number } = {}): Promise<ToolResult> {
  return runTool('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeoutMs: o.timeoutMs ?? 5000 });
}

/**
 * `redis-cli ... ping`: resolves with the reply ("PONG"); rejects (TOOL_FAILED) when redis-cli
 * fails (no connection, the connection closed: "Error: ..." and exit 1) or times out.
 */
export async function redisPing(port: number, o: { timeoutMs?: number } = {}): Promise<string> {
  const r = await redisCli(port, ['ping'], o);
  if (r.code !== 0 || r.timedOut || /^(Error|ERR|Could not connect)/m.test(r.stdout + r.stderr)) {
    throw new L4HarnessError('TOOL_FAILED', describeRun('redis-cli', ['-p', String(port), 'ping'], r));
  }
  return r.stdout.trim();
}

export interface RedisBenchmarkOptions {
  /** -n: requests per test (default 10,000). */
  requests?: number;
  /** -c: parallel connections (default 10). */
  clients?: number;
  /** -t (default ping,set,get). */
  tests?: readonly string[];
  /** Killed after this long, and then it failed (default 60 s). */
  timeoutMs?: number;
}

/** Requests per second by redis-benchmark's test name (PING_INLINE, PING_MBULK, SET, GET, ...). */
export type RedisBenchmarkResult = Readonly<Record<string, number>>;

/** The test names redis-benchmark prints for one -t name. */
const benchNames = (t: string): string[] => (t.toLowerCase() === 'ping' ? ['PING_INLINE', 'PING_MBULK'] : [t.toUpperCase()]);

/**
 * Parses `redis-benchmark -q` output: the final "NAME: R requests per second" line of each test
 * (progress lines end in \r and are skipped). Throws TOOL_FAILED when it reports an error, a
 * connection problem, or a test of `tests` is missing.
 */
export function parseRedisBenchmark(output: string, tests: readonly string[]): RedisBenchmarkResult {
  const errors = output.split(/[\r\n]+/).filter((l) => /error|could not connect|connection (refused|reset)|closed the connection/i.test(l));
  if (errors.length) throw new L4HarnessError('TOOL_FAILED', `redis-benchmark reported errors: ${errors.join('; ')}`);
  const rps: Record<string, number> = {};
  for (const m of output.matchAll(/(?:^|[\r\n])\s*([A-Z_]+(?: \([^)]*\))?): ([\d.]+) requests per second/g)) rps[m[1]!] = Number(m[2]);
  const missing = tests.flatMap(benchNames).filter((n) => !(rps[n]! > 0));
  if (missing.length) throw new L4HarnessError('TOOL_FAILED', `redis-benchmark gave no result for ${missing.join(', ')}:\n${output}`);
  return rps;
}

/**
 * `redis-benchmark -q -t ping,set,get -n N -c C` against 127.0.0.1:port: requests per second per
 * test. Rejects (TOOL_FAILED) on a non-zero exit, a time-out, any error in the output, or a
 * missing test: redis-benchmark 7 stops at the first error, and hangs when it cannot connect.
 */
export async function redisBenchmark(port: number, o: RedisBenchmarkOptions = {}): Promise<RedisBenchmarkResult> {
  const tests = o.tests ?? ['ping', 'set', 'get'];
  const args = ['-h', '127.0.0.1', '-p', String(port), '-q', '-t', tests.join(','), '-n', String(o.requests ?? 10_000), '-c', String(o.clients ?? 10)];
  const r = await runTool('redis-benchmark', args, { timeoutMs: o.timeoutMs ?? 60_000 });
  if (r.code !== 0 || r.timedOut) throw new L4HarnessError('TOOL_FAILED', describeRun('redis-benchmark', args, r));
  return parseRedisBenchmark(r.stdout + r.stderr, tests);
}

// ------------------------------------------------------------------------------ PostgreSQL

/**
 * The directory holding initdb and postgres: WEFT_PG_BIN, else the newest
 * /usr/lib/postgresql/<version>/bin (Debian's layout, not on PATH), else PATH.
 */
export function postgresBinDir(): string {
  const has = (d: string) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres'));
  if (process.env.WEFT_PG_BIN) return process.env.WEFT_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (has(join(root, v, 'bin'))) return join(root, v, 'bin');
  }
  const initdb = onPath('initdb');
  if (initdb && onPath('postgres')) return initdb.slice(0, -'/initdb'.length);
  throw new L4HarnessError('NOT_INSTALLED', 'PostgreSQL not found (initdb and postgres in /usr/lib/postgresql/*/bin or on PATH): make deps installs the postgresql package');
}

interface OsUser {
  name: string;
  uid: number;
  gid: number;
}
/**
 * Who runs postgres: ourselves when not root; as root (postgres refuses root) the Debian
 * package's `postgres` user, else `nobody` (WEFT_PG_USER overrides). Read from /etc/passwd.
 */
function postgresOsUser(): OsUser | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const users = new Map(readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).filter((f) => f.length >= 4).map((f) => [f[0]!, { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) }] as const));
  const wanted = process.env.WEFT_PG_USER ? [process.env.WEFT_PG_USER] : ['postgres', 'nobody'];
  for (const n of wanted) {
    const u = users.get(n);
    if (u && u.uid !== 0) return u;
  }
  throw new L4HarnessError('START_FAILED', `running as root and none of ${wanted.join(', ')} is a non-root user in /etc/passwd: postgres refuses to run as root`);
}

/** Whether any user may enter `dir`: it and every directory above it have the others-execute bit. */
function othersCanEnter(dir: string): boolean {
  for (let d = dir; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (dirname(d) === d) return true;
  }
}

/** [cmd, args] running `cmd args` as `user` (setpriv execs, so the pid is the command's own). */
function asUser(user: OsUser | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  if (!user) return [cmd, [...args]];
  return ['setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', cmd, ...args]];
}

/** Whether a TCP connection to 127.0.0.1:port opens. */
function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
    s.on('error', () => resolve(false));
    s.on('connect', () => (s.destroy(), resolve(true)));
  });
}

export const POSTGRES_USER = 'postgres';

/**
 * Starts PostgreSQL on 127.0.0.1 on a free port: initdb into a temporary directory (trust
 * authentication, superuser `postgres`, C locale), then postgres listening only on 127.0.0.1,
 * its unix socket in that directory, fsync off. As root it runs as a non-root OS user (see
 * postgresOsUser). Resolves once `psql -c 'select 1'` answers.
 */
export async function startPostgres(o: StartOptions = {}): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const user = postgresOsUser();
  // The OS user must reach its directory: when the temp dir is somewhere only root can enter
  // (TMPDIR=/root/...), use /tmp.
  const base = user && !othersCanEnter(tmpdir()) ? '/tmp' : tmpdir();
  const dir = tempDir('weft-l4-pg-', base);
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const [icmd, iargs] = asUser(user, join(bin, 'initdb'), ['-D', data, '-U', POSTGRES_USER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions']);
  // cwd: a directory the OS user can enter (initdb complains about one it cannot).
  const init = spawnChild(icmd, iargs, { cwd: dir, env: { LC_ALL: 'C' } });
  const initTimer = setTimeout(() => init.proc.kill('SIGKILL'), 60_000);
  await init.exited;
  clearTimeout(initTimer);
  if (init.proc.exitCode !== 0) {
    removeDir(dir);
    throw new L4HarnessError('START_FAILED', `initdb failed:\n${init.output()}`);
  }
  try {
    return await onFreePort('postgres', o, async (port) => {
      const [cmd, args] = asUser(user, join(bin, 'postgres'), [
        '-D', data, '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
        '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'synchronous_commit=off',
        '-c', 'shared_buffers=16MB', '-c', 'max_connections=50', '-c', 'logging_collector=off',
      ]);
      const child = spawnChild(cmd, args, { cwd: dir, env: { LC_ALL: 'C' } });
      const what = `postgres on ${port}`;
      try {
        await waitReady(what, child, async () => /ready to accept connections/.test(child.output()) && (await connects(port)), o.timeoutMs ?? 20_000);
        await psql(port, 'select 1');
      } catch (e) {
        await child.stop('SIGKILL', 0);
        throw e;
      }
      // SIGINT: fast shutdown (SIGTERM waits for every client to leave).
      const s = serverOf('postgres', port, child, undefined, 'SIGINT');
      const thenRemoveDir = (f: () => Promise<void>) => () => f().then(() => removeDir(dir));
      return { ...s, stop: thenRemoveDir(s.stop), kill: thenRemoveDir(s.kill), user: POSTGRES_USER, osUser: user?.name ?? 'self' };
    });
  } catch (e) {
    removeDir(dir);
    throw e;
  }
}

/**
 * `psql -h 127.0.0.1 -p PORT -U USER -d postgres -XAtc SQL`: resolves with its output (trimmed;
 * one row a line, columns split by |); rejects (TOOL_FAILED) on an error or after `timeoutMs`.
 */
export async function psql(port: number, sql: string, o: { user?: string; timeoutMs?: number } = {}): Promise<string> {
  const args = ['-h', '127.0.0.1', '-p', String(port), '-U', o.user ?? POSTGRES_USER, '-d', 'postgres', '-X', '-v', 'ON_ERROR_STOP=1', '-Atc', sql];
  const r = await runTool('psql', args, { timeoutMs: o.timeoutMs ?? 10_000, env: { PGCONNECT_TIMEOUT: '5' } });
  if (r.code !== 0 || r.timedOut) throw new L4HarnessError('TOOL_FAILED', describeRun('psql', args, r));
  return r.stdout.trim();
}

// --------------------------------------------------------------------- greeter (server first)

export const GREETER_SERVER = join(HARNESS, 'greeter-server.mjs');

/** Starts greeter-server.mjs (its own Node process) on a free port; `name` is in its greeting. */
export function startGreeter(o: StartOptions & { name?: string } = {}): Promise<L4Server> {
  return onFreePort('greeter', o, async (port) => {
    const child = spawnChild(process.execPath, [GREETER_SERVER, String(port), ...(o.name ? [o.name] : [])]);
    try {
      await waitReady(`greeter on ${port}`, child, async () => child.output().includes(`listening ${port}`), o.timeoutMs ?? 10_000);
    } catch (e) {
      await child.stop('SIGKILL', 0);
      throw e;
    }
    return serverOf('greeter', port, child, undefined);
  });
}

/** A client connection to a line protocol: reads lines, writes lines (CRLF). */
export interface LineClient {
  /** The next line the server sends (without CRLF); rejects when the connection closes first or after `timeoutMs`. */
  readLine(timeoutMs?: number): Promise<string>;
  /** Writes `line` + CRLF, then reads one line back. */
  command(line: string, timeoutMs?: number): Promise<string>;
  /** Bytes written so far. */
  bytesWritten(): number;
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;
  close(): void;
}

/** Connects to 127.0.0.1:port and returns a LineClient; sends nothing. */
export function lineClient(port: number, o: { timeoutMs?: number } = {}): Promise<LineClient> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    let ended: Error | undefined;
    const lines: string[] = [];
    const waiters: Array<(e?: Error) => void> = [];
    const wake = (e?: Error) => {
      for (const w of waiters.splice(0)) w(e);
    };
    let onClosed!: () => void;
    const closed = new Promise<void>((r) => (onClosed = r));
    const connectTimer = setTimeout(() => s.destroy(new Error(`connect to ${port} timed out`)), o.timeoutMs ?? 5000);
    s.on('error', (e) => {
      ended ??= e;
      clearTimeout(connectTimer);
      reject(e);
    });
    s.on('close', () => {
      ended ??= new Error('connection closed');
      wake(ended);
      onClosed();
    });
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, i).replace(/\r$/, ''));
        buf = buf.slice(i + 1);
      }
      wake();
    });
    const readLine = (timeoutMs = o.timeoutMs ?? 5000): Promise<string> =>
      new Promise((res, rej) => {
        const t = setTimeout(() => {
          const k = waiters.indexOf(check);
          if (k >= 0) waiters.splice(k, 1);
          rej(new L4HarnessError('TIMEOUT', `no line from ${port} in ${timeoutMs} ms`));
        }, timeoutMs);
        function check(e?: Error): void {
          if (lines.length) return void (clearTimeout(t), res(lines.shift()!));
          if (e || ended) return void (clearTimeout(t), rej(e ?? ended));
          waiters.push(check);
        }
        check();
      });
    s.on('connect', () => {
      clearTimeout(connectTimer);
      resolve({
        readLine,
        command: (line, timeoutMs) => {
          s.write(`${line}\r\n`);
          return readLine(timeoutMs);
        },
        bytesWritten: () => s.bytesWritten,
        closed,
        close: () => void s.destroy(),
      });
    });
  });
}

export interface GreeterExchange {
  /** The server's first line, read before this client wrote anything. */
  greeting: string;
  /** What this client had written when the greeting arrived: 0 unless something is wrong. */
  bytesSentBeforeGreeting: number;
  /** The answer to `HELO <name>`. */
  hello: string;
  /** The answer to QUIT. */
  bye: string;
}

/**
 * The greeter's whole exchange on 127.0.0.1:port: connect, wait for the greeting WITHOUT sending
 * anything (a server-first protocol), HELO name, QUIT, and the server's close. Rejects if any
 * step fails or takes longer than `timeoutMs`.
 */
export async function greet(port: number, name: string, o: { timeoutMs?: number } = {}): Promise<GreeterExchange> {
  const c = await lineClient(port, o);
  try {
    const greeting = await c.readLine();
    const bytesSentBeforeGreeting = c.bytesWritten();
    const hello = await c.command(`HELO ${name}`);
    const bye = await c.command('QUIT');
    await withTimeout(c.closed, o.timeoutMs ?? 5000, `the greeter on ${port} did not close after QUIT`);
    return { greeting, bytesSentBeforeGreeting, hello, bye };
  } finally {
    c.close();
  }
}

/** `p`, or a TIMEOUT rejection naming `what` after `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, rej) => (t = setTimeout(() => rej(new L4HarnessError('TIMEOUT', `${what} (${ms} ms)`)), ms)))]).finally(() => clearTimeout(t));
}

// ------------------------------------------------------------------------------ raw TCP probe

export interface TcpExchange {
  /** Everything the peer sent before the connection ended (or the time bound). */
  data: string;
  /** The peer closed (or reset) the connection within the time bound. */
  closedByPeer: boolean;
  /** The socket error, if any (ECONNRESET, ECONNREFUSED, ...). */
  error?: string;
  /** Milliseconds from the start to the close (or the time bound). */
  ms: number;
}

/**
 * Connects to 127.0.0.1:port, writes `send` once connected, and collects what comes back until
 * the peer closes (closedByPeer), `untilData` matches what came back, or `timeoutMs` passes (in
 * those two cases we close: closedByPeer false).
 * For checks like "a denied caller's connection is closed with no reply": the close is an event
 * waited for, never inferred from a quiet period.
 */
export function tcpExchange(port: number, send: string, o: { timeoutMs?: number; untilData?: RegExp } = {}): Promise<TcpExchange> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    let error: string | undefined;
    let weClosed = false;
    const t = setTimeout(() => {
      weClosed = true;
      s.destroy();
    }, o.timeoutMs ?? 5000);
    s.on('connect', () => s.write(send));
    s.on('data', (d: Buffer) => {
      data += d.toString();
      if (o.untilData?.test(data)) {
        weClosed = true;
        s.destroy();
      }
    });
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(t);
      resolve({ data, closedByPeer: !weClosed, ...(error ? { error } : {}), ms: Date.now() - t0 });
    });
  });
}

// ------------------------------------------------------------------ bounded connection load

export interface ConnectionLoadResult {
  /** Connections started. */
  sent: number;
  /** Connections whose command got a reply matching `expect`. */
  ok: number;
  /** Failed connections by reason (the error code, "closed", "timeout", or "reply: <line>"). */
  failures: Record<string, number>;
  /** Milliseconds the whole load took. */
  ms: number;
}

/**
 * A bounded load of NEW connections to 127.0.0.1:port: at most `total` connections, `concurrency`
 * at a time, stopping early after `timeoutMs`. Each connection sends `command` (one line, CRLF
 * added), waits for one reply line (at most `perConnectionTimeoutMs`) and closes. A reply matching
 * `expect` counts as ok. `onProgress(done)` runs after each connection (to kill something mid-run).
 * For layer-4 balancing: per connection is what a TCP proxy balances.
 */
export async function connectionLoad(port: number, o: { total: number; concurrency: number; command: string; expect: RegExp; timeoutMs?: number; perConnectionTimeoutMs?: number; onProgress?: (done: number) => void | Promise<void> }): Promise<ConnectionLoadResult> {
  const r: ConnectionLoadResult = { sent: 0, ok: 0, failures: {}, ms: 0 };
  const t0 = Date.now();
  const deadline = t0 + (o.timeoutMs ?? 30_000);
  const failed = (why: string) => (r.failures[why] = (r.failures[why] ?? 0) + 1);
  let done = 0;
  const one = async (): Promise<void> => {
    let c: LineClient | undefined;
    try {
      c = await lineClient(port, { timeoutMs: o.perConnectionTimeoutMs ?? 5000 });
      const reply = await c.command(o.command, o.perConnectionTimeoutMs ?? 5000);
      if (o.expect.test(reply)) r.ok++;
      else failed(`reply: ${reply.slice(0, 80)}`);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      failed(err instanceof L4HarnessError ? err.code.toLowerCase() : err.code ?? (err.message === 'connection closed' ? 'closed' : err.message));
    } finally {
      c?.close();
    }
  };
  const worker = async () => {
    while (r.sent < o.total && Date.now() < deadline) {
      r.sent++;
      await one();
      done++;
      await o.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
  r.ms = Date.now() - t0;
  return r;
}

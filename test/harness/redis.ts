/**
 * A throwaway redis-server for tests: loopback only, a free port, no persistence (`--save ''
 * --appendonly no`), its own temporary directory; stopped by stop() (and killed at process exit
 * with the other harness processes). Ready once it answers PING.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort, tempDir } from './processes.js';

export const REDIS_SERVER = process.env.WEFT_REDIS_SERVER ?? 'redis-server';

export interface RedisProc {
  readonly port: number;
  /** host:port */
  readonly address: string;
  /** Stops the server (SIGTERM, then SIGKILL after 2 s); resolves once it exited. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Whether the server answers PING with +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    s.setTimeout(500, () => (s.destroy(), resolve(false)));
    s.on('error', () => resolve(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.startsWith('+PONG'));
      }
    });
  });
}

/** Starts redis-server on a free loopback port (`port` to reuse one, e.g. to restart it). */
export async function startRedis(o: { port?: number } = {}): Promise<RedisProc> {
  const port = o.port ?? (await freePort());
  const dir = tempDir('weft-redis-');
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => (live.delete(proc), r())));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}):\n${out}`);
    if (await ping(port)) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`redis-server did not answer PING on ${port} in 10 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

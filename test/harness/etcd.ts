/**
 * A real etcd cluster for tests (Debian's etcd-server, installed by `make deps`): N members on
 * loopback, each with its own client and peer port and a data directory under a temp dir, started
 * together as one static cluster and stopped (SIGKILL after SIGTERM) at the end. A member can be
 * stopped and started again (quorum tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { freePort } from './l4-servers.js';

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** `127.0.0.1:<client port>` */
  readonly endpoint: string;
  running(): boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client endpoint, comma-separated (what `--store etcd://...` takes after the scheme). */
  readonly endpoints: string;
  stop(): Promise<void>;
}

/** Resolves when 127.0.0.1:port accepts a TCP connection, rejects after `ms`. */
async function waitPort(port: number, ms: number, what: string, proc: () => ChildProcess | undefined, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((res) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), res(true)));
      c.once('error', () => res(false));
    });
    if (ok) return;
    const p = proc();
    if (p && p.exitCode !== null) throw new Error(`${what} exited (${p.exitCode}): ${log().slice(-800)}`);
    if (Date.now() > end) throw new Error(`${what} did not listen on ${port} within ${ms} ms: ${log().slice(-800)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts an etcd cluster of `size` members (3 by default) on loopback. */
export async function startEtcdCluster(size = 3, o: { bin?: string } = {}): Promise<EtcdCluster> {
  const bin = o.bin ?? process.env.WEFT_ETCD ?? 'etcd';
  const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-'));
  const ports: Array<{ client: number; peer: number }> = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const initial = ports.map((p, i) => `m${i}=http://127.0.0.1:${p.peer}`).join(',');
  const members: EtcdMember[] = ports.map((p, i) => {
    let proc: ChildProcess | undefined;
    let out = '';
    const name = `m${i}`;
    let started = false;
    const m: EtcdMember = {
      name,
      clientPort: p.client,
      peerPort: p.peer,
      endpoint: `127.0.0.1:${p.client}`,
      running: () => !!proc && proc.exitCode === null && proc.signalCode === null,
      async start() {
        if (m.running()) return;
        out = '';
        proc = spawn(
          bin,
          [
            '--name', name, '--data-dir', join(dir, name),
            '--listen-client-urls', `http://127.0.0.1:${p.client}`, '--advertise-client-urls', `http://127.0.0.1:${p.client}`,
            '--listen-peer-urls', `http://127.0.0.1:${p.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${p.peer}`,
            '--initial-cluster', initial, '--initial-cluster-token', `weft-test-${process.pid}`,
            '--initial-cluster-state', started ? 'existing' : 'new',
            // Fast elections for tests; loopback round trips are sub-millisecond.
            '--heartbeat-interval', '50', '--election-timeout', '500',
            '--logger', 'zap', '--log-level', 'warn',
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        started = true;
        proc.on('error', (e) => (out += `spawn error: ${e.message}\n`));
        proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
        proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
        await waitPort(p.client, 20_000, `etcd member ${name}`, () => proc, () => out);
      },
      async stop() {
        const p2 = proc;
        if (!p2 || p2.exitCode !== null || p2.signalCode !== null) return;
        const gone = new Promise<void>((r) => p2.once('exit', () => r()));
        p2.kill('SIGTERM');
        const t = setTimeout(() => p2.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      },
    };
    return m;
  });
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (e) {
    await Promise.all(members.map((m) => m.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    members,
    endpoints: members.map((m) => m.endpoint).join(','),
    async stop() {
      await Promise.all(members.map((m) => m.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A real etcd cluster for tests (Debian's etcd-server, installed by `make deps`): N members on
 * loopback, each with its own client and peer port and a data directory under a temp dir, started
 * together as one static cluster and stopped (SIGKILL after SIGTERM) at the end. A member can be
 * stopped and started again (quorum tests). With `hosts` (test/harness/netns.ts), member i runs
 * in hosts[i]'s network namespace on that host's address, ports 2379/2380.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { freePort } from './l4-servers.js';
import type { Agent, Host, LabProcess } from './netns.js';

export interface EtcdMember {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  /** `127.0.0.1:<client port>` */
  readonly endpoint: string;
  running(): boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * SIGSTOP / SIGCONT (loopback members only): the member stops answering but its connections stay
   * open and new ones are still accepted by the kernel, as a member behind a network partition
   * looks to a client (nothing is refused, nothing answers).
   */
  pause?(): void;
  resume?(): void;
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

/** Starts an etcd cluster of `size` members (3 by default) on loopback, or one member per host of `o.hosts`. */
export async function startEtcdCluster(size = 3, o: { bin?: string; hosts?: readonly Host[]; extraArgs?: readonly string[] } = {}): Promise<EtcdCluster> {
  const bin = o.bin ?? process.env.WEFT_ETCD ?? 'etcd';
  if (o.hosts) return startEtcdOnHosts(size, bin, o.hosts);
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
            ...(o.extraArgs ?? []),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        started = true;
        proc.on('error', (e) => (out += `spawn error: ${e.message}\n`));
        proc.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
        proc.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
        await waitPort(p.client, 20_000, `etcd member ${name}`, () => proc, () => out);
      },
      pause() {
        if (!proc || !proc.kill('SIGSTOP')) throw new Error(`etcd member ${name} is not running`);
      },
      resume() {
        proc?.kill('SIGCONT');
      },
      async stop() {
        const p2 = proc;
        if (!p2 || p2.exitCode !== null || p2.signalCode !== null) return;
        const gone = new Promise<void>((r) => p2.once('exit', () => r()));
        p2.kill('SIGCONT');
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

/** Resolves when host:port accepts a TCP connection seen from inside the namespace, rejects after `ms`. */
async function waitPortFrom(agent: Agent, host: string, port: number, ms: number, what: string, proc: () => LabProcess | undefined): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await agent.tcpProbe({ host, port, timeoutMs: 500 })) return;
    const p = proc();
    if (p && !p.running()) throw new Error(`${what} exited: ${p.output().slice(-800)}`);
    if (Date.now() > end) throw new Error(`${what} did not listen on ${host}:${port} within ${ms} ms: ${p?.output().slice(-800) ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Member i in hosts[i]'s namespace, client and peer URLs on its address; readiness probed from inside. */
async function startEtcdOnHosts(size: number, bin: string, hosts: readonly Host[]): Promise<EtcdCluster> {
  if (hosts.length < size) throw new Error(`startEtcdCluster: ${size} members need ${size} hosts, got ${hosts.length}`);
  const dir = mkdtempSync(join(tmpdir(), 'weft-etcd-'));
  const CLIENT = 2379;
  const PEER = 2380;
  const initial = hosts.slice(0, size).map((h, i) => `m${i}=http://${h.ip}:${PEER}`).join(',');
  const agents: Agent[] = [];
  const members: EtcdMember[] = hosts.slice(0, size).map((h, i) => {
    let proc: LabProcess | undefined;
    let agent: Agent | undefined;
    const name = `m${i}`;
    let started = false;
    const m: EtcdMember = {
      name,
      clientPort: CLIENT,
      peerPort: PEER,
      endpoint: `${h.ip}:${CLIENT}`,
      running: () => !!proc && proc.running(),
      async start() {
        if (m.running()) return;
        if (!agent) {
          agent = await h.agent();
          agents.push(agent);
        }
        proc = h.spawn(bin, [
          '--name', name, '--data-dir', join(dir, name),
          '--listen-client-urls', `http://${h.ip}:${CLIENT}`, '--advertise-client-urls', `http://${h.ip}:${CLIENT}`,
          '--listen-peer-urls', `http://${h.ip}:${PEER}`, '--initial-advertise-peer-urls', `http://${h.ip}:${PEER}`,
          '--initial-cluster', initial, '--initial-cluster-token', `weft-test-${process.pid}`,
          '--initial-cluster-state', started ? 'existing' : 'new',
          '--heartbeat-interval', '50', '--election-timeout', '500',
          '--logger', 'zap', '--log-level', 'warn',
        ]);
        started = true;
        await waitPortFrom(agent, h.ip, CLIENT, 20_000, `etcd member ${name} on ${h.name}`, () => proc);
      },
      async stop() {
        if (!proc || !proc.running()) return;
        await proc.stop(3000);
      },
    };
    return m;
  });
  const stopAll = async () => {
    await Promise.all(members.map((m) => m.stop()));
    await Promise.all(agents.map((a) => a.close().catch(() => {})));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(members.map((m) => m.start()));
  } catch (e) {
    await stopAll();
    throw e;
  }
  return { members, endpoints: members.map((m) => m.endpoint).join(','), stop: stopAll };
}

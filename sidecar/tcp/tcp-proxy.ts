/**
 * Envoy's tcp_proxy for one downstream connection: choose a cluster (weighted), check its
 * max_connections, pick a host per connection with the cluster's picker (least request counts
 * open connections, ring hash keys on the source address), connect (mTLS to mesh hosts) within
 * connect_timeout, trying up to max_connect_attempts hosts, then carry bytes both ways with
 * backpressure and half-close until either side ends, idle_timeout passes with no byte, or
 * max_downstream_connection_duration is reached.
 *
 * The upstream is dialled as soon as the connection is accepted and before any byte is read from
 * the downstream, so server-first protocols (MySQL, SMTP, PostgreSQL's SSL answer) work: the
 * server's greeting flows back at once. Connect failures count for outlier detection (gateway
 * errors) and for the cluster's `cxConnectFail`; every connection is counted per cluster
 * (telemetry/tcp-stats.ts) and ends in one access-log record.
 */
import type net from 'node:net';
import type { TcpProxyConfig } from '../xds/types/tcp-listener.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import { Outcome } from '../upstream/outlier.js';
import type { Host } from '../upstream/host.js';
import { dial } from '../upstream/dial.js';
import { hash32 } from '../upstream/lb/ring-hash.js';
import type { ClusterTcpStats, TcpConnectionRecord, TcpStats } from '../telemetry/tcp-stats.js';

/** How long a half-closed connection may take to flush to a peer after the other side is gone. */
const LINGER_MS = 10_000;

export interface TcpProxyDeps {
  cluster(name: string): UpstreamCluster | undefined;
  readonly stats: TcpStats;
  /**
   * The ring-hash key of a connection from loopback (the app next to this sidecar): every
   * sidecar's app connects from 127.0.0.1, so the source address alone would send every caller
   * in the mesh to the same host; this instance's own name keeps callers apart, as pod IPs do.
   */
  readonly loopbackSource?: string | undefined;
  /** Told once per connection when it ends (the access log). */
  readonly onConnection?: ((r: TcpConnectionRecord) => void) | undefined;
}

export interface Upstream {
  readonly socket: net.Socket;
  readonly host: Host;
  readonly cluster: UpstreamCluster;
  readonly stats: ClusterTcpStats;
}

/** The outcome of connecting: an upstream, or the flag saying why not. */
export type ConnectResult = { upstream: Upstream; attempts: number } | { upstream: undefined; flag: string; cluster: string; attempts: number };

function chooseCluster(p: TcpProxyConfig): string {
  const cs = p.clusters;
  if (cs.length === 1) return cs[0]!.name;
  let r = Math.random() * p.totalWeight;
  for (const c of cs) {
    r -= c.weight;
    if (r < 0) return c.name;
  }
  return cs[cs.length - 1]!.name;
}

/** The healthy host not yet tried with the fewest connections (any untried one if none is healthy). */
function untried(hosts: readonly Host[], tried: ReadonlySet<Host>): Host | undefined {
  let best: Host | undefined;
  for (const h of hosts) {
    if (tried.has(h)) continue;
    if (!best || (h.healthy && !best.healthy) || (h.healthy === best.healthy && h.active < best.active)) best = h;
  }
  return best;
}

/**
 * Opens the upstream connection for one downstream connection. Returns a cancel function (the
 * downstream went away while connecting: the attempt in flight is dropped).
 */
export function connectUpstream(p: TcpProxyConfig, sourceKey: string, deps: TcpProxyDeps, done: (r: ConnectResult) => void): () => void {
  const name = chooseCluster(p);
  const cluster = deps.cluster(name);
  let cancelled = false;
  /** Drops the attempt in flight without counting it as a failure (the downstream left). */
  let abort: (() => void) | undefined;
  const cancel = () => {
    if (cancelled) return;
    cancelled = true;
    abort?.();
  };
  if (!cluster) {
    done({ upstream: undefined, flag: 'NC', cluster: name, attempts: 0 });
    return cancel;
  }
  const stats = deps.stats.of(name);
  if (stats.active >= cluster.limits.maxConnections) {
    stats.overflow++;
    done({ upstream: undefined, flag: 'UO', cluster: name, attempts: 0 });
    return cancel;
  }
  // Counted from now: a connection being opened holds a slot of max_connections.
  stats.active++;
  const key = deps.loopbackSource !== undefined && isLoopback(sourceKey) ? deps.loopbackSource : sourceKey;
  const ctx = { hash: p.hashSourceIp ? hash32(key) : undefined };
  const tried = new Set<Host>();
  let attempts = 0;
  const attempt = () => {
    let host = cluster.picker.pick(ctx);
    // Another host than the ones that just failed, when there is one (Envoy's previous_hosts
    // predicate): a dead host has no connections, so least connections would pick it again.
    if (host && tried.has(host)) host = untried(cluster.hosts, tried) ?? host;
    if (!host) {
      stats.active--;
      done({ upstream: undefined, flag: attempts ? 'UF' : 'UH', cluster: name, attempts });
      return;
    }
    attempts++;
    tried.add(host);
    host.active++;
    const h = host;
    const { socket, ready } = dial(h, cluster.tls, undefined);
    // Errors before and after the connect are answered by 'close' (and splice's own handler):
    // this one only keeps an early reset from becoming an uncaught 'error'.
    socket.on('error', () => undefined);
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      abort = undefined;
      clearTimeout(timer);
      socket.off('error', fail);
      return true;
    };
    abort = () => {
      if (!settle()) return;
      socket.destroy();
      h.active--;
      stats.active--;
    };
    const fail = () => {
      if (!settle()) return;
      socket.destroy();
      h.active--;
      h.cxConnectFail++;
      cluster.stats.cxConnectFail++;
      stats.connectFailures++;
      cluster.report(h, Outcome.GatewayError);
      if (attempts < p.maxConnectAttempts) attempt();
      else {
        stats.active--;
        done({ upstream: undefined, flag: 'UF', cluster: name, attempts });
      }
    };
    const timer = setTimeout(fail, timerMs(cluster.connectTimeoutMs));
    socket.on('error', fail);
    socket.once(ready, () => {
      if (!settle()) return;
      cluster.report(h, Outcome.Success);
      h.rqTotal++;
      stats.opened++;
      done({ upstream: { socket, host: h, cluster, stats }, attempts });
    });
  };
  attempt();
  return cancel;
}

const isLoopback = (a: string): boolean => a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');

/** setTimeout takes at most 2^31-1 ms (a longer delay fires at once): longer is "practically never". */
export function timerMs(ms: number): number {
  return Math.min(ms, 2_147_483_647);
}

/**
 * Gives back an upstream that will not be spliced (the downstream left, was denied, or its
 * handshake failed): closes it and releases its host's and cluster's counts.
 */
export function releaseUpstream(up: Upstream, startedAt: number): void {
  up.socket.destroy();
  up.host.active--;
  up.stats.close(performance.now() - startedAt, 0, 0);
}

/** What `splice` needs to write the connection's record when it ends. */
export interface SpliceInfo {
  readonly listener: string;
  readonly direction: string;
  readonly principal: string | undefined;
  readonly serverName: string | undefined;
  readonly startedAt: number;
  readonly attempts: number;
}

/**
 * Carries bytes between the downstream and the upstream until both are closed, then counts the
 * connection and reports its record. FIN is passed on (half-close), an error or reset on either
 * side resets the other, and the idle and duration limits close both.
 */
export function splice(down: net.Socket, up: Upstream, p: TcpProxyConfig, info: SpliceInfo, deps: TcpProxyDeps): void {
  const u = up.socket;
  let received = 0; // from the downstream
  let sent = 0; // to the downstream
  let flag = '';
  let open = 2;
  let durationTimer: NodeJS.Timeout | undefined;
  const ended = () => {
    if (--open > 0) return;
    clearTimeout(durationTimer);
    up.host.active--;
    const ms = performance.now() - info.startedAt;
    up.stats.close(ms, received, sent);
    deps.onConnection?.({
      listener: info.listener,
      direction: info.direction,
      downstream: `${down.remoteAddress ?? ''}:${down.remotePort ?? 0}`,
      principal: info.principal,
      serverName: info.serverName,
      cluster: up.cluster.name,
      upstreamHost: up.host.key,
      bytesReceived: received,
      bytesSent: sent,
      durationMs: ms,
      connectAttempts: info.attempts,
      flags: flag,
      rbac: undefined,
    });
  };
  const closeBoth = (f: string) => {
    flag ||= f;
    down.destroy();
    u.destroy();
  };
  // After one side is fully closed, the other gets what it was sent, but not forever (a peer
  // that stopped reading would hold the connection with no timer left to close it).
  const finish = (other: net.Socket) => {
    if (other.destroyed) return;
    const t = setTimeout(() => other.destroy(), LINGER_MS);
    t.unref();
    other.end(() => (clearTimeout(t), other.destroy()));
  };
  down.on('data', (b: Buffer) => {
    received += b.length;
    if (!u.write(b)) down.pause();
  });
  u.on('data', (b: Buffer) => {
    sent += b.length;
    if (!down.write(b)) u.pause();
  });
  u.on('drain', () => down.resume());
  down.on('drain', () => u.resume());
  // Half-close: a FIN from one side is passed on; the other direction keeps flowing.
  down.on('end', () => u.end());
  u.on('end', () => down.end());
  down.on('error', () => closeBoth('DC'));
  u.on('error', () => closeBoth('UC'));
  // Fully closed on one side: finish the other once what it was sent is written. A side that
  // closed before this point (while the caller's handshake or the transport sniff ran) counts now.
  let downDone = false;
  let upDone = false;
  const downClosed = () => {
    if (downDone) return;
    downDone = true;
    ended();
    finish(u);
  };
  const upClosed = () => {
    if (upDone) return;
    upDone = true;
    ended();
    finish(down);
  };
  down.once('close', downClosed);
  u.once('close', upClosed);
  if (down.destroyed) downClosed();
  else if (down.readableEnded) u.end();
  if (u.destroyed) upClosed();
  else if (u.readableEnded) down.end();
  if (p.idleTimeoutMs > 0) {
    // Any byte either way passes through the downstream socket, which resets its timer.
    down.setTimeout(timerMs(p.idleTimeoutMs), () => closeBoth('IT'));
  }
  if (p.maxDurationMs > 0) {
    durationTimer = setTimeout(() => closeBoth('DT'), timerMs(Math.max(0, p.maxDurationMs - (performance.now() - info.startedAt))));
    durationTimer.unref();
  }
  down.resume();
}

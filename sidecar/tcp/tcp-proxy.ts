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

export interface TcpProxyDeps {
  cluster(name: string): UpstreamCluster | undefined;
  readonly stats: TcpStats;
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
export function connectUpstream(p: TcpProxyConfig, sourceIp: string, deps: TcpProxyDeps, done: (r: ConnectResult) => void): () => void {
  const name = chooseCluster(p);
  const cluster = deps.cluster(name);
  let cancelled = false;
  let current: net.Socket | undefined;
  const cancel = () => {
    cancelled = true;
    current?.destroy();
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
  const ctx = { hash: p.hashSourceIp ? hash32(sourceIp) : undefined };
  const tried = new Set<Host>();
  let attempts = 0;
  const attempt = () => {
    if (cancelled) {
      stats.active--;
      return;
    }
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
    current = socket;
    let settled = false;
    const fail = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      h.active--;
      h.cxConnectFail++;
      cluster.stats.cxConnectFail++;
      stats.connectFailures++;
      if (cancelled) {
        stats.active--;
        return;
      }
      cluster.report(h, Outcome.GatewayError);
      if (attempts < p.maxConnectAttempts) attempt();
      else {
        stats.active--;
        done({ upstream: undefined, flag: 'UF', cluster: name, attempts });
      }
    };
    const timer = setTimeout(fail, cluster.connectTimeoutMs);
    socket.on('error', fail);
    socket.once(ready, () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', fail);
      if (cancelled) {
        socket.destroy();
        h.active--;
        stats.active--;
        return;
      }
      cluster.report(h, Outcome.Success);
      h.rqTotal++;
      stats.opened++;
      done({ upstream: { socket, host: h, cluster, stats }, attempts });
    });
  };
  attempt();
  return cancel;
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
  // Fully closed on one side: finish the other once what it was sent is written.
  down.once('close', () => {
    ended();
    if (!u.destroyed) u.end(() => u.destroy());
  });
  u.once('close', () => {
    ended();
    if (!down.destroyed) down.end(() => down.destroy());
  });
  if (p.idleTimeoutMs > 0) {
    // Any byte either way passes through the downstream socket, which resets its timer.
    down.setTimeout(p.idleTimeoutMs, () => closeBoth('IT'));
  }
  if (p.maxDurationMs > 0) {
    durationTimer = setTimeout(() => closeBoth('DT'), Math.max(0, p.maxDurationMs - (performance.now() - info.startedAt)));
    durationTimer.unref();
  }
  down.resume();
}

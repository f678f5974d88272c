/**
 * A layer-4 listener: accepts connections and hands each to tcp_proxy (tcp-proxy.ts) under the
 * chain its config (tcp-listener decoding, xds/types/tcp-listener.ts) gives it. Three forms:
 *
 * - plaintext (a sidecar's `outbound|tcp|<port>` for the app, a gateway TCP listener): network
 *   RBAC, then connect upstream at once, then carry bytes;
 * - mesh inbound of a TCP app: the app is dialled FIRST and only then is the caller's mTLS
 *   handshake answered, so an app that is down fails the caller's connect (its outlier detection,
 *   health checks and connect retries move it to another instance) instead of accepting and
 *   closing. After the handshake the caller's SPIFFE ID is checked by network RBAC. PERMISSIVE
 *   mode tells TLS from plaintext by the first byte; a plaintext client that waits for the server
 *   to speak is taken as plaintext after 1 s;
 * - TLS passthrough (tls_inspector): the ClientHello is read (client-hello.ts), its SNI picks the
 *   chain (exact name, then the longest `*.suffix`, then the chain without names), and every byte
 *   read is forwarded unchanged: the gateway never holds a key.
 *
 * Each connection is counted (listener and cluster stats), limited (connection_limit), drained
 * (SIGTERM: stop accepting, wait for open connections up to the drain timeout, then close them)
 * and reported once to the access log.
 */
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { peerPrincipal, type MeshTls } from '../tls/mesh-tls.js';
import type { TcpChain, TcpListenerConfig } from '../xds/types/tcp-listener.js';
import { newListenerStats, type ListenerStats } from '../listeners/http-listener.js';
import type { RbacDecision } from '../http/filters/rbac.js';
import { connectUpstream, releaseUpstream, splice, type ConnectResult, type TcpProxyDeps, type Upstream } from './tcp-proxy.js';
import { MAX_CLIENT_HELLO_BYTES, readClientHello } from './client-hello.js';
import type { InboundTransport } from '../xds/types/tls.js';

/** The listener's config as the runtime last applied it (undefined: gone or not yet arrived). */
export interface TcpSource {
  current(): TcpListenerConfig | undefined;
}

/** A connection network RBAC refused. */
export interface TcpDenial {
  readonly listener: string;
  readonly principal: string | undefined;
  readonly remoteAddress: string;
  readonly decision: RbacDecision;
}

export interface TcpListenerOptions {
  name: string;
  host: string;
  port: number;
  /** Access-log and metrics direction: inbound, outbound or gateway. */
  direction: string;
  source: TcpSource;
  deps: TcpProxyDeps;
  /** The workload identity, for the mesh inbound (mTLS). */
  mesh?: MeshTls;
  onDeny?: (d: TcpDenial) => void;
  /** How long a PERMISSIVE inbound waits for a first byte before taking a silent client as plaintext. */
  sniffTimeoutMs?: number;
  /** How long a passthrough listener waits for a complete ClientHello. */
  helloTimeoutMs?: number;
}

export class TcpListener {
  readonly name: string;
  readonly stats: ListenerStats = newListenerStats();
  /** Connections refused or closed by network RBAC. */
  rbacDenied = 0;
  readonly #o: TcpListenerOptions;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #tlsServer: tls.Server | undefined;
  #tlsKey = '';
  /** Inbound connections whose upstream is open, waiting for their handshake (by remote address:port). */
  readonly #pending = new Map<string, { result: ConnectResult & { upstream: object }; chain: TcpChain; startedAt: number }>();
  #draining = false;
  #idleWaiters: Array<() => void> = [];

  constructor(o: TcpListenerOptions) {
    this.name = o.name;
    this.#o = o;
    // allowHalfOpen: a client's FIN is passed upstream while the answer still flows back.
    this.#server = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.#accept(s));
    // An accept that fails (EMFILE: out of file descriptors) must not end the process; the
    // listener keeps serving once descriptors are free again.
    this.#server.on('error', () => undefined);
    o.mesh?.onChange(() => {
      const opts = o.mesh!.serverOptions();
      if (opts && this.#tlsServer) this.#tlsServer.setSecureContext({ ...opts, ...this.#tlsParams });
    });
  }

  #tlsParams: { minVersion?: tls.SecureVersion; maxVersion?: tls.SecureVersion; ciphers?: string } = {};

  listen(): Promise<AddressInfo> {
    return new Promise((res, rej) => {
      this.#server.prependOnceListener('error', rej);
      this.#server.listen(this.#o.port, this.#o.host, () => {
        this.#server.off('error', rej);
        res(this.#server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo {
    return this.#server.address() as AddressInfo;
  }

  #accept(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const cfg = this.#o.source.current();
    if (!cfg || this.#draining) {
      socket.destroy();
      if (!cfg) this.#refusal(socket, 'NR', undefined, performance.now());
      return;
    }
    if (cfg.maxConnections !== undefined && this.stats.cxActive >= cfg.maxConnections) {
      this.stats.limits.maxConnections++;
      socket.destroy();
      this.#refusal(socket, 'CL', undefined, performance.now());
      return;
    }
    this.stats.cxTotal++;
    this.stats.cxActive++;
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.stats.cxActive--;
      this.#sockets.delete(socket);
      if (this.stats.cxActive === 0) for (const w of this.#idleWaiters.splice(0)) w();
    });
    const startedAt = performance.now();
    if (cfg.passthrough) return this.#passthrough(socket, cfg, startedAt);
    const chain = cfg.chains[0];
    if (!chain) return void socket.destroy();
    const t = cfg.transport;
    if (!t.tls) {
      // Plaintext: decide, then dial (a denied peer never reaches the upstream).
      const no = this.#denial(chain, undefined);
      if (no) return this.#denied(socket, chain, no, undefined, undefined, startedAt);
      return this.#connect(socket, chain, startedAt, undefined, (r) => splice(socket, r.upstream, chain.proxy, this.#info(r.attempts, undefined, undefined, startedAt), this.#o.deps));
    }
    // Mesh inbound: the app first, then the handshake.
    this.#connect(socket, chain, startedAt, undefined, (r) => {
      if (t.plaintext) this.#sniffTransport(socket, t, chain, r, startedAt);
      else this.#handshake(socket, t, chain, r, startedAt);
    });
  }

  /** The access-log record of a connection refused before any upstream was chosen. */
  #refusal(socket: net.Socket, flags: string, serverName: string | undefined, startedAt: number, cluster = ''): void {
    this.#o.deps.onConnection?.({ listener: this.name, direction: this.#o.direction, downstream: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`, principal: undefined, serverName, cluster, upstreamHost: '', bytesReceived: 0, bytesSent: 0, durationMs: performance.now() - startedAt, connectAttempts: 0, flags, rbac: undefined });
  }

  #info(attempts: number, principal: string | undefined, serverName: string | undefined, startedAt: number) {
    return { listener: this.name, direction: this.#o.direction, principal, serverName, startedAt, attempts };
  }

  /** Connects upstream; on failure the downstream is reset (a mesh caller sees its connect fail) and logged. */
  #connect(socket: net.Socket, chain: TcpChain, startedAt: number, serverName: string | undefined, then: (r: ConnectResult & { upstream: object }) => void): void {
    let cancel: (() => void) | undefined;
    const onClose = () => cancel?.();
    socket.once('close', onClose);
    cancel = connectUpstream(chain.proxy, socket.remoteAddress ?? '', this.#o.deps, (r) => {
      socket.off('close', onClose);
      if (r.upstream) {
        if (socket.destroyed) return releaseUpstream(r.upstream, startedAt);
        then(r);
        return;
      }
      socket.resetAndDestroy();
      this.#o.deps.onConnection?.({
        listener: this.name,
        direction: this.#o.direction,
        downstream: `${socket.remoteAddress ?? ''}:${socket.remotePort ?? 0}`,
        principal: undefined,
        serverName,
        cluster: r.cluster,
        upstreamHost: '',
        bytesReceived: 0,
        bytesSent: 0,
        durationMs: performance.now() - startedAt,
        connectAttempts: r.attempts,
        flags: r.flag,
        rbac: undefined,
      });
    });
  }

  /** Network RBAC's verdict on a peer: undefined when allowed (or no RBAC), else the denial. */
  #denial(chain: TcpChain, principal: string | undefined): RbacDecision | undefined {
    if (!chain.rbac) return undefined;
    const d = chain.rbac.evaluate({ method: '', path: '', header: () => undefined, principal });
    return d.allowed ? undefined : d;
  }

  /** Closes a connection RBAC refused, and tells the log which rule refused it. */
  #denied(socket: net.Socket, chain: TcpChain, decision: RbacDecision, principal: string | undefined, upstream: net.Socket | undefined, startedAt: number): void {
    this.rbacDenied++;
    upstream?.destroy();
    socket.destroy();
    const remote = socket.remoteAddress ?? '';
    this.#o.onDeny?.({ listener: this.name, principal, remoteAddress: remote, decision });
    this.#o.deps.onConnection?.({
      listener: this.name,
      direction: this.#o.direction,
      downstream: `${remote}:${socket.remotePort ?? 0}`,
      principal,
      serverName: undefined,
      cluster: chain.proxy.clusters[0]?.name ?? '',
      upstreamHost: '',
      bytesReceived: 0,
      bytesSent: 0,
      durationMs: performance.now() - startedAt,
      connectAttempts: 0,
      flags: 'RBAC',
      rbac: decision.policy ?? decision.reason,
    });
  }

  /** PERMISSIVE: TLS if the first byte is a handshake record, else plaintext (also when the client stays silent). */
  #sniffTransport(socket: net.Socket, t: InboundTransport, chain: TcpChain, r: ConnectResult & { upstream: object }, startedAt: number): void {
    let done = false;
    const decide = () => {
      if (done) return;
      const first = socket.read(1) as Buffer | null;
      if (!first && !timedOut) {
        socket.once('readable', decide);
        return;
      }
      done = true;
      clearTimeout(timer);
      if (first) socket.unshift(first);
      if (first?.[0] === 0x16) this.#handshake(socket, t, chain, r, startedAt);
      else this.#plainInbound(socket, chain, r, startedAt);
    };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      socket.off('readable', decide);
      decide();
    }, this.#o.sniffTimeoutMs ?? 1000);
    // The client leaves while we wait for its first byte (a port probe): give the app connection back.
    socket.once('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('readable', decide);
      releaseUpstream((r as Extract<ConnectResult, { upstream: object }>).upstream, startedAt);
    });
    decide();
  }

  #plainInbound(socket: net.Socket, chain: TcpChain, r: ConnectResult & { upstream: object }, startedAt: number): void {
    const up = (r as Extract<ConnectResult, { upstream: object }>).upstream;
    const no = this.#denial(chain, undefined);
    if (no) {
      releaseUpstream(up, startedAt);
      return this.#denied(socket, chain, no, undefined, undefined, startedAt);
    }
    splice(socket, up, chain.proxy, this.#info(r.attempts, undefined, undefined, startedAt), this.#o.deps);
  }

  /** The mesh handshake on an accepted socket whose upstream is already open. */
  #handshake(socket: net.Socket, t: InboundTransport, chain: TcpChain, r: ConnectResult & { upstream: object }, startedAt: number): void {
    const server = this.#tls(t);
    const up = (r as Extract<ConnectResult, { upstream: object }>).upstream;
    if (!server) {
      // No workload certificate yet: nothing can be served.
      this.stats.cxRefusedTransport++;
      releaseUpstream(up, startedAt);
      socket.destroy();
      return;
    }
    const key = `${socket.remoteAddress}|${socket.remotePort}`;
    this.#pending.set(key, { result: r, chain, startedAt });
    socket.once('close', () => {
      const p = this.#pending.get(key);
      if (p?.result === r) {
        this.#pending.delete(key);
        releaseUpstream(up, startedAt);
      }
    });
    server.emit('connection', socket);
  }

  #secure(s: tls.TLSSocket): void {
    s.on('error', () => undefined);
    const key = `${s.remoteAddress}|${s.remotePort}`;
    const p = this.#pending.get(key);
    if (!p) return void s.destroy();
    this.#pending.delete(key);
    const up = (p.result as Extract<ConnectResult, { upstream: object }>).upstream;
    const principal = peerPrincipal(s);
    const no = this.#denial(p.chain, principal);
    if (no) {
      releaseUpstream(up, p.startedAt);
      return this.#denied(s, p.chain, no, principal, undefined, p.startedAt);
    }
    splice(s, up, p.chain.proxy, this.#info(p.result.attempts, principal, undefined, p.startedAt), this.#o.deps);
  }

  /** The mTLS server for the current transport settings (rebuilt only when those change). */
  #tls(t: InboundTransport): tls.Server | undefined {
    const tt = t.tls!;
    const o = this.#o.mesh?.serverOptions();
    if (!o) return undefined;
    const key = `${tt.requireClientCertificate}|${tt.minVersion}|${tt.maxVersion}|${tt.ciphers ?? ''}`;
    if (this.#tlsServer && this.#tlsKey === key) return this.#tlsServer;
    this.#tlsParams = { minVersion: tt.minVersion, maxVersion: tt.maxVersion, ...(tt.ciphers ? { ciphers: tt.ciphers } : {}) };
    const server = tls.createServer({ ...o, ...this.#tlsParams, requestCert: true, rejectUnauthorized: tt.requireClientCertificate, allowHalfOpen: true, handshakeTimeout: 10_000 });
    server.on('secureConnection', (s: tls.TLSSocket) => this.#secure(s));
    server.on('tlsClientError', (_e, s: tls.TLSSocket) => {
      this.stats.tlsHandshakeErrors++;
      s.destroy();
    });
    this.#tlsServer = server;
    this.#tlsKey = key;
    return server;
  }

  /** TLS passthrough: read the ClientHello, pick the chain by SNI, forward every byte unchanged. */
  #passthrough(socket: net.Socket, cfg: TcpListenerConfig, startedAt: number): void {
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      done = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
    };
    const onData = (b: Buffer) => {
      if (done) return;
      buf = buf.length ? Buffer.concat([buf, b]) : b;
      const h = readClientHello(buf.length > MAX_CLIENT_HELLO_BYTES ? buf.subarray(0, MAX_CLIENT_HELLO_BYTES) : buf);
      if (h.kind === 'need-more') return;
      finish();
      if (h.kind !== 'tls') {
        // Not a TLS ClientHello (plaintext, a malformed hello): nothing to route it by.
        this.stats.cxRefusedTransport++;
        socket.destroy();
        return this.#refusal(socket, 'NR', undefined, startedAt);
      }
      const chain = selectChain(cfg.chains, h.serverName);
      if (!chain) {
        this.stats.cxRefusedTransport++;
        socket.destroy();
        return this.#refusal(socket, 'NR', h.serverName, startedAt);
      }
      socket.unshift(buf);
      const no = this.#denial(chain, undefined);
      if (no) return this.#denied(socket, chain, no, undefined, undefined, startedAt);
      this.#connect(socket, chain, startedAt, h.serverName, (r) => splice(socket, r.upstream, chain.proxy, this.#info(r.attempts, undefined, h.serverName, startedAt), this.#o.deps));
    };
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      socket.destroy();
      this.#refusal(socket, 'HT', undefined, startedAt);
    }, this.#o.helloTimeoutMs ?? 10_000);
    socket.on('data', onData);
    socket.resume();
  }

  /**
   * The drain delay: the instance has left the registry but peers may not know yet, so new
   * connections are still taken (TCP has no way to ask a client to go, as Connection: close does).
   */
  beginDrain(): void {}

  /**
   * Stops accepting and waits for open connections to end, up to `timeoutMs`; then closes the
   * rest. Returns how many were still open at the deadline.
   */
  async drain(timeoutMs: number): Promise<number> {
    this.#draining = true;
    this.#server.close();
    if (this.stats.cxActive > 0) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, timeoutMs);
        this.#idleWaiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    const left = this.stats.cxActive;
    for (const s of this.#sockets) s.destroy();
    return left;
  }

  close(): void {
    this.#server.close();
    for (const s of this.#sockets) s.destroy();
  }
}

/** The chain for an SNI: exact, then the longest `*.suffix` wildcard, then the chain without names. */
export function selectChain(chains: readonly TcpChain[], serverName: string | undefined): TcpChain | undefined {
  let best: TcpChain | undefined;
  let bestLen = -1;
  let dflt: TcpChain | undefined;
  for (const c of chains) {
    if (!c.serverNames.length) {
      dflt ??= c;
      continue;
    }
    if (!serverName) continue;
    for (const n of c.serverNames) {
      if (n === serverName) return c;
      if (n.startsWith('*.') && serverName.length > n.length - 1 && serverName.endsWith(n.slice(1)) && n.length > bestLen) {
        best = c;
        bestLen = n.length;
      }
    }
  }
  return best ?? dflt;
}

/**
 * One plaintext HTTP listener that serves HTTP/1.1 and HTTP/2 cleartext on the same port: the
 * first bytes of a connection decide (the h2 connection preface, else HTTP/1.x through
 * http/h1-server.ts on Node's native llhttp parser). Malformed requests are answered 4xx;
 * the sidecar keeps serving. Draining stops accepting, asks keep-alive clients to go away, and
 * waits for in-flight requests.
 */
import { H2ServerSession, type H2ServerStream } from '../h2/server.js';
import net from 'node:net';
import tls from 'node:tls';
import type { MeshTls } from '../tls/mesh-tls.js';
import type { InboundTransport } from '../xds/types/tls.js';
import type { AddressInfo } from 'node:net';
import { H2Downstream, type Downstream } from '../http/downstream.js';
import { H1Connection, type H1Hooks, type H1Options } from '../http/h1-server.js';
import type { H1Downstream } from '../http/h1-downstream.js';
import { endSpan, grpcSpanName, withSpan, type ListenerKind, type Tracing } from '../telemetry/tracing.js';
import { serve, type ChainSource } from '../http/hcm.js';
import type { RouterTracing } from '../telemetry/tracing.js';
import { respondError } from '../http/respond.js';
import type { EdgeSource, EdgeState } from './edge.js';
import type { DownstreamLimits } from '../xds/types/listener.js';
import type { ErrorCode } from '../../common/errors.js';

/** The ListenerContext a gateway connection's chain gave it (set on the socket, read by its session). */
const CONN_CTX = Symbol('weft.connectionContext');
type WithCtx = { [CONN_CTX]?: ListenerContext };
const GRPC_SPAN_ERROR = new Set([2, 4, 12, 13, 14, 15]);

/** Told about every finished request (metrics, access log, load reports). status 0: none sent; grpcStatus -1: none. */
export type RequestObserver = (d: Downstream, status: number, grpcStatus: number, durationMs: number) => void;

/** The largest HTTP/2 head decoded in full (server.ts): past it the stream is answered 431 whatever the limits. */
const H2_HEAD_CAP = (maxHeader: number): number => Math.max(64 * 1024, maxHeader);

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Before the inbound Listener arrives: mTLS only, TLS 1.2+, both HTTP versions. */
const DEFAULT_TLS = { requireClientCertificate: true, alpn: ['h2', 'http/1.1'], minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: undefined, caSecret: 'ROOTCA' } as const satisfies NonNullable<InboundTransport['tls']>;

export interface ListenerStats {
  rqTotal: number;
  rqActive: number;
  cxTotal: number;
  cxActive: number;
  /** Requests the parser rejected (malformed, headers too large). */
  rqRejected: number;
  /** TLS handshakes that failed (no or untrusted client certificate, protocol errors). */
  tlsHandshakeErrors: number;
  /** Connections refused because their transport is not accepted (plaintext in STRICT mode). */
  cxRefusedTransport: number;
  /** Requests our own code failed on (answered 500 or cut; the process kept serving). Should stay 0. */
  internalErrors: number;
  /** Requests and connections a limit refused or closed, by limit (ClientTrafficPolicy field names). */
  readonly limits: Record<LimitName, number>;
}

/** How long an HTTP/2 connection without a stream in flight stays open unless a listener's idleTimeout says otherwise. */
export const H2_IDLE_DEFAULT_MS = 3_600_000;

/** The request's flat header list says `expect: 100-continue` in any field (as the HTTP/1.1 side reads it; names are lowercase on HTTP/2). */
function expectsContinue(h: readonly string[]): boolean {
  for (let i = 0; i < h.length; i += 2) if (h[i] === 'expect' && h[i + 1]!.toLowerCase() === '100-continue') return true;
  return false;
}

/** The limits a listener enforces, by the ClientTrafficPolicy field that sets each. */
export const LIMIT_NAMES = ['maxRequestBodyBytes', 'maxRequestHeaderBytes', 'maxUriLength', 'requestHeaderTimeout', 'idleTimeout', 'maxConnections'] as const;
export type LimitName = (typeof LIMIT_NAMES)[number];

/** The limit behind each x-weft-error code a limit answers with. */
const LIMIT_OF_CODE: Partial<Record<ErrorCode, LimitName>> = {
  BODY_TOO_LARGE: 'maxRequestBodyBytes',
  HEADERS_TOO_LARGE: 'maxRequestHeaderBytes',
  URI_TOO_LONG: 'maxUriLength',
  HEADERS_TIMEOUT: 'requestHeaderTimeout',
};

/** A limit that refused or closed a connection with no request to log (the listener's onLimit). */
export interface LimitEvent {
  readonly listener: string;
  readonly limit: LimitName;
  /** The x-weft-error code of the answer, when one was written (431, 408); '' when the connection was just closed. */
  readonly code: ErrorCode | '';
  readonly remoteAddress: string;
}

/** The limits in force: the listener's config over its defaults. */
interface Effective extends H1Options {
  readonly maxConnections: number;
  /** The config sets a head size: HTTP/2 heads are measured against it too. */
  readonly h2HeaderCheck: boolean;
  /** The config sets an idle timeout: HTTP/2 sessions idle this long are closed (0: never, as before limits existed). */
  readonly h2IdleMs: number;
  /** How often the sweep checks head and idle timeouts. */
  readonly sweepMs: number;
}

/** The inbound listener's mTLS: material from MeshTls, accepted transports from the Listener resource. */
export interface ListenerTls {
  mesh: MeshTls;
  /** undefined until the listener config arrived: then only TLS is accepted. */
  transport(): InboundTransport | undefined;
}

/** What a listener serves requests with: its current chain (config) and its tracing. */
export interface ListenerContext {
  readonly chain: ChainSource;
  readonly tracing?: RouterTracing;
  /** The listener's per-connection limits as the last applied Listener set them (undefined: defaults). */
  readonly limits?: () => DownstreamLimits | undefined;
}

export interface HttpListenerOptions {
  name: string;
  host: string;
  port: number;
  /** Max request header bytes (HTTP/1.1) / header list size (HTTP/2). */
  maxHeaderBytes?: number;
  /** HTTP/1.1: time allowed for a request head to arrive (408 after), default 30 s. */
  headersTimeoutMs?: number;
  /**
   * HTTP/1.1: an idle keep-alive connection is closed after this, default 60 s; so is a connection
   * that sends no byte at all for this long. HTTP/2 sessions get an idle timeout only from the
   * Listener's idle_timeout (a ClientTrafficPolicy).
   */
  keepAliveTimeoutMs?: number;
  /** Set on the inbound listener: TLS (mTLS) by the first byte, plaintext only if the config allows it. */
  tls?: ListenerTls;
  /**
   * Set on gateway listeners: the chains of the Listener resource. HTTPS chains terminate TLS
   * with their certificates, chosen by SNI; each connection serves its chain's routes.
   */
  edge?: EdgeSource;
  observer?: RequestObserver;
  /** Told when a limit refused or closed a connection outside any request (access log, tests). */
  onLimit?: (e: LimitEvent) => void;
  /** Told when our own code threw while serving a request (logged by the sidecar). */
  onInternalError?: (err: unknown) => void;
}

/** Zeroed listener counters (HTTP listeners, and TCP ones, which leave the request counters at 0). */
export function newListenerStats(): ListenerStats {
  return {
    rqTotal: 0,
    rqActive: 0,
    cxTotal: 0,
    cxActive: 0,
    rqRejected: 0,
    tlsHandshakeErrors: 0,
    cxRefusedTransport: 0,
    internalErrors: 0,
    limits: { maxRequestBodyBytes: 0, maxRequestHeaderBytes: 0, maxUriLength: 0, requestHeaderTimeout: 0, idleTimeout: 0, maxConnections: 0 },
  };
}

export class HttpListener {
  readonly name: string;
  readonly stats: ListenerStats = newListenerStats();
  readonly #opts: HttpListenerOptions;
  readonly #ctx: ListenerContext;
  readonly #tcp: net.Server;
  readonly #h1: H1Hooks;
  /** Gateway connections' hooks, per chain context. */
  readonly #h1ByCtx = new WeakMap<ListenerContext, H1Hooks>();
  #edgeServer: tls.Server | undefined;
  #edgeDefaultKey = '';
  readonly #h1Conns = new Set<H1Connection>();
  #h1Sweep: NodeJS.Timeout | undefined;
  #sweepMs = 0;
  /** The limits in force, and the config object they were computed from (recomputed when it changes). */
  #eff: Effective;
  #effFrom: DownstreamLimits | undefined;
  readonly #sockets = new Set<net.Socket>();
  /** Open HTTP/2 connections (Weft's own server side, sidecar/h2/server.ts). */
  readonly #sessions = new Set<H2ServerSession>();
  readonly #maxHeader: number;
  #tlsServer: tls.Server | undefined;
  #tlsKey = '';
  #tlsParams: { minVersion: tls.SecureVersion; maxVersion: tls.SecureVersion; ciphers?: string } | undefined;
  #draining = false;
  #idleWaiters: Array<() => void> = [];

  constructor(opts: HttpListenerOptions, ctx: ListenerContext) {
    this.name = opts.name;
    this.#opts = opts;
    this.#ctx = ctx;
    this.#maxHeader = opts.maxHeaderBytes ?? 16 * 1024;
    this.#effFrom = ctx.limits?.();
    this.#eff = this.#compute(this.#effFrom);
    this.#h1 = this.#hooks(ctx);
    this.#tcp = net.createServer({ noDelay: true }, (socket) => this.#accept(socket));
    opts.tls?.mesh.onChange(() => {
      const o = opts.tls!.mesh.serverOptions();
      // A new certificate keeps the listener's versions and suites.
      if (o && this.#tlsServer && this.#tlsParams) this.#tlsServer.setSecureContext({ ...o, ...this.#tlsParams });
    });
  }

  /** A downstream HTTP/2 connection (h2c by prior knowledge, or TLS with ALPN h2). */
  #serveH2(socket: net.Socket): void {
    const ctx = (socket as WithCtx)[CONN_CTX] ?? this.#ctx;
    const s = new H2ServerSession(socket, {
      maxHeaderListSize: this.#maxHeader,
      onStream: (st) => this.#onH2Stream(st, ctx),
      onStreamClose: (st) => {
        const d = st.user as H2Downstream | undefined;
        if (d) this.#end(d, st.headersSent ? st.status : 0, st.grpcStatus);
      },
    });
    this.#sessions.add(s);
    s.onClose = () => this.#sessions.delete(s);
    const lim = this.#limits();
    this.#h2Idle(s, lim.h2IdleMs);
    this.#h2Head(s, lim.headersTimeoutMs);
    if (this.#draining) s.goaway();
  }

  #onH2Stream(st: H2ServerStream, ctx: ListenerContext): void {
    this.stats.rqTotal++;
    this.stats.rqActive++;
    const d = new H2Downstream(st);
    st.user = d;
    const lim = this.#limits();
    if (st.tooLarge || (lim.h2HeaderCheck && st.headerListSize > lim.maxHeaderBytes)) {
      // HTTP/2's form of 431: the stream is answered, the connection goes on.
      respondError(d, d, d.info, 'HEADERS_TOO_LARGE', `the request header list is larger than ${st.tooLarge ? H2_HEAD_CAP(this.#maxHeader) : lim.maxHeaderBytes} bytes`);
      return;
    }
    // Expect: 100-continue is answered here, before the body is read, as on HTTP/1.1 (Envoy's
    // default); the header is hop-by-hop and not forwarded, so no upstream would answer it. A
    // request without a body (most) is not scanned for it.
    if (!st.endAfterHeaders && expectsContinue(st.headers)) st.sendContinue();
    try {
      const lt = ctx.tracing;
      if (lt && lt.listener !== 'outbound' && lt.t.sampled(lt.listener, d, d.header('x-request-id'))) this.#traceServer(d, lt.t, lt.listener);
      if (this.#opts.edge) d.info.edge = true;
      serve(d, ctx.chain);
    } catch (e) {
      // One request's failure in our code: answered 500 (or reset), every other stream goes on.
      this.#internalError(e);
      if (!d.headersSent) respondError(d, d, d.info, 'INTERNAL', 'internal error while serving the request');
      else d.abort();
    }
  }

  /** The HTTP/1.1 hooks serving requests with `ctx`'s chain. */
  #hooks(ctx: ListenerContext): H1Hooks {
    return {
      request: (d: H1Downstream) => {
        this.stats.rqTotal++;
        this.stats.rqActive++;
        const lt = ctx.tracing;
        if (lt && lt.listener !== 'outbound' && lt.t.sampled(lt.listener, d, d.header('x-request-id'))) this.#traceServer(d, lt.t, lt.listener);
        if (this.#opts.edge) d.info.edge = true;
        serve(d, ctx.chain);
      },
      end: (d: H1Downstream, status: number, grpcStatus: number) => this.#end(d, status, grpcStatus),
      rejected: () => {
        this.stats.rqRejected++;
      },
      limit: (which, socket) => this.#limit(which, which === 'maxRequestHeaderBytes' ? 'HEADERS_TOO_LARGE' : which === 'requestHeaderTimeout' ? 'HEADERS_TIMEOUT' : '', socket.remoteAddress ?? ''),
      internalError: (e: unknown) => this.#internalError(e),
      draining: () => this.#draining,
    };
  }

  /** The TLS server for the current transport settings (rebuilt only when those change). */
  #tls(t: InboundTransport['tls'] & object): tls.Server | undefined {
    const o = this.#opts.tls!.mesh.serverOptions();
    if (!o) return undefined;
    const key = `${t.requireClientCertificate}|${t.alpn.join(',')}|${t.minVersion}|${t.maxVersion}|${t.ciphers ?? ''}`;
    if (this.#tlsServer && this.#tlsKey === key) return this.#tlsServer;
    const params = { minVersion: t.minVersion, maxVersion: t.maxVersion, ...(t.ciphers ? { ciphers: t.ciphers } : {}) };
    const server = tls.createServer({
      ...o,
      ...params,
      requestCert: true,
      rejectUnauthorized: t.requireClientCertificate,
      ALPNProtocols: t.alpn,
      handshakeTimeout: 10_000,
    });
    this.#tlsParams = params;
    server.on('secureConnection', (s: tls.TLSSocket) => {
      s.on('error', () => undefined);
      if (s.alpnProtocol === 'h2') this.#serveH2(s);
      else this.#serveH1(s);
    });
    server.on('tlsClientError', (_e, s: tls.TLSSocket) => {
      this.stats.tlsHandshakeErrors++;
      s.destroy();
    });
    this.#tlsServer = server;
    this.#tlsKey = key;
    return server;
  }

  #accept(socket: net.Socket): void {
    socket.on('error', () => undefined);
    const lim = this.#limits();
    if (this.stats.cxActive >= lim.maxConnections) {
      // Envoy's connection_limit: past max_connections a new connection is closed at once.
      this.#limit('maxConnections', '', socket.remoteAddress ?? '');
      socket.destroy();
      return;
    }
    this.stats.cxTotal++;
    this.stats.cxActive++;
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.stats.cxActive--;
      this.#sockets.delete(socket);
    });
    this.#startSweep();
    // Until its first bytes, a connection is idle: it is closed after the idle timeout.
    socket.setTimeout(lim.keepAliveTimeoutMs, () => {
      this.#limit('idleTimeout', '', socket.remoteAddress ?? '');
      socket.destroy();
    });
    // Sniff the protocol from the first bytes, in paused mode, and put them back: the HTTP/1.1
    // connection, the HTTP/2 session and the TLS server all read a socket with buffered data first.
    const sniff = () => {
      const first = socket.read() as Buffer | null;
      if (!first) {
        socket.once('readable', sniff);
        return;
      }
      socket.unshift(first);
      socket.setTimeout(0);
      // A gateway Listener with one plaintext chain has no edge state: it is served like any other.
      const st = this.#opts.edge?.current();
      if (st) return this.#acceptEdge(socket, first, st);
      const lt = this.#opts.tls;
      if (lt) {
        const t = lt.transport();
        if (first[0] === 0x16) {
          // A TLS ClientHello.
          const server = t?.tls ?? (t ? undefined : DEFAULT_TLS);
          const ts = server ? this.#tls(server) : undefined;
          if (!ts) return this.#refuse(socket);
          ts.emit('connection', socket);
          return;
        }
        if (!t?.plaintext) return this.#refuse(socket);
      }
      this.#serveCleartext(socket, first);
    };
    socket.once('readable', sniff);
  }

  /** A gateway connection: TLS with the chain SNI picks, or plaintext HTTP on the default chain. */
  #acceptEdge(socket: net.Socket, first: Buffer, st: EdgeState): void {
    if (st.tls) {
      if (first[0] !== 0x16) return this.#plainOnTlsPort(socket);
      this.#edgeTls(st).emit('connection', socket);
      return;
    }
    const chain = st.defaultChain ?? st.chains[0];
    if (!chain) return this.#refuse(socket);
    (socket as WithCtx)[CONN_CTX] = chain.ctx;
    this.#serveCleartext(socket, first);
  }

  #serveCleartext(socket: net.Socket, first: Buffer): void {
    const n = Math.min(first.length, H2_PREFACE.length);
    const h2 = n >= 3 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (h2) this.#serveH2(socket);
    else this.#serveH1(socket);
  }

  /** What nginx does with plain HTTP on an HTTPS port: one 400 saying so, then close. */
  #plainOnTlsPort(socket: net.Socket): void {
    this.stats.cxRefusedTransport++;
    const body = 'plain HTTP was sent to an HTTPS port\n';
    socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\nx-weft-error: BAD_REQUEST\r\nconnection: close\r\n\r\n${body}`);
    socket.resume();
    // A client that never closes its side does not keep the connection (and a connection slot).
    socket.setTimeout(5000, () => socket.destroy());
  }

  /**
   * The gateway's TLS server: SNI picks the chain and its certificates (SNICallback), ALPN what
   * that chain offers; clients without SNI get the default chain's certificate (the server's own
   * context, replaced when that certificate changes). Open connections keep the context they
   * were handshaken with: replacing a certificate never drops them.
   */
  #edgeTls(st: EdgeState): tls.Server {
    const edge = this.#opts.edge!;
    if (!this.#edgeServer) {
      const server = tls.createServer({
        SNICallback: (name, cb) => {
          const c = edge.current()?.select(name);
          if (c?.secure) cb(null, c.secure);
          else cb(new Error(`no certificate for '${name}'`));
        },
        ALPNCallback: ({ servername, protocols }) => {
          const offered = edge.current()?.select(servername)?.alpn ?? ['http/1.1'];
          // Server preference: the first of ours the client offers (h2 before http/1.1).
          return offered.find((p) => protocols.includes(p));
        },
        handshakeTimeout: 10_000,
      });
      server.on('secureConnection', (s: tls.TLSSocket) => {
        s.on('error', () => undefined);
        const c = edge.current()?.select(s.servername);
        if (!c) return s.destroy();
        (s as WithCtx)[CONN_CTX] = c.ctx;
        if (s.alpnProtocol === 'h2') this.#serveH2(s);
        else this.#serveH1(s);
      });
      server.on('tlsClientError', (_e, s: tls.TLSSocket) => {
        this.stats.tlsHandshakeErrors++;
        s.destroy();
      });
      this.#edgeServer = server;
    }
    const { key, options } = st.serverOptions();
    if (key !== this.#edgeDefaultKey) {
      this.#edgeServer.setSecureContext(options);
      this.#edgeDefaultKey = key;
    }
    return this.#edgeServer;
  }

  #serveH1(socket: net.Socket): void {
    // The head size limit in force now holds for this connection's parser; a gateway connection
    // serves the chain its handshake picked.
    const cctx = (socket as WithCtx)[CONN_CTX];
    let hooks = this.#h1;
    if (cctx) {
      hooks = this.#h1ByCtx.get(cctx) ?? this.#hooks(cctx);
      this.#h1ByCtx.set(cctx, hooks);
    }
    const c = new H1Connection(socket, hooks, this.#limits());
    this.#h1Conns.add(c);
    socket.once('close', () => this.#h1Conns.delete(c));
    if (this.#draining) c.drain();
  }

  /** The limits in force: recomputed when the runtime applied another Listener (a new object). */
  #limits(): Effective {
    const cur = this.#ctx.limits?.();
    if (cur !== this.#effFrom) {
      this.#effFrom = cur;
      const before = this.#eff;
      this.#eff = this.#compute(cur);
      if (this.#eff.h2IdleMs !== before.h2IdleMs) for (const s of this.#sessions) this.#h2Idle(s, this.#eff.h2IdleMs);
      if (this.#eff.headersTimeoutMs !== before.headersTimeoutMs) for (const s of this.#sessions) this.#h2Head(s, this.#eff.headersTimeoutMs);
      if (this.#eff.sweepMs !== this.#sweepMs && this.#h1Sweep) {
        clearInterval(this.#h1Sweep);
        this.#h1Sweep = undefined;
        this.#startSweep();
      }
    }
    return this.#eff;
  }

  #compute(l: DownstreamLimits | undefined): Effective {
    const o = this.#opts;
    const headersTimeoutMs = l?.headersTimeoutMs ?? o.headersTimeoutMs ?? 30_000;
    const keepAliveTimeoutMs = l?.idleTimeoutMs ?? o.keepAliveTimeoutMs ?? 60_000;
    return Object.freeze({
      maxHeaderBytes: l?.maxHeaderBytes ?? o.maxHeaderBytes ?? 16 * 1024,
      headersTimeoutMs,
      keepAliveTimeoutMs,
      maxConnections: l?.maxConnections ?? Infinity,
      h2HeaderCheck: l?.maxHeaderBytes !== undefined,
      // An HTTP/2 connection without streams: Envoy's idle_timeout default (1 h); the HTTP/1.1
      // keep-alive default (60 s) would make a gRPC client that calls once a minute reconnect each time.
      h2IdleMs: l?.idleTimeoutMs ?? H2_IDLE_DEFAULT_MS,
      // A quarter of the shortest timeout, between 20 ms and 1 s: a limit fires at most 25 % late.
      sweepMs: Math.max(20, Math.min(1000, Math.floor(Math.min(headersTimeoutMs, keepAliveTimeoutMs) / 4))),
    });
  }

  /** One timer per listener checks head and idle timeouts of every HTTP/1.1 connection, with the limits in force at each tick. */
  #startSweep(): void {
    if (this.#h1Sweep) return;
    this.#sweepMs = this.#eff.sweepMs;
    this.#h1Sweep = setInterval(() => {
      const lim = this.#limits();
      const now = Date.now();
      for (const conn of this.#h1Conns) conn.sweep(now, lim);
    }, this.#sweepMs).unref();
  }

  /** An HTTP/2 connection with no stream in flight for `ms` is told to go away and closed (Envoy's idle_timeout); 0: never. */
  #h2Idle(s: H2ServerSession, ms: number): void {
    s.setIdleTimeout(ms, () => this.#limit('idleTimeout', '', s.socket.remoteAddress ?? ''));
  }

  /** An HTTP/2 header block left open longer than `ms` ends the connection (the HTTP/1.1 head timeout's counterpart); 0: never. */
  #h2Head(s: H2ServerSession, ms: number): void {
    s.setHeadTimeout(ms, () => this.#limit('requestHeaderTimeout', 'HEADERS_TIMEOUT', s.socket.remoteAddress ?? ''));
  }

  /** A limit refused or closed a connection outside any request: counted and reported. */
  #limit(limit: LimitName, code: ErrorCode | '', remoteAddress: string): void {
    // The listener's default timeouts (no ClientTrafficPolicy sets them) are housekeeping, not a
    // limit anyone set: an ordinary keep-alive close is not counted or logged as one.
    const set = this.#effFrom;
    if (limit === 'idleTimeout' && set?.idleTimeoutMs === undefined) return;
    if (limit === 'requestHeaderTimeout' && set?.headersTimeoutMs === undefined) return;
    this.stats.limits[limit]++;
    this.#opts.onLimit?.({ listener: this.name, limit, code, remoteAddress });
  }

  /** The end of every request: counters, the SERVER span, metrics and the access log. */
  #end(d: Downstream, status: number, grpcStatus: number): void {
    this.stats.rqActive--;
    const code = d.info.weftError;
    if (code !== '') {
      const limit = LIMIT_OF_CODE[code as ErrorCode];
      if (limit) this.stats.limits[limit]++;
    }
    if (this.stats.rqActive === 0 && this.#idleWaiters.length) for (const w of this.#idleWaiters.splice(0)) w();
    const info = d.info;
    const span = info.serverSpan;
    if (span) {
      if (grpcStatus >= 0) span.setAttribute('rpc.grpc.status_code', grpcStatus);
      if (info.routeName) span.setAttribute('http.route', info.routeName);
      if (info.consumer) span.setAttribute('weft.consumer', info.consumer);
      endSpan(span, status || undefined, info.weftError || (grpcStatus > 0 && GRPC_SPAN_ERROR.has(grpcStatus) ? `grpc-status ${grpcStatus}` : status === 0 ? 'aborted' : undefined));
    }
    const o = this.#opts.observer;
    if (o) o(d, status, grpcStatus, performance.now() - info.startMs);
  }

  /** A SERVER span for one inbound (or gateway) request, ended in #end. */
  #traceServer(d: Downstream, t: Tracing, listener: ListenerKind): void {
    const parent = t.extract(listener, (n) => d.header(n));
    const attrs: Record<string, string | number | boolean> = {
      'http.request.method': d.method,
      'url.path': d.path,
      'server.address': d.authority,
      'client.address': d.remoteAddress,
      'network.protocol.version': d.h2 ? '2' : '1.1',
    };
    const principal = d.principal;
    if (principal) attrs['weft.peer.principal'] = principal;
    const name = d.grpc ? (grpcSpanName(d.path, attrs) ?? d.method) : `${d.method} ${d.authority}`;
    const span = t.start(listener, 'server', name, parent, attrs);
    if (!span) return;
    d.info.serverSpan = span;
    d.info.traceCtx = withSpan(parent, span);
    d.info.traceId = span.spanContext().traceId;
  }

  #internalError(e: unknown): void {
    this.stats.internalErrors++;
    this.#opts.onInternalError?.(e);
  }

  #refuse(socket: net.Socket): void {
    this.stats.cxRefusedTransport++;
    socket.destroy();
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((res, rej) => {
      this.#tcp.once('error', rej);
      this.#tcp.listen(this.#opts.port, this.#opts.host, () => {
        this.#tcp.off('error', rej);
        res();
      });
    });
    return this.#tcp.address() as AddressInfo;
  }

  address(): AddressInfo {
    return this.#tcp.address() as AddressInfo;
  }

  /**
   * Stops accepting, tells keep-alive clients to close (Connection: close / GOAWAY), and resolves
   * when in-flight requests are done or `timeoutMs` passed. Returns how many were still open.
   */
  /** Keeps serving but asks every client to close its connection after the current request. */
  beginDrain(): void {
    this.#draining = true;
    for (const s of this.#sessions) s.goaway();
    for (const c of this.#h1Conns) c.drain();
  }

  async drain(timeoutMs: number): Promise<number> {
    const until = Date.now() + timeoutMs;
    this.#draining = true;
    this.#tcp.close();
    for (const s of this.#sessions) s.goaway();
    for (const c of this.#h1Conns) c.drain();
    if (this.stats.rqActive > 0) {
      await new Promise<void>((res) => {
        const t = setTimeout(res, timeoutMs);
        this.#idleWaiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    // A request has ended once its last bytes were handed to the socket; close() destroys the
    // sockets, which drops whatever they still buffer (a TLS socket queues a write while the one
    // before it is in flight). So wait, within the budget, until every response has left.
    await this.#written(until - Date.now());
    return this.stats.rqActive;
  }

  /** Resolves once no served socket buffers bytes it was asked to write, or after `ms`. */
  async #written(ms: number): Promise<void> {
    const sockets: net.Socket[] = [];
    for (const c of this.#h1Conns) sockets.push(c.socket);
    for (const s of this.#sessions) sockets.push(s.socket);
    const busy = (s: net.Socket): boolean => !s.destroyed && (s.writableLength > 0 || (s.writableEnded && !s.writableFinished));
    const waiting = sockets.filter(busy);
    if (waiting.length === 0 || ms <= 0) return;
    await new Promise<void>((res) => {
      let left = waiting.length;
      const t = setTimeout(res, ms);
      for (const s of waiting) {
        const check = (): void => {
          if (busy(s)) return;
          s.off('drain', check).off('finish', check).off('close', check);
          if (--left === 0) {
            clearTimeout(t);
            res();
          }
        };
        s.on('drain', check).on('finish', check).on('close', check);
      }
    });
  }

  /** Closes everything now. */
  close(): void {
    this.#tcp.close();
    clearInterval(this.#h1Sweep);
    for (const s of this.#sessions) s.destroy();
    for (const s of this.#sockets) s.destroy();
  }
}

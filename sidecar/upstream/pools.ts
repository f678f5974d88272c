/**
 * Connections to one host: an undici Pool for HTTP/1.1 (keep-alive, no pipelining), or one
 * multiplexed `node:http2` session for h2/gRPC, reopened when it closes or receives GOAWAY.
 */
import { createRequire } from 'node:module';
import http2 from 'node:http2';
import type { Pool as PoolType } from 'undici';

// Only undici's Pool, not its index (fetch, WebSocket, caches...): 9 MB less RSS per sidecar.
// The path is internal to undici; package-lock pins the version and the e2e tests cover it.
const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof PoolType;
type Pool = PoolType;
import type { Host } from './host.js';
import { dial, type HostTls } from './dial.js';

export interface PoolOptions {
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

export function h1Pool(h: Host, o: PoolOptions, t: HostTls | undefined): Pool {
  return new Pool(`http://${h.key}`, {
    // Our own connector: TCP, or mTLS with the current workload certificate for mesh hosts.
    connect: (_opts, cb) => {
      const { socket, ready } = dial(h, t, 'http/1.1');
      let done = false;
      const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), o.connectTimeoutMs);
      socket.once(ready, () => {
        clearTimeout(timer);
        if (!done) (done = true), cb(null, socket);
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        if (!done) (done = true), cb(e, null);
      });
    },
    connections: o.maxConnections,
    pipelining: 1,
    connectTimeout: o.connectTimeoutMs,
    keepAliveTimeout: o.idleTimeoutMs,
    // The cluster's idle timeout is a ceiling: a server's Keep-Alive hint may only shorten it.
    keepAliveMaxTimeout: o.idleTimeoutMs,
    // The forwarder runs its own route and per-try timers.
    headersTimeout: 0,
    bodyTimeout: 0,
  });
}

/** One h2 session per host; `session()` returns a live one, connecting when needed. */
export class H2Connection {
  #session: http2.ClientHttp2Session | undefined;
  #closed = false;
  constructor(
    private readonly host: Host,
    private readonly opts: PoolOptions,
    private readonly tls: HostTls | undefined,
  ) {}

  session(): http2.ClientHttp2Session {
    const s = this.#session;
    if (s && !s.closed && !s.destroyed) return s;
    const mesh = this.tls !== undefined && this.host.mesh;
    const next = http2.connect(`${mesh ? 'https' : 'http'}://${this.host.key}`, {
      settings: { enablePush: false },
      createConnection: () => dial(this.host, this.tls, 'h2').socket,
    });
    const timer = setTimeout(() => next.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), this.opts.connectTimeoutMs);
    next.once('connect', () => {
      clearTimeout(timer);
      next.setTimeout(this.opts.idleTimeoutMs, () => next.close());
    });
    const drop = () => {
      clearTimeout(timer);
      if (this.#session === next) this.#session = undefined;
    };
    next.on('error', drop);
    next.on('close', drop);
    next.on('goaway', drop);
    // Streams keep it alive; an idle session does not hold the process open.
    next.unref();
    this.#session = next;
    return next;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#session?.close();
  }
}

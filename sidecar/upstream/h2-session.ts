/**
 * Connections to one host for h2/gRPC: one multiplexed `node:http2` session, reopened when it
 * closes or receives GOAWAY. (HTTP/1.1 pools are in h1-pool.ts.)
 */
import http2 from 'node:http2';
import type { Host } from './host.js';
import { dial, type HostTls } from './dial.js';

export interface PoolOptions {
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
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

/**
 * Connections to one host for h2/gRPC: one multiplexed HTTP/2 connection (Weft's own client,
 * sidecar/h2/client.ts), replaced by a new one once it can take no more streams (GOAWAY, an
 * error, closed, idle). Streams still open on the old one finish there. (HTTP/1.1 pools are in
 * h1-pool.ts.)
 */
import { H2ClientSession, type H2Keepalive } from '../h2/client.js';
import type { Host } from './host.js';
import { dial, type HostTls } from './dial.js';

export interface PoolOptions {
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** PINGs on each h2 connection (Http2ProtocolOptions.connection_keepalive); undefined: none. */
  keepalive?: H2Keepalive | undefined;
}

/** One h2 session per host; `session()` returns a usable one, connecting when needed. */
export class H2Connection {
  #session: H2ClientSession | undefined;
  #closed = false;
  constructor(
    private readonly host: Host,
    private readonly opts: PoolOptions,
    private readonly tls: HostTls | undefined,
  ) {}

  session(): H2ClientSession {
    const s = this.#session;
    if (s && s.usable) return s;
    const { socket, ready } = dial(this.host, this.tls, 'h2');
    const o = this.opts;
    const next = new H2ClientSession(socket, ready, { connectTimeoutMs: o.connectTimeoutMs, idleTimeoutMs: o.idleTimeoutMs, ...(o.keepalive ? { keepalive: o.keepalive } : {}) });
    next.onUnusable = () => {
      if (this.#session === next) this.#session = undefined;
    };
    this.#session = next;
    return next;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#session?.close();
  }
}

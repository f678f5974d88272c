/**
 * Listeners that follow the config: a gateway's `gateway.<name>` Listener resources (one per
 * Gateway port), and a sidecar's `outbound|tcp|<port>` ones (the TCP services its app calls).
 * Each is bound to the resource's address and port (a gateway: on its listen address), as an
 * HttpListener serving the chain the runtime composed for it, or a TcpListener (tcp_proxy) for a
 * layer-4 one. A new Listener is bound, one whose address or kind changed is rebound, one that is
 * gone drains (in-flight requests and connections finish, keep-alive clients are told to go) and
 * closes. Applying never drops the connections of a listener that stays: its limits and chains
 * change in place, read by the listener from the runtime as they are applied.
 */
import type { Logger } from '../../common/log.js';
import type { Runtime } from '../runtime.js';
import type { XdsListener } from '../xds/types/listener.js';
import { HttpListener, type HttpListenerOptions } from './http-listener.js';
import { TcpListener, type TcpListenerOptions } from '../tcp/tcp-listener.js';

export const GATEWAY_LISTENER_PREFIX = 'gateway.';
/** A sidecar's listeners for the TCP services its app calls (Service `upstreams`). */
export const TCP_OUTBOUND_PREFIX = 'outbound|tcp|';

/** What the admin server, metrics and draining see of any bound listener. */
export type ServingListener = HttpListener | TcpListener;

interface Bound {
  readonly listener: ServingListener;
  readonly host: string;
  readonly port: number;
  readonly kind: 'http' | 'tcp';
}

export interface GatewayListenersOptions {
  runtime: Runtime;
  /** Which Listener resources this set binds (by name prefix). */
  prefix: string;
  /** Access-log direction of the TCP listeners (gateway, outbound). */
  direction: string;
  /** What TCP listeners proxy with (clusters, stats, access log) and who hears of their RBAC denials. */
  tcp: Pick<TcpListenerOptions, 'deps' | 'onDeny'>;
  /** Overrides the address in the Listener resources (e.g. 127.0.0.1); default: theirs. */
  host: string | undefined;
  observer: HttpListenerOptions['observer'];
  onLimit?: HttpListenerOptions['onLimit'];
  onInternalError: HttpListenerOptions['onInternalError'];
  drainTimeoutMs: number;
  logger: Logger;
}

export class GatewayListeners {
  /** The listeners bound now (admin and metrics read it; changed in place). */
  readonly all: ServingListener[] = [];
  readonly #bound = new Map<string, Bound>();
  readonly #o: GatewayListenersOptions;
  #queue: Promise<void> = Promise.resolve();

  constructor(o: GatewayListenersOptions) {
    this.#o = o;
  }

  /** Brings the bound listeners in line with the accepted Listener resources (serialized). */
  sync(listeners: ReadonlyMap<string, XdsListener>): Promise<void> {
    this.#queue = this.#queue.then(() => this.#sync(listeners));
    return this.#queue;
  }

  async #sync(listeners: ReadonlyMap<string, XdsListener>): Promise<void> {
    const want = new Map<string, { host: string; port: number; kind: 'http' | 'tcp' }>();
    for (const [name, l] of listeners) {
      if (!name.startsWith(this.#o.prefix)) continue;
      const sa = l.listener.address?.address.case === 'socketAddress' ? l.listener.address.address.value : undefined;
      const port = sa?.portSpecifier.case === 'portValue' ? sa.portSpecifier.value : undefined;
      if (port === undefined) {
        this.#o.logger.warn({ listener: name }, 'gateway listener without a socket address and port; not bound');
        continue;
      }
      want.set(name, { host: this.#o.host ?? (sa?.address || '0.0.0.0'), port, kind: l.kind });
    }
    // Listeners that go drain side by side, and only a port bound again waits for its old
    // listener (a TCP connection seldom ends by itself: each drain may take the whole timeout).
    const blocking: Promise<void>[] = [];
    for (const [name, b] of this.#bound) {
      const w = want.get(name);
      if (w && w.host === b.host && w.port === b.port && w.kind === b.kind) continue;
      const done = this.#unbind(name, b);
      if ([...want.values()].some((x) => x.port === b.port)) blocking.push(done);
      else void done;
    }
    await Promise.all(blocking);
    for (const [name, w] of want) {
      if (this.#bound.has(name)) continue;
      const listener: ServingListener =
        w.kind === 'tcp'
          ? new TcpListener({ name, host: w.host, port: w.port, direction: this.#o.direction, source: this.#o.runtime.tcpFor(name), ...this.#o.tcp })
          : new HttpListener(
              { name, host: w.host, port: w.port, edge: this.#o.runtime.edgeFor(name), observer: this.#o.observer, onInternalError: this.#o.onInternalError, ...(this.#o.onLimit ? { onLimit: this.#o.onLimit } : {}) },
              this.#o.runtime.contextFor(name),
            );
      try {
        await listener.listen();
      } catch (e) {
        // Fail closed and loud: the port stays unserved, the rest of the gateway works.
        this.#o.logger.error({ listener: name, host: w.host, port: w.port, err: { message: (e as Error).message } }, 'cannot bind a listener');
        listener.close();
        continue;
      }
      this.#bound.set(name, { listener, ...w });
      this.all.push(listener);
      this.#o.logger.info({ listener: name, host: w.host, port: w.port, kind: w.kind }, 'listener bound');
    }
  }

  async #unbind(name: string, b: Bound): Promise<void> {
    this.#bound.delete(name);
    const left = await b.listener.drain(this.#o.drainTimeoutMs);
    b.listener.close();
    this.all.splice(this.all.indexOf(b.listener), 1);
    this.#o.logger.info({ listener: name, unfinished: left }, 'listener closed');
  }
}

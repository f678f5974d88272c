/**
 * A gateway's listeners follow its config: one HttpListener per `gateway.<name>` Listener resource
 * (one per Gateway listener), bound to the resource's port on the gateway's listen address, serving
 * the chain the runtime composed for it. A new Listener is bound, one whose address changed is
 * rebound, one that is gone drains (its in-flight requests finish, keep-alive clients are told to
 * go) and closes. Applying never drops the connections of a listener that stays: its limits
 * (ClientTrafficPolicy) change in place, read by the listener from the runtime as they are applied.
 */
import type { Logger } from '../../common/log.js';
import type { Runtime } from '../runtime.js';
import type { SidecarListener } from '../xds/types/listener.js';
import { HttpListener, type HttpListenerOptions } from './http-listener.js';

export const GATEWAY_LISTENER_PREFIX = 'gateway.';

interface Bound {
  readonly listener: HttpListener;
  readonly host: string;
  readonly port: number;
}

export interface GatewayListenersOptions {
  runtime: Runtime;
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
  readonly all: HttpListener[] = [];
  readonly #bound = new Map<string, Bound>();
  readonly #o: GatewayListenersOptions;
  #queue: Promise<void> = Promise.resolve();

  constructor(o: GatewayListenersOptions) {
    this.#o = o;
  }

  /** Brings the bound listeners in line with the accepted Listener resources (serialized). */
  sync(listeners: ReadonlyMap<string, SidecarListener>): Promise<void> {
    this.#queue = this.#queue.then(() => this.#sync(listeners));
    return this.#queue;
  }

  async #sync(listeners: ReadonlyMap<string, SidecarListener>): Promise<void> {
    const want = new Map<string, { host: string; port: number }>();
    for (const [name, l] of listeners) {
      if (!name.startsWith(GATEWAY_LISTENER_PREFIX)) continue;
      const sa = l.listener.address?.address.case === 'socketAddress' ? l.listener.address.address.value : undefined;
      const port = sa?.portSpecifier.case === 'portValue' ? sa.portSpecifier.value : undefined;
      if (port === undefined) {
        this.#o.logger.warn({ listener: name }, 'gateway listener without a socket address and port; not bound');
        continue;
      }
      want.set(name, { host: this.#o.host ?? (sa?.address || '0.0.0.0'), port });
    }
    for (const [name, b] of this.#bound) {
      const w = want.get(name);
      if (!w || w.host !== b.host || w.port !== b.port) await this.#unbind(name, b);
    }
    for (const [name, w] of want) {
      if (this.#bound.has(name)) continue;
      const listener = new HttpListener(
        { name, host: w.host, port: w.port, edge: this.#o.runtime.edgeFor(name), observer: this.#o.observer, onInternalError: this.#o.onInternalError, ...(this.#o.onLimit ? { onLimit: this.#o.onLimit } : {}) },
        this.#o.runtime.contextFor(name),
      );
      try {
        await listener.listen();
      } catch (e) {
        // Fail closed and loud: the port stays unserved, the rest of the gateway works.
        this.#o.logger.error({ listener: name, host: w.host, port: w.port, err: { message: (e as Error).message } }, 'cannot bind a gateway listener');
        listener.close();
        continue;
      }
      this.#bound.set(name, { listener, ...w });
      this.all.push(listener);
      this.#o.logger.info({ listener: name, host: w.host, port: w.port }, 'gateway listener bound');
    }
  }

  async #unbind(name: string, b: Bound): Promise<void> {
    this.#bound.delete(name);
    const left = await b.listener.drain(this.#o.drainTimeoutMs);
    b.listener.close();
    this.all.splice(this.all.indexOf(b.listener), 1);
    this.#o.logger.info({ listener: name, unfinished: left }, 'gateway listener closed');
  }
}

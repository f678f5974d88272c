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
import net from 'node:net';
import type { FieldError } from '../../common/errors.js';
import { PrepareRefusal } from '../xds/decode-needs.js';
import { IS_CLUSTER_WORKER } from '../workers/ipc.js';
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
  /** Ports the last sync asked for (bound now or soon). */
  #asked = new Set<number>();
  /** Listeners unbound and still draining (their ports not yet free). */
  readonly #draining = new Set<Bound>();

  constructor(o: GatewayListenersOptions) {
    this.#o = o;
  }

  /** Brings the bound listeners in line with the accepted Listener resources (serialized). */
  sync(listeners: ReadonlyMap<string, XdsListener>): Promise<void> {
    this.#asked = new Set([...this.#want(listeners, false).values()].map((w) => w.port));
    this.#queue = this.#queue.then(() => this.#sync(listeners));
    return this.#queue;
  }

  /** The listeners of this set in `listeners`, with where each is bound. */
  #want(listeners: ReadonlyMap<string, XdsListener>, log: boolean): Map<string, { host: string; port: number; kind: 'http' | 'tcp' }> {
    const want = new Map<string, { host: string; port: number; kind: 'http' | 'tcp' }>();
    for (const [name, l] of listeners) {
      if (!name.startsWith(this.#o.prefix)) continue;
      const sa = l.listener.address?.address.case === 'socketAddress' ? l.listener.address.address.value : undefined;
      const port = sa?.portSpecifier.case === 'portValue' ? sa.portSpecifier.value : undefined;
      if (port === undefined) {
        if (log) this.#o.logger.warn({ listener: name }, 'gateway listener without a socket address and port; not bound');
        continue;
      }
      want.set(name, { host: this.#o.host ?? (sa?.address || '0.0.0.0'), port, kind: l.kind });
    }
    return want;
  }

  /**
   * Before an update is accepted: every listener it adds (or moves) can bind its address and port.
   * Rejects with one field error per listener that cannot (another process has the port, or the
   * address is not this host's), so the update is NACKed with the reason and the last good
   * listeners stay, as a proxy does with what it cannot execute. The ADS client probes a refused
   * update again with back-off and applies (ACKs) it once every port binds, unless a newer update
   * came first. Ports this set holds, drains or was last asked to bind are not probed: their
   * listener is closed before the port is bound again.
   */
  probe(listeners: ReadonlyMap<string, XdsListener>): Promise<void> | undefined {
    // A cluster worker's listen() goes through the primary and shares the port with the other
    // workers: a probe there could not tell a taken port from a sibling's, and while it listened
    // the primary could hand it a client's connection. There a failed bind is logged, as before.
    if (IS_CLUSTER_WORKER) return undefined;
    const held = new Set([...this.#asked, ...[...this.#draining, ...this.#bound.values()].map((b) => b.port)]);
    const check = [...this.#want(listeners, false)].filter(([, w]) => !held.has(w.port));
    if (!check.length) return undefined;
    return (async () => {
      const errors: FieldError[] = [];
      for (const [name, w] of check) {
        const err = await canBind(w.host, w.port);
        if (err) errors.push({ resource: name, path: 'address.socketAddress', message: `cannot bind ${w.host}:${w.port}: ${err}` });
      }
      if (errors.length) throw new PrepareRefusal(errors, true); // the port may be freed: tried again
    })();
  }

  async #sync(listeners: ReadonlyMap<string, XdsListener>): Promise<void> {
    const want = this.#want(listeners, true);
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
    this.#draining.add(b);
    const left = await b.listener.drain(this.#o.drainTimeoutMs);
    b.listener.close();
    this.#draining.delete(b);
    this.all.splice(this.all.indexOf(b.listener), 1);
    this.#o.logger.info({ listener: name, unfinished: left }, 'listener closed');
  }
}

/** Binds host:port for a moment: undefined when it can be bound, else why not. */
function canBind(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE' ? 'the port is taken by another process (EADDRINUSE)' : e.code === 'EADDRNOTAVAIL' ? 'the address is not one of this host\'s (EADDRNOTAVAIL)' : e.code === 'EACCES' ? 'not permitted (EACCES: a port below 1024 needs CAP_NET_BIND_SERVICE)' : e.message));
    s.listen(port, host, () => s.close(() => resolve(undefined)));
  });
}

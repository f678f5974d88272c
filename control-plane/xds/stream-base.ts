/**
 * What SotW and delta streams share: node identification on the first request, the snapshot
 * watch, make-before-break push order, coalescing for slow consumers, the server-wide push
 * throttle, and status bookkeeping. Responses are pre-encoded bytes (wire.ts).
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from '../../common/log.js';
import { NODE_META, PUSH_ORDER, TYPE_URL, type TypeUrl } from '../../common/xds-types.js';
import type { Node } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { SnapshotCache } from './cache.js';
import { nodeInfoFromProto, type NodeInfo } from './node.js';
import type { Snapshot } from './snapshot.js';
import type { PushThrottle } from './push-throttle.js';
import { StreamStatus, type XdsCounters } from './status.js';

export interface StreamCallbacks {
  /**
   * A stream identified its node (first request) and passed `authorize`. The control plane sets
   * the snapshot now, or returns `{ error }` to refuse the stream (it ends PERMISSION_DENIED, and
   * no other callback is called for it). `node` is the same object in every callback of a stream.
   */
  onStreamOpen?(node: NodeInfo): { error: string } | void;
  /** `leaving`: the proxy said it was draining (no grace period for its instance). */
  onStreamClose?(node: NodeInfo, leaving: boolean): void;
  /** The proxy re-sent its node with WEFT_DRAINING: true (it is shutting down). */
  onDraining?(node: NodeInfo): void;
  onAck?(node: NodeInfo, typeUrl: TypeUrl, version: string): void;
  onNack?(node: NodeInfo, typeUrl: TypeUrl, nonce: string, message: string): void;
  /**
   * Who may open this stream, checked on its first request: returns the verified peer identity
   * (SPIFFE ID, or undefined on plaintext) or an error message (the stream ends PERMISSION_DENIED).
   */
  authorize?(node: NodeInfo, call: { getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null }): { peerId?: string } | { error: string };
}

export interface StreamContext {
  cache: SnapshotCache;
  callbacks: StreamCallbacks;
  counters: XdsCounters;
  logger: Logger;
  streams: Set<StreamStatus>;
  /** Shared by every stream of the server: bounds the response bytes queued at once. */
  throttle: PushThrottle;
}

export const KNOWN_TYPES: ReadonlySet<string> = new Set(Object.values(TYPE_URL));
/** Types for which an empty first subscription means "everything" (xDS wildcard). */
export const WILDCARD_TYPES: ReadonlySet<string> = new Set([TYPE_URL.listener, TYPE_URL.cluster]);

let nonceSeq = 0;
export function nextNonce(): string {
  return (++nonceSeq).toString(36);
}

/**
 * One ADS stream. Nothing is written directly: a new snapshot or a request that needs an answer
 * marks the stream pending and asks the push throttle for a turn; the turn (`#flush`) compares
 * the latest snapshot with what the client holds and writes what differs, so a stream that waits
 * holds no encoded bytes and several snapshots in a row cost one push.
 */
export abstract class AdsStream<Req> {
  protected node: NodeInfo | undefined;
  protected status: StreamStatus | undefined;
  protected snapshot: Snapshot | undefined;
  #unwatch: (() => void) | undefined;
  /** The transport's buffer is over its high-water mark: no new turn until 'drain'. */
  #blocked = false;
  #closed = false;
  #leaving = false;
  /** The snapshot changed since the last turn: every subscribed type is compared. */
  #pendingAll = false;
  /** Types owing an answer to a request; `true`: answer even if nothing changed. */
  readonly #owed = new Map<TypeUrl, boolean>();
  /** Waiting in the throttle's queue (or running). */
  #scheduled = false;
  readonly #turn = () => {
    this.#scheduled = false;
    try {
      this.#flush();
    } catch (e) {
      this.ctx.logger.warn({ err: e, node: this.node?.id }, 'xDS push failed; closing stream');
      this.#endWith(13, `xDS push failed: ${(e as Error).message}`); // INTERNAL, so the client sees why
    }
  };
  /** Throttle charges of this stream's writes the transport has not taken yet. */
  readonly #charges = new Set<() => void>();

  constructor(
    protected readonly ctx: StreamContext,
    protected readonly call: ServerDuplexStream<Req, Buffer>,
    protected readonly kind: 'sotw' | 'delta',
  ) {
    call.on('data', (req: Req) => {
      try {
        this.#onRequest(req);
      } catch (e) {
        ctx.logger.warn({ err: e, node: this.node?.id }, 'xDS request failed; closing stream');
        this.#endWith(13, `xDS request failed: ${(e as Error).message}`); // INTERNAL, so the client sees why
      }
    });
    call.on('end', () => {
      this.#close();
      call.end();
    });
    call.on('error', () => this.#close());
    call.on('close', () => this.#close());
    call.on('drain', () => {
      this.#blocked = false;
      this.#schedule();
    });
  }

  protected abstract nodeOf(req: Req): Node | undefined;
  protected abstract handle(req: Req): void;
  /** Sends what changed for one type; `force` answers even when nothing changed. */
  protected abstract respond(typeUrl: TypeUrl, force: boolean, removalPass?: 'keep-stale' | 'final'): void;
  protected abstract subscribedTypes(): TypeUrl[];
  /**
   * The snapshot's own string for a resource name the client sent, when it has one. Every proxy
   * of a service subscribes to the same names; without this each stream would keep its own copies
   * of them (about 4.5 MiB for 1,000 proxies x 100 endpoint names).
   */
  protected canonicalName(t: TypeUrl, name: string): string {
    return this.snapshot?.get(t).get(name)?.name ?? name;
  }

  /** Clusters the client holds that the new snapshot no longer has (make-before-break). */
  protected abstract staleClusters(): boolean;

  #onRequest(req: Req): void {
    if (this.#closed) return;
    if (!this.node) {
      const n = this.nodeOf(req);
      if (!n || !n.id) {
        this.#endWith(3, 'the first xDS request must carry node.id'); // INVALID_ARGUMENT
        return;
      }
      let node = nodeInfoFromProto(n);
      const auth = this.ctx.callbacks.authorize?.(node, this.call as never);
      if (auth && 'error' in auth) {
        this.#refuse(node, auth.error);
        return;
      }
      if (auth?.peerId) node = { ...node, peerId: auth.peerId };
      const opened = this.ctx.callbacks.onStreamOpen?.(node);
      if (opened && 'error' in opened) {
        this.#refuse(node, opened.error);
        return;
      }
      this.node = node;
      this.status = new StreamStatus(this.node, this.kind, this.ctx.counters);
      this.ctx.streams.add(this.status);
      this.ctx.counters.connectedStreams++;
      this.ctx.logger.debug({ node: this.node.id, kind: this.kind }, 'xDS stream opened');
      this.#unwatch = this.ctx.cache.watch(this.node.id, (s) => {
        this.snapshot = s;
        this.#pendingAll = true;
        this.#schedule();
      });
      this.snapshot = this.ctx.cache.getSnapshot(this.node.id);
    } else if (!this.#leaving && this.nodeOf(req)?.metadata?.[NODE_META.draining] === true) {
      // xDS allows the node on any request; a draining sidecar re-sends it with WEFT_DRAINING.
      this.#leaving = true;
      this.ctx.logger.info({ node: this.node.id }, 'proxy is draining; its instance leaves the registry');
      this.ctx.callbacks.onDraining?.(this.node);
    }
    this.handle(req);
  }

  /** Ends a stream that may not open: PERMISSION_DENIED naming why, and a log line. */
  #refuse(node: NodeInfo, why: string): void {
    this.#closed = true; // nothing to release: a refused stream never opened
    this.ctx.logger.warn({ node: node.id, service: node.service, namespace: node.namespace, peer: node.peerId, why }, 'xDS stream refused');
    this.#endWith(7, why); // PERMISSION_DENIED
  }

  /**
   * Ends the call with a gRPC status. grpc-js turns an 'error' event on a server stream into its
   * status (code, details); `destroy(err)` would drop the status and leave the client waiting.
   */
  #endWith(code: number, details: string): void {
    this.call.emit('error', Object.assign(new Error(details), { code, details }));
  }

  /** A request needs an answer for type `t` (`force`: even if nothing changed); sent on the next turn. */
  protected answer(t: TypeUrl, force: boolean): void {
    this.#owed.set(t, force || (this.#owed.get(t) ?? false));
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed || this.#scheduled || this.#blocked) return;
    if (!this.#pendingAll && this.#owed.size === 0) return;
    this.#scheduled = true;
    this.ctx.throttle.schedule(this.#turn);
  }

  /** One turn: what changed (every subscribed type after a new snapshot), in make-before-break order. */
  #flush(): void {
    if (this.#closed || !this.snapshot) return;
    const all = this.#pendingAll;
    const owed = new Map(this.#owed);
    this.#pendingAll = false;
    this.#owed.clear();
    const subscribed = new Set(this.subscribedTypes());
    const removing = all && subscribed.has(TYPE_URL.cluster) && this.staleClusters();
    for (const t of PUSH_ORDER) {
      if (!subscribed.has(t) || (!all && !owed.has(t))) continue;
      this.respond(t, owed.get(t) ?? false, t === TYPE_URL.cluster && removing ? 'keep-stale' : undefined);
    }
    if (removing) this.respond(TYPE_URL.cluster, false, 'final');
  }

  /**
   * ACK/NACK accounting for a request that echoes a nonce. Returns false for a stale nonce (not
   * the latest sent for the type): such a request crossed a newer response and is ignored.
   */
  protected acknowledge(t: TypeUrl, nonce: string, errorMessage: string | undefined): boolean {
    const status = this.status!;
    if (!status.isCurrent(t, nonce)) return false;
    if (errorMessage !== undefined) {
      if (status.nack(t, nonce, errorMessage)) {
        this.ctx.logger.warn({ node: this.node!.id, typeUrl: t, stream: this.kind, error: errorMessage }, 'xDS NACK');
        this.ctx.callbacks.onNack?.(this.node!, t, nonce, errorMessage);
      }
    } else {
      status.ack(t);
      this.ctx.callbacks.onAck?.(this.node!, t, status.types.get(t)?.sentVersion ?? '');
    }
    return true;
  }

  /** Writes one encoded response, charged to the push throttle until the transport has taken it. */
  protected write(res: Buffer): void {
    const release = this.ctx.throttle.charge(res.length);
    this.#charges.add(release);
    const taken = () => {
      this.#charges.delete(release);
      release();
    };
    if (!this.call.write(res, taken)) this.#blocked = true;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch?.();
    this.ctx.throttle.cancel(this.#turn);
    // grpc-js drops writes on a cancelled call without calling back: give their bytes back here.
    for (const release of this.#charges) release();
    this.#charges.clear();
    if (this.status) {
      this.ctx.streams.delete(this.status);
      this.ctx.counters.connectedStreams--;
    }
    if (this.node) {
      this.ctx.logger.debug({ node: this.node.id }, 'xDS stream closed');
      this.ctx.callbacks.onStreamClose?.(this.node, this.#leaving);
    }
  }
}

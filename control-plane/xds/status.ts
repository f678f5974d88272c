/**
 * Per-stream, per-type sync status: what was sent, what was ACKed, what was NACKed and why.
 * SYNCED = the last response sent was ACKed; STALE = a response is awaiting its ACK; NACKED = the
 * last response was rejected (the proxy keeps its previous config; the message says why).
 */
import { KIND_BY_TYPE_URL, type ResourceKind, type TypeUrl } from '../../common/xds-types.js';
import type { ProxyStatusJson, TypeStatusJson } from '../admin/proxy-status.js';
import type { NodeInfo } from './node.js';

export interface TypeStatus {
  sentVersion?: string;
  sentNonce?: string;
  ackedVersion?: string;
  nackedVersion?: string;
  nackMessage?: string;
  /** Nonces already counted as NACKed (NACKs are counted once per nonce). */
  lastNackNonce?: string;
  /** performance.now() when the latest response was sent (push → ACK latency). */
  sentAt?: number;
  state: TypeStatusJson['state'];
}

export interface XdsCounters {
  connectedStreams: number;
  pushes: number;
  acks: number;
  nacks: number;
  /** The same per resource kind (cluster, listener, ...). */
  byKind: Map<string, { pushes: number; acks: number; nacks: number }>;
  /** Seconds from sending a response to its ACK or NACK. */
  onReply?: (kind: string, result: 'ack' | 'nack', seconds: number) => void;
}

function kindCounters(c: XdsCounters, t: TypeUrl): { pushes: number; acks: number; nacks: number } {
  const k = KIND_BY_TYPE_URL.get(t) ?? t;
  let v = c.byKind.get(k);
  if (!v) c.byKind.set(k, (v = { pushes: 0, acks: 0, nacks: 0 }));
  return v;
}

export class StreamStatus {
  readonly types = new Map<TypeUrl, TypeStatus>();
  readonly connectedAt = new Date();

  constructor(
    readonly node: NodeInfo,
    readonly kind: 'sotw' | 'delta',
    readonly counters: XdsCounters,
  ) {}

  #get(t: TypeUrl): TypeStatus {
    let s = this.types.get(t);
    if (!s) this.types.set(t, (s = { state: 'STALE' }));
    return s;
  }

  sent(t: TypeUrl, version: string, nonce: string): void {
    const s = this.#get(t);
    s.sentVersion = version;
    s.sentNonce = nonce;
    s.state = 'STALE';
    s.sentAt = performance.now();
    this.counters.pushes++;
    kindCounters(this.counters, t).pushes++;
  }

  /** Returns false when the nonce is not the latest sent for this type (a stale request). */
  isCurrent(t: TypeUrl, nonce: string): boolean {
    return this.types.get(t)?.sentNonce === nonce;
  }

  ack(t: TypeUrl): void {
    const s = this.#get(t);
    s.ackedVersion = s.sentVersion;
    s.state = 'SYNCED';
    this.counters.acks++;
    kindCounters(this.counters, t).acks++;
    this.#replied(t, s, 'ack');
  }

  /** Records a NACK; returns true the first time this nonce is NACKed. */
  nack(t: TypeUrl, nonce: string, message: string): boolean {
    const s = this.#get(t);
    if (s.lastNackNonce === nonce) return false;
    s.lastNackNonce = nonce;
    s.nackedVersion = s.sentVersion;
    s.nackMessage = message;
    s.state = 'NACKED';
    this.counters.nacks++;
    kindCounters(this.counters, t).nacks++;
    this.#replied(t, s, 'nack');
    return true;
  }

  #replied(t: TypeUrl, s: TypeStatus, result: 'ack' | 'nack'): void {
    if (s.sentAt === undefined) return;
    this.counters.onReply?.(KIND_BY_TYPE_URL.get(t) ?? t, result, (performance.now() - s.sentAt) / 1000);
    s.sentAt = undefined;
  }

  toJSON(): ProxyStatusJson {
    const types: Partial<Record<ResourceKind, TypeStatusJson>> = {};
    for (const [t, s] of this.types) {
      const k = KIND_BY_TYPE_URL.get(t);
      if (!k) continue;
      const j: TypeStatusJson = { state: s.state };
      if (s.sentVersion !== undefined) j.sentVersion = s.sentVersion;
      if (s.ackedVersion !== undefined) j.ackedVersion = s.ackedVersion;
      if (s.state === 'NACKED') {
        j.nackedVersion = s.nackedVersion;
        j.nackMessage = s.nackMessage;
      }
      types[k] = j;
    }
    const out: ProxyStatusJson = {
      nodeId: this.node.id,
      role: this.node.role,
      namespace: this.node.namespace,
      userAgent: this.node.userAgent,
      stream: this.kind,
      connectedAt: this.connectedAt.toISOString(),
      types,
    };
    if (this.node.service) out.service = this.node.service;
    return out;
  }
}

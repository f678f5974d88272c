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
  state: TypeStatusJson['state'];
}

export interface XdsCounters {
  connectedStreams: number;
  pushes: number;
  acks: number;
  nacks: number;
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
    this.counters.pushes++;
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
    return true;
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

/**
 * Incremental ADS (DeltaAggregatedResources). Per type the stream tracks what the client holds
 * (name -> version, seeded from initial_resource_versions) and sends only what differs: changed
 * resources with their versions, and removed_resources for subscribed resources that are gone.
 */
import { TYPE_URL, type TypeUrl } from '../../common/xds-types.js';
import type { DeltaDiscoveryRequest } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import type { Node } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import type { Resource } from './snapshot.js';
import { encodeDeltaResponse } from './wire.js';
import { AdsStream, KNOWN_TYPES, WILDCARD_TYPES, nextNonce } from './stream-base.js';

interface Subscription {
  wildcard: boolean;
  names: Set<string>;
  /** What the client holds: name -> version. */
  known: Map<string, string>;
}

/** Responses are pre-encoded bytes (see wire.ts); the gRPC serializer passes them through. */
export class DeltaStream extends AdsStream<DeltaDiscoveryRequest> {
  readonly #subs = new Map<TypeUrl, Subscription>();

  protected nodeOf(req: DeltaDiscoveryRequest): Node | undefined {
    return req.node;
  }

  protected subscribedTypes(): TypeUrl[] {
    return [...this.#subs.keys()];
  }

  protected handle(req: DeltaDiscoveryRequest): void {
    const t = req.typeUrl as TypeUrl;
    if (!KNOWN_TYPES.has(t)) return;
    let sub = this.#subs.get(t);
    const first = !sub;
    if (!sub) {
      sub = { wildcard: false, names: new Set(), known: new Map() };
      for (const [n, v] of Object.entries(req.initialResourceVersions)) sub.known.set(this.canonicalName(t, n), v);
      this.#subs.set(t, sub);
    }
    // A stale nonce only skips ACK accounting: delta subscription changes still apply.
    if (req.responseNonce) this.acknowledge(t, req.responseNonce, req.errorDetail?.message);
    for (const n of req.resourceNamesSubscribe) {
      if (n === '*') sub.wildcard = true;
      else sub.names.add(this.canonicalName(t, n));
    }
    for (const n of req.resourceNamesUnsubscribe) {
      if (n === '*') sub.wildcard = false;
      else {
        sub.names.delete(n);
        sub.known.delete(n);
      }
    }
    if (first && req.resourceNamesSubscribe.length === 0 && WILDCARD_TYPES.has(t)) sub.wildcard = true;
    const subsChanged = req.resourceNamesSubscribe.length > 0 || req.resourceNamesUnsubscribe.length > 0;
    // The first request of a type is always answered (possibly empty) so the client's initial fetch ends.
    if (first || subsChanged) this.answer(t, first);
  }

  protected staleClusters(): boolean {
    const sub = this.#subs.get(TYPE_URL.cluster);
    const now = this.snapshot?.get(TYPE_URL.cluster);
    if (!sub || !now) return false;
    for (const name of sub.known.keys()) if (!now.has(name) && (sub.wildcard || sub.names.has(name))) return true;
    return false;
  }

  protected respond(t: TypeUrl, force: boolean, pass?: 'keep-stale' | 'final'): void {
    const snap = this.snapshot;
    const sub = this.#subs.get(t);
    if (!snap || !sub) return;
    const set = snap.get(t);
    const wants = (name: string) => sub.wildcard || sub.names.has(name);
    const updated: Resource[] = [];
    const removed: string[] = [];
    const consider = (r: Resource) => {
      if (sub.known.get(r.name) !== r.version) updated.push(r);
    };
    if (sub.wildcard) for (const r of set.values()) consider(r);
    else
      for (const n of sub.names) {
        const r = set.get(n);
        if (r) consider(r);
      }
    if (pass !== 'keep-stale') {
      for (const name of sub.known.keys()) if (!set.has(name) && wants(name)) removed.push(name);
    }
    if (!force && updated.length === 0 && removed.length === 0) return;
    const nonce = nextNonce();
    const version = snap.versions.get(t)!;
    this.write(encodeDeltaResponse(updated, removed, version, t, nonce));
    for (const r of updated) sub.known.set(r.name, r.version);
    for (const n of removed) sub.known.delete(n);
    this.status!.sent(t, version, nonce);
  }
}

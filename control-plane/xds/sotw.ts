/**
 * State-of-the-world ADS (StreamAggregatedResources). Per type: the subscription (wildcard or
 * names), what was last sent, and ACK/NACK by the book: a request echoing the latest nonce is an
 * ACK unless it carries error_detail (a NACK, counted once per nonce, never answered by resending
 * the same version). LDS and CDS responses hold the full set, so an omitted resource is deleted.
 */
import { TYPE_URL, type TypeUrl } from '../../common/xds-types.js';
import type { DiscoveryRequest } from '../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { encodeSotwResponse, encodedResources } from './wire.js';
import type { Node } from '../../proto/gen/envoy/config/core/v3/base_pb.js';
import { versionOf, type Resource } from './snapshot.js';
import { AdsStream, KNOWN_TYPES, WILDCARD_TYPES, nextNonce } from './stream-base.js';

interface Subscription {
  wildcard: boolean;
  names: Set<string>;
  /** Resources in the last response, by name (the snapshot's own set when it was the whole set). */
  sent: ReadonlyMap<string, Resource>;
  sentVersion?: string;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** Responses are pre-encoded bytes (see wire.ts); the gRPC serializer passes them through. */
export class SotwStream extends AdsStream<DiscoveryRequest> {
  readonly #subs = new Map<TypeUrl, Subscription>();

  protected nodeOf(req: DiscoveryRequest): Node | undefined {
    return req.node;
  }

  protected subscribedTypes(): TypeUrl[] {
    return [...this.#subs.keys()];
  }

  protected handle(req: DiscoveryRequest): void {
    const t = req.typeUrl as TypeUrl;
    if (!KNOWN_TYPES.has(t)) {
      this.ctx.logger.debug({ node: this.node?.id, typeUrl: req.typeUrl }, 'ignoring request for an unknown type');
      return;
    }
    let sub = this.#subs.get(t);
    const first = !sub;
    if (req.responseNonce && !this.acknowledge(t, req.responseNonce, req.errorDetail?.message)) return;
    const names = new Set<string>();
    for (const n of req.resourceNames) names.add(this.canonicalName(t, n));
    const wildcard = names.delete('*') || (names.size === 0 && WILDCARD_TYPES.has(t) && (first || sub!.wildcard));
    if (!sub) this.#subs.set(t, (sub = { wildcard, names, sent: new Map() }));
    const changed = first || wildcard !== sub.wildcard || !sameSet(names, sub.names);
    sub.wildcard = wildcard;
    if (changed) sub.names = names; // an ACK repeats the names: keep the set already held
    // A new or changed subscription, or a request without a nonce (a fresh ask), gets an answer now.
    if (changed || !req.responseNonce) this.answer(t, true);
  }

  protected staleClusters(): boolean {
    const sub = this.#subs.get(TYPE_URL.cluster);
    const now = this.snapshot?.get(TYPE_URL.cluster);
    if (!sub || !now) return false;
    for (const name of sub.sent.keys()) if (!now.has(name)) return true;
    return false;
  }

  protected respond(t: TypeUrl, force: boolean, pass?: 'keep-stale' | 'final'): void {
    const snap = this.snapshot;
    const sub = this.#subs.get(t);
    if (!snap || !sub) return;
    const set = snap.get(t);
    let resources: Resource[];
    if (sub.wildcard) resources = [...set.values()];
    else {
      resources = [];
      for (const n of sub.names) {
        const r = set.get(n);
        if (r) resources.push(r);
      }
    }
    if (pass === 'keep-stale') {
      for (const [name, r] of sub.sent) if (!set.has(name)) resources.push(r);
    }
    // Names are unique, so as many resources as the set holds, all taken from it, is the whole set
    // (what a sidecar asking for every endpoint gets): its version and encoding are shared.
    const whole = pass !== 'keep-stale' && (sub.wildcard || resources.length === set.size);
    const version = whole ? snap.versions.get(t)! : versionOf(resources);
    if (!force && version === sub.sentVersion) return;
    const nonce = nextNonce();
    const shared = whole ? set : undefined;
    this.write(encodeSotwResponse(encodedResources(resources, shared && { set: shared, typeUrl: t, version }), version, t, nonce));
    sub.sent = shared ?? new Map(resources.map((r) => [r.name, r]));
    sub.sentVersion = version;
    this.status!.sent(t, version, nonce);
  }
}

/**
 * The live registry of service instances that registered through xDS. An instance joins when a
 * stream from its proxy opens with Weft registration metadata, and leaves a grace period after its
 * last stream closes (so a control-plane blip or a proxy reconnect does not empty a service).
 *
 * An instance is bound to the identity that registered it (the SPIFFE ID of the stream's verified
 * workload certificate, `NodeInfo.peerId`). Under its key (node id, or WEFT_INSTANCE) only streams
 * of that same identity may join it, keep it alive, drain it or change its endpoint: a stream of
 * another identity, or an unauthenticated one, is refused for as long as the instance exists
 * (grace period included). Unauthenticated streams (plaintext xDS) register nothing unless the
 * registry is built with `unauthenticated: 'register'`; such an instance has no owner, and the
 * first authenticated stream that claims its key takes it over.
 */
import { instanceKey, type NodeInfo } from '../xds/node.js';
import type { RegisteredEndpoint, RegistryView } from './types.js';

/** `namespace/service`. */
export type ServiceRef = string;

interface Instance {
  endpoint: RegisteredEndpoint;
  service: ServiceRef;
  /** SPIFFE ID that registered it; undefined: unauthenticated (opt-in), or restored without one. */
  owner: string | undefined;
  /** The open streams holding it, each by its NodeInfo object (one object per stream). */
  streams: Set<NodeInfo>;
  leaveTimer?: NodeJS.Timeout;
}

export type RegistryListener = (changed: ReadonlySet<ServiceRef>) => void;

/** What became of a stream's registration metadata (`Registry.streamOpened`). */
export type Registration =
  /** The node names no instance (no WEFT_SERVICE, WEFT_INSTANCE_IP, WEFT_INSTANCE_PORT). */
  | { readonly kind: 'none' }
  /** The stream holds the instance `key` (new, joined, or `tookOver` from an unowned one). */
  | { readonly kind: 'registered'; readonly key: string; readonly tookOver?: boolean }
  /** Unauthenticated, and the registry takes no unauthenticated registrations: config only. */
  | { readonly kind: 'ignored'; readonly key: string; readonly reason: string }
  /** The key is held by another identity: the stream must be refused. */
  | { readonly kind: 'refused'; readonly key: string; readonly reason: string };

export interface RegistryOptions {
  /**
   * What unauthenticated streams (no verified peer identity: plaintext xDS) do with registration
   * metadata: 'ignore' (default) registers nothing; 'register' registers an instance no identity
   * owns (`weft control-plane --xds-plaintext-register`).
   */
  unauthenticated?: 'ignore' | 'register';
}

const NO_ENDPOINTS: readonly RegisteredEndpoint[] = Object.freeze([]);
const NONE: Registration = Object.freeze({ kind: 'none' });

/** How a refusal names a stream's identity. */
export function describeIdentity(peerId: string | undefined): string {
  return peerId ?? 'unauthenticated (plaintext xDS)';
}

export class Registry implements RegistryView {
  readonly #graceMs: number;
  readonly #registerUnauthenticated: boolean;
  readonly #instances = new Map<string, Instance>();
  #byService = new Map<ServiceRef, RegisteredEndpoint[]>();
  #revision = 0;
  readonly #listeners: RegistryListener[] = [];

  /** @param graceMs how long an instance stays after its last stream closed (default 10 s). */
  constructor(graceMs = 10_000, opts: RegistryOptions = {}) {
    this.#graceMs = graceMs;
    this.#registerUnauthenticated = opts.unauthenticated === 'register';
  }

  get revision(): number {
    return this.#revision;
  }

  endpoints(namespace: string, service: string): readonly RegisteredEndpoint[] {
    // The same array while the service's instances are unchanged (the translator's cache relies on it).
    return this.#byService.get(`${namespace}/${service}`) ?? NO_ENDPOINTS;
  }

  /** Every registered instance, for display and for saving (`owner`: see Registration). */
  list(): Array<{ service: ServiceRef; endpoint: RegisteredEndpoint; owner?: string; streams: number }> {
    return [...this.#instances.values()].map((i) => ({ service: i.service, endpoint: i.endpoint, ...(i.owner ? { owner: i.owner } : {}), streams: i.streams.size }));
  }

  /**
   * Brings back instances saved before a restart. Each gets the grace period to reconnect, so a
   * control-plane restart does not empty services while their proxies find it again; it stays
   * bound to its saved owner (one saved without an owner is taken over by the first
   * authenticated stream that claims it).
   */
  restore(saved: ReadonlyArray<{ service: ServiceRef; endpoint: RegisteredEndpoint; owner?: string }>): void {
    const changed = new Set<ServiceRef>();
    for (const { service, endpoint, owner } of saved) {
      if (!endpoint.nodeId || this.#instances.has(endpoint.nodeId)) continue;
      const inst: Instance = {
        endpoint: Object.freeze({ ...endpoint, labels: Object.freeze({ ...endpoint.labels }) }),
        service,
        owner: typeof owner === 'string' && owner !== '' ? owner : undefined,
        streams: new Set(),
      };
      inst.leaveTimer = setTimeout(() => this.remove(endpoint.nodeId!), this.#graceMs);
      inst.leaveTimer.unref();
      this.#instances.set(endpoint.nodeId, inst);
      changed.add(service);
    }
    if (changed.size) this.#rebuild(changed);
  }

  onChange(listener: RegistryListener): void {
    this.#listeners.push(listener);
  }

  /**
   * A stream opened. Registers the node's instance when its metadata names one and its identity
   * may hold the key (see the file comment). Nothing changes unless the result is 'registered'.
   * `node` is the stream's handle: give streamClosed and drained the very same object.
   *
   * A second stream of the owning identity joins the instance (a proxy whose stream restarts, the
   * workers of one sidecar); if it names another endpoint (the workload came back elsewhere), the
   * newest stream's endpoint is the instance's.
   */
  streamOpened(node: NodeInfo): Registration {
    if (!node.service || !node.instanceIp || !node.instancePort) return NONE;
    const key = instanceKey(node);
    const who = node.peerId;
    const existing = this.#instances.get(key);
    if (existing?.owner !== undefined && existing.owner !== who) {
      return { kind: 'refused', key, reason: `instance ${key} is registered by ${existing.owner}; this stream is ${describeIdentity(who)}` };
    }
    if (who === undefined && !this.#registerUnauthenticated) {
      return { kind: 'ignored', key, reason: 'unauthenticated streams (plaintext xDS) register no instances unless the control plane runs with --xds-plaintext-register' };
    }
    const service = `${node.namespace}/${node.service}`;
    const endpoint: RegisteredEndpoint = Object.freeze({
      address: node.instanceIp,
      port: node.instancePort,
      labels: Object.freeze({ ...node.labels }),
      zone: node.zone,
      weight: 1,
      healthy: true,
      nodeId: key,
      ...(who ? { mtls: true } : {}),
    });
    if (!existing) {
      this.#instances.set(key, { endpoint, service, owner: who, streams: new Set([node]) });
      this.#rebuild(new Set([service]));
      return { kind: 'registered', key };
    }
    clearTimeout(existing.leaveTimer);
    existing.leaveTimer = undefined;
    // An authenticated stream takes over an unowned instance: the unauthenticated streams that
    // held it no longer count (they neither keep it alive nor end it).
    const tookOver = existing.owner !== who;
    if (tookOver) {
      existing.owner = who;
      existing.streams = new Set([node]);
    } else existing.streams.add(node);
    if (existing.service === service && sameEndpoint(existing.endpoint, endpoint)) return { kind: 'registered', key, ...(tookOver ? { tookOver } : {}) };
    const changed = new Set([existing.service, service]);
    existing.endpoint = endpoint;
    existing.service = service;
    this.#rebuild(changed);
    return { kind: 'registered', key, ...(tookOver ? { tookOver } : {}) };
  }

  /**
   * A stream closed. If it held its instance, the instance leaves after the grace period unless
   * a stream reopens, or at once when it is `leaving` (its proxy said goodbye by half-closing the
   * stream). A stream that did not hold the instance (refused, ignored, taken over) changes nothing.
   */
  streamClosed(node: NodeInfo, leaving = false): void {
    const key = instanceKey(node);
    const inst = this.#instances.get(key);
    if (!inst || !inst.streams.delete(node)) return;
    if (inst.streams.size > 0) return;
    if (leaving) {
      this.remove(key);
      return;
    }
    clearTimeout(inst.leaveTimer);
    inst.leaveTimer = setTimeout(() => this.remove(key), this.#graceMs);
    inst.leaveTimer.unref();
  }

  /**
   * The stream's proxy is draining (WEFT_DRAINING): its instance leaves now. Only a stream that
   * holds the instance can drain it.
   */
  drained(node: NodeInfo): void {
    const key = instanceKey(node);
    if (this.#instances.get(key)?.streams.has(node)) this.remove(key);
  }

  /** Marks an instance healthy or not (draining, failed health reports) without removing it. */
  setHealthy(nodeId: string, healthy: boolean): void {
    const inst = this.#instances.get(nodeId);
    if (!inst || inst.endpoint.healthy === healthy) return;
    inst.endpoint = Object.freeze({ ...inst.endpoint, healthy });
    this.#rebuild(new Set([inst.service]));
  }

  /** Removes an instance now (drain complete, or grace period over). */
  remove(nodeId: string): void {
    const inst = this.#instances.get(nodeId);
    if (!inst) return;
    clearTimeout(inst.leaveTimer);
    this.#instances.delete(nodeId);
    this.#rebuild(new Set([inst.service]));
  }

  close(): void {
    for (const i of this.#instances.values()) clearTimeout(i.leaveTimer);
  }

  #rebuild(changed: ReadonlySet<ServiceRef>): void {
    const next = new Map(this.#byService);
    for (const s of changed) next.delete(s);
    for (const i of this.#instances.values()) {
      if (!changed.has(i.service)) continue;
      const list = next.get(i.service) ?? [];
      list.push(i.endpoint);
      next.set(i.service, list);
    }
    for (const [s, list] of next) {
      if (changed.has(s)) list.sort((a, b) => (a.address === b.address ? a.port - b.port : a.address < b.address ? -1 : 1));
    }
    this.#byService = next;
    this.#revision++;
    for (const l of this.#listeners) l(changed);
  }
}

function sameEndpoint(a: RegisteredEndpoint, b: RegisteredEndpoint): boolean {
  return (
    a.address === b.address &&
    a.port === b.port &&
    a.zone === b.zone &&
    a.healthy === b.healthy &&
    a.mtls === b.mtls &&
    JSON.stringify(a.labels) === JSON.stringify(b.labels)
  );
}

/**
 * The live registry of service instances that registered through xDS. An instance joins when a
 * stream from its proxy opens with Weft registration metadata, and leaves a grace period after its
 * last stream closes (so a control-plane blip or a proxy reconnect does not empty a service).
 */
import { instanceKey, type NodeInfo } from '../xds/node.js';
import type { RegisteredEndpoint, RegistryView } from './types.js';

/** `namespace/service`. */
export type ServiceRef = string;

interface Instance {
  endpoint: RegisteredEndpoint;
  service: ServiceRef;
  streams: number;
  leaveTimer?: NodeJS.Timeout;
}

export type RegistryListener = (changed: ReadonlySet<ServiceRef>) => void;

const NO_ENDPOINTS: readonly RegisteredEndpoint[] = Object.freeze([]);

export class Registry implements RegistryView {
  readonly #graceMs: number;
  readonly #instances = new Map<string, Instance>();
  #byService = new Map<ServiceRef, RegisteredEndpoint[]>();
  #revision = 0;
  readonly #listeners: RegistryListener[] = [];

  /** @param graceMs how long an instance stays after its last stream closed (default 10 s). */
  constructor(graceMs = 10_000) {
    this.#graceMs = graceMs;
  }

  get revision(): number {
    return this.#revision;
  }

  endpoints(namespace: string, service: string): readonly RegisteredEndpoint[] {
    // The same array while the service's instances are unchanged (the translator's cache relies on it).
    return this.#byService.get(`${namespace}/${service}`) ?? NO_ENDPOINTS;
  }

  /** Every registered instance, for display. */
  list(): Array<{ service: ServiceRef; endpoint: RegisteredEndpoint; streams: number }> {
    return [...this.#instances.values()].map((i) => ({ service: i.service, endpoint: i.endpoint, streams: i.streams }));
  }

  /**
   * Brings back instances saved before a restart. Each gets the grace period to reconnect, so a
   * control-plane restart does not empty services while their proxies find it again.
   */
  restore(saved: ReadonlyArray<{ service: ServiceRef; endpoint: RegisteredEndpoint }>): void {
    const changed = new Set<ServiceRef>();
    for (const { service, endpoint } of saved) {
      if (!endpoint.nodeId || this.#instances.has(endpoint.nodeId)) continue;
      const inst: Instance = { endpoint: Object.freeze({ ...endpoint, labels: Object.freeze({ ...endpoint.labels }) }), service, streams: 0 };
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

  /** A stream opened. Registers the node's instance when its metadata names one. */
  streamOpened(node: NodeInfo): void {
    if (!node.service || !node.instanceIp || !node.instancePort) return;
    const service = `${node.namespace}/${node.service}`;
    const endpoint: RegisteredEndpoint = Object.freeze({
      address: node.instanceIp,
      port: node.instancePort,
      labels: Object.freeze({ ...node.labels }),
      zone: node.zone,
      weight: 1,
      healthy: true,
      nodeId: instanceKey(node),
      ...(node.peerId ? { mtls: true } : {}),
    });
    const existing = this.#instances.get(instanceKey(node));
    if (existing) {
      clearTimeout(existing.leaveTimer);
      existing.leaveTimer = undefined;
      existing.streams++;
      if (existing.service === service && sameEndpoint(existing.endpoint, endpoint)) return;
      const changed = new Set([existing.service, service]);
      existing.endpoint = endpoint;
      existing.service = service;
      this.#rebuild(changed);
      return;
    }
    this.#instances.set(instanceKey(node), { endpoint, service, streams: 1 });
    this.#rebuild(new Set([service]));
  }

  /**
   * A stream closed. The instance leaves after the grace period unless a stream reopens, or at
   * once when it is `leaving` (its proxy said goodbye by half-closing the stream).
   */
  streamClosed(node: NodeInfo, leaving = false): void {
    const inst = this.#instances.get(instanceKey(node));
    if (!inst) return;
    inst.streams = Math.max(0, inst.streams - 1);
    if (inst.streams > 0) return;
    if (leaving) {
      this.remove(instanceKey(node));
      return;
    }
    clearTimeout(inst.leaveTimer);
    inst.leaveTimer = setTimeout(() => this.remove(instanceKey(node)), this.#graceMs);
    inst.leaveTimer.unref();
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

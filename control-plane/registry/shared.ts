/**
 * The registry shared by control-plane replicas through etcd (issue 22): each replica writes the
 * instances registered through it as keys `<prefix>/registry/<namespace>/<service>/<instance>`
 * attached to its own lease (TTL: the registry grace period, kept alive while the replica lives),
 * and follows every replica's keys with a watch. What translation reads is the union: this
 * replica's own instances, then the others' (an instance registered here wins over the same key
 * held by another replica, which happens while a proxy moves between replicas).
 *
 * A replica that dies stops keeping its lease: after the grace period etcd deletes its keys and
 * every other replica drops those instances, unless their proxies registered again elsewhere (a
 * put by another replica moves the key to that replica's lease).
 */
import type { Etcd3, IWatchResponse, Lease } from 'etcd3';
import { Follower } from '../store/etcd-watch.js';
import type { Logger } from '../../common/log.js';
import { bounded } from '../store/etcd-options.js';
import { guardLease } from '../store/etcd-lease.js';
import { readPrefix } from '../store/etcd-read.js';
import type { Registry, ServiceRef } from './registry.js';
import type { RegisteredEndpoint, RegistryView } from './types.js';

interface Stored {
  replica: string;
  service: ServiceRef;
  endpoint: RegisteredEndpoint;
  owner?: string;
}

const NO_ENDPOINTS: readonly RegisteredEndpoint[] = Object.freeze([]);

export interface SharedRegistryOptions {
  client: Etcd3;
  /** The store's key prefix (`/weft`). */
  prefix: string;
  /** This replica's name (unique among replicas). */
  replica: string;
  /** Lease TTL: how long this replica's instances outlive it. */
  ttlMs: number;
  logger: Logger;
}

export class SharedRegistry implements RegistryView {
  readonly #local: Registry;
  readonly #o: SharedRegistryOptions;
  readonly #dir: string;
  /** Other replicas' instances, by key. */
  readonly #remote = new Map<string, Stored>();
  /** What this replica wrote, by key (JSON), so unchanged instances are not written again. */
  readonly #written = new Map<string, string>();
  #byService = new Map<ServiceRef, readonly RegisteredEndpoint[]>();
  #revision = 0;
  readonly #listeners: Array<(changed: ReadonlySet<ServiceRef>) => void> = [];
  #lease: Lease | undefined;
  #follower: Follower | undefined;
  #closed = false;
  #sync: Promise<void> = Promise.resolve();

  constructor(local: Registry, o: SharedRegistryOptions) {
    this.#local = local;
    this.#o = o;
    this.#dir = `${o.prefix.replace(/\/+$/, '')}/registry/`;
    local.onChange((services) => {
      this.#rebuild(services);
      this.#schedulePublish();
    });
  }

  get revision(): number {
    return this.#revision;
  }

  endpoints(namespace: string, service: string): readonly RegisteredEndpoint[] {
    return this.#byService.get(`${namespace}/${service}`) ?? this.#local.endpoints(namespace, service);
  }

  onChange(listener: (changed: ReadonlySet<ServiceRef>) => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Who holds instance `key` of `service` through another replica (its SPIFFE ID), if anyone with
   * an identity does: a stream of another identity must not take it over here either.
   */
  remoteOwner(service: ServiceRef, key: string): string | undefined {
    return this.#remote.get(`${this.#dir}${service}/${key}`)?.owner;
  }

  /** Instances other replicas registered (for `weft get replicas` and metrics). */
  remoteCount(): number {
    return this.#remote.size;
  }

  /** Takes a lease, writes this replica's instances, reads and then follows every replica's. */
  async start(): Promise<void> {
    this.#newLease();
    const rev = await this.#readAll();
    this.#follower = new Follower({
      client: this.#o.client,
      prefix: this.#dir,
      what: 'registry',
      logger: this.#o.logger,
      onData: (r) => this.#onWatch(r),
      resync: () => this.#readAll(),
    });
    await this.#follower.start(rev);
    if (this.#closed) await this.#follower.close();
    this.#schedulePublish();
  }

  /** Reads every replica's instances (at start, and after a cancelled watch); the revision read at. */
  async #readAll(): Promise<number> {
    const res = await readPrefix(this.#o.client, this.#dir);
    const next = new Map<string, Stored>();
    for (const kv of res.kvs) {
      const s = this.#parse(kv.value.toString('utf8'));
      if (s && s.replica !== this.#o.replica) next.set(kv.key.toString('utf8'), s);
    }
    const changed = new Set<ServiceRef>();
    for (const s of this.#remote.values()) changed.add(s.service);
    for (const s of next.values()) changed.add(s.service);
    this.#remote.clear();
    for (const [k, v] of next) this.#remote.set(k, v);
    this.#rebuild(changed);
    return res.revision;
  }

  #onWatch(r: IWatchResponse): void {
    const touched = new Set<ServiceRef>();
    let rewrite = false;
    for (const ev of r.events) {
      const key = ev.kv.key.toString('utf8');
      const before = this.#remote.get(key);
      // A key this replica still wants, taken by another replica (a worker of the same instance
      // connected there) and then deleted by it: write it again, or the instance would vanish.
      if (ev.type === 'Delete' && this.#written.delete(key)) rewrite = true;
      if (ev.type === 'Put' && this.#written.has(key) && this.#parse(ev.kv.value.toString('utf8'))?.replica !== this.#o.replica) this.#written.delete(key);
      if (ev.type === 'Delete') {
        if (before) {
          this.#remote.delete(key);
          touched.add(before.service);
        }
        continue;
      }
      const s = this.#parse(ev.kv.value.toString('utf8'));
      if (!s) continue;
      if (s.replica === this.#o.replica) {
        // Our own write (or our key taken back): not remote.
        if (before) {
          this.#remote.delete(key);
          touched.add(before.service);
        }
        continue;
      }
      this.#remote.set(key, s);
      touched.add(s.service);
      if (before && before.service !== s.service) touched.add(before.service);
    }
    if (touched.size) this.#rebuild(touched);
    if (rewrite) this.#schedulePublish();
  }

  #parse(text: string): Stored | undefined {
    try {
      const s = JSON.parse(text) as Stored;
      return typeof s.replica === 'string' && typeof s.service === 'string' && s.endpoint && typeof s.endpoint.address === 'string' ? s : undefined;
    } catch {
      return undefined;
    }
  }

  #newLease(): void {
    const ttlSeconds = Math.max(1, Math.ceil(this.#o.ttlMs / 1000));
    const lease = this.#o.client.lease(ttlSeconds);
    this.#lease = lease;
    guardLease(lease, ttlSeconds * 1000);
    lease.on('lost', (e) => {
      if (this.#closed || this.#lease !== lease) return;
      // etcd was away longer than the TTL: our keys are gone; take a new lease and write them again.
      this.#o.logger.warn({ err: { message: e.message } }, 'registry lease lost; registering this replica\'s instances again');
      this.#written.clear();
      this.#newLease();
      this.#schedulePublish();
    });
  }

  /** Writes what changed in this replica's own instances (serialized). */
  #schedulePublish(): void {
    this.#sync = this.#sync.then(() => this.#publish()).catch((e: unknown) => {
      this.#o.logger.warn({ err: { message: (e as Error).message } }, 'registry: could not write instances to etcd (retrying)');
      const t = setTimeout(() => this.#schedulePublish(), 1000);
      t.unref();
    });
  }

  async #publish(): Promise<void> {
    const lease = this.#lease;
    if (this.#closed || !lease) return;
    const want = new Map<string, string>();
    for (const { service, endpoint, owner } of this.#local.list()) {
      if (!endpoint.nodeId) continue;
      want.set(`${this.#dir}${service}/${endpoint.nodeId}`, JSON.stringify({ replica: this.#o.replica, service, endpoint, ...(owner ? { owner } : {}) } satisfies Stored));
    }
    const id = await lease.grant();
    for (const [key, value] of want) {
      if (this.#written.get(key) === value) continue;
      await lease.put(key).value(value).exec();
      this.#written.set(key, value);
    }
    for (const key of [...this.#written.keys()]) {
      if (want.has(key)) continue;
      // Only if the key is still ours: a proxy that moved to another replica is its now.
      await this.#o.client.if(key, 'Lease', '==', id).then(this.#o.client.delete().key(key)).commit();
      this.#written.delete(key);
    }
  }

  #rebuild(services: Iterable<ServiceRef>): void {
    const changed = new Set<ServiceRef>();
    const next = new Map(this.#byService);
    for (const svc of services) {
      const [ns, name] = svc.split('/') as [string, string];
      const local = this.#local.endpoints(ns, name);
      const own = new Set(local.map((e) => e.nodeId));
      const remote = [...this.#remote.values()].filter((s) => s.service === svc && !own.has(s.endpoint.nodeId)).map((s) => Object.freeze({ ...s.endpoint, labels: Object.freeze({ ...s.endpoint.labels }) }));
      next.set(svc, remote.length ? Object.freeze([...local, ...remote]) : local.length ? local : NO_ENDPOINTS);
      changed.add(svc);
    }
    if (!changed.size) return;
    this.#byService = next;
    this.#revision++;
    for (const l of this.#listeners) l(changed);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await bounded(this.#sync);
    // The keys stay until the lease runs out (the grace period): the proxies of a replica that
    // stops get that long to register again through another one, so their endpoints do not flap.
    this.#lease?.release();
    await bounded(this.#follower?.close());
  }
}

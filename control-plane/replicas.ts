/**
 * Control-plane replicas on etcd finding each other, and the one leader (issue 22).
 *
 * Each replica keeps a record `<prefix>/replicas/<name>` on a short lease (5 s): where its xDS and
 * admin ports are, the configuration revision it serves, how many proxies it holds, and how far
 * its proxies are in a root rotation. The record disappears within the lease TTL after the
 * replica dies, so `weft get replicas` lists live replicas only, and the leader sees which ones a
 * rotation step must wait for.
 *
 * Leadership (etcd's election API, `<prefix>/leader`) is for single-writer jobs only: driving a
 * root rotation through its steps, pruning expired join-token records. Serving xDS, applying
 * configuration, signing certificates and registering instances never wait for a leader, so
 * losing it (or etcd's quorum) stops none of them.
 */
import type { Campaign, Election, ElectionObserver, Etcd3, Lease, Watcher } from 'etcd3';
import type { Logger } from '../common/log.js';
import { bounded } from './store/etcd-options.js';

/** What a replica says about itself. */
export interface ReplicaRecord {
  name: string;
  /** host:port of its xDS (TLS) port, as proxies reach it. */
  xds: string;
  /** host:port of its admin API. */
  admin: string;
  startedAt: string;
  /** The configuration revision it serves (the etcd revision of the last commit it adopted). */
  revision: number;
  /** Proxies with an xDS stream to it. */
  proxies: number;
  /** Root rotation progress of its own proxies (see RootRotation). */
  ca: { bundle: string; trustSynced: boolean; renewedFrom: string | null };
}

export interface ReplicaView extends ReplicaRecord {
  leader: boolean;
  /** Serving the newest revision any live replica serves. */
  healthy: boolean;
  self: boolean;
}

export interface ReplicaSetOptions {
  client: Etcd3;
  prefix: string;
  /** This replica's record, read again every `refreshMs` (written only when it changed). */
  self: () => ReplicaRecord;
  logger: Logger;
  ttlSeconds?: number;
  refreshMs?: number;
  /** Jobs to run while this replica leads; each returns its stop function. */
  leaderJobs?: Array<() => () => void>;
  /** Told when leadership is gained or lost. */
  onLeadership?: (leading: boolean) => void;
}

export class ReplicaSet {
  readonly #o: ReplicaSetOptions;
  readonly #dir: string;
  readonly #peers = new Map<string, ReplicaRecord>();
  #lease: Lease | undefined;
  #watcher: Watcher | undefined;
  #election: Election | undefined;
  #campaign: Campaign | undefined;
  #observer: ElectionObserver | undefined;
  #leaderName: string | undefined;
  #leading = false;
  #stops: Array<() => void> = [];
  #written = '';
  #timer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: ReplicaSetOptions) {
    this.#o = o;
    this.#dir = `${o.prefix.replace(/\/+$/, '')}/replicas/`;
  }

  get leading(): boolean {
    return this.#leading;
  }

  get leaderName(): string | undefined {
    return this.#leaderName;
  }

  /** Live replicas (this one included), by name. */
  records(): ReplicaRecord[] {
    const self = this.#o.self();
    const all = new Map(this.#peers);
    all.set(self.name, self);
    return [...all.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Live replicas, with who leads and who lags. */
  list(): ReplicaView[] {
    const records = this.records();
    const newest = Math.max(0, ...records.map((r) => r.revision));
    const self = this.#o.self().name;
    return records.map((r) => ({ ...r, leader: r.name === this.#leaderName, healthy: r.revision === newest, self: r.name === self }));
  }

  /** The other live replicas. */
  others(): ReplicaRecord[] {
    const self = this.#o.self().name;
    return this.records().filter((r) => r.name !== self);
  }

  async start(): Promise<void> {
    const { client } = this.#o;
    this.#newLease();
    await this.#publish();
    const res = await client.getAll().prefix(this.#dir).exec();
    for (const kv of res.kvs) this.#take(kv.key.toString('utf8'), kv.value.toString('utf8'));
    const w = await client.watch().prefix(this.#dir).startRevision(String(Number(res.header.revision) + 1)).create();
    this.#watcher = w;
    w.on('error', () => undefined); // the client resumes the watch by itself
    w.on('data', (r) => {
      for (const ev of r.events) {
        const key = ev.kv.key.toString('utf8');
        if (ev.type === 'Delete') this.#peers.delete(key.slice(this.#dir.length));
        else this.#take(key, ev.kv.value.toString('utf8'));
      }
    });
    this.#timer = setInterval(() => void this.#publish().catch(() => undefined), this.#o.refreshMs ?? 1000);
    this.#timer.unref();
    this.#election = client.election(`${this.#o.prefix.replace(/\/+$/, '')}/leader`, this.#o.ttlSeconds ?? 5);
    this.#campaignNow();
    void this.#observe();
  }

  #take(key: string, text: string): void {
    const name = key.slice(this.#dir.length);
    if (name === this.#o.self().name) return;
    try {
      const r = JSON.parse(text) as ReplicaRecord;
      if (typeof r.name === 'string' && typeof r.revision === 'number') this.#peers.set(name, r);
    } catch {
      // A record another version wrote that this one cannot read: not listed.
    }
  }

  #newLease(): void {
    const lease = this.#o.client.lease(this.#o.ttlSeconds ?? 5);
    this.#lease = lease;
    lease.on('lost', () => {
      if (this.#closed || this.#lease !== lease) return;
      // etcd was away longer than the TTL: the record is gone; take a new lease and write it again.
      this.#written = '';
      this.#newLease();
      void this.#publish().catch(() => undefined);
    });
  }

  async #publish(): Promise<void> {
    const lease = this.#lease;
    if (this.#closed || !lease) return;
    const self = this.#o.self();
    const text = JSON.stringify(self);
    if (text === this.#written) return;
    await lease.put(this.#dir + self.name).value(text).exec();
    this.#written = text;
  }

  #campaignNow(): void {
    if (this.#closed || !this.#election) return;
    const c = this.#election.campaign(this.#o.self().name);
    this.#campaign = c;
    c.on('elected', () => {
      if (this.#campaign !== c || this.#closed) return;
      this.#setLeading(true);
    });
    c.on('error', (e: Error) => {
      if (this.#campaign !== c) return;
      // Leadership lost (lease gone while etcd was away) or the campaign could not start: the
      // jobs stop at once, and this replica stands again when etcd answers.
      this.#setLeading(false);
      this.#o.logger.warn({ err: { message: e.message } }, 'leader election: campaign ended; standing again');
      clearTimeout(this.#retry);
      this.#retry = setTimeout(() => this.#campaignNow(), 1000 + Math.random() * 1000);
      this.#retry.unref();
    });
  }

  async #observe(): Promise<void> {
    if (this.#closed || !this.#election) return;
    try {
      const obs = await this.#election.observe();
      this.#observer = obs;
      this.#leaderName = obs.leader();
      obs.on('change', (v) => (this.#leaderName = v));
      obs.on('error', () => {
        // The observer gave up (etcd away): observe again shortly.
        this.#leaderName = undefined;
        const t = setTimeout(() => void this.#observe(), 1000);
        t.unref();
      });
    } catch {
      const t = setTimeout(() => void this.#observe(), 1000);
      t.unref();
    }
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    if (leading) {
      this.#leaderName = this.#o.self().name;
      this.#o.logger.info({ replica: this.#o.self().name }, 'this replica leads (single-writer jobs run here)');
      this.#stops = (this.#o.leaderJobs ?? []).map((job) => job());
    } else {
      for (const stop of this.#stops.splice(0)) stop();
      this.#o.logger.info({ replica: this.#o.self().name }, 'this replica no longer leads');
    }
    this.#o.onLeadership?.(leading);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    clearTimeout(this.#retry);
    this.#setLeading(false);
    // Resign, so another replica leads now rather than after the lease runs out.
    await bounded(this.#campaign?.resign());
    await bounded(this.#observer?.cancel());
    await bounded(this.#watcher?.cancel());
    // The record goes with the lease: other replicas stop listing this one at once.
    await bounded(this.#lease?.revoke());
  }
}

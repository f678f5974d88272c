/**
 * Control-plane replicas on etcd finding each other, and the one leader (issue 22).
 *
 * Each replica keeps a record `<prefix>/replicas/<name>` on a short lease (5 s): where its xDS and
 * admin ports are, the configuration revision it serves, how many proxies it holds, and how far
 * its proxies are in a root rotation. The record disappears within the lease TTL after the
 * replica dies, so `weft get replicas` lists live replicas only, and the leader sees which ones a
 * rotation step must wait for.
 *
 * Leadership is for single-writer jobs only: driving a root rotation through its steps, pruning
 * expired join-token records. Serving xDS, applying configuration, signing certificates and
 * registering instances never wait for a leader, so losing it (or etcd's quorum) stops none of
 * them. The election is etcd's recipe (as in its Go client's concurrency package): each replica
 * holds a key `<prefix>/leader/<name>` on its lease, and the one whose key was created first
 * leads; every replica recomputes that from the keys themselves on each change it watches. (The
 * etcd3 package's own Election was not used: it waits only on the key just before its own, so
 * two replicas can both believe they lead: microsoft/etcd3#176, #158.) Two leaders for a moment
 * (a partitioned one that has not yet seen its lease expire) do no harm: every job's writes are
 * conditional (a rotation step lands only on the state it read) or idempotent (pruning).
 */
import type { Etcd3, Lease } from 'etcd3';
import { Follower } from './store/etcd-watch.js';
import type { Logger } from '../common/log.js';
import { bounded } from './store/etcd-options.js';
import { guardLease } from './store/etcd-lease.js';

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
  #watcher: Follower | undefined;
  #electionWatcher: Follower | undefined;
  readonly #electionDir: string;
  #leaderName: string | undefined;
  /** Recomputations of the leader started; only the latest one's answer is taken. */
  #electionSeq = 0;
  #candidate = '';
  #leading = false;
  #stops: Array<() => void> = [];
  #written = '';
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: ReplicaSetOptions) {
    this.#o = o;
    this.#dir = `${o.prefix.replace(/\/+$/, '')}/replicas/`;
    this.#electionDir = `${o.prefix.replace(/\/+$/, '')}/leader/`;
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
    // Two live replicas with one name would share a record and a candidacy (both would lead).
    // A record left by this replica's previous life (kill -9, restart) goes with its lease.
    const mine = this.#dir + this.#o.self().name;
    const ttl = this.#o.ttlSeconds ?? 5;
    for (const end = Date.now() + 2 * ttl * 1000 + 1000; (await client.get(mine).exec()).kvs.length; ) {
      if (Date.now() > end) throw new Error(`a live control-plane replica is already named '${this.#o.self().name}' (its record ${mine} outlived its lease): give each replica its own --replica-name`);
      await new Promise((r) => setTimeout(r, 250));
    }
    this.#newLease();
    await this.#publish();
    const readAll = async () => {
      const res = await client.getAll().prefix(this.#dir).exec();
      this.#peers.clear();
      for (const kv of res.kvs) this.#take(kv.key.toString('utf8'), kv.value.toString('utf8'));
      return Number(res.header.revision);
    };
    this.#watcher = new Follower({
      client,
      prefix: this.#dir,
      what: 'replicas',
      logger: this.#o.logger,
      resync: readAll,
      onData: (r) => {
        for (const ev of r.events) {
          const key = ev.kv.key.toString('utf8');
          if (ev.type === 'Delete') this.#peers.delete(key.slice(this.#dir.length));
          else this.#take(key, ev.kv.value.toString('utf8'));
        }
      },
    });
    await this.#watcher.start(await readAll());
    this.#electionWatcher = new Follower({
      client,
      prefix: this.#electionDir,
      what: 'leader election',
      logger: this.#o.logger,
      onData: () => void this.#elect(),
      resync: async () => (await this.#elect(), undefined),
    });
    await this.#electionWatcher.start();
    await this.#stand();
    this.#timer = setInterval(() => {
      void this.#publish().catch(() => undefined);
      // A candidacy lost with a lease and not yet put back (etcd was failing): stand again.
      if (this.#candidate === '') void this.#stand().catch(() => undefined);
      // Also on a timer: a change missed while etcd was away is seen within a period.
      void this.#elect();
    }, this.#o.refreshMs ?? 1000);
    this.#timer.unref();
  }

  /** Puts this replica's candidacy key on its lease (again after the lease was lost). */
  async #stand(): Promise<void> {
    const lease = this.#lease;
    if (this.#closed || !lease) return;
    const key = this.#electionDir + this.#o.self().name;
    await lease.put(key).value(this.#o.self().name).exec();
    this.#candidate = key;
    await this.#elect();
  }

  /** Who leads: the candidacy key created first. */
  async #elect(): Promise<void> {
    if (this.#closed) return;
    const seq = ++this.#electionSeq;
    let first;
    try {
      first = (await this.#o.client.getAll().prefix(this.#electionDir).sort('Create', 'Ascend').limit(1).exec()).kvs[0];
    } catch {
      return; // etcd away: leadership stays as it was until the lease says otherwise
    }
    if (seq !== this.#electionSeq || this.#closed) return;
    this.#leaderName = first?.value.toString('utf8');
    this.#setLeading(first !== undefined && this.#candidate !== '' && first.key.toString('utf8') === this.#candidate);
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
    const ttlSeconds = this.#o.ttlSeconds ?? 5;
    const lease = this.#o.client.lease(ttlSeconds);
    this.#lease = lease;
    guardLease(lease, ttlSeconds * 1000);
    lease.on('lost', (e) => {
      if (this.#closed || this.#lease !== lease) return;
      this.#o.logger.warn({ err: { message: e.message } }, 'replica lease lost; writing this replica\'s record and candidacy again');
      // etcd was away longer than the TTL: the record and the candidacy are gone (another
      // replica may lead now): stop leading, take a new lease, write both again.
      this.#candidate = '';
      this.#setLeading(false);
      this.#written = '';
      // Not at once: while etcd fails, a new lease fails too, and a tight loop would follow.
      const t = setTimeout(() => {
        if (this.#closed) return;
        this.#newLease();
        void this.#publish()
          .then(() => this.#stand())
          .catch(() => undefined);
      }, 1000);
      t.unref();
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
    this.#setLeading(false);
    await bounded(this.#electionWatcher?.close());
    await bounded(this.#watcher?.close());
    // The record and the candidacy go with the lease: other replicas stop listing this one, and
    // the next one leads, at once rather than after the TTL.
    await bounded(this.#lease?.revoke());
  }
}

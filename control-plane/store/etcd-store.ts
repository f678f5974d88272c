/**
 * The configuration store on etcd, for several control-plane replicas (issue 22). Each resource is
 * one key, `<prefix>/config/<Kind>/<namespace>/<name>`, holding the document as applied (validated
 * again when read, as the file store does). Every commit is one transaction that also writes the
 * marker key `<prefix>/config/.revision`: the marker's mod revision is the configuration's
 * version, the same on every replica, and the etcd revision of the commit that made it.
 *
 * A commit can be guarded by the revision its change was validated against (`CommitGuard`):
 * - a key it writes was changed by someone else since: CONFIG_CONFLICT naming the keys (two
 *   replicas changing the same resource: one wins, the other is told, nothing is lost);
 * - only other keys changed since: `StaleRevisionError` (a CONFIG_CONFLICT carrying the newer
 *   revision), so the caller validates again against the newer state and commits again: two
 *   applies to different resources both land, and references are always checked against what is
 *   really stored.
 *
 * Every replica follows the store with a watch from the revision it loaded: `watch()` hands it
 * each new committed state, in revision order, whoever wrote it. etcd unreachable or without
 * quorum: reads and commits fail with STORE_UNAVAILABLE (503 at the admin API) and the watch
 * resumes by itself when etcd is back (the client reconnects and resumes from the last revision).
 */
import { randomBytes } from 'node:crypto';
import { Etcd3, isRecoverableError, type DeleteBuilder, type IKeyValue, type IOptions, type IWatchResponse, type PutBuilder } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { silentLogger, type Logger } from '../../common/log.js';
import { Follower } from './etcd-watch.js';
import { readPrefix } from './etcd-read.js';
import { WeftError } from '../../common/errors.js';
import type { MeshResource, ResourceKey } from '../config/types.js';
import { resourceKey } from '../config/model.js';
import { nextTurn } from '../slices.js';
import { StaleRevisionError, type CommitGuard, type ConfigStore, type StoreChange, type StoredState } from './store.js';
import type { EtcdStoreOptions } from './etcd-options.js';
import { bounded } from './etcd-options.js';

export { parseEtcdUrl, type EtcdStoreOptions } from './etcd-options.js';

export { StaleRevisionError } from './store.js';

const MARKER = '.revision';
/** Resources put into a commit's transaction between two yields to the event loop. */
const BUILD_STEP = 512;
/** Another writer's values decoded from the watch between two yields to the event loop. */
const WATCH_STEP = 256;

function unavailable(e: unknown, what: string, timeoutMs?: number): WeftError {
  if (e instanceof WeftError) return e;
  const msg = (e as Error)?.message ?? String(e);
  // What an operator needs: etcd did not answer in time (no quorum, or no member reachable), not
  // gRPC's "Deadline exceeded after 2.5s,LB pick: ..." of the last attempt.
  if (/DEADLINE_EXCEEDED/.test(msg)) return new WeftError('STORE_UNAVAILABLE', `etcd did not ${what === 'commit' ? 'confirm the commit' : `answer (${what})`}: no member answered within ${timeoutMs ?? ATTEMPT_MS} ms; it has lost quorum or no member is reachable; nothing was changed, proxies keep their config (etcd client: DEADLINE_EXCEEDED)`, { cause: e });
  if (/\bUNAVAILABLE\b|ECONNREFUSED|No connection established/.test(msg)) return new WeftError('STORE_UNAVAILABLE', `etcd: cannot ${what}: no member answered (${msg.split('. ')[0]}); it has lost quorum or is unreachable; nothing was changed, proxies keep their config`, { cause: e });
  // The etcd client stops calling for a moment after repeated failures (its circuit breaker).
  if (/circuit breaker/.test(msg)) return new WeftError('STORE_UNAVAILABLE', `etcd: cannot ${what}: its members keep failing (lost quorum, or none reachable), so the client pauses its calls for a moment; nothing was changed, proxies keep their config`, { cause: e });
  return new WeftError('STORE_UNAVAILABLE', `etcd: cannot ${what}: ${msg}`, { cause: e });
}

/** How long one member is waited for, by default, in one attempt of a call. */
const ATTEMPT_MS = 2500;

/**
 * A failure that says the member itself is away (no answer in time, no connection), as opposed to
 * one etcd answered with ("etcdserver: no leader" while the members elect one, "leader changed"):
 * the member is there, and the call is tried again after a short pause, not skipped past it.
 */
function silentMember(e: Error): boolean {
  return isRecoverableError(e) && !/etcdserver:/.test(e.message);
}

/**
 * The etcd client every part of a replica shares (store, registry, election, CA), set for a member
 * that stops answering without closing its connections (a network partition, a paused process):
 * - each attempt of a call has its own deadline (`timeoutMs`, and 1 ms more per operation of a
 *   transaction), and a failed attempt is tried again on another member (at most members + 4
 *   attempts, 50 ms apart, doubling to 1 s: an election, whose "no leader" answers come at once,
 *   is waited out; a member that does not answer costs one attempt, then its circuit is open and
 *   no attempt is spent on it; with every member's circuit open, the next attempt waits for the
 *   backoff, by when a member may take a trial call). (The client's default is one deadline for
 *   all its attempts: the first, spent waiting on the silent member, left the retries on live
 *   members no time, and their instant failures counted against those members, so one silent
 *   member of three made calls fail for many seconds.) Streams (watches, lease keepalives) have no deadline;
 * - a member that did not answer (or could not be reached) is skipped (circuit open) for 0.5 s,
 *   then longer each time a trial call fails again (up to 5 s);
 * - gRPC keepalive on every connection (a ping each 6 s, 2 s to answer; etcd refuses pings more
 *   often than its --grpc-keepalive-min-time, 5 s by default): a watch or a lease keepalive on a
 *   connection that went silent fails and resumes on another member, rather than waiting forever.
 */
export function etcdClientOptions(o: EtcdStoreOptions): IOptions {
  const attemptMs = o.timeoutMs ?? ATTEMPT_MS;
  return {
    hosts: o.endpoints.map((h) => `${o.tls ? 'https' : 'http'}://${h}`),
    ...(o.tls ? { credentials: { rootCertificate: Buffer.from(o.tls.caPem), ...(o.tls.certPem && o.tls.keyPem ? { certChain: Buffer.from(o.tls.certPem), privateKey: Buffer.from(o.tls.keyPem) } : {}) } } : {}),
    ...(o.auth ? { auth: { username: o.auth.username, password: o.auth.password } } : {}),
    // A transaction is given 1 ms more per operation: with a flat 2.5 s an apply of 20,000
    // resources was refused (503 after its attempts ran out) on a loaded 2-core CI machine, and
    // each retry sent etcd the whole transaction again while it may still have been at the first.
    defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + attemptMs + (c.method === 'txn' ? (c.params.success?.length ?? 0) : 0) }),
    faultHandling: {
      host: () => circuitBreaker(handleWhen(silentMember), { halfOpenAfter: new ExponentialBackoff({ initialDelay: 500, maxDelay: 5000 }), breaker: new ConsecutiveBreaker(1) }),
      // Every member's circuit open is retried too, after the backoff: one stopped member and one
      // that answered nothing in time during the election that followed (both open) left no
      // member to try, and the commit failed at once with the first attempt's DEADLINE_EXCEEDED
      // while two of three members were up (seen in the netns replicas test).
      global: retry(handleWhen((e) => isRecoverableError(e) || isBrokenCircuitError(e)), { maxAttempts: o.endpoints.length + 3, backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 1000 }) }),
    },
    grpcOptions: { 'grpc.keepalive_time_ms': 6000, 'grpc.keepalive_timeout_ms': 2000, 'grpc.max_receive_message_length': ETCD_MAX_MESSAGE_BYTES },
  };
}

/**
 * The largest message taken from etcd. A commit's events come in one watch response, which etcd
 * bounds only by its --max-request-bytes (raised for large configurations: docs/deploy.md). With
 * grpc-js's default of 4 MiB a larger commit failed every other replica's watch with
 * RESOURCE_EXHAUSTED, again at each resume from the same revision: replicas serving the old
 * configuration for good. Reads are paged (etcd-read.ts) and need no more than 4 MiB.
 */
export const ETCD_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

export class EtcdStore implements ConfigStore {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #config: string;
  readonly #marker: string;
  readonly #decode: (value: unknown) => MeshResource;
  readonly #timeoutMs: number;
  readonly #maxTxnOps: number;
  /** The last state read or seen on the watch (what a guard is checked against). */
  #byKey = new Map<ResourceKey, MeshResource>();
  #revision = 0;
  /** The etcd revision the state was read at: the watch starts after it. */
  #readAt = 0;
  /**
   * The etcd revision through which #byKey holds every change, from its last whole read: a watch
   * event at or below it is in the state already (a read may replace the state while the watch
   * handler is decoding an older commit, between two of its slices).
   */
  #heldThrough = 0;
  /**
   * This store's commits in flight, by the id each writes into the marker (the transaction's
   * first write, so the marker's event comes first on the watch). The watch recognises its own
   * commit by that id, whichever of the watch and the commit's answer comes first, and applies the
   * change it already holds instead of decoding every value again (20,000 documents take more
   * than a second of the event loop).
   */
  readonly #pending = new Map<string, { change: StoreChange; revision?: number }>();
  readonly #storeId = randomBytes(6).toString('hex');
  #commits = 0;
  #follower: Follower | undefined;
  readonly #logger: Logger;
  #closed = false;

  constructor(o: EtcdStoreOptions, decode: (value: unknown) => MeshResource, logger: Logger = silentLogger) {
    this.#logger = logger;
    this.#client = new Etcd3(etcdClientOptions(o));
    this.#prefix = (o.prefix ?? '/weft').replace(/\/+$/, '');
    this.#config = `${this.#prefix}/config/`;
    this.#marker = this.#config + MARKER;
    this.#decode = decode;
    this.#timeoutMs = o.timeoutMs ?? ATTEMPT_MS;
    this.#maxTxnOps = o.maxTxnOps ?? 128;
  }

  /** The etcd client (the shared registry and leader election use the same connection). */
  get client(): Etcd3 {
    return this.#client;
  }

  /** The key prefix, without a trailing slash. */
  get prefix(): string {
    return this.#prefix;
  }

  #state(): StoredState {
    const keys = [...this.#byKey.keys()].sort();
    return { revision: this.#revision, resources: keys.map((k) => this.#byKey.get(k)!) };
  }

  #decodeValue(key: string, value: Buffer): MeshResource {
    try {
      return this.#decode(JSON.parse(value.toString('utf8')));
    } catch (e) {
      throw new WeftError('STORE_CORRUPT', `etcd key ${key} no longer validates: ${(e as Error).message}`, { cause: e });
    }
  }

  async load(): Promise<StoredState> {
    let res;
    try {
      res = await this.#readAll();
    } catch (e) {
      throw unavailable(e, `read ${this.#config}`, this.#timeoutMs);
    }
    const { byKey, revision } = this.#parse(res.kvs);
    this.#byKey = byKey;
    this.#revision = revision;
    this.#readAt = res.revision;
    this.#heldThrough = res.revision;
    // Own commits this read includes: their watch events will not come (the watch starts after it).
    for (const [id, p] of this.#pending) if (p.revision !== undefined && p.revision <= this.#readAt) this.#pending.delete(id);
    return this.#state();
  }

  #readAll(): Promise<{ kvs: IKeyValue[]; revision: number }> {
    return readPrefix(this.#client, this.#config);
  }

  /** The configuration in a read of the whole prefix, and its revision (the marker's). */
  #parse(kvs: ReadonlyArray<{ key: Buffer; value: Buffer; mod_revision: string }>): { byKey: Map<ResourceKey, MeshResource>; revision: number } {
    const byKey = new Map<ResourceKey, MeshResource>();
    let revision = 0;
    for (const kv of kvs) {
      const key = kv.key.toString('utf8');
      if (key === this.#marker) revision = Number(kv.mod_revision);
      else byKey.set(key.slice(this.#config.length) as ResourceKey, this.#decodeValue(key, kv.value));
    }
    return { byKey, revision };
  }

  async commit(change: StoreChange, guard?: CommitGuard): Promise<StoredState> {
    const keys = [...change.upsert.map((r) => resourceKey(r)), ...change.delete];
    // One transaction: a put or delete per resource and the marker; as many compares when guarded.
    if (keys.length + 1 > this.#maxTxnOps) {
      throw new WeftError('STORE_LIMIT', `this change writes ${keys.length} resources; etcd takes at most ${this.#maxTxnOps - 1} in one transaction (its --max-txn-ops is ${this.#maxTxnOps}): apply in parts of at most ${this.#maxTxnOps - 1}, or raise --max-txn-ops on every etcd member and --etcd-max-txn-ops here`);
    }
    const id = `${this.#storeId}.${++this.#commits}`;
    // The transaction is built in slices (tens of milliseconds of serialization at 20,000
    // resources): the event loop serves xDS in between.
    const values: Array<readonly [string, string]> = [];
    const ops: Array<PutBuilder | DeleteBuilder> = [this.#client.put(this.#marker).value(id)];
    let n = 0;
    for (const r of change.upsert) {
      if (++n % BUILD_STEP === 0) await nextTurn();
      const kv = [this.#config + resourceKey(r), JSON.stringify(r.source ?? r)] as const;
      values.push(kv);
      ops.push(this.#client.put(kv[0]).value(kv[1]));
    }
    for (const k of change.delete) ops.push(this.#client.delete().key(this.#config + k));
    // Unguarded (one writer): a compare that always holds.
    let txn = guard ? this.#client.if(this.#marker, 'Mod', '==', guard.revision) : this.#client.if(this.#marker, 'Mod', '>', -1);
    // A key written here must not have changed since the revision the change was validated at.
    if (guard) {
      for (const k of keys) {
        if (++n % BUILD_STEP === 0) await nextTurn();
        txn = txn.and(this.#config + k, 'Mod', '<', guard.revision + 1);
      }
    }
    let res;
    const entry: { change: StoreChange; revision?: number } = { change };
    this.#pending.set(id, entry);
    try {
      res = await txn.then(...ops).commit();
    } catch (e) {
      this.#pending.delete(id);
      const msg = (e as Error)?.message ?? '';
      if (/too many operations in txn|request is too large|exceeds maximum request size|larger than max/i.test(msg)) {
        throw new WeftError('STORE_LIMIT', `etcd refused the transaction as too large (${msg.split('\n')[0]}): apply in parts, or raise --max-request-bytes / --max-txn-ops on every etcd member (and --etcd-max-txn-ops here)`, { cause: e });
      }
      throw unavailable(e, 'commit', this.#timeoutMs);
    }
    if (!res.succeeded) {
      this.#pending.delete(id);
      // Which compare failed: a key this change writes, or only the configuration's revision.
      let now;
      try {
        now = await this.#readAll();
      } catch (e) {
        throw unavailable(e, 'read after a refused commit', this.#timeoutMs);
      }
      // The store may hold this very change already: an attempt of this commit that etcd applied
      // after the attempt's deadline, and the retry's compares saw it. Every key holding exactly
      // what this change writes (and the deleted ones gone) is that, or the same change made by
      // another replica: either way it is in, and the store's state is the result.
      const held = new Map(now.kvs.map((kv) => [kv.key.toString('utf8'), kv.value.toString('utf8')]));
      if (values.every(([key, value]) => held.get(key) === value) && change.delete.every((k) => !held.has(this.#config + k))) {
        const { byKey, revision } = this.#parse(now.kvs);
        if (revision > this.#revision) {
          this.#byKey = byKey;
          this.#revision = revision;
          this.#heldThrough = now.revision;
        }
        return this.#state();
      }
      const mod = new Map(now.kvs.map((kv) => [kv.key.toString('utf8'), Number(kv.mod_revision)]));
      const latest = mod.get(this.#marker) ?? 0;
      const moved = keys.filter((k) => (mod.get(this.#config + k) ?? 0) > guard!.revision);
      if (moved.length) {
        throw new WeftError('CONFIG_CONFLICT', `${moved.join(', ')} changed at revision ${Math.max(...moved.map((k) => mod.get(this.#config + k) ?? 0))}, after this change read revision ${guard!.revision}: another apply (on this or another replica) landed first; read again and retry`);
      }
      throw new StaleRevisionError(guard!.revision, latest);
    }
    const revision = Number(res.header.revision);
    // The watch may already have brought this commit (and later ones): then it is in the state.
    if (revision > this.#revision) {
      this.#applyChange(change);
      this.#revision = revision;
    }
    // Its watch event is still to come (to be skipped by its id), unless nothing watches.
    if (this.#follower && this.#pending.has(id)) entry.revision = revision;
    else this.#pending.delete(id);
    return this.#state();
  }

  #applyChange(change: StoreChange): void {
    for (const k of change.delete) this.#byKey.delete(k);
    for (const r of change.upsert) this.#byKey.set(resourceKey(r), r);
  }

  /**
   * Follows the store from the revision `load()` read: `onState` gets each state another writer
   * (or this one) committed, in order. Call after `load()`.
   */
  watch(onState: (s: StoredState) => void, onError?: (e: Error) => void): void {
    if (this.#follower || this.#closed) return;
    const f = new Follower({
      client: this.#client,
      prefix: this.#config,
      what: 'configuration',
      logger: this.#logger,
      onData: (res) => this.#onWatch(res, onState, onError),
      // The watch was cancelled (its revision compacted): read everything again; hand it on if newer.
      resync: async () => {
        const before = this.#revision;
        const state = await this.load();
        if (state.revision > before) onState(state);
        return this.#readAt;
      },
    });
    this.#follower = f;
    f.start(this.#readAt).catch((e: unknown) => onError?.(e as Error));
  }

  /**
   * A watch response: queued, and the queue handled in order by one loop, which decodes another
   * writer's values WATCH_STEP at a time with the event loop running in between (a commit of
   * 20,000 resources from another replica is a quarter of a second of JSON.parse and validation).
   */
  #onWatch(res: IWatchResponse, onState: (s: StoredState) => void, onError?: (e: Error) => void): void {
    this.#watchQueue.push(res);
    if (this.#watchQueue.length === 1) void this.#drainWatch(onState, onError);
  }

  readonly #watchQueue: IWatchResponse[] = [];

  async #drainWatch(onState: (s: StoredState) => void, onError?: (e: Error) => void): Promise<void> {
    while (this.#watchQueue.length) {
      try {
        await this.#applyWatch(this.#watchQueue[0]!, onState, onError);
      } catch (e) {
        onError?.(e as Error);
      }
      this.#watchQueue.shift();
    }
  }

  async #applyWatch(res: IWatchResponse, onState: (s: StoredState) => void, onError?: (e: Error) => void): Promise<void> {
    // A commit writes the marker with its resources in one transaction (one revision);
    // a response may carry several revisions (catching up): hand on one state per commit.
    // This store's own commit (the marker, its first event, holds an id in #pending) is applied
    // from the change in hand rather than decoded, or skipped if its answer came first and
    // applied it already.
    let marker = 0;
    let group = -1;
    let skip = false;
    let decoded = 0;
    const flush = () => {
      if (marker > this.#revision) {
        this.#revision = marker;
        onState(this.#state());
      }
      marker = 0;
    };
    for (const ev of res.events) {
      const kv = ev.kv;
      const rev = Number(kv.mod_revision);
      const key = kv.key.toString('utf8');
      if (rev !== group) {
        flush();
        group = rev;
        const id = key === this.#marker && ev.type === 'Put' ? kv.value.toString('utf8') : '';
        const mine = id ? this.#pending.get(id) : undefined;
        skip = mine !== undefined;
        if (mine) {
          this.#pending.delete(id);
          if (rev > this.#revision) {
            this.#applyChange(mine.change);
            marker = rev;
          }
        }
      }
      if (skip) continue;
      if (key === this.#marker) {
        if (ev.type === 'Put') marker = rev;
        continue;
      }
      if (this.#closed) return;
      if (++decoded % WATCH_STEP === 0) await nextTurn();
      if (rev <= this.#heldThrough) continue;
      const k = key.slice(this.#config.length) as ResourceKey;
      try {
        if (ev.type === 'Delete') this.#byKey.delete(k);
        else this.#byKey.set(k, this.#decodeValue(key, kv.value));
      } catch (e) {
        onError?.(e as Error);
      }
    }
    flush();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await bounded(this.#follower?.close());
    this.#client.close();
  }
}

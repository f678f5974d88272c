/**
 * The cache stores of one proxy process, by name (weft.v1.CacheBehavior.name: the CachePolicy's
 * namespace/name), owned by the Runtime. They outlive the filter chains, which are rebuilt on
 * every config update: a chain composed again takes the same store, so entries survive pushes.
 * A store no chain took during an update is closed after it (mark and sweep); a store whose
 * definition changed (another Redis, another prefix) is replaced. Also holds, per store, the
 * requests in flight to the origin (request coalescing) and the counters /stats/prometheus shows.
 */
import type { Logger } from 'pino';
import { MemoryStore } from './memory-store.js';
import { RedisStore, type RedisStoreOptions } from './redis-store.js';
import type { CacheStore, StoredResponse } from './store.js';
import { primaryKeysOfUrl } from './store.js';

/** What the cache did with requests, per store (CacheStatus names, lowercase, plus the rest). */
export interface CacheCounters {
  hit: number;
  miss: number;
  stale: number;
  revalidated: number;
  bypass: number;
  /** Requests served from another request's origin response (counted in hit too). */
  coalesced: number;
  /** Responses stored, and responses not stored (uncacheable, too large). */
  stored: number;
  notStored: number;
  /** Stale entries the origin answered with a full response instead of 304. */
  replaced: number;
}

/** A request in flight to the origin for one URL: others with the same URL wait for its result. */
export interface Flight {
  readonly waiters: Array<(e: StoredResponse | undefined) => void>;
  /** Set once the response is stored-to-be: later arrivals are answered from it at once. */
  result?: StoredResponse;
}

export interface StoreHandle {
  readonly name: string;
  readonly store: CacheStore;
  readonly counters: CacheCounters;
  readonly inflight: Map<string, Flight>;
}

interface Held extends StoreHandle {
  readonly sig: string;
  marked: boolean;
}

const counters = (): CacheCounters => ({ hit: 0, miss: 0, stale: 0, revalidated: 0, bypass: 0, coalesced: 0, stored: 0, notStored: 0, replaced: 0 });

export interface PurgeResult {
  readonly store: string;
  readonly removed: number;
}

export class CacheStores {
  readonly #held = new Map<string, Held>();
  #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  setLogger(log: Logger): void {
    this.#log = log;
  }

  /** Called before an update composes chains: stores not taken again are closed by sweep(). */
  mark(): void {
    for (const h of this.#held.values()) h.marked = false;
  }

  sweep(): void {
    for (const [name, h] of this.#held) {
      if (h.marked) continue;
      h.store.close();
      this.#held.delete(name);
    }
  }

  memory(name: string, maxBytes: number): StoreHandle {
    const cur = this.#held.get(name);
    if (cur?.store instanceof MemoryStore) {
      cur.marked = true;
      if (cur.store.maxBytes !== maxBytes) cur.store.resize(maxBytes);
      return cur;
    }
    return this.#put(name, 'memory', new MemoryStore(maxBytes));
  }

  redis(name: string, o: Omit<RedisStoreOptions, 'onState'>): StoreHandle {
    const sig = `redis ${o.host}:${o.port}/${o.database} ${o.keyPrefix} ${o.commandTimeoutMs}`;
    const cur = this.#held.get(name);
    if (cur && cur.sig === sig) {
      cur.marked = true;
      return cur;
    }
    const store = new RedisStore({
      ...o,
      onState: (up, why) => {
        if (up) this.#log?.info({ store: name, redis: `${o.host}:${o.port}` }, 'cache: Redis reachable again');
        else this.#log?.warn({ store: name, redis: `${o.host}:${o.port}`, err: why }, 'cache: Redis unreachable; requests go to the origin uncached until it is back');
      },
    });
    return this.#put(name, sig, store);
  }

  #put(name: string, sig: string, store: CacheStore): StoreHandle {
    const old = this.#held.get(name);
    old?.store.close();
    const h: Held = { name, store, sig, marked: true, counters: old?.counters ?? counters(), inflight: new Map() };
    this.#held.set(name, h);
    return h;
  }

  all(): readonly StoreHandle[] {
    return [...this.#held.values()];
  }

  /**
   * Purges by tag or by URL in every store of this proxy. A Redis store is shared, so this empties
   * it for every replica. Rejects (naming the store) when a store could not do it.
   */
  async purge(what: { tag: string } | { key: string }): Promise<PurgeResult[]> {
    const primaries = 'key' in what ? primaryKeysOfUrl(what.key) : undefined;
    if ('key' in what && primaries === undefined) throw new Error(`'${what.key}' is not a URL`);
    return Promise.all(
      this.all().map(async (h) => {
        try {
          let removed = 0;
          if ('tag' in what) removed = await h.store.purgeTag(what.tag);
          else for (const k of primaries!) removed += await h.store.purgeKey(k);
          return { store: h.name, removed };
        } catch (e) {
          throw new Error(`store ${h.name}: ${(e as Error).message}`);
        }
      }),
    );
  }

  close(): void {
    for (const h of this.#held.values()) h.store.close();
    this.#held.clear();
  }
}

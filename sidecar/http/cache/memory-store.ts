/**
 * An in-process cache store: every variant of every URL in one Map in least-recently-used order
 * (a lookup moves the entry to the end), bounded in bytes (store.ts entrySize); inserting past the
 * bound evicts from the front. Entries also leave when `keepMs` has passed (checked on lookup, so
 * no timers). Per proxy process: replicas do not share it (use the Redis store for that).
 */
import { entrySize, type CacheStore, type StoreStats, type StoredResponse } from './store.js';
import { variantKey } from './policy.js';

interface Slot {
  readonly primary: string;
  readonly e: StoredResponse;
  readonly size: number;
  readonly expires: number;
}

export class MemoryStore implements CacheStore {
  readonly kind = 'memory' as const;
  readonly stats: StoreStats = { entries: 0, bytes: 0, evictions: 0, errors: 0 };
  /** `primary \0 variant` -> slot, least recently used first. */
  readonly #lru = new Map<string, Slot>();
  /** primary -> the Vary names of its variants, and their full keys. */
  readonly #urls = new Map<string, { vary: readonly string[]; keys: Set<string> }>();
  readonly #tags = new Map<string, Set<string>>();

  constructor(
    public maxBytes: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A smaller bound applies at once (evicting), a larger one from now on. */
  resize(maxBytes: number): void {
    this.maxBytes = maxBytes;
    this.#evict(0);
  }

  async lookup(primary: string, header: (name: string) => string | undefined): Promise<StoredResponse | undefined> {
    return this.get(primary, header);
  }

  /** lookup, synchronously. */
  get(primary: string, header: (name: string) => string | undefined): StoredResponse | undefined {
    const u = this.#urls.get(primary);
    if (!u) return undefined;
    const key = `${primary}\0${variantKey(u.vary, header)}`;
    const s = this.#lru.get(key);
    if (!s) return undefined;
    if (s.expires <= this.now()) {
      this.#remove(key);
      return undefined;
    }
    this.#lru.delete(key);
    this.#lru.set(key, s);
    return s.e;
  }

  async insert(primary: string, variant: string, e: StoredResponse, keepMs: number): Promise<void> {
    const size = entrySize(primary, variant, e);
    if (size > this.maxBytes) return;
    let u = this.#urls.get(primary);
    if (u && (u.vary.length !== e.vary.length || u.vary.some((n, i) => n !== e.vary[i]))) {
      for (const k of [...u.keys]) this.#remove(k);
      u = undefined;
    }
    if (!u) this.#urls.set(primary, (u = { vary: e.vary, keys: new Set() }));
    const key = `${primary}\0${variant}`;
    this.#remove(key);
    this.#evict(size);
    // Evicting may have dropped the URL's record along with its last variant.
    u = this.#urls.get(primary) ?? { vary: e.vary, keys: new Set() };
    this.#urls.set(primary, u);
    u.keys.add(key);
    this.#lru.set(key, { primary, e, size, expires: this.now() + keepMs });
    for (const t of e.tags) {
      let set = this.#tags.get(t);
      if (!set) this.#tags.set(t, (set = new Set()));
      set.add(key);
    }
    this.stats.entries++;
    this.stats.bytes += size;
  }

  async purgeTag(tag: string): Promise<number> {
    const set = this.#tags.get(tag);
    if (!set) return 0;
    let n = 0;
    for (const k of [...set]) if (this.#remove(k)) n++;
    this.#tags.delete(tag);
    return n;
  }

  async purgeKey(primary: string): Promise<number> {
    const u = this.#urls.get(primary);
    if (!u) return 0;
    let n = 0;
    for (const k of [...u.keys]) if (this.#remove(k)) n++;
    this.#urls.delete(primary);
    return n;
  }

  close(): void {
    this.#lru.clear();
    this.#urls.clear();
    this.#tags.clear();
    this.stats.entries = 0;
    this.stats.bytes = 0;
  }

  /** Evicts least recently used entries until `incoming` more bytes fit. */
  #evict(incoming: number): void {
    for (const k of this.#lru.keys()) {
      if (this.stats.bytes + incoming <= this.maxBytes) return;
      this.#remove(k);
      this.stats.evictions++;
    }
  }

  #remove(key: string): boolean {
    const s = this.#lru.get(key);
    if (!s) return false;
    this.#lru.delete(key);
    this.stats.entries--;
    this.stats.bytes -= s.size;
    const u = this.#urls.get(s.primary);
    if (u) {
      u.keys.delete(key);
      if (u.keys.size === 0) this.#urls.delete(s.primary);
    }
    for (const t of s.e.tags) {
      const set = this.#tags.get(t);
      if (!set) continue;
      set.delete(key);
      if (set.size === 0) this.#tags.delete(t);
    }
    return true;
  }
}

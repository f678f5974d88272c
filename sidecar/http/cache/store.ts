/**
 * The contract of a cache store (memory-store.ts, redis-store.ts) and what it keeps. A store
 * holds stored responses under a primary key (scheme, host, path and query: one URL) and, per primary
 * key, the Vary field names of the latest stored response: the request's values of those fields
 * select one variant (policy.ts variantKey). Entries carry their tags, for purge by tag. Stores
 * never throw: a store that cannot answer (Redis down) answers "nothing stored" and counts it.
 */
export type StoredHeaders = Record<string, string | string[]>;

export interface StoredResponse {
  readonly status: number;
  /** Response headers as stored (lowercase names; no hop-by-hop; no Age: it is computed on use). */
  readonly headers: StoredHeaders;
  readonly body: Buffer;
  /** When the response (or the 304 that last refreshed it) arrived, ms since the epoch. */
  readonly responseTime: number;
  /** corrected_initial_age (RFC 9111 §4.2.3), seconds. */
  readonly initialAge: number;
  /** Freshness lifetime, seconds (policy.ts freshnessLifetime). */
  readonly lifetime: number;
  /** Lowercase Vary field names ([] without Vary). */
  readonly vary: readonly string[];
  readonly tags: readonly string[];
  /** The secondary key it was stored under (policy.ts variantKey); set on what the filter stores. */
  readonly variant?: string;
}

/** Counters of one store, for /stats/prometheus. */
export interface StoreStats {
  /** Entries and bytes held (memory store; Redis: not known, 0). */
  entries: number;
  bytes: number;
  evictions: number;
  /** Redis commands that failed or timed out (the cache failed open). */
  errors: number;
}

export interface CacheStore {
  readonly kind: 'memory' | 'redis';
  readonly stats: StoreStats;
  /** The stored response for this URL whose variant matches the request's headers. */
  lookup(primary: string, header: (name: string) => string | undefined): Promise<StoredResponse | undefined>;
  /**
   * Stores `e` as the variant of `primary` for the request's headers, kept `keepMs` (freshness
   * plus the time a stale entry is kept for revalidation). A response whose Vary differs from the
   * stored one replaces every variant of the URL.
   */
  insert(primary: string, variant: string, e: StoredResponse, keepMs: number): Promise<void>;
  /** Removes every entry tagged `tag`; resolves to how many were removed. */
  purgeTag(tag: string): Promise<number>;
  /** Removes every variant of one URL (a primary key). */
  purgeKey(primary: string): Promise<number>;
  close(): void;
}

/**
 * The primary key of a request: scheme (https on a TLS listener), authority, path and query, as
 * Envoy's default key (an HTTP and an HTTPS listener of one Gateway do not share entries).
 */
export function primaryKey(secure: boolean, authority: string, path: string, search: string): string {
  return `${secure ? 'https' : 'http'}://${authority.toLowerCase()}${path}${search}`;
}

/**
 * The primary keys a purge by URL names: `http://host/path?q` or `https://...` one; without a
 * scheme (`host/path?q`) both. Undefined when it is not a URL.
 */
export function primaryKeysOfUrl(url: string): string[] | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') return undefined;
  try {
    const u = new URL(scheme ? url : `http://${url}`);
    // URL drops a scheme's default port; a Host header carries what the client sent, usually none.
    const keys = (secure: boolean) => primaryKey(secure, u.host, u.pathname, u.search);
    return scheme ? [keys(scheme === 'https')] : [keys(false), keys(true)];
  } catch {
    return undefined;
  }
}

/** Bytes an entry costs in a memory store: body, headers, and a fixed overhead for the record. */
export function entrySize(primary: string, variant: string, e: StoredResponse): number {
  let n = 256 + primary.length + variant.length + e.body.length;
  for (const k in e.headers) {
    const v = e.headers[k]!;
    n += k.length + (typeof v === 'string' ? v.length : v.reduce((a, x) => a + x.length + 2, 0)) + 4;
  }
  for (const t of e.tags) n += t.length + 16;
  return n;
}

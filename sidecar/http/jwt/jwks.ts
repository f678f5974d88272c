/**
 * Remote JWKS for the jwt_authn filter: one key set per provider per proxy process, owned by the
 * Runtime (like the cache stores), so chains rebuilt by config updates and every route of every
 * listener share it. What a key set does:
 *
 *  - fetched when the provider first appears (not on the first request), through the cluster its
 *    `http_uri.cluster` names: that cluster's one endpoint, with its TLS context (the policy's CA,
 *    SNI the URI's host); certificate verification is never off;
 *  - kept for `cache_duration`, and refreshed in the background at 90 % of it, so requests never
 *    wait for a refresh;
 *  - a token whose `kid` is not in the set (a key rotated in before our refresh) triggers one
 *    refetch, at most once per UNKNOWN_KID_REFETCH_MS; tokens arriving meanwhile wait for that
 *    same fetch; more unknown kids within the interval are refused without a fetch;
 *  - concurrent needs share one in-flight fetch;
 *  - a fetch that fails (network, TLS, status, timeout) or returns garbage (not a key set,
 *    too large, no usable key) leaves the last good keys in force, even past cache_duration,
 *    and is retried in the background with backoff (1 s doubling, at most 30 s or the cache
 *    duration); counted by result (weft_jwks_fetches_total) and logged;
 *  - before any good fetch, a request is refused (401 JWT_INVALID) and refetches are at most
 *    one per second.
 */
import https from 'node:https';
import type { JSONWebKeySet } from 'jose';
import type { Logger } from 'pino';

/** The endpoint and TLS of an origin cluster (a remote JWKS's), as the last config gave them. */
export interface OriginEndpoint {
  readonly host: string;
  readonly port: number;
  /** PEM roots. */
  readonly ca: string;
  /** SNI (and the name checked); '' for an IP literal. */
  readonly sni: string;
}

export type OriginLookup = (cluster: string) => OriginEndpoint | undefined;

/** Where a provider's keys come from (JwtProvider.remote_jwks). */
export interface JwksSource {
  readonly uri: string;
  readonly cluster: string;
  readonly cacheMs: number;
  readonly timeoutMs: number;
}

type Jose = typeof import('jose');
let jose: Promise<Jose> | undefined;

/** `jose`, loaded the first time a token is checked: a proxy without JWT policies never loads it. */
export function loadJose(): Promise<Jose> {
  return (jose ??= import('jose'));
}

/**
 * A provider's public signing keys (checked when the JWKS was read); jose's key set over them is
 * made the first time a token is verified against them. The object's identity is the key set's
 * (the verified-token cache compares it).
 */
export class KeySet {
  #resolver: ReturnType<Jose['createLocalJWKSet']> | undefined;
  constructor(readonly jwks: JSONWebKeySet) {}

  /** jose's resolver for these keys (what jwtVerify takes). */
  async resolver(): Promise<ReturnType<Jose['createLocalJWKSet']>> {
    return (this.#resolver ??= (await loadJose()).createLocalJWKSet(this.jwks));
  }
}

/** A token with an unknown kid refetches the set at most this often (documented in docs/api-gateway.md). */
export const UNKNOWN_KID_REFETCH_MS = 30_000;
/** A JWKS document larger than this is refused as garbage. */
const MAX_JWKS_BYTES = 1 << 20;
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

export type FetchResult = 'success' | 'error' | 'invalid';

/** Builds a key set from a JWKS document's text; throws with the reason when it is not one. */
export function keySetOf(text: string): { keys: KeySet; kids: Set<string> } {
  const doc = JSON.parse(text) as { keys?: unknown };
  if (!doc || !Array.isArray(doc.keys)) throw new Error('not a JWKS document (no "keys" list)');
  const usable = (doc.keys as Array<Record<string, unknown>>).filter((k) => k && typeof k === 'object' && typeof k.kty === 'string' && k.kty !== 'oct' && (k.use === undefined || k.use === 'sig'));
  if (!usable.length) throw new Error('no usable public signing key');
  const kids = new Set<string>();
  for (const k of usable) if (typeof k.kid === 'string') kids.add(k.kid);
  return { keys: new KeySet({ keys: usable } as unknown as JSONWebKeySet), kids };
}

export class RemoteJwks {
  readonly counts: Record<FetchResult, number> = { success: 0, error: 0, invalid: 0 };
  /** Unknown-kid refetches started, and unknown-kid tokens refused without one (rate limited). */
  kidRefetches = 0;
  kidRefused = 0;
  #keys: KeySet | undefined;
  #kids = new Set<string>();
  #goodAt = 0;
  #inflight: Promise<void> | undefined;
  #lastKidRefetch = Number.NEGATIVE_INFINITY;
  #failedAt = Number.NEGATIVE_INFINITY;
  #retryMs = FIRST_RETRY_MS;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    /** The provider's name (label of the metrics). */
    readonly name: string,
    readonly src: JwksSource,
    private readonly lookup: OriginLookup,
    private readonly log: () => Logger | undefined,
    private readonly kidIntervalMs = UNKNOWN_KID_REFETCH_MS,
  ) {
    void this.#fetch();
  }

  /** The keys held now are older than cache_duration (the endpoint failed since). */
  get stale(): boolean {
    return this.#keys !== undefined && Date.now() - this.#goodAt > this.src.cacheMs;
  }

  /**
   * The key set a token with `kid` needs, or undefined when none can be had. Synchronous when
   * the set is there and knows the kid (every request but the few that need a fetch).
   */
  ready(kid: string | undefined): KeySet | undefined {
    return this.#keys && (kid === undefined || this.#kids.has(kid)) ? this.#keys : undefined;
  }

  /** The slow path of ready(): waits for the first fetch, or for a refetch for an unknown kid. */
  async keysFor(kid: string | undefined): Promise<KeySet | undefined> {
    if (!this.#keys) {
      if (!this.#inflight && Date.now() - this.#failedAt >= FIRST_RETRY_MS) void this.#fetch();
      if (this.#inflight) await this.#inflight;
      return this.#keys;
    }
    if (kid !== undefined && !this.#kids.has(kid)) {
      if (!this.#inflight) {
        const now = Date.now();
        if (now - this.#lastKidRefetch < this.kidIntervalMs) {
          this.kidRefused++;
          return this.#keys;
        }
        this.#lastKidRefetch = now;
        this.kidRefetches++;
        void this.#fetch();
      }
      await this.#inflight;
    }
    return this.#keys;
  }

  #fetch(): Promise<void> {
    if (this.#inflight) return this.#inflight;
    clearTimeout(this.#timer);
    const p = this.#get().then(
      (text) => {
        let set: ReturnType<typeof keySetOf>;
        try {
          set = keySetOf(text);
        } catch (e) {
          this.#failed('invalid', (e as Error).message);
          return;
        }
        this.#keys = set.keys;
        this.#kids = set.kids;
        this.#goodAt = Date.now();
        this.counts.success++;
        this.#retryMs = FIRST_RETRY_MS;
        this.#schedule(Math.max(1, Math.floor(this.src.cacheMs * 0.9)));
      },
      (e: Error) => this.#failed('error', e.message),
    );
    this.#inflight = p.finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  #failed(result: 'error' | 'invalid', why: string): void {
    this.counts[result]++;
    this.#failedAt = Date.now();
    this.log()?.warn({ provider: this.name, uri: this.src.uri, result, keptKeys: this.#keys !== undefined, stale: this.stale }, `JWKS fetch failed (${why}); ${this.#keys ? 'the last good keys stay in force' : 'no keys yet: tokens of this provider are refused'}`);
    this.#schedule(this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, this.src.cacheMs));
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#fetch(), ms);
    this.#timer.unref();
  }

  /** One GET of the JWKS through the origin cluster's endpoint and TLS context. */
  #get(): Promise<string> {
    const origin = this.lookup(this.src.cluster);
    if (!origin) return Promise.reject(new Error(`cluster '${this.src.cluster}' is not configured`));
    const u = new URL(this.src.uri);
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: origin.host,
          port: origin.port,
          ca: origin.ca,
          servername: origin.sni || undefined,
          path: `${u.pathname}${u.search}`,
          method: 'GET',
          headers: { host: u.host, accept: 'application/json' },
          agent: false,
          timeout: this.src.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n > MAX_JWKS_BYTES) {
              res.destroy();
              reject(new Error(`JWKS larger than ${MAX_JWKS_BYTES} bytes`));
            } else chunks.push(c);
          });
          res.on('error', reject);
          res.on('end', () => {
            if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
            else resolve(Buffer.concat(chunks).toString('utf8'));
          });
        },
      );
      // The whole fetch, not only idle time, is bounded by the timeout.
      const deadline = setTimeout(() => req.destroy(new Error(`timed out after ${this.src.timeoutMs} ms`)), this.src.timeoutMs);
      deadline.unref();
      req.on('timeout', () => req.destroy(new Error(`timed out after ${this.src.timeoutMs} ms`)));
      req.on('error', reject);
      req.on('close', () => clearTimeout(deadline));
      req.end();
    });
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}

interface Held {
  readonly jwks: RemoteJwks;
  marked: boolean;
}

/**
 * The remote key sets of one proxy process, by provider and source. A chain composed again
 * takes the same set (the keys survive config pushes); a set no chain took during an update is
 * closed after it (mark and sweep), one whose source changed is replaced.
 */
export class JwksRegistry {
  readonly #held = new Map<string, Held>();
  #log: Logger | undefined;

  constructor(
    private readonly lookup: OriginLookup,
    private readonly kidIntervalMs = UNKNOWN_KID_REFETCH_MS,
  ) {}

  setLogger(log: Logger): void {
    this.#log = log;
  }

  get(provider: string, src: JwksSource): RemoteJwks {
    const key = `${provider}|${src.uri}|${src.cluster}|${src.cacheMs}|${src.timeoutMs}`;
    let h = this.#held.get(key);
    if (!h) this.#held.set(key, (h = { jwks: new RemoteJwks(provider, src, this.lookup, () => this.#log, this.kidIntervalMs), marked: true }));
    h.marked = true;
    return h.jwks;
  }

  all(): RemoteJwks[] {
    return [...this.#held.values()].map((h) => h.jwks);
  }

  mark(): void {
    for (const h of this.#held.values()) h.marked = false;
  }

  sweep(): void {
    for (const [k, h] of this.#held) {
      if (h.marked) continue;
      h.jwks.close();
      this.#held.delete(k);
    }
  }

  close(): void {
    for (const h of this.#held.values()) h.jwks.close();
    this.#held.clear();
  }
}

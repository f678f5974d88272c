/**
 * A cache store in Redis, shared by every gateway replica that names the same server and key
 * prefix. Keys (P = the prefix):
 *  - `P e:<url>#<variant>`: one stored response (a 4-byte length, JSON metadata, the body), with a
 *    TTL of its freshness plus the stale retention;
 *  - `P v:<url>`: the Vary names of the URL's variants (JSON), same TTL;
 *  - `P k:<url>` and `P t:<tag>`: sets of entry keys, for purge by key and by tag (their TTL is
 *    raised to the longest entry's; a member whose entry expired is harmless).
 * A purge runs as one Lua script, so every replica sees all of it or none. When Redis cannot be
 * reached (no connection, a command past its timeout) the store fails open: a lookup is a miss,
 * an insert is dropped, `stats.errors` counts it and the cache logs once per outage; requests are
 * never failed for it.
 */
import type { Redis } from 'ioredis';
import { LazyRedis } from '../redis-client.js';
import type { CacheStore, StoreStats, StoredResponse } from './store.js';
import { variantKey } from './policy.js';

export interface RedisStoreOptions {
  readonly host: string;
  readonly port: number;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly database: number;
  /** Told when Redis becomes unreachable and when it is back (the filter logs it). */
  readonly onState?: (up: boolean, why: string) => void;
}

// KEYS[1] = index set; deletes every member, then the set and ARGV keys.
const PURGE = `local m = redis.call('SMEMBERS', KEYS[1])
for i = 1, #m do redis.call('DEL', m[i]) end
redis.call('DEL', KEYS[1])
for i = 1, #ARGV do redis.call('DEL', ARGV[i]) end
return #m`;

function encode(e: StoredResponse): Buffer {
  const meta = Buffer.from(JSON.stringify({ s: e.status, h: e.headers, rt: e.responseTime, ia: e.initialAge, l: e.lifetime, v: e.vary, t: e.tags }));
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32BE(meta.length);
  return Buffer.concat([len, meta, e.body]);
}

function decode(b: Buffer): StoredResponse | undefined {
  if (b.length < 4) return undefined;
  const n = b.readUInt32BE(0);
  if (4 + n > b.length) return undefined;
  const m = JSON.parse(b.subarray(4, 4 + n).toString()) as { s: number; h: StoredResponse['headers']; rt: number; ia: number; l: number; v: string[]; t: string[] };
  return { status: m.s, headers: m.h, body: b.subarray(4 + n), responseTime: m.rt, initialAge: m.ia, lifetime: m.l, vary: m.v, tags: m.t };
}

export class RedisStore implements CacheStore {
  readonly kind = 'redis' as const;
  readonly stats: StoreStats = { entries: 0, bytes: 0, evictions: 0, errors: 0 };
  readonly #r: LazyRedis;
  readonly #p: string;
  #up = true;

  constructor(readonly o: RedisStoreOptions) {
    this.#p = o.keyPrefix;
    this.#r = new LazyRedis(
      {
        host: o.host,
        port: o.port,
        db: o.database,
        commandTimeout: o.commandTimeoutMs,
        connectTimeout: Math.max(1000, o.commandTimeoutMs),
        // Fail open at once while disconnected: no queue of commands waiting for a reconnect.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: (times) => Math.min(100 * times, 2000),
        lazyConnect: false,
      },
      (r) => {
        r.defineCommand('weftPurge', { numberOfKeys: 1, lua: PURGE });
        // Every stream has an owner: a connection error is an outage, not a crash.
        r.on('error', (e: Error) => this.#down(e.message));
        r.on('ready', () => {
          if (!this.#up) o.onState?.(true, 'connected');
          this.#up = true;
        });
      },
    );
  }

  #down(why: string): void {
    if (this.#up) this.o.onState?.(false, why);
    this.#up = false;
  }

  #fail(e: unknown): undefined {
    this.stats.errors++;
    this.#down((e as Error).message);
    return undefined;
  }

  async lookup(primary: string, header: (name: string) => string | undefined): Promise<StoredResponse | undefined> {
    try {
      // The common case (no Vary) in one round trip: the names and the variant '' together.
      const [[e1, vary], [e2, plain]] = (await (await this.#r.get()).pipeline().get(`${this.#p}v:${primary}`).getBuffer(`${this.#p}e:${primary}#`).exec()) as [[Error | null, string | null], [Error | null, Buffer | null]];
      if (e1 || e2) return this.#fail(e1 ?? e2);
      if (vary === null) return undefined;
      const names = JSON.parse(vary) as string[];
      if (names.length === 0) return plain ? decode(plain) : undefined;
      const b = await (await this.#r.get()).getBuffer(`${this.#p}e:${primary}#${variantKey(names, header)}`);
      return b ? decode(b) : undefined;
    } catch (e) {
      return this.#fail(e);
    }
  }

  async insert(primary: string, variant: string, e: StoredResponse, keepMs: number): Promise<void> {
    const ms = Math.max(1, Math.ceil(keepMs));
    const key = `${this.#p}e:${primary}#${variant}`;
    const vkey = `${this.#p}v:${primary}`;
    const kkey = `${this.#p}k:${primary}`;
    try {
      const r = await this.#r.get();
      const cur = await r.get(vkey);
      const vary = JSON.stringify(e.vary);
      const m = r.multi();
      // Another Vary replaces every variant of the URL (their keys are in the URL's set).
      if (cur !== null && cur !== vary) (m as unknown as { weftPurge(k: string): void }).weftPurge(kkey);
      m.set(key, encode(e), 'PX', ms);
      m.set(vkey, vary, 'PX', ms);
      m.sadd(kkey, key).pexpire(kkey, ms, 'NX').pexpire(kkey, ms, 'GT');
      for (const t of e.tags) m.sadd(`${this.#p}t:${t}`, key).pexpire(`${this.#p}t:${t}`, ms, 'NX').pexpire(`${this.#p}t:${t}`, ms, 'GT');
      await m.exec();
    } catch (err) {
      this.#fail(err);
    }
  }

  async purgeTag(tag: string): Promise<number> {
    return this.#purge(`${this.#p}t:${tag}`, []);
  }

  async purgeKey(primary: string): Promise<number> {
    return this.#purge(`${this.#p}k:${primary}`, [`${this.#p}v:${primary}`]);
  }

  async #purge(set: string, more: string[]): Promise<number> {
    // A purge must not fail open silently: the caller (the admin endpoint) reports the error.
    return (await ((await this.#r.get()) as unknown as { weftPurge(k: string, ...a: string[]): Promise<number> }).weftPurge(set, ...more)) ?? 0;
  }

  /** Resolves once connected (until then, and during outages, the store fails open). */
  async connected(): Promise<void> {
    const r = await this.#r.get();
    if (r.status === 'ready') return;
    return new Promise((resolve) => r.once('ready', () => resolve()));
  }

  close(): void {
    this.#r.close();
  }
}

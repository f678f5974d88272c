/**
 * What the rate-limit filter keeps across config updates, owned by the Runtime like the cache's
 * stores (cache/stores.ts): one Redis connection per distinct Redis (address and timeout), shared
 * by every chain and policy that names it; the local token buckets of each policy rule; and the
 * decision counters /metrics shows. Chains are rebuilt on every update and take the same objects
 * again; a connection no chain took during an update is closed after it (mark and sweep).
 *
 * Global counting is one Lua script (GLOBAL_SCRIPT) run with EVALSHA (ioredis defineCommand:
 * loaded once, EVAL only after a NOSCRIPT), with auto-pipelining so concurrent requests share
 * round trips. It is atomic: it reads every counter a request touches, and only when all admit it
 * counts the request in each, so a refused request uses up nothing. Time is Redis's (TIME), one
 * clock for every replica.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

/**
 * KEYS: the counters. ARGV, four per key: kind ('s' sliding window, 'f' fixed window), limit,
 * then for 's' the window and bucket in ms, for 'f' the window's end (epoch ms) and 0.
 * Returns {denied, r1, t1, r2, t2, ...}: denied is 0 (counted in every key) or the 1-based index
 * of the first key at its limit (nothing counted); r = remaining after this request, t = ms
 * until the counter frees capacity (sliding: the oldest counted bucket leaves the window; fixed:
 * the window ends).
 *
 * A sliding window is a hash of per-bucket counts (a bucket is 1/60 of the window): the count is
 * the sum of the buckets inside the window, buckets that left it are deleted. Exact while no
 * bucket expires mid-burst; as the window slides, capacity comes back one bucket at a time.
 */
export const GLOBAL_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS
local out = {0}
local denied = 0
local cur = {}
for i = 1, n do
  local a = (i - 1) * 4
  local limit = tonumber(ARGV[a + 2])
  local p1 = tonumber(ARGV[a + 3])
  local count = 0
  local reset = 0
  if ARGV[a + 1] == 's' then
    local bms = tonumber(ARGV[a + 4])
    local nb = math.ceil(p1 / bms)
    local b = math.floor(now / bms)
    cur[i] = b
    local oldest = b - nb + 1
    local first = b
    local h = redis.call('HGETALL', KEYS[i])
    for j = 1, #h, 2 do
      local k = tonumber(h[j])
      if k < oldest then redis.call('HDEL', KEYS[i], h[j])
      else
        count = count + tonumber(h[j + 1])
        if k < first then first = k end
      end
    end
    reset = (first + nb) * bms - now
  else
    count = tonumber(redis.call('GET', KEYS[i]) or '0')
    reset = p1 - now
  end
  if count >= limit and denied == 0 then denied = i end
  out[2 * i] = limit - count
  out[2 * i + 1] = reset
end
if denied > 0 then
  out[1] = denied
  for i = 1, n do if out[2 * i] < 0 then out[2 * i] = 0 end end
  return out
end
for i = 1, n do
  local a = (i - 1) * 4
  local p1 = tonumber(ARGV[a + 3])
  if ARGV[a + 1] == 's' then
    redis.call('HINCRBY', KEYS[i], cur[i], 1)
    redis.call('PEXPIRE', KEYS[i], p1 + tonumber(ARGV[a + 4]))
  else
    if redis.call('INCR', KEYS[i]) == 1 then redis.call('PEXPIREAT', KEYS[i], p1 + 60000) end
  end
  out[2 * i] = out[2 * i] - 1
end
return out`;

const DOWN = new Error('Redis is unreachable');

/** One Redis, as the filter reaches it. */
export class RateLimitRedis {
  readonly #r: Redis;
  readonly address: string;
  /** Script calls that failed (timeout, no connection, error reply). */
  errors = 0;
  #up = false;
  #everUp = false;
  #log: Logger | undefined;

  constructor(host: string, port: number, timeoutMs: number, log: Logger | undefined) {
    this.address = `${host}:${port}`;
    this.#log = log;
    this.#r = new Redis({
      host,
      port,
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(1000, timeoutMs),
      // Before the first connection, commands wait in the offline queue, bounded by
      // commandTimeout (which ioredis arms when a command is queued); once an outage starts,
      // run() fails them at once instead (no request waits for a reconnect).
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      enableAutoPipelining: true,
      retryStrategy: (times) => Math.min(50 * times, 1000),
    });
    this.#r.defineCommand('weftRateLimit', { lua: GLOBAL_SCRIPT });
    // Every stream has an owner: a connection error is an outage, not a crash.
    this.#r.on('error', (e: Error) => this.#down(e.message));
    this.#r.on('close', () => this.#down('connection closed'));
    this.#r.on('ready', () => {
      this.#up = true;
      this.#everUp = true;
      this.#log?.info({ redis: this.address }, 'ratelimit: Redis reachable');
    });
  }

  #down(why: string): void {
    if (this.#up) this.#log?.warn({ redis: this.address, err: why }, 'ratelimit: Redis unreachable; global rules and quotas apply their fail mode');
    this.#up = false;
  }

  /** 1 while connected and ready. */
  get up(): boolean {
    return this.#up;
  }

  /** Runs the script: `args` is [numKeys, ...keys, ...argv]. */
  run(args: Array<string | number>): Promise<number[]> {
    if (!this.#up && this.#everUp) return Promise.reject(DOWN);
    return (this.#r as unknown as { weftRateLimit(a: Array<string | number>): Promise<number[]> }).weftRateLimit(args);
  }

  close(): void {
    this.#r.disconnect();
  }
}

/** A token bucket per descriptor value (a local rule). */
export interface Bucket {
  tokens: number;
  last: number;
  limit: number;
}

/** How a rule's requests were decided (the `result` label of weft_ratelimit_decisions_total). */
export interface RateLimitDecisions {
  allowed: number;
  limited: number;
  failedOpen: number;
  failedClosed: number;
}

/** Local buckets per descriptor value are bounded: past this, the oldest values are dropped. */
export const MAX_LOCAL_BUCKETS = 100_000;

export class RateLimitStores {
  readonly #redis = new Map<string, { conn: RateLimitRedis; marked: boolean }>();
  readonly #buckets = new Map<string, Map<string, Bucket>>();
  readonly #decisions = new Map<string, { policy: string; rule: string; c: RateLimitDecisions }>();
  #log: Logger | undefined;

  /** @param now the clock of local buckets, in ms (tests pass a fake one). */
  constructor(readonly now: () => number = () => performance.now()) {}

  setLogger(log: Logger): void {
    this.#log = log;
  }

  /** Before an update composes chains: connections not taken again are closed by sweep(). */
  mark(): void {
    for (const h of this.#redis.values()) h.marked = false;
  }

  sweep(): void {
    for (const [k, h] of this.#redis) {
      if (h.marked) continue;
      h.conn.close();
      this.#redis.delete(k);
    }
  }

  redis(host: string, port: number, timeoutMs: number): RateLimitRedis {
    const key = `${host}:${port}/${timeoutMs}`;
    let h = this.#redis.get(key);
    if (!h) this.#redis.set(key, (h = { conn: new RateLimitRedis(host, port, timeoutMs, this.#log), marked: true }));
    h.marked = true;
    return h.conn;
  }

  /** The buckets of one local rule (kept while the policy and rule keep their names). */
  buckets(policy: string, rule: string): Map<string, Bucket> {
    const key = `${policy}\0${rule}`;
    let m = this.#buckets.get(key);
    if (!m) this.#buckets.set(key, (m = new Map()));
    return m;
  }

  decisions(policy: string, rule: string): RateLimitDecisions {
    const key = `${policy}\0${rule}`;
    let d = this.#decisions.get(key);
    if (!d) this.#decisions.set(key, (d = { policy, rule, c: { allowed: 0, limited: 0, failedOpen: 0, failedClosed: 0 } }));
    return d.c;
  }

  allDecisions(): Iterable<{ readonly policy: string; readonly rule: string; readonly c: RateLimitDecisions }> {
    return this.#decisions.values();
  }

  connections(): RateLimitRedis[] {
    return [...this.#redis.values()].map((h) => h.conn);
  }

  close(): void {
    for (const h of this.#redis.values()) h.conn.close();
    this.#redis.clear();
  }
}

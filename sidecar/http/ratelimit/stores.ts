/**
 * What the rate-limit filter keeps across config updates, owned by the Runtime like the cache's
 * stores (cache/stores.ts): one Redis connection per distinct Redis (address and timeout), shared
 * by every chain and policy that names it; the local token buckets of each policy rule; and the
 * decision counters /metrics shows. Chains are rebuilt on every update and take the same objects
 * again; a connection no chain took during an update is closed after it (mark and sweep).
 *
 * Global counting is one Lua script (GLOBAL_SCRIPT) run with EVALSHA (ioredis defineCommand:
 * loaded once, EVAL only after a NOSCRIPT), with auto-pipelining; the requests of one event-loop
 * turn go in one call, so concurrent requests share round trips and client work. It is atomic
 * per request: it reads every counter a request touches, and only when all admit it counts the
 * request in each, so a refused request uses up nothing. Time is Redis's (TIME), one clock for
 * every replica.
 */
import type { Redis } from 'ioredis';
import { LazyRedis } from '../redis-client.js';
import type { Logger } from 'pino';

/**
 * One call decides a batch of requests, in order (each sees the counts of those before it).
 * ARGV[1] = the number of requests; then per request: its number of counters n, and four values
 * per counter: the kind, the limit, then for 's' (sliding window) the window and bucket in ms,
 * for 'f' (fixed window) its end in epoch ms and 0. KEYS: every request's counters, in order.
 * Returns, per request, 1 + 2n numbers: denied (0: counted in every counter; else the 1-based
 * index of the first counter at its limit, and nothing counted), then per counter r (remaining
 * after this request) and t (ms until it frees capacity: sliding, when the oldest counted bucket
 * leaves the window; fixed, when the window ends).
 *
 * A sliding window is a hash of per-bucket counts (a bucket is 1/50 of the window): the count is
 * the sum of the buckets inside the window; buckets that left it are deleted. Exact while no
 * bucket leaves mid-burst; as the window slides, capacity comes back one bucket at a time.
 */
export const GLOBAL_SCRIPT = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
local a = 2
local ki = 0
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  a = a + 1
  local base = #out
  out[base + 1] = 0
  local denied = 0
  local cur = {}
  for i = 1, n do
    local o = a + (i - 1) * 4
    local key = KEYS[ki + i]
    local limit = tonumber(ARGV[o + 1])
    local p1 = tonumber(ARGV[o + 2])
    local count = 0
    local reset = 0
    if ARGV[o] == 's' then
      local bms = tonumber(ARGV[o + 3])
      local nb = math.ceil(p1 / bms)
      local b = math.floor(now / bms)
      cur[i] = b
      local oldest = b - nb + 1
      local first = b
      local h = redis.call('HGETALL', key)
      for j = 1, #h, 2 do
        local k = tonumber(h[j])
        if k < oldest then redis.call('HDEL', key, h[j])
        else
          count = count + tonumber(h[j + 1])
          if k < first then first = k end
        end
      end
      reset = (first + nb) * bms - now
    else
      count = tonumber(redis.call('GET', key) or '0')
      reset = p1 - now
    end
    if count >= limit and denied == 0 then denied = i end
    out[base + 2 * i] = limit - count
    out[base + 2 * i + 1] = reset
  end
  if denied > 0 then
    out[base + 1] = denied
    for i = 1, n do if out[base + 2 * i] < 0 then out[base + 2 * i] = 0 end end
  else
    for i = 1, n do
      local o = a + (i - 1) * 4
      local key = KEYS[ki + i]
      local p1 = tonumber(ARGV[o + 2])
      if ARGV[o] == 's' then
        redis.call('HINCRBY', key, cur[i], 1)
        redis.call('PEXPIRE', key, p1 + tonumber(ARGV[o + 3]))
      elseif redis.call('INCR', key) == 1 then
        redis.call('PEXPIREAT', key, p1 + 60000)
      end
      out[base + 2 * i] = out[base + 2 * i] - 1
    end
  end
  a = a + n * 4
  ki = ki + n
end
return out`;

/** A request waiting for its batch's answer. */
export interface RateLimitWaiter {
  /** `out[at]` is denied, then r and t per counter (see GLOBAL_SCRIPT). */
  onResult(out: readonly number[], at: number): void;
  onError(): void;
}

/** Requests per script call at most (a longer batch is split): bounds one script's run time. */
const MAX_BATCH = 256;

/**
 * One Redis, as the filter reaches it. Requests that arrive in the same turn of the event loop
 * are decided by one script call (flushed on setImmediate): under load the client's per-command
 * work is shared by the batch, and a request costs an array push and its share of one reply.
 */
export class RateLimitRedis {
  /** Batches sent before ioredis has loaded wait for it, as for a first connect. */
  readonly #r: LazyRedis;
  readonly address: string;
  /** Script calls that failed (timeout, no connection, error reply), counted per request. */
  errors = 0;
  #up = false;
  #everUp = false;
  #log: Logger | undefined;
  // The batch being filled: [R, n1, argv..., n2, argv...] and the keys; one waiter per request.
  #argv: Array<string | number> = [0];
  #keys: string[] = [];
  #waiters: RateLimitWaiter[] = [];
  #counts: number[] = [];
  #pendingKeys = 0;
  #countAt = 0;
  #scheduled = false;
  readonly #flush = (): void => this.#send();

  constructor(host: string, port: number, timeoutMs: number, log: Logger | undefined) {
    this.address = `${host}:${port}`;
    this.#log = log;
    this.#r = new LazyRedis(
      {
        host,
        port,
        commandTimeout: timeoutMs,
        connectTimeout: Math.max(1000, timeoutMs),
        // Before the first connection, commands wait in the offline queue, bounded by
        // commandTimeout (which ioredis arms when a command is queued); once an outage starts,
        // batches fail at once instead (no request waits for a reconnect).
        enableOfflineQueue: true,
        maxRetriesPerRequest: 0,
        enableAutoPipelining: true,
        retryStrategy: (times) => Math.min(50 * times, 1000),
      },
      (r) => {
        r.defineCommand('weftRateLimit', { lua: GLOBAL_SCRIPT });
        // Every stream has an owner: a connection error is an outage, not a crash.
        r.on('error', (e: Error) => this.#down(e.message));
        r.on('close', () => this.#down('connection closed'));
        r.on('ready', () => {
          this.#up = true;
          this.#everUp = true;
          this.#log?.info({ redis: this.address }, 'ratelimit: Redis reachable');
        });
      },
    );
  }

  #down(why: string): void {
    if (this.#up) this.#log?.warn({ redis: this.address, err: why }, 'ratelimit: Redis unreachable; global rules and quotas apply their fail mode');
    this.#up = false;
  }

  /** 1 while connected and ready. */
  get up(): boolean {
    return this.#up;
  }

  /** Starts a request's part of the batch; then add() its counters and end() it. */
  begin(): void {
    this.#countAt = this.#argv.length;
    this.#argv.push(0);
    this.#pendingKeys = 0;
  }

  /** One counter: 's' (window ms, bucket ms) or 'f' (window end, 0). */
  add(key: string, kind: 's' | 'f', limit: number, p1: number, p2: number): void {
    this.#keys.push(key);
    this.#argv.push(kind, limit, p1, p2);
    this.#pendingKeys++;
  }

  end(w: RateLimitWaiter): void {
    this.#argv[this.#countAt] = this.#pendingKeys;
    this.#counts.push(this.#pendingKeys);
    this.#waiters.push(w);
    if (this.#waiters.length >= MAX_BATCH) this.#send();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  #send(): void {
    this.#scheduled = false;
    const waiters = this.#waiters;
    if (waiters.length === 0) return;
    const counts = this.#counts;
    const argv = this.#argv;
    const keys = this.#keys;
    this.#waiters = [];
    this.#counts = [];
    this.#argv = [0];
    this.#keys = [];
    if (!this.#up && this.#everUp) {
      this.errors += waiters.length;
      for (const w of waiters) w.onError();
      return;
    }
    argv[0] = waiters.length;
    const run = (r: Redis): Promise<number[]> => (r as unknown as { weftRateLimit(n: number, keys: string[], argv: Array<string | number>): Promise<number[]> }).weftRateLimit(keys.length, keys, argv);
    (this.#r.now ? run(this.#r.now) : this.#r.ready.then(run)).then(
      (out) => {
        // A reply of another shape (a script of another version under the same SHA) fails the
        // batch rather than misreading it.
        let expected = 0;
        for (const n of counts) expected += 1 + 2 * n;
        if (!Array.isArray(out) || out.length !== expected) {
          this.errors += waiters.length;
          for (const w of waiters) w.onError();
          return;
        }
        let at = 0;
        for (let i = 0; i < waiters.length; i++) {
          const w = waiters[i]!;
          // One waiter failing on its reply must not strand the rest of the batch.
          try {
            w.onResult(out, at);
          } catch {
            this.errors++;
            w.onError();
          }
          at += 1 + 2 * counts[i]!;
        }
      },
      () => {
        this.errors += waiters.length;
        for (const w of waiters) w.onError();
      },
    );
  }

  close(): void {
    this.#r.close();
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

/**
 * ioredis, loaded the first time a filter names a Redis (a rate-limit rule with a global store, a
 * Redis cache): a sidecar without one never loads it (about 2 MB of heap). Callers hold the
 * promise and queue their commands behind it, as ioredis queues them before its first connect.
 */
import type { Redis, RedisOptions } from 'ioredis';

let lib: Promise<typeof Redis> | undefined;

/** A new ioredis client with these options, once the library is loaded. */
export function newRedis(options: RedisOptions): Promise<Redis> {
  return (lib ??= import('ioredis').then((m) => m.Redis)).then((R) => new R(options));
}

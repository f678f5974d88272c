/**
 * ioredis, loaded the first time a filter names a Redis (a rate-limit rule with a global store, a
 * Redis cache): a sidecar without one never loads it (about 2 MB of heap). A LazyRedis is the
 * client its owner holds from the start: commands queue behind the load, as ioredis queues them
 * before its first connect, and close() before the load ends still disconnects it.
 */
import type { Redis, RedisOptions } from 'ioredis';

let lib: Promise<typeof Redis> | undefined;

export class LazyRedis {
  #r: Redis | undefined;
  #closed = false;
  /** The client, once ioredis is loaded and `setup` (commands, event handlers) has run on it. */
  readonly ready: Promise<Redis>;

  constructor(options: RedisOptions, setup: (r: Redis) => void) {
    this.ready = (lib ??= import('ioredis').then((m) => m.Redis)).then((R) => {
      const r = new R(options);
      setup(r);
      if (this.#closed) r.disconnect();
      return (this.#r = r);
    });
  }

  /** The client now (undefined for the first few ms, while ioredis loads). */
  get now(): Redis | undefined {
    return this.#r;
  }

  /** The client now, or the promise of it. */
  get(): Redis | Promise<Redis> {
    return this.#r ?? this.ready;
  }

  close(): void {
    this.#closed = true;
    this.#r?.disconnect();
  }
}

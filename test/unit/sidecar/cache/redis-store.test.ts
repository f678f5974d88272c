// The Redis cache store against a real redis-server: two stores on one server are two gateway
// replicas sharing entries; variants by Vary; expiry by TTL; purge by tag and by URL seen by both
// replicas; and failing open when Redis is down (misses, dropped inserts, counted errors), then
// working again once it is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../../../sidecar/http/cache/redis-store.js';
import type { StoredResponse } from '../../../../sidecar/http/cache/store.js';
import { variantKey } from '../../../../sidecar/http/cache/policy.js';
import { eventually } from '../../../harness/processes.js';
import { startRedis, type RedisProc } from '../../../harness/redis.js';

const entry = (body: string, o: Partial<StoredResponse> = {}): StoredResponse => ({ status: 200, headers: { 'cache-control': 'max-age=60', etag: '"1"' }, body: Buffer.from(body), responseTime: 1234, initialAge: 2, lifetime: 60, vary: [], tags: [], ...o });
const none = () => undefined;

describe('RedisStore', () => {
  let redis: RedisProc;
  let a: RedisStore;
  let b: RedisStore;
  let prefix = 0;
  const store = (p: string) => new RedisStore({ host: '127.0.0.1', port: redis.port, keyPrefix: p, commandTimeoutMs: 500, database: 0 });
  const pair = () => {
    const p = `t${prefix++}:`;
    return [store(p), store(p)] as const;
  };

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = pair();
    await Promise.all([a.connected(), b.connected()]);
  });
  afterAll(async () => {
    a?.close();
    b?.close();
    await redis?.stop();
  });

  it('shares entries between replicas, body and metadata intact', async () => {
    const body = Buffer.from([0, 1, 2, 255, 254]);
    await a.insert('shop/x', '', entry('', { body, tags: ['t'] }), 60_000);
    const got = await b.lookup('shop/x', none);
    expect(got).toMatchObject({ status: 200, headers: { etag: '"1"' }, responseTime: 1234, initialAge: 2, lifetime: 60, vary: [], tags: ['t'] });
    expect(got!.body.equals(body)).toBe(true);
    expect(await b.lookup('shop/other', none)).toBeUndefined();
  });

  it('selects the variant by the request\'s Vary fields; a new Vary replaces the variants', async () => {
    const gz = (n: string) => (n === 'accept-encoding' ? 'gzip' : undefined);
    const br = (n: string) => (n === 'accept-encoding' ? 'br' : undefined);
    await a.insert('shop/v', variantKey(['accept-encoding'], gz), entry('gz', { vary: ['accept-encoding'] }), 60_000);
    await a.insert('shop/v', variantKey(['accept-encoding'], br), entry('br', { vary: ['accept-encoding'] }), 60_000);
    expect([(await b.lookup('shop/v', gz))?.body.toString(), (await b.lookup('shop/v', br))?.body.toString(), await b.lookup('shop/v', none)]).toEqual(['gz', 'br', undefined]);
    await b.insert('shop/v', '', entry('plain'), 60_000);
    expect((await a.lookup('shop/v', gz))?.body.toString()).toBe('plain');
  });

  it('lets entries expire with their TTL', async () => {
    await a.insert('shop/ttl', '', entry('t'), 100);
    expect(await b.lookup('shop/ttl', none)).toBeDefined();
    await eventually(async () => (await b.lookup('shop/ttl', none)) === undefined, 5000, 20);
  });

  it('purges by tag and by URL for every replica', async () => {
    await a.insert('shop/p1', '', entry('1', { tags: ['product-1', 'shelf'] }), 60_000);
    await a.insert('shop/p2', '', entry('2', { tags: ['shelf'] }), 60_000);
    await a.insert('shop/p3', '', entry('3'), 60_000);
    expect(await b.purgeTag('product-1')).toBe(1);
    expect([await a.lookup('shop/p1', none), (await a.lookup('shop/p2', none))?.body.toString()]).toEqual([undefined, '2']);
    expect(await b.purgeTag('shelf')).toBe(2); // p1's key is still in the set: removing it again is harmless
    expect(await a.lookup('shop/p2', none)).toBeUndefined();
    expect(await b.purgeKey('shop/p3')).toBe(1);
    expect(await a.lookup('shop/p3', none)).toBeUndefined();
    expect(await b.purgeTag('nothing')).toBe(0);
  });

  it('fails open while Redis is down and recovers when it is back', async () => {
    const port = redis.port;
    const [c, d] = pair();
    try {
      await Promise.all([c.connected(), d.connected()]);
      await c.insert('shop/down', '', entry('d'), 60_000);
      await redis.stop();
      const t0 = performance.now();
      expect(await d.lookup('shop/down', none)).toBeUndefined();
      await c.insert('shop/down2', '', entry('d'), 60_000); // dropped, no throw
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(d.stats.errors).toBeGreaterThan(0);
      expect(c.stats.errors).toBeGreaterThan(0);
      await expect(d.purgeTag('x')).rejects.toThrow();
      redis = await startRedis({ port });
      await eventually(async () => {
        await c.insert('shop/up', '', entry('u'), 60_000);
        return (await d.lookup('shop/up', none))?.body.toString() === 'u';
      }, 10_000, 100);
    } finally {
      c.close();
      d.close();
    }
  });
});

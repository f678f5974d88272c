// The rate-limit filter's global rules and quotas against a real redis-server
// (test/harness/redis.ts): the Lua script is exact under concurrency (five proxies, each with its
// own connection, racing for one limit), quotas count per calendar window with keys that expire,
// a refused request uses up nothing, fail open / fail closed when Redis is stopped mid-test (and
// the state shows in what /metrics reads), recovery once Redis is back, and a Redis that accepts
// but never answers cannot hold requests past the timeout.
import net from 'node:net';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimit_FailMode, RateLimitRule_QuotaPeriod, RateLimitSchema } from '../../../proto/gen/weft/v1/ratelimit_pb.js';
import { calendarWindow, compile, rateLimitFilter } from '../../../sidecar/http/filters/ratelimit.js';
import { RateLimitStores } from '../../../sidecar/http/ratelimit/stores.js';
import { RequestInfo, type Handler, type RequestHead, type ResponseHeaders, type ResponseSink } from '../../../sidecar/http/filter.js';
import { Problems } from '../../../sidecar/xds/types/decoded.js';
import { eventually } from '../../harness/processes.js';
import { startRedis, type RedisProc } from '../../harness/redis.js';

type Init = MessageInitShape<typeof RateLimitSchema>;
const consumer = { kind: { case: 'consumer' as const, value: true } };

interface Answer {
  status: number;
  headers: ResponseHeaders;
}

function request(): RequestHead {
  return { h2: false, grpc: false, method: 'GET', authority: 'api.example', path: '/', search: '', upgrade: undefined, remoteAddress: '10.0.0.1', principal: undefined, secure: false, hasBody: false, body: undefined as never, header: () => undefined, rawPairs: () => [] };
}

/** One proxy's filter (its own stores, so its own Redis connection). */
function proxy(init: Init) {
  const p = new Problems('test');
  const cfg = compile(create(RateLimitSchema, init), p, 'rl');
  if (!cfg) throw new Error(p.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  const stores = new RateLimitStores();
  const handler: Handler = rateLimitFilter(cfg, stores)((_req, res) => res.writeHead(200, {}, true));
  return {
    stores,
    decisions: () => [...stores.allDecisions()].map((d) => ({ rule: d.rule, ...d.c })),
    send(o: { consumer?: string; plan?: string } = {}): Promise<Answer> {
      return new Promise((resolve) => {
        const info = new RequestInfo();
        info.consumer = o.consumer ?? '';
        info.plan = o.plan ?? '';
        const done = (status: number, headers: ResponseHeaders) => resolve({ status, headers });
        const sink: ResponseSink = {
          headersSent: false,
          writeHead: (s, h) => done(s, h),
          write: () => true,
          onceDrain: () => {},
          end: () => {},
          respondTrailersOnly: (h) => done(200, h),
          respondSimple: (s, h) => done(s, h),
          abort: () => {},
          onClientGone: () => {},
          closeAfterResponse: () => {},
        };
        handler(request(), sink, info);
      });
    },
    close: () => stores.close(),
  };
}

/** Waits until the proxy's connection is ready (before that a request may fail open or closed). */
const ready = (p: { stores: RateLimitStores }) => eventually(() => p.stores.connections()[0]!.up);

const redisOf = (r: { address: string }, prefix: string, timeoutMs = 200) => ({ address: r.address, keyPrefix: prefix, timeout: { seconds: 0n, nanos: timeoutMs * 1e6 } });

let redis: RedisProc;
let admin: Redis;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis({ port: redis.port, host: '127.0.0.1' });
  admin.on('error', () => {});
}, 30_000);
afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});

describe('global rules: the sliding window in Redis', () => {
  it('five proxies racing for 600/min admit exactly 600 of 1000', async () => {
    const init: Init = { policy: 'default/race', rules: [{ name: 'per-consumer', descriptor: [consumer], requests: 600, window: { seconds: 60n } }], redis: redisOf(redis, 'race:') };
    const proxies = Array.from({ length: 5 }, () => proxy(init));
    // Connected, and the script loaded, so the race is a race.
    await eventually(() => proxies.every((p) => p.stores.connections()[0]!.up));
    expect((await Promise.all(proxies.map((p) => p.send({ consumer: 'warm' })))).map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    const answers = await Promise.all(Array.from({ length: 1000 }, (_, i) => proxies[i % 5]!.send({ consumer: 'alice' })));
    const ok = answers.filter((a) => a.status === 200).length;
    expect(ok).toBe(600);
    expect(answers.filter((a) => a.status === 429).length).toBe(400);
    const refused = answers.find((a) => a.status === 429)!;
    expect(refused.headers).toMatchObject({ 'x-weft-error': 'RATE_LIMITED', 'ratelimit-policy': '"per-consumer";q=600;w=60', ratelimit: expect.stringMatching(/^"per-consumer";r=0;t=(59|60)$/) });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    const allowed = proxies.reduce((n, p) => n + p.decisions()[0]!.allowed, 0);
    const limited = proxies.reduce((n, p) => n + p.decisions()[0]!.limited, 0);
    // 600 for alice, one warm-up request per proxy.
    expect([allowed, limited]).toEqual([605, 400]);
    // One hash per descriptor value, expiring with the window.
    const ttl = await admin.pttl('race:r:per-consumer:alice');
    expect(ttl).toBeGreaterThan(55_000);
    // The window and one bucket (1/50 of it).
    expect(ttl).toBeLessThanOrEqual(61_200);
    for (const p of proxies) p.close();
  });

  it('decides the requests of one batch in order, each consumer apart', async () => {
    const p = proxy({ policy: 'default/batch', rules: [{ name: 'c', descriptor: [consumer], requests: 3, window: { seconds: 60n } }], redis: redisOf(redis, 'batch:') });
    await ready(p);
    // Sent in one turn of the event loop: one script call decides all 50.
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => p.send({ consumer: `u${i % 5}` }).then((a) => [i % 5, a] as const)));
    const admitted = [0, 1, 2, 3, 4].map((u) => answers.filter(([c, a]) => c === u && a.status === 200).length);
    expect(admitted).toEqual([3, 3, 3, 3, 3]);
    // The first three of each consumer, in arrival order.
    expect(answers.filter(([, a]) => a.status === 200).map(([c]) => c)).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    p.close();
  });

  it('counts a request only when every counter has room (a refused request uses up nothing)', async () => {
    const p = proxy({
      policy: 'default/both',
      rules: [
        { name: 'wide', descriptor: [consumer], requests: 5, window: { seconds: 60n } },
        { name: 'narrow', descriptor: [consumer], requests: 2, window: { seconds: 60n } },
      ],
      redis: redisOf(redis, 'both:'),
    });
    await ready(p);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await p.send({ consumer: 'c' })).status);
    expect(statuses).toEqual([200, 200, 429, 429]);
    expect(await admin.hvals('both:r:wide:c')).toEqual(['2']);
    p.close();
  });

  it('slides: capacity comes back as the counted requests leave the window', async () => {
    const p = proxy({ policy: 'default/slide', rules: [{ name: 'c', descriptor: [consumer], requests: 3, window: { seconds: 1n } }], redis: redisOf(redis, 'slide:') });
    await ready(p);
    const first = [];
    for (let i = 0; i < 4; i++) first.push(await p.send({ consumer: 'c' }));
    expect(first.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(first[3]!.headers['retry-after']).toBe(1);
    const t0 = Date.now();
    await eventually(async () => (await p.send({ consumer: 'c' })).status === 200, 3000, 50);
    expect(Date.now() - t0).toBeLessThan(1500);
    p.close();
  });

  it("per-plan limits: the consumer's plan picks the limit", async () => {
    const p = proxy({ policy: 'default/plans', rules: [{ name: 'c', descriptor: [consumer], requests: 1, window: { seconds: 60n }, planRequests: { gold: 3 } }], redis: redisOf(redis, 'plans:') });
    await ready(p);
    const gold = [];
    for (let i = 0; i < 4; i++) gold.push((await p.send({ consumer: 'g', plan: 'gold' })).status);
    expect(gold).toEqual([200, 200, 200, 429]);
    expect([(await p.send({ consumer: 'f', plan: 'free' })).status, (await p.send({ consumer: 'f', plan: 'free' })).status]).toEqual([200, 429]);
    p.close();
  });
});

describe('quotas: calendar windows in Redis', () => {
  it('admits the quota per consumer in the current UTC day, then 429 QUOTA_EXCEEDED until the day ends; the key expires with it', async () => {
    const p = proxy({ policy: 'default/quota', rules: [{ name: 'daily', descriptor: [consumer], requests: 3, quotaPeriod: RateLimitRule_QuotaPeriod.DAY }], redis: redisOf(redis, 'quota:') });
    await ready(p);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await p.send({ consumer: 'alice' }));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    const w = calendarWindow(RateLimitRule_QuotaPeriod.DAY, Date.now());
    expect(answers[0]!.headers['ratelimit-policy']).toBe('"daily";q=3');
    expect(answers[3]!.headers['x-weft-error']).toBe('QUOTA_EXCEEDED');
    const toMidnight = Math.ceil((w.end - Date.now()) / 1000);
    expect(Math.abs(Number(answers[3]!.headers['retry-after']) - toMidnight)).toBeLessThanOrEqual(2);
    // Another consumer has its own quota.
    expect((await p.send({ consumer: 'bob' })).status).toBe(200);
    const key = `quota:q:daily:${w.start / 1000}:alice`;
    expect(await admin.get(key)).toBe('3');
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(w.end - Date.now());
    expect(ttl).toBeLessThanOrEqual(w.end - Date.now() + 61_000);
    p.close();
  });
});

describe('Redis unreachable', () => {
  it('fail open admits and counts failed_open, fail closed answers 503 RATE_LIMIT_UNAVAILABLE; both recover when Redis is back', async () => {
    const r2 = await startRedis();
    const rule = { name: 'c', descriptor: [consumer], requests: 100, window: { seconds: 60n } };
    const open = proxy({ policy: 'default/open', rules: [rule], redis: redisOf(r2, 'o:'), failMode: RateLimit_FailMode.OPEN });
    const closed = proxy({ policy: 'default/closed', rules: [rule], redis: redisOf(r2, 'c:'), failMode: RateLimit_FailMode.CLOSED });
    expect((await open.send({ consumer: 'a' })).status).toBe(200);
    expect((await closed.send({ consumer: 'a' })).status).toBe(200);
    expect(open.stores.connections()[0]!.up).toBe(true);
    await r2.stop();
    await eventually(() => !open.stores.connections()[0]!.up && !closed.stores.connections()[0]!.up);
    const o = await open.send({ consumer: 'a' });
    expect(o.status).toBe(200);
    const c = await closed.send({ consumer: 'a' });
    expect([c.status, c.headers['x-weft-error']]).toEqual([503, 'RATE_LIMIT_UNAVAILABLE']);
    expect(open.decisions()[0]).toMatchObject({ allowed: 1, failedOpen: 1 });
    expect(closed.decisions()[0]).toMatchObject({ allowed: 1, failedClosed: 1 });
    expect(open.stores.connections()[0]!.errors).toBe(1);
    // Back on the same port: counting resumes (ioredis reconnects; the script is loaded again on NOSCRIPT).
    const back = await startRedis({ port: r2.port });
    await eventually(async () => (await closed.send({ consumer: 'a' })).status === 200, 10_000, 100);
    expect(closed.stores.connections()[0]!.up).toBe(true);
    await ready(open);
    expect((await open.send({ consumer: 'a' })).headers.ratelimit).toMatch(/^"c";r=99;t=/);
    open.close();
    closed.close();
    await back.stop();
  }, 40_000);

  it('a Redis that accepts but never answers holds no request past the timeout', async () => {
    const sockets = new Set<net.Socket>();
    const hung = net.createServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => hung.listen(0, '127.0.0.1', r));
    const port = (hung.address() as net.AddressInfo).port;
    const p = proxy({ policy: 'default/hung', rules: [{ name: 'c', descriptor: [consumer], requests: 5, window: { seconds: 60n } }], redis: redisOf({ address: `127.0.0.1:${port}` }, 'h:', 100), failMode: RateLimit_FailMode.CLOSED });
    const t0 = performance.now();
    const answers = await Promise.all([1, 2, 3].map(() => p.send({ consumer: 'a' })));
    const ms = performance.now() - t0;
    expect(answers.map((a) => a.status)).toEqual([503, 503, 503]);
    // Refused at once while not connected (no offline queue), at most the connect timeout otherwise.
    expect(ms).toBeLessThan(1500);
    expect(p.decisions()[0]).toMatchObject({ failedClosed: 3 });
    p.close();
    for (const s of sockets) s.destroy();
    hung.close();
  });
});

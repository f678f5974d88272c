// The rate-limit filter in process, local rules only (global rules and quotas need Redis:
// test/integration/ratelimit-redis.test.ts): descriptors (consumer, plan, JWT claim, client IP,
// header, route, service; skipped or counted under missingValue), the token bucket on a fake
// clock, the IETF RateLimit fields and Retry-After, per-plan limits, calendar windows, and a
// config the proxy cannot run refused with its field path.
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { RateLimitRule_QuotaPeriod, RateLimitRule_Scope, RateLimitSchema } from '../../../../proto/gen/weft/v1/ratelimit_pb.js';
import { calendarWindow, compile, rateLimitFilter, type RateLimitConfig } from '../../../../sidecar/http/filters/ratelimit.js';
import { RateLimitStores } from '../../../../sidecar/http/ratelimit/stores.js';
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from '../../../../sidecar/http/filter.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';

type Init = MessageInitShape<typeof RateLimitSchema>;
const minute = { seconds: 60n, nanos: 0 };

function config(init: Init): RateLimitConfig {
  const p = new Problems('test');
  const c = compile(create(RateLimitSchema, init), p, 'rl');
  if (!c) throw new Error(p.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return c;
}

function problems(init: Init): string[] {
  const p = new Problems('test');
  compile(create(RateLimitSchema, init), p, 'rl');
  return p.errors.map((e) => `${e.path}: ${e.message}`);
}

interface Answer {
  status: number;
  headers: ResponseHeaders;
  /** The request reached the next handler (the upstream). */
  passed: boolean;
}

function request(o: { headers?: Record<string, string>; ip?: string } = {}): RequestHead {
  const h = o.headers ?? {};
  return { h2: false, grpc: false, method: 'GET', authority: 'api.example', path: '/', search: '', upgrade: undefined, remoteAddress: o.ip ?? '10.0.0.1', principal: undefined, secure: false, hasBody: false, body: undefined as never, header: (n) => h[n], rawPairs: () => [] };
}

function sink(a: Answer): ResponseSink {
  return {
    headersSent: false,
    writeHead: (status, headers) => Object.assign(a, { status, headers }),
    write: () => true,
    onceDrain: () => {},
    end: () => {},
    respondTrailersOnly: (headers) => Object.assign(a, { status: 200, headers }),
    respondSimple: (status, headers) => Object.assign(a, { status, headers }),
    abort: () => {},
    onClientGone: () => {},
    closeAfterResponse: () => {},
  };
}

/** A filter on a fake clock; `send` runs one request through it and says what came back. */
function harness(init: Init) {
  let t = 1_000_000;
  const stores = new RateLimitStores(() => t);
  const handler = rateLimitFilter(config(init), stores)((_req, res) => res.writeHead(200, {}, true));
  return {
    stores,
    advance: (ms: number) => void (t += ms),
    send(o: { consumer?: string; plan?: string; apiKey?: string; jwt?: Record<string, unknown>; route?: string; cluster?: string; headers?: Record<string, string>; ip?: string } = {}): Answer {
      const info = new RequestInfo();
      info.consumer = o.consumer ?? '';
      info.plan = o.plan ?? '';
      info.apiKey = o.apiKey ?? '';
      if (o.jwt) info.jwt = { provider: 'p', issuer: 'i', subject: 's', payload: o.jwt };
      info.routeName = o.route ?? '';
      if (o.cluster) info.route = { cluster: o.cluster } as never;
      const a: Answer = { status: 0, headers: {}, passed: false };
      handler(request(o), sink(a), info);
      a.passed = a.status === 200;
      if (a.status === 429) expect(info.weftError).toBe('RATE_LIMITED');
      return a;
    },
  };
}

const local = (name: string, descriptor: Init['rules'] extends (infer R)[] | undefined ? R extends { descriptor?: infer D } ? D : never : never, requests: number, extra: Record<string, unknown> = {}) => ({ name, descriptor, requests, window: minute, scope: RateLimitRule_Scope.LOCAL, ...extra });
const consumerPart = { kind: { case: 'consumer' as const, value: true } };

describe('local rules: the token bucket', () => {
  it('admits `requests` at once, then refills one token per window/requests on the clock', () => {
    const h = harness({ policy: 'default/p', rules: [local('per-consumer', [consumerPart], 3)] });
    for (let i = 0; i < 3; i++) expect(h.send({ consumer: 'alice' }).passed).toBe(true);
    const refused = h.send({ consumer: 'alice' });
    expect(refused.status).toBe(429);
    // One token every 20 s (3 per minute).
    expect(refused.headers['retry-after']).toBe(20);
    h.advance(19_999);
    expect(h.send({ consumer: 'alice' }).status).toBe(429);
    h.advance(1);
    expect(h.send({ consumer: 'alice' }).passed).toBe(true);
    expect(h.send({ consumer: 'alice' }).status).toBe(429);
    // Another consumer has a bucket of its own.
    expect(h.send({ consumer: 'bob' }).passed).toBe(true);
    const d = [...h.stores.allDecisions()][0]!;
    expect(d).toMatchObject({ policy: 'default/p', rule: 'per-consumer', c: { allowed: 5, limited: 3, failedOpen: 0, failedClosed: 0 } });
  });

  it('never holds more than `requests` tokens, however long it idles', () => {
    const h = harness({ policy: 'default/p', rules: [local('ip', [{ kind: { case: 'clientIp', value: true } }], 2)] });
    h.advance(3_600_000);
    expect([h.send(), h.send(), h.send()].map((a) => a.status)).toEqual([200, 200, 429]);
  });
});

describe('the RateLimit fields (draft-ietf-httpapi-ratelimit-headers-09)', () => {
  it('carries RateLimit-Policy and RateLimit on admitted answers and on the 429 (with Retry-After)', () => {
    const h = harness({ policy: 'default/p', rules: [local('per-consumer', [consumerPart], 3)] });
    const first = h.send({ consumer: 'alice' });
    expect(first.headers).toEqual({ 'ratelimit-policy': '"per-consumer";q=3;w=60', ratelimit: '"per-consumer";r=2;t=20' });
    h.send({ consumer: 'alice' });
    expect(h.send({ consumer: 'alice' }).headers.ratelimit).toBe('"per-consumer";r=0;t=60');
    const refused = h.send({ consumer: 'alice' });
    expect(refused.headers).toMatchObject({ 'ratelimit-policy': '"per-consumer";q=3;w=60', ratelimit: '"per-consumer";r=0;t=20', 'retry-after': 20, 'x-weft-error': 'RATE_LIMITED' });
  });

  it('names the rule with the least room left when several apply', () => {
    const h = harness({ policy: 'default/p', rules: [local('wide', [{ kind: { case: 'clientIp', value: true } }], 100), local('narrow', [consumerPart], 2)] });
    expect(h.send({ consumer: 'alice' }).headers).toEqual({ 'ratelimit-policy': '"narrow";q=2;w=60', ratelimit: '"narrow";r=1;t=30' });
    // Without a consumer only the IP rule applies.
    expect(h.send().headers).toEqual({ 'ratelimit-policy': '"wide";q=100;w=60', ratelimit: '"wide";r=98;t=2' });
  });

  it('leaves answers alone when no rule applied', () => {
    const h = harness({ policy: 'default/p', rules: [local('per-consumer', [consumerPart], 1)] });
    expect(h.send()).toEqual({ status: 200, headers: {}, passed: true });
    expect(h.send()).toEqual({ status: 200, headers: {}, passed: true });
  });
});

describe('descriptors', () => {
  it('skips a request without the value, or counts it under missingValue', () => {
    const skip = harness({ policy: 'default/p', rules: [local('c', [consumerPart], 1)] });
    expect([skip.send(), skip.send(), skip.send()].every((a) => a.passed)).toBe(true);
    const count = harness({ policy: 'default/p', rules: [local('c', [consumerPart], 1, { countMissing: true, missingValue: 'anonymous' })] });
    expect([count.send(), count.send()].map((a) => a.status)).toEqual([200, 429]);
    // A named consumer is not 'anonymous'.
    expect(count.send({ consumer: 'alice' }).status).toBe(200);
  });

  it('counts each combination of a multi-part descriptor apart (consumer + header)', () => {
    const h = harness({ policy: 'default/p', rules: [local('c', [consumerPart, { kind: { case: 'header', value: 'x-tenant' } }], 1)] });
    expect(h.send({ consumer: 'alice', headers: { 'x-tenant': 'a' } }).status).toBe(200);
    expect(h.send({ consumer: 'alice', headers: { 'x-tenant': 'b' } }).status).toBe(200);
    expect(h.send({ consumer: 'bob', headers: { 'x-tenant': 'a' } }).status).toBe(200);
    expect(h.send({ consumer: 'alice', headers: { 'x-tenant': 'a' } }).status).toBe(429);
    // Missing one part: skipped.
    expect(h.send({ consumer: 'alice' }).status).toBe(200);
    expect(h.send({ consumer: 'alice' }).status).toBe(200);
  });

  it('reads JWT claims (strings and numbers), the plan, the route and the service', () => {
    const claim = harness({ policy: 'default/p', rules: [local('tenant', [{ kind: { case: 'jwtClaim', value: 'tid' } }], 1)] });
    expect([claim.send({ jwt: { tid: 7 } }).status, claim.send({ jwt: { tid: 7 } }).status, claim.send({ jwt: { tid: '7b' } }).status]).toEqual([200, 429, 200]);
    // An object claim is not a value: skipped.
    expect([claim.send({ jwt: { tid: { a: 1 } } }).status, claim.send({ jwt: { tid: { a: 1 } } }).status]).toEqual([200, 200]);
    const plan = harness({ policy: 'default/p', rules: [local('plan', [{ kind: { case: 'plan', value: true } }], 1)] });
    expect([plan.send({ plan: 'free', consumer: 'a' }).status, plan.send({ plan: 'free', consumer: 'b' }).status, plan.send({ plan: 'gold' }).status]).toEqual([200, 429, 200]);
    const route = harness({ policy: 'default/p', rules: [local('r', [{ kind: { case: 'route', value: true } }], 1)] });
    expect([route.send({ route: 'a' }).status, route.send({ route: 'a' }).status, route.send({ route: 'b' }).status]).toEqual([200, 429, 200]);
    const svc = harness({ policy: 'default/p', rules: [local('s', [{ kind: { case: 'service', value: true } }], 1)] });
    expect([svc.send({ cluster: 'orders' }).status, svc.send({ cluster: 'orders' }).status, svc.send({ cluster: 'users' }).status]).toEqual([200, 429, 200]);
    const ip = harness({ policy: 'default/p', rules: [local('ip', [{ kind: { case: 'clientIp', value: true } }], 1)] });
    expect([ip.send({ ip: '10.0.0.1' }).status, ip.send({ ip: '10.0.0.1' }).status, ip.send({ ip: '10.0.0.2' }).status]).toEqual([200, 429, 200]);
  });
});

describe('per-plan limits', () => {
  it("a consumer's plan picks its limit; other plans get `requests`", () => {
    const h = harness({ policy: 'default/p', rules: [local('c', [consumerPart], 1, { planRequests: { gold: 3, blocked: 0 } })] });
    expect([1, 2, 3, 4].map(() => h.send({ consumer: 'g', plan: 'gold' }).status)).toEqual([200, 200, 200, 429]);
    expect(h.send({ consumer: 'g', plan: 'gold' }).headers['ratelimit-policy']).toBe('"c";q=3;w=60');
    expect([1, 2].map(() => h.send({ consumer: 'f', plan: 'free' }).status)).toEqual([200, 429]);
    expect(h.send({ consumer: 'b', plan: 'blocked' }).status).toBe(429);
  });
});

describe('calendar windows (UTC)', () => {
  const at = (s: string) => Date.parse(s);
  const iso = (w: { start: number; end: number }) => [new Date(w.start).toISOString(), new Date(w.end).toISOString()];
  it('hours, days, weeks from Monday, months of their own length', () => {
    expect(iso(calendarWindow(RateLimitRule_QuotaPeriod.HOUR, at('2026-12-03T03:59:59.999Z')))).toEqual(['2026-12-03T03:00:00.000Z', '2026-12-03T04:00:00.000Z']);
    expect(iso(calendarWindow(RateLimitRule_QuotaPeriod.DAY, at('2026-12-03T23:59:59Z')))).toEqual(['2026-12-03T00:00:00.000Z', '2026-12-04T00:00:00.000Z']);
    // 2026-12-03 is a Thursday; 2026-12-07 a Monday.
    expect(iso(calendarWindow(RateLimitRule_QuotaPeriod.WEEK, at('2026-12-03T12:00:00Z')))).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z']);
    expect(iso(calendarWindow(RateLimitRule_QuotaPeriod.WEEK, at('2026-12-07T00:00:00Z')))).toEqual(['2026-12-07T00:00:00.000Z', '2026-12-14T00:00:00.000Z']);
    expect(iso(calendarWindow(RateLimitRule_QuotaPeriod.MONTH, at('2028-02-29T10:00:00Z')))).toEqual(['2028-02-01T00:00:00.000Z', '2028-03-01T00:00:00.000Z']);
    expect(iso(calendarWindow(RateLimitRule_QuotaPeriod.MONTH, at('2026-12-31T23:59:59Z')))).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });
});

describe('what the proxy refuses (NACK), with the field path', () => {
  it('global rules and quotas without Redis, Redis or fail mode with only local rules, bad windows and names', () => {
    expect(problems({ policy: 'default/p', rules: [{ name: 'g', descriptor: [consumerPart], requests: 1, window: minute }] })).toEqual(['rl.redis: is required: a rule is global or a quota']);
    expect(problems({ policy: 'default/p', rules: [local('l', [consumerPart], 1)], redis: { address: '127.0.0.1:6379', keyPrefix: 'x:', timeout: { seconds: 1n } } })).toEqual(['rl.redis: has no effect: every rule is local']);
    expect(problems({ policy: 'default/p', rules: [local('l', [consumerPart], 1), local('l', [], 0, { window: { seconds: 0n, nanos: 5e8 } })] })).toEqual([
      "rl.rules[1].name: 'l' is used by another rule",
      'rl.rules[1].descriptor: needs at least one entry',
      'rl.rules[1].requests: must be at least 1',
      'rl.rules[1].window: must be whole seconds from 1s to 24h',
    ]);
    expect(problems({ policy: 'default/p', rules: [{ name: 'q', descriptor: [consumerPart], requests: 1, window: minute, quotaPeriod: RateLimitRule_QuotaPeriod.DAY, scope: RateLimitRule_Scope.LOCAL }] })).toEqual([
      'rl.rules[0].window: is the calendar window of quota_period for a quota',
      'rl.rules[0].scope: a quota is counted in Redis (GLOBAL)',
    ]);
    expect(problems({ policy: 'default/p', rules: [{ name: 'g', descriptor: [consumerPart], requests: 1, window: minute }], redis: { address: 'nope', keyPrefix: '', timeout: { seconds: 11n } } })).toEqual([
      "rl.redis.address: 'nope' is not host:port",
      'rl.redis.key_prefix: is required',
      'rl.redis.timeout: must be more than 0 and at most 10s',
    ]);
    expect(problems({ policy: 'default/p', rules: [local('l', [{ kind: { case: 'header', value: 'X-Tenant' } }, {}], 1, { countMissing: true })] })).toEqual([
      'rl.rules[0].descriptor[0].header: must be a lowercase header name',
      'rl.rules[0].descriptor[1]: sets no entry kind',
      'rl.rules[0].missing_value: is set exactly when count_missing is',
    ]);
  });
});

describe('the apiKey descriptor', () => {
  it('counts each key of a consumer apart, and skips a request without a key (a JWT-mapped consumer)', () => {
    const h = harness({ policy: 'default/p', rules: [local('per-key', [{ kind: { case: 'apiKey' as const, value: true } }], 2)] });
    expect([1, 2, 3].map(() => h.send({ consumer: 'acme', apiKey: 'acme/k1' }).status)).toEqual([200, 200, 429]);
    expect(h.send({ consumer: 'acme', apiKey: 'acme/k2' }).status).toBe(200);
    expect([1, 2, 3].map(() => h.send({ consumer: 'acme' }).status)).toEqual([200, 200, 200]);
  });
});

describe('local buckets past the bound', () => {
  it('evicts the least recently used value: a flood of new values does not refill a client that keeps calling', () => {
    const h = harness({ policy: 'default/p', rules: [local('per-header', [{ kind: { case: 'header' as const, value: 'x-client' } }], 2)] });
    const busy = { headers: { 'x-client': 'busy' } };
    expect([h.send(busy).status, h.send(busy).status]).toEqual([200, 200]);
    const statuses = new Set<number>();
    // 120,000 other values (past the 100,000 bound), the busy client calling every 5,000 of them.
    for (let i = 0; i < 120_000; i++) {
      h.send({ headers: { 'x-client': `flood-${i}` } });
      if (i % 5_000 === 0) statuses.add(h.send(busy).status);
    }
    expect([...statuses]).toEqual([429]);
    expect(h.send(busy).status).toBe(429);
  });
});

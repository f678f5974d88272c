// The aggregation filter on its own, with a fake dispatcher (each sub-request answered by the test)
// and vitest's fake clock: which calls start when, a call's timeout to the millisecond, the
// client leaving (every call in flight cancelled, nothing written), a call's value in a dependent
// path, and the per-route config's checks with their field paths (the proxy NACKs a bad one).
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AggregationSchema } from '../../../../proto/gen/weft/v1/aggregation_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { aggregation, type Aggregation } from '../../../../sidecar/http/filters/aggregation.js';
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from '../../../../sidecar/http/filter.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import type { SubRequest, CollectSink } from '../../../../sidecar/http/subrequest.js';

type Init = MessageInitShape<typeof AggregationSchema>;

function parse(init: Init): { agg: Aggregation | undefined; errors: string[] } {
  const p = new Problems('RouteConfiguration');
  const agg = aggregation.perRoute!.parse(anyPack(AggregationSchema, create(AggregationSchema, init)), p, 'route.typed_per_filter_config');
  return { agg, errors: p.errors.map((e) => `${e.path}: ${e.message}`) };
}

function head(path: string, search = '', headers: Record<string, string> = {}): RequestHead {
  const pairs = Object.entries(headers).flat();
  return {
    h2: false, grpc: false, method: 'GET', authority: 'api.example', path, search, upgrade: undefined, remoteAddress: '10.0.0.1', principal: undefined, secure: false, hasBody: false,
    body: Readable.from([]),
    header: (n) => headers[n],
    rawPairs: () => pairs,
  };
}

/** The client's side: what the filter wrote, and a way to leave. */
class ClientSink implements ResponseSink {
  answer: { status: number; headers: ResponseHeaders; body: string } | undefined;
  gone: (() => void) | undefined;
  headersSent = false;
  writeHead(): void { throw new Error('not used'); }
  write(): boolean { throw new Error('not used'); }
  onceDrain(): void {}
  end(): void {}
  respondTrailersOnly(): void { throw new Error('not used'); }
  respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.headersSent = true;
    this.answer = { status, headers, body };
  }
  abort(): void {}
  onClientGone(fn: () => void): void { this.gone = fn; }
  closeAfterResponse(): void {}
}

interface Dispatched { req: SubRequest; sink: CollectSink; cancelled: boolean }

function run(agg: Aggregation, req: RequestHead) {
  const dispatched: Dispatched[] = [];
  const f = aggregation.create(true, agg, {
    listener: 'gateway.web',
    dispatch: (r, s) => {
      const d: Dispatched = { req: r as SubRequest, sink: s as CollectSink, cancelled: false };
      s.onClientGone(() => (d.cancelled = true));
      dispatched.push(d);
    },
  })!;
  const res = new ClientSink();
  f(() => {
    throw new Error('the aggregation filter must not call the next stage');
  })(req, res, new RequestInfo());
  const call = (path: string) => dispatched.find((d) => d.req.path + d.req.search === path)!;
  return { dispatched, res, call, paths: () => dispatched.map((d) => d.req.path + d.req.search) };
}

const json = (d: Dispatched, body: unknown) => d.sink.respondSimple(200, { 'content-type': 'application/json' }, JSON.stringify(body));

describe('aggregation filter with a fake dispatcher and clock', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const dash = parse({
    pathTemplate: '/d/{id}',
    calls: [
      { name: 'user', path: '/users/{path.id}', timeout: { seconds: 1n }, headers: ['authorization'] },
      { name: 'orders', path: '/orders/{calls.user.body.account.id}?q={query.q}', timeout: { seconds: 1n }, dependsOn: ['user'] },
      { name: 'reviews', path: '/reviews', timeout: { nanos: 100_000_000 }, optional: true },
    ],
  }).agg!;

  it('starts independent calls at once and a dependent one when its dependency answered, with its value', () => {
    const r = run(dash, head('/d/7', '?q=a b&x=1', { authorization: 'Bearer t', cookie: 'c=1' }));
    expect(r.paths()).toEqual(['/users/7', '/reviews']);
    expect(r.call('/users/7').req.header('authorization')).toBe('Bearer t');
    expect(r.call('/users/7').req.header('cookie')).toBeUndefined();
    json(r.call('/users/7'), { account: { id: 'a/1' } });
    expect(r.paths()).toEqual(['/users/7', '/reviews', '/orders/a%2F1?q=a%20b']);
    json(r.call('/orders/a%2F1?q=a%20b'), [1]);
    expect(r.res.answer).toBeUndefined();
    json(r.call('/reviews'), { stars: 5 });
    expect(r.res.answer).toEqual({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"user":{"account":{"id":"a/1"}},"orders":[1],"reviews":{"stars":5}}' });
  });

  it('times an optional call out at its timeout exactly: the exchange is told, the answer is partial', () => {
    const r = run(dash, head('/d/7', '?q=1'));
    json(r.call('/users/7'), { account: { id: 1 } });
    json(r.call('/orders/1?q=1'), []);
    vi.advanceTimersByTime(99);
    expect([r.res.answer, r.call('/reviews').cancelled]).toEqual([undefined, false]);
    vi.advanceTimersByTime(1);
    expect(r.call('/reviews').cancelled).toBe(true);
    expect(r.res.answer).toEqual({ status: 200, headers: { 'content-type': 'application/json', 'x-weft-partial': 'reviews' }, body: '{"user":{"account":{"id":1}},"orders":[],"reviews":null}' });
    // A late answer changes nothing.
    json(r.call('/reviews'), { late: true });
    expect(r.res.answer!.body).toContain('"reviews":null');
  });

  it('fails a required call that times out with 504 and cancels the others', () => {
    const r = run(dash, head('/d/7', '?q=1'));
    vi.advanceTimersByTime(1000);
    expect(r.res.answer?.status).toBe(504);
    expect(r.res.answer?.headers['x-weft-error']).toBe('AGGREGATION_FAILED');
    expect(r.res.answer?.body).toBe("AGGREGATION_FAILED: call 'user' timed out after 1000ms\n");
    expect(r.dispatched.map((d) => d.cancelled)).toEqual([true, true]);
    // orders never started: it depends on user.
    expect(r.paths()).toEqual(['/users/7', '/reviews']);
  });

  it('fails a call whose dependency value is not a scalar, and one whose dependency failed', () => {
    const r = run(dash, head('/d/7', '?q=1'));
    json(r.call('/users/7'), { account: { id: { nested: true } } });
    expect(r.res.answer?.status).toBe(502);
    expect(r.res.answer?.body).toContain("call 'orders' needs calls.user.body.account.id, which is not a string, number or boolean");
    const s = run(dash, head('/d/7', '?q=1'));
    r.call('/users/7'); // (the first run is over)
    s.call('/users/7').sink.respondSimple(503, { 'x-weft-error': 'NO_HEALTHY_UPSTREAM' }, 'no');
    expect(s.res.answer?.body).toBe("AGGREGATION_FAILED: call 'user' answered 503 (NO_HEALTHY_UPSTREAM)\n");
  });

  it('cancels every call in flight when the client goes away, and writes nothing', () => {
    const r = run(dash, head('/d/7', '?q=1'));
    r.res.gone!();
    expect(r.dispatched.map((d) => d.cancelled)).toEqual([true, true]);
    vi.advanceTimersByTime(5000);
    expect(r.res.answer).toBeUndefined();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses a path outside the template without making any call', () => {
    const r = run(dash, head('/d/7/8'));
    expect([r.res.answer?.status, r.res.answer?.headers['x-weft-error'], r.dispatched.length]).toEqual([404, 'NO_ROUTE', 0]);
  });
});

describe('the per-route Aggregation, as the proxy decodes it', () => {
  it.each<[string, Init, string]>([
    ['no calls', { calls: [] }, 'route.typed_per_filter_config.calls: must not be empty'],
    ['a bad template', { calls: [{ name: 'a', path: '/a/{b}', timeout: { seconds: 1n } }] }, "route.typed_per_filter_config.calls[0].path: '/a/{b}' {b}: must be path.NAME"],
    ['a path placeholder without template', { calls: [{ name: 'a', path: '/a/{path.id}', timeout: { seconds: 1n } }] }, 'calls[0].path: {path.id} names no segment of path_template'],
    ['a value of a call not depended on', { calls: [{ name: 'a', path: '/a', timeout: { seconds: 1n } }, { name: 'b', path: '/{calls.a.body.x}', timeout: { seconds: 1n } }] }, "calls[1].path: {calls.a...} needs 'a' in depends_on"],
    ['an unknown dependency', { calls: [{ name: 'a', path: '/a', timeout: { seconds: 1n }, dependsOn: ['z'] }] }, "calls[0].depends_on[0]: 'z' is not another call"],
    ['a cycle', { calls: [{ name: 'a', path: '/a', timeout: { seconds: 1n }, dependsOn: ['b'] }, { name: 'b', path: '/b', timeout: { seconds: 1n }, dependsOn: ['a'] }] }, 'calls: the calls\' depends_on form a cycle'],
    ['no timeout', { calls: [{ name: 'a', path: '/a' }] }, 'calls[0].timeout: is required'],
    ['a zero timeout', { calls: [{ name: 'a', path: '/a', timeout: {} }] }, 'calls[0].timeout: must be greater than 0'],
    ['a method', { calls: [{ name: 'a', path: '/a', method: 'TRACE', timeout: { seconds: 1n } }] }, "calls[0].method: unsupported method 'TRACE'"],
    ['a duplicate name', { calls: [{ name: 'a', path: '/a', timeout: { seconds: 1n } }, { name: 'a', path: '/b', timeout: { seconds: 1n } }] }, "calls[1].name: 'a' is used twice"],
    ['a header name', { calls: [{ name: 'a', path: '/a', headers: ['X-Up'], timeout: { seconds: 1n } }] }, "calls[0].headers[0]: 'X-Up' is not a lowercase header name"],
    ['a body bound', { calls: [{ name: 'a', path: '/a', timeout: { seconds: 1n } }], maxCallBodyBytes: 17 << 20 }, 'max_call_body_bytes: must be at most'],
  ])('refuses %s', (_what, init, error) => {
    const r = parse(init);
    expect(r.agg).toBeUndefined();
    expect(r.errors.join('\n')).toContain(error);
  });
});

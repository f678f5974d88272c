// jwt_claims on its own, in process: a route's JwtClaimsPerRoute parsed by the factory, then the
// filter run against hand-made verified JWTs: scopes from `scope` (space-separated) or `scp` (a
// string or an array), claims by dotted path (a scalar equal to a value, or an array holding one),
// 403 JWT_FORBIDDEN with RFC 6750's insufficient_scope, 401 JWT_MISSING without a verified JWT,
// nothing built for an empty rule, and configs it cannot execute refused with the field path.
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { jwtClaims } from '../../../../sidecar/http/filters/jwt-claims.js';
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from '../../../../sidecar/http/filter.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import { JwtClaimsPerRouteSchema } from '../../../../proto/gen/weft/v1/jwt_pb.js';

function parse(init: { scopes?: string[]; claims?: { name: string; values: string[] }[] }) {
  const p = new Problems('test');
  const rule = jwtClaims.perRoute!.parse(anyPack(JwtClaimsPerRouteSchema, create(JwtClaimsPerRouteSchema, init)), p, 'route');
  return { rule, errors: p.errors.map((e) => [e.path, e.message]) };
}

const head: RequestHead = {
  h2: false, grpc: false, method: 'GET', authority: 'api.example', path: '/admin', search: '', upgrade: undefined, remoteAddress: '127.0.0.1',
  principal: undefined, secure: false, hasBody: false, body: undefined as never, header: () => undefined, rawPairs: () => [],
};

/** Runs one request with `payload` as its verified JWT (none: undefined) through the route's filter. */
function run(init: Parameters<typeof parse>[0], payload: Record<string, unknown> | undefined): { status: number; headers: ResponseHeaders } {
  const { rule } = parse(init);
  const filter = jwtClaims.create(true, rule, { listener: 'test' })!;
  const out = { status: 0, headers: {} as ResponseHeaders };
  const sink = {
    headersSent: false,
    writeHead: (status: number, headers: ResponseHeaders) => Object.assign(out, { status, headers }),
    respondSimple: (status: number, headers: ResponseHeaders) => Object.assign(out, { status, headers }),
    respondTrailersOnly: (headers: ResponseHeaders) => Object.assign(out, { status: 200, headers }),
    write: () => true, onceDrain: () => {}, end: () => {}, abort: () => {}, onClientGone: () => {}, closeAfterResponse: () => {},
  } as ResponseSink;
  const info = new RequestInfo();
  if (payload) info.jwt = { provider: 'idp', issuer: 'https://idp', subject: 'u1', payload };
  filter(() => void (out.status = 200))(head, sink, info);
  return out;
}
const statusOf = (init: Parameters<typeof parse>[0], payload: Record<string, unknown> | undefined) => run(init, payload).status;

describe('jwt_claims', () => {
  it.each([
    ['scope, space-separated', { scope: 'books:read books:admin' }, 200],
    ['scp as a string', { scp: 'books:admin' }, 200],
    ['scp as an array', { scp: ['books:read', 'books:admin'] }, 200],
    ['a scope that only starts the same', { scope: 'books:administrator' }, 403],
    ['another scope only', { scope: 'books:read' }, 403],
    ['no scope claim', { sub: 'u1' }, 403],
  ])('scopes: %s', (_what, payload, status) => {
    expect(statusOf({ scopes: ['books:admin'] }, payload)).toBe(status);
  });

  it.each([
    ['a scalar equal to a value', { realm: { role: 'editor' } }, 200],
    ['a number equal to a value', { realm: { role: 7 } }, 200],
    ['an array holding a value', { realm: { role: ['viewer', 'admin'] } }, 200],
    ['another value', { realm: { role: 'viewer' } }, 403],
    ['a path that stops at a scalar', { realm: 'editor' }, 403],
    ['an object where a value is wanted', { realm: { role: { name: 'editor' } } }, 403],
  ])('claims by dotted path: %s', (_what, payload, status) => {
    expect(statusOf({ claims: [{ name: 'realm.role', values: ['editor', 'admin', '7'] }] }, payload)).toBe(status);
  });

  it('answers a token that falls short 403 JWT_FORBIDDEN with insufficient_scope and the scopes the route needs', () => {
    const r = run({ scopes: ['books:admin', 'books:read'] }, { scope: 'books:read' });
    expect(r.status).toBe(403);
    expect(r.headers['x-weft-error']).toBe('JWT_FORBIDDEN');
    expect(String(r.headers['www-authenticate'])).toMatch(/^Bearer realm="http:\/\/api\.example\/admin", error="insufficient_scope", error_description="Jwt lacks the scope 'books:admin'", scope="books:admin books:read"$/);
  });

  it('answers a request without a verified JWT 401 JWT_MISSING', () => {
    const r = run({ scopes: ['books:admin'] }, undefined);
    expect([r.status, r.headers['x-weft-error']]).toEqual([401, 'JWT_MISSING']);
  });

  it('builds no filter for a route without scopes or claims', () => {
    expect(jwtClaims.create(true, parse({}).rule, { listener: 'test' })).toBeUndefined();
  });

  it('refuses what it cannot execute, with the field path', () => {
    expect(parse({ scopes: ['has space', 'quote"d'], claims: [{ name: '', values: ['x'] }, { name: 'tier', values: [] }] }).errors).toEqual([
      ['route.scopes[0]', "'has space' is not a scope-token"],
      ['route.scopes[1]', "'quote\"d' is not a scope-token"],
      ['route.claims[0].name', 'is required'],
      ['route.claims[1].values', 'must not be empty (a claim no value satisfies refuses every request)'],
    ]);
  });
});

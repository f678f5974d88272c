// The jwt_authn and jwt_claims filters in process, at a gateway (local JWKS; the remote JWKS cache
// has its own test, test/integration/jwks-rotation.test.ts) and on a sidecar's inbound listener
// (a JwtPolicy targeting the Service): every token source, every 401 and 403 path with its
// RFC 6750 challenge, the clock skew at its edge, claims copied to headers (client copies removed),
// the token header stripped unless forwarded, and routes without a policy untouched.
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const ISS = 'https://issuer.example';
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let key: Key;
let otherKey: Key;
let jwks: string;

async function mint(claims: JWTPayload, o: { kid?: string; key?: Key; exp?: number; nbf?: number; iss?: string; aud?: string } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const j = new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid: o.kid ?? 'k1' }).setIssuer(o.iss ?? ISS).setAudience(o.aud ?? 'orders').setSubject('alice').setIssuedAt(now).setExpirationTime(o.exp ?? now + 300);
  if (o.nbf !== undefined) j.setNotBefore(o.nbf);
  return j.sign(o.key ?? key);
}

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;
const policy = (name: string, provider: string, requirement = '', targetRefs = '') => `apiVersion: weft.dev/v1alpha1
kind: JwtPolicy
metadata: { name: ${name} }
spec:
  providers:
    - ${provider.trim().split('\n').join('\n      ')}
${requirement ? `  requirement: ${requirement}\n` : ''}${targetRefs ? `  targetRefs: ${targetRefs}\n` : ''}`;
const provider = (extra = '') => `name: idp
issuer: ${ISS}
audiences: [orders]
localJwks: '${jwks}'
claimToHeaders: [{ claim: sub, header: x-sub }, { claim: org.id, header: x-org }, { claim: roles, header: x-roles }]
${extra}`;
const rule = (prefix: string, pol?: string) => `
    - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
${pol ? `      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: JwtPolicy, name: ${pol} } }]\n` : ''}      backendRefs: [{ name: orders, port: 8080 }]`;

let orders: Upstream;
let gw: InProcessGateway;
const yaml = () => [
  PLAINTEXT_MESH,
  GATEWAY,
  policy('strict', provider('clockSkew: 30s'), '', '[{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]'),
  policy('sources', provider('fromHeaders: [{ name: x-token }, { name: authorization, valuePrefix: "JWT " }]\nfromParams: [token]\nfromCookies: [session]\nforward: true')),
  policy('optional', provider(), '{ allowMissing: true }'),
  policy('lenient', provider(), '{ allowFailed: true }'),
  policy('scoped', provider(), '{ scopes: [orders:read, orders:write], claims: [{ name: org.tier, values: [gold, platinum] }] }'),
  service('orders', [orders.port]),
  `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: ${rule('/sources', 'sources')}${rule('/optional', 'optional')}${rule('/lenient', 'lenient')}${rule('/scoped', 'scoped')}${rule('/')}
`,
];

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const last = () => orders.seen.at(-1)!;

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = pair.privateKey;
  ({ privateKey: otherKey } = await generateKeyPair('ES256'));
  const pub = await exportJWK(pair.publicKey);
  jwks = JSON.stringify({ keys: [{ kty: pub.kty, crv: pub.crv, x: pub.x, y: pub.y, kid: 'k1', alg: 'ES256', use: 'sig' }] });
  orders = await upstream((q, s) => s.end(`orders ${q.url}`));
  gw = await inProcessGateway(yaml(), 'default/edge');
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await orders?.close();
});

describe('jwt_authn at the gateway (Gateway-wide policy, Authorization: Bearer)', () => {
  it('no token: 401 JWT_MISSING with a bare Bearer challenge naming the URL as realm; the upstream sees nothing', async () => {
    const before = orders.seen.length;
    const r = await send(gw.port(), '/orders/1', { host: 'api.example' });
    expect([r.status, r.headers['x-weft-error'], r.headers['www-authenticate']]).toEqual([401, 'JWT_MISSING', 'Bearer realm="http://api.example/orders/1"']);
    expect(orders.seen.length).toBe(before);
  });

  it('a valid token passes: the Authorization header is stripped, claims are copied (string, nested, array), client-sent copies are replaced', async () => {
    const t = await mint({ org: { id: 42 }, roles: ['a', 'b'] });
    const r = await send(gw.port(), '/orders/1', { headers: { ...bearer(t), 'x-sub': 'mallory', 'x-org': 'evil' } });
    expect(r.status).toBe(200);
    const h = last().headers;
    expect([h.authorization, h['x-sub'], h['x-org'], h['x-roles']]).toEqual([undefined, 'alice', '42', 'a,b']);
  });

  it('a claim the token lacks is not invented, and the client\'s copy of its header is still removed', async () => {
    const r = await send(gw.port(), '/orders/2', { headers: { ...bearer(await mint({})), 'x-org': 'evil', 'x-roles': 'admin' } });
    expect(r.status).toBe(200);
    expect([last().headers['x-org'], last().headers['x-roles'], last().headers['x-sub']]).toEqual([undefined, undefined, 'alice']);
  });

  it('a claim a header cannot carry (non-ASCII, control characters) is not copied; the request still passes', async () => {
    const r = await send(gw.port(), '/orders/3', { headers: bearer(await mint({ org: { id: 'Zürich' }, roles: ['a\r\nx-evil: 1'] })) });
    expect(r.status).toBe(200);
    expect([last().headers['x-org'], last().headers['x-roles'], last().headers['x-evil'], last().headers['x-sub']]).toEqual([undefined, undefined, undefined, 'alice']);
  });

  it.each([
    ['expired beyond the 30 s skew', async () => mint({}, { exp: Math.floor(Date.now() / 1000) - 45 }), 'Jwt is expired'],
    ['not yet valid beyond the skew', async () => mint({}, { nbf: Math.floor(Date.now() / 1000) + 45 }), 'Jwt not yet valid'],
    ['another issuer', async () => mint({}, { iss: 'https://evil.example' }), 'Jwt issuer is not configured'],
    ['another audience', async () => mint({}, { aud: 'payments' }), 'Audiences in Jwt are not allowed'],
    ['signed by another key under the same kid', async () => mint({}, { key: otherKey }), 'Jwt verification fails'],
    ['an unknown kid', async () => mint({}, { kid: 'k9' }), "Jwks doesn't have key to match kid or alg from Jwt"],
    ['not a JWT', async () => 'abc.def', 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
  ])('%s: 401 JWT_INVALID, error="invalid_token" with the reason', async (_name, token, why) => {
    const before = orders.seen.length;
    const r = await send(gw.port(), '/orders/1', { host: 'api.example', headers: bearer(await token()) });
    expect([r.status, r.headers['x-weft-error']]).toEqual([401, 'JWT_INVALID']);
    expect(r.headers['www-authenticate']).toBe(`Bearer realm="http://api.example/orders/1", error="invalid_token", error_description="${why}"`);
    expect(orders.seen.length).toBe(before);
  });

  it('within the skew: expired 20 s ago and valid from 20 s ahead both pass (skew 30 s)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expect((await send(gw.port(), '/x', { headers: bearer(await mint({}, { exp: now - 20 })) })).status).toBe(200);
    expect((await send(gw.port(), '/x', { headers: bearer(await mint({}, { nbf: now + 20 })) })).status).toBe(200);
  });

  it('another scheme in Authorization is no token (401 JWT_MISSING)', async () => {
    const r = await send(gw.port(), '/x', { headers: { authorization: 'Basic YWxpY2U6cHc=' } });
    expect([r.status, r.headers['x-weft-error']]).toEqual([401, 'JWT_MISSING']);
  });

  it('a gRPC call without a token gets grpc-status 16 (UNAUTHENTICATED) and the challenge', async () => {
    const r = await send(gw.port(), '/pkg.Svc/Call', { method: 'POST', headers: { 'content-type': 'application/grpc' } });
    expect([r.headers['grpc-status'], r.headers['x-weft-error']]).toEqual(['16', 'JWT_MISSING']);
    expect(r.headers['www-authenticate']).toMatch(/^Bearer realm=/);
  });
});

describe('token sources and forward (a rule\'s ExtensionRef wins over the Gateway\'s policy)', () => {
  it('a header without prefix, a header with its own prefix, a query parameter, a cookie', async () => {
    const t = await mint({});
    for (const headers of [{ 'x-token': t }, { authorization: `JWT ${t}` }, { cookie: `a=b; session=${t}; c=d` }] as Array<Record<string, string>>) {
      const r = await send(gw.port(), '/sources/1', { headers });
      expect(r.status).toBe(200);
    }
    expect((await send(gw.port(), `/sources/1?x=1&token=${t}`)).status).toBe(200);
    // Only this policy's locations count: Bearer is not one of them.
    expect((await send(gw.port(), '/sources/1', { headers: bearer(t) })).status).toBe(401);
  });

  it('forward: true keeps the token header for the upstream', async () => {
    const t = await mint({});
    await send(gw.port(), '/sources/1', { headers: { 'x-token': t } });
    expect(last().headers['x-token']).toBe(t);
  });
});

describe('requirements', () => {
  it('allowMissing: no token passes (claim headers from the client still removed); a bad token is still 401', async () => {
    expect((await send(gw.port(), '/optional', { headers: { 'x-sub': 'mallory' } })).status).toBe(200);
    expect(last().headers['x-sub']).toBeUndefined();
    const bad = await send(gw.port(), '/optional', { headers: bearer(await mint({}, { key: otherKey })) });
    expect([bad.status, bad.headers['x-weft-error']]).toEqual([401, 'JWT_INVALID']);
  });

  it('allowFailed: a bad token passes too, unverified: no claim headers', async () => {
    expect((await send(gw.port(), '/lenient', { headers: { ...bearer(await mint({}, { key: otherKey })), 'x-sub': 'mallory' } })).status).toBe(200);
    expect(last().headers['x-sub']).toBeUndefined();
  });

  it('scopes and claims: every scope (scope string or scp array) and claim needed, else 403 insufficient_scope naming the scopes', async () => {
    const ok = await send(gw.port(), '/scoped', { headers: bearer(await mint({ scope: 'orders:read other orders:write', org: { tier: 'gold' } })) });
    expect(ok.status).toBe(200);
    expect((await send(gw.port(), '/scoped', { headers: bearer(await mint({ scp: ['orders:write', 'orders:read'], org: { tier: 'platinum' } })) })).status).toBe(200);
    const noScope = await send(gw.port(), '/scoped', { host: 'api.example', headers: bearer(await mint({ scope: 'orders:read', org: { tier: 'gold' } })) });
    expect([noScope.status, noScope.headers['x-weft-error']]).toEqual([403, 'JWT_FORBIDDEN']);
    expect(noScope.headers['www-authenticate']).toBe('Bearer realm="http://api.example/scoped", error="insufficient_scope", error_description="Jwt lacks the scope \'orders:write\'", scope="orders:read orders:write"');
    const noClaim = await send(gw.port(), '/scoped', { headers: bearer(await mint({ scope: 'orders:read orders:write', org: { tier: 'silver' } })) });
    expect([noClaim.status, noClaim.headers['x-weft-error']]).toEqual([403, 'JWT_FORBIDDEN']);
    // A scope that is a prefix of a granted one is not granted.
    expect((await send(gw.port(), '/scoped', { headers: bearer(await mint({ scope: 'orders:reader orders:write', org: { tier: 'gold' } })) })).status).toBe(403);
    // No token at all is still 401, not 403.
    expect((await send(gw.port(), '/scoped')).status).toBe(401);
  });
});

describe('a JwtPolicy targeting a Service: its sidecars\' inbound listener', () => {
  let app: Upstream;
  let sc: InProcessSidecar;
  beforeAll(async () => {
    app = await upstream();
    const svc = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bookstore }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
`;
    sc = await inProcessSidecar([PLAINTEXT_MESH, svc, policy('books', provider(), '{ scopes: [books] }', '[{ group: weft.dev, kind: Service, name: bookstore }]')], { service: 'bookstore', appPort: app.port });
  }, 30_000);
  afterAll(async () => {
    await sc?.close();
    await app?.close();
  });

  it('inbound requests need the token and the scope; the app sees the subject, not the token', async () => {
    expect((await send(sc.inbound, '/b', { host: 'bookstore' })).status).toBe(401);
    expect((await send(sc.inbound, '/b', { host: 'bookstore', headers: bearer(await mint({})) })).status).toBe(403);
    const ok = await send(sc.inbound, '/b', { host: 'bookstore', headers: bearer(await mint({ scope: 'books' })) });
    expect(ok.status).toBe(200);
    expect([app.seen.at(-1)!.headers['x-sub'], app.seen.at(-1)!.headers.authorization]).toEqual(['alice', undefined]);
  });
});

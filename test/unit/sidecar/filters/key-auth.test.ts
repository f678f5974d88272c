// The API-key filter (weft.filters.http.key_auth) in process: on a gateway (a policy targeting a
// listener, one named by a rule's ExtensionRef, a listener with no policy of its own), on a
// sidecar's inbound listener (a policy targeting the Service), and called directly with a
// hand-made verified JWT (info.jwt) for the JWT-subject mapping. Every 401 and 403, the key from
// the header and from the query, hidden credentials, expiry, and x-weft-consumer.
import { createHash } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyAuthPolicySchema } from '../../../../proto/gen/weft/v1/key_auth_pb.js';
import { keyAuth, queryParam, withoutQueryParam } from '../../../../sidecar/http/filters/key-auth.js';
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from '../../../../sidecar/http/filter.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import { inProcessGateway, inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const K_ACME = 'wk_a1_acme-secret-key-0123456789abcdefghijklmnopqrstuv';
const K_GLOBEX = 'wk_g1_globex+secret/key=0123456789abcdefghijklmnopqrstu';
const K_OLD = 'wk_o1_old-secret-key-0123456789abcdefghijklmnopqrstuvw';
const sha = (k: string) => `sha256:${createHash('sha256').update(k).digest('hex')}`;

const consumers = `apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: acme, labels: { tier: paid } }
spec: { plan: gold, keys: [{ id: a1, hash: "${sha(K_ACME)}", expires: "2999-01-01T00:00:00Z" }], jwtSubjects: [{ issuer: "https://idp.example", subject: "user-1" }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: globex, labels: { tier: free } }
spec: { plan: free, keys: [{ id: g1, hash: "${sha(K_GLOBEX)}" }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: old, labels: { tier: paid } }
spec: { keys: [{ id: o1, hash: "${sha(K_OLD)}", created: "2020-01-01T00:00:00Z", expires: "2020-02-01T00:00:00Z" }] }
`;

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }, { name: plain, port: 8001, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /partner } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiKeyPolicy, name: partners } }]
      backendRefs: [{ name: app, port: 8080 }]
    - backendRefs: [{ name: app, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys }
spec:
  query: api_key
  header: x-api-key
  consumers: { matchLabels: { tier: paid } }
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: partners }
spec:
  consumers: { names: [globex] }
  hideCredentials: false
`;

describe('key_auth on a gateway', () => {
  let app: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    app = await upstream();
    gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, consumers, service('app', [app.port])], 'default/edge');
  }, 30_000);
  afterAll(async () => {
    await gw?.close();
    await app?.close();
  });
  const last = () => app.seen.at(-1)!;

  it('answers a request without a key 401 API_KEY_MISSING with a WWW-Authenticate challenge; the app never sees it', async () => {
    const before = app.seen.length;
    const r = await send(gw.port('web'), '/orders', { host: 'api.example' });
    expect([r.status, r.headers['x-weft-error'], r.headers['www-authenticate']]).toEqual([401, 'API_KEY_MISSING', 'ApiKey realm="weft", header="x-api-key", query="api_key"']);
    expect((await send(gw.port('web'), '/orders', { host: 'api.example', headers: { 'x-api-key': '' } })).headers['x-weft-error']).toBe('API_KEY_MISSING');
    expect(app.seen.length).toBe(before);
  });

  it.each([
    ['an unknown key', { 'x-api-key': 'wk_zz_not-a-key' }, '/orders'],
    ['an expired key', { 'x-api-key': K_OLD }, '/orders'],
    ['an unknown key in the query', {}, '/orders?api_key=nope'],
    ['a query key that is not valid percent-encoding', {}, '/orders?api_key=%zz'],
  ])('answers %s 401 API_KEY_INVALID', async (_what, headers, path) => {
    const before = app.seen.length;
    const r = await send(gw.port('web'), path, { host: 'api.example', headers });
    expect([r.status, r.headers['x-weft-error'], r.headers['www-authenticate']]).toEqual([401, 'API_KEY_INVALID', 'ApiKey realm="weft", header="x-api-key", query="api_key"']);
    expect(app.seen.length).toBe(before);
  });

  it('answers a known key of a consumer the policy does not select 403 CONSUMER_FORBIDDEN', async () => {
    const r = await send(gw.port('web'), '/orders', { host: 'api.example', headers: { 'x-api-key': K_GLOBEX } });
    expect([r.status, r.headers['x-weft-error'], r.headers['www-authenticate']]).toEqual([403, 'CONSUMER_FORBIDDEN', undefined]);
  });

  it('lets a key from the header through as its consumer: x-weft-consumer set (the client\'s copy dropped), the key hidden', async () => {
    const r = await send(gw.port('web'), '/orders', { host: 'api.example', headers: { 'x-api-key': K_ACME, 'x-weft-consumer': 'globex' } });
    expect(r.status).toBe(200);
    expect(last().headers['x-weft-consumer']).toBe('acme');
    expect(last().headers['x-api-key']).toBeUndefined();
  });

  it('lets a key from the query through, and removes the parameter from what the app gets (percent-encoded keys too)', async () => {
    const r = await send(gw.port('web'), `/orders?a=1&api_key=${encodeURIComponent(K_ACME)}&b=2`, { host: 'api.example' });
    expect(r.status).toBe(200);
    expect([last().url, last().headers['x-weft-consumer']]).toEqual(['/orders?a=1&b=2', 'acme']);
    expect((await send(gw.port('web'), `/orders?api_key=${encodeURIComponent(K_ACME)}`, { host: 'api.example' })).status).toBe(200);
    expect(last().url).toBe('/orders');
  });

  it('on a rule with its own policy, that policy wins: another consumer allowed, the key kept (hideCredentials: false)', async () => {
    const r = await send(gw.port('web'), '/partner/x', { host: 'api.example', headers: { 'x-api-key': K_GLOBEX } });
    expect(r.status).toBe(200);
    expect([last().headers['x-weft-consumer'], last().headers['x-api-key']]).toEqual(['globex', K_GLOBEX]);
    const acme = await send(gw.port('web'), '/partner/x', { host: 'api.example', headers: { 'x-api-key': K_ACME } });
    expect([acme.status, acme.headers['x-weft-error']]).toEqual([403, 'CONSUMER_FORBIDDEN']);
    // The rule's policy reads only the header.
    const q = await send(gw.port('web'), `/partner/x?api_key=${encodeURIComponent(K_GLOBEX)}`, { host: 'api.example' });
    expect([q.status, q.headers['www-authenticate']]).toEqual([401, 'ApiKey realm="weft", header="x-api-key"']);
  });

  it('on a listener with no policy of its own, routes without one pass, without a client-sent x-weft-consumer', async () => {
    const r = await send(gw.port('plain'), '/orders', { host: 'api.example', headers: { 'x-weft-consumer': 'acme' } });
    expect(r.status).toBe(200);
    expect(last().headers['x-weft-consumer']).toBeUndefined();
    const partner = await send(gw.port('plain'), '/partner/x', { host: 'api.example' });
    expect([partner.status, partner.headers['x-weft-error']]).toEqual([401, 'API_KEY_MISSING']);
  });

  it('takes a revoked key away on the next config (the consumer re-applied without it)', async () => {
    expect((await send(gw.port('web'), '/orders', { host: 'api.example', headers: { 'x-api-key': K_ACME } })).status).toBe(200);
    gw.apply([PLAINTEXT_MESH, GATEWAY, consumers.replace(/keys: \[\{ id: a1[^\]]*\]/, 'keys: []'), service('app', [app.port])]);
    const r = await send(gw.port('web'), '/orders', { host: 'api.example', headers: { 'x-api-key': K_ACME } });
    expect([r.status, r.headers['x-weft-error']]).toEqual([401, 'API_KEY_INVALID']);
    gw.apply([PLAINTEXT_MESH, GATEWAY, consumers, service('app', [app.port])]);
  });
});

describe('key_auth on a sidecar (a policy targeting the Service)', () => {
  let app: Upstream;
  let sc: InProcessSidecar;
  beforeAll(async () => {
    app = await upstream();
    const policy = `apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: orders-keys }
spec:
  targetRefs: [{ group: weft.dev, kind: Service, name: orders }]
`;
    sc = await inProcessSidecar([PLAINTEXT_MESH, service('orders', []), consumers, policy], { service: 'orders', appPort: app.port });
  }, 30_000);
  afterAll(async () => {
    await sc?.close();
    await app?.close();
  });

  it('checks keys on the inbound listener', async () => {
    const none = await send(sc.inbound, '/x', { host: 'orders' });
    expect([none.status, none.headers['x-weft-error'], none.headers['www-authenticate']]).toEqual([401, 'API_KEY_MISSING', 'ApiKey realm="weft", header="x-api-key"']);
    const ok = await send(sc.inbound, '/x', { host: 'orders', headers: { 'x-api-key': K_GLOBEX } });
    expect(ok.status).toBe(200);
    expect([app.seen.at(-1)!.headers['x-weft-consumer'], app.seen.at(-1)!.headers['x-api-key']]).toEqual(['globex', undefined]);
  });
});

// ------------------------------------------------------------------------------ called directly

interface Answer {
  status: number;
  headers: ResponseHeaders;
}
function sink(out: Answer[]): ResponseSink {
  return {
    headersSent: false,
    writeHead: (status, headers) => void out.push({ status, headers }),
    write: () => true,
    onceDrain: () => undefined,
    end: () => undefined,
    respondTrailersOnly: (headers) => void out.push({ status: 200, headers }),
    respondSimple: (status, headers) => void out.push({ status, headers }),
    abort: () => undefined,
    onClientGone: () => undefined,
    closeAfterResponse: () => undefined,
  };
}
function head(headers: Record<string, string>, search = '', grpc = false): RequestHead {
  const h = new Map(Object.entries(headers));
  return {
    h2: grpc, grpc, method: 'GET', authority: 'api.example', path: '/x', search, upgrade: undefined, remoteAddress: '127.0.0.1', principal: undefined, secure: false, hasBody: false,
    body: undefined as never,
    header: (n) => h.get(n),
    rawPairs: () => [...h].flat(),
  };
}

describe('key_auth called directly', () => {
  const policy = (allowJwt: boolean) => {
    const p = new Problems('test');
    const any = anyPack(KeyAuthPolicySchema, create(KeyAuthPolicySchema, {
      name: 'default/keys', header: 'x-api-key', hideCredentials: true, allowJwt,
      consumers: [
        { name: 'acme', plan: 'gold', allowed: true, keys: [{ id: 'a1', sha256: Buffer.from(sha(K_ACME).slice(7), 'hex') }], jwtSubjects: [{ issuer: 'https://idp.example', subject: 'user-1' }] },
        { name: 'globex', plan: 'free', allowed: false, jwtSubjects: [{ issuer: 'https://idp.example', subject: 'user-2' }] },
      ],
    }));
    const cfg = keyAuth.perRoute!.parse(any, p, 'cfg');
    expect(p.errors).toEqual([]);
    return keyAuth.create({ policy: undefined }, cfg, { listener: 'test' })!;
  };
  const run = (allowJwt: boolean, req: RequestHead, jwt?: RequestInfo['jwt']) => {
    const answers: Answer[] = [];
    const passed: RequestHead[] = [];
    const info = new RequestInfo();
    info.jwt = jwt;
    policy(allowJwt)((r) => void passed.push(r))(req, sink(answers), info);
    return { answers, passed, info };
  };
  const jwt = (subject: string, issuer = 'https://idp.example') => ({ provider: 'idp', issuer, subject, payload: { sub: subject } });

  it('maps a verified JWT to the consumer listing its issuer and subject (allowJwt)', () => {
    const r = run(true, head({}), jwt('user-1'));
    expect(r.answers).toEqual([]);
    expect([r.info.consumer, r.info.plan, r.info.apiKey, r.passed[0]!.header('x-weft-consumer')]).toEqual(['acme', 'gold', '', 'acme']);
  });

  it('refuses a mapped JWT of a consumer not allowed (403), and an unmapped one or another issuer (401 API_KEY_MISSING)', () => {
    expect(run(true, head({}), jwt('user-2')).answers.map((a) => [a.status, a.headers['x-weft-error']])).toEqual([[403, 'CONSUMER_FORBIDDEN']]);
    expect(run(true, head({}), jwt('user-9')).answers.map((a) => [a.status, a.headers['x-weft-error'], a.headers['www-authenticate']])).toEqual([[401, 'API_KEY_MISSING', 'ApiKey realm="weft", header="x-api-key"']]);
    expect(run(true, head({}), jwt('user-1', 'https://other.example')).answers.map((a) => a.headers['x-weft-error'])).toEqual(['API_KEY_MISSING']);
  });

  it('ignores the JWT without allowJwt, and a key sent wins over a JWT', () => {
    expect(run(false, head({}), jwt('user-1')).answers.map((a) => a.headers['x-weft-error'])).toEqual(['API_KEY_MISSING']);
    expect(run(true, head({ 'x-api-key': 'wrong' }), jwt('user-1')).answers.map((a) => a.headers['x-weft-error'])).toEqual(['API_KEY_INVALID']);
    const ok = run(true, head({ 'x-api-key': K_ACME, 'x-weft-consumer': 'globex', accept: '*/*' }), jwt('user-2'));
    expect([ok.info.consumer, ok.info.apiKey, ok.passed[0]!.rawPairs()]).toEqual(['acme', 'acme/a1', ['accept', '*/*', 'x-weft-consumer', 'acme']]);
  });

  it('answers a gRPC call trailers-only: grpc-status 16 (UNAUTHENTICATED) with the challenge, 7 (PERMISSION_DENIED) for a consumer not allowed', () => {
    const missing = run(false, head({ 'content-type': 'application/grpc' }, '', true)).answers;
    expect(missing.map((a) => [a.status, a.headers['grpc-status'], a.headers['x-weft-error'], a.headers['www-authenticate']])).toEqual([[200, '16', 'API_KEY_MISSING', 'ApiKey realm="weft", header="x-api-key"']]);
    const forbidden = run(true, head({ 'content-type': 'application/grpc' }, '', true), jwt('user-2')).answers;
    expect(forbidden.map((a) => [a.headers['grpc-status'], a.headers['x-weft-error']])).toEqual([['7', 'CONSUMER_FORBIDDEN']]);
  });

  it('refuses configs it cannot execute, with the field path', () => {
    const p = new Problems('test');
    const bad = anyPack(KeyAuthPolicySchema, create(KeyAuthPolicySchema, { name: 'x', consumers: [{ name: 'a', keys: [{ id: 'k', sha256: new Uint8Array(3) }] }, { name: 'a' }] }));
    expect(keyAuth.perRoute!.parse(bad, p, 'cfg')).toBeUndefined();
    expect(p.errors.map((e) => [e.path, e.message])).toEqual([
      ['cfg', 'needs header or query: where the key is read from'],
      ['cfg.consumers[0].keys[0].sha256', 'must be a SHA-256 digest (32 bytes), got 3'],
      ['cfg.consumers[1].name', "consumer 'a' is listed twice"],
    ]);
  });

  it('reads and removes query parameters exactly', () => {
    expect(queryParam('?api_key=a&x=1', 'api_key')).toBe('a');
    expect(queryParam('?xapi_key=a&api_key=b', 'api_key')).toBe('b');
    expect(queryParam('?api_key=&x', 'api_key')).toBeUndefined();
    expect(queryParam('?api_key=a%2Bb', 'api_key')).toBe('a+b');
    expect(queryParam('?api_key=%E0%A4%A', 'api_key')).toBeNull();
    expect(withoutQueryParam('?a=1&api_key=x&b&api_key=y', 'api_key')).toBe('?a=1&b');
    expect(withoutQueryParam('?api_key=x', 'api_key')).toBe('');
  });
});

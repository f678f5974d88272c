// The remote JWKS cache against a real HTTPS JWKS server (generated certificate, trusted through
// the JwtPolicy's caCertificates and the origin cluster the control plane emits), behind an
// in-process gateway serving real sockets, with tokens minted by jose and clients undici and curl:
//  (a) the IdP rotates in a new key: tokens signed by it and old tokens alike pass, zero
//      failures, and it costs exactly one extra fetch (the unknown kid's);
//  (c) 1,000 tokens with unknown kids: every one refused, and exactly one JWKS fetch for them all
//      (the unknown-kid refetch is shared and then rate limited to one per 30 s);
//  (b) the JWKS endpoint down for 60 s (then serving garbage) with a 2 s cacheDuration: the keys
//      expire during the outage, are kept, and no request fails; the failures are counted by
//      result in /stats/prometheus and weft_jwks_stale says so; the keys refresh once it is back.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdmin } from '../../../sidecar/admin/server.js';
import { inProcessGateway, PLAINTEXT_MESH, service, translateFor, upstream, type InProcessGateway, type Upstream } from '../../harness/sidecar.js';

const run = promisify(execFile);
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** A key pair and its public JWK under `kid`. */
async function keyPair(kid: string): Promise<{ kid: string; priv: Key; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

function mint(k: { kid: string; priv: Key }, aud: string): Promise<string> {
  return new SignJWT({ scope: 'read' }).setProtectedHeader({ alg: 'ES256', kid: k.kid }).setIssuer('https://idp.test').setAudience(aud).setSubject('alice').setIssuedAt().setExpirationTime('10m').sign(k.priv);
}

/** A JWKS server: per path, the keys it publishes; a mode for all of it; fetches counted per path. */
interface JwksServer {
  port: number;
  keys: Map<string, JWK[]>;
  mode: 'up' | 'down' | 'garbage';
  fetches: Map<string, number>;
  close(): Promise<void>;
}

async function jwksServer(cert: string, key: string): Promise<JwksServer> {
  const s: JwksServer = { port: 0, keys: new Map(), mode: 'up', fetches: new Map(), close: async () => undefined };
  const srv = https.createServer({ cert, key }, (req, res) => {
    const path = req.url ?? '/';
    s.fetches.set(path, (s.fetches.get(path) ?? 0) + 1);
    if (s.mode === 'down') return void req.socket.destroy();
    if (s.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
    const keys = s.keys.get(path);
    if (!keys) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  srv.on('clientError', (_e, sock) => sock.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  s.port = (srv.address() as AddressInfo).port;
  s.close = () => new Promise<void>((r) => srv.close(() => r()));
  return s;
}

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;

let dir: string;
let certPem: string;
let jw: JwksServer;
let app: Upstream;
let gw: InProcessGateway;
let pool: Pool;
let admin: { server: import('node:http').Server; address: AddressInfo };
let k1: Awaited<ReturnType<typeof keyPair>>;
let k2: Awaited<ReturnType<typeof keyPair>>;
let out1: Awaited<ReturnType<typeof keyPair>>;
let kid1: Awaited<ReturnType<typeof keyPair>>;

const policy = (name: string, path: string, cache: string) => `apiVersion: weft.dev/v1alpha1
kind: JwtPolicy
metadata: { name: ${name} }
spec:
  providers:
    - name: idp
      issuer: https://idp.test
      audiences: [${name}]
      remoteJwks:
        uri: https://127.0.0.1:${jw.port}${path}
        cacheDuration: ${cache}
        timeout: 2s
        caCertificates: |
          ${certPem.trim().split('\n').join('\n          ')}
`;
const rule = (name: string) => `
    - matches: [{ path: { type: PathPrefix, value: /${name} } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: JwtPolicy, name: ${name} } }]
      backendRefs: [{ name: app, port: 8080 }]`;

async function metric(name: string, labels: string): Promise<number> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${admin.address.port}/stats/prometheus`]);
  const line = stdout.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** One request through the gateway with undici: its status. */
async function get(path: string, token: string): Promise<number> {
  const r = await pool.request({ path, method: 'GET', headers: { host: 'api.test', authorization: `Bearer ${token}` } });
  await r.body.dump();
  return r.statusCode;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-jwks-'));
  // The JWKS server's certificate names its address (the URI is https://127.0.0.1:port/...).
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '2', '-subj', '/CN=jwks.test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'pipe' });
  certPem = readFileSync(join(dir, 'c.pem'), 'utf8');
  jw = await jwksServer(certPem, readFileSync(join(dir, 'k.pem'), 'utf8'));
  [k1, k2, out1, kid1] = await Promise.all([keyPair('rot-1'), keyPair('rot-2'), keyPair('out-1'), keyPair('kid-1')]);
  jw.keys.set('/rot/jwks.json', [k1.jwk]);
  jw.keys.set('/out/jwks.json', [out1.jwk]);
  jw.keys.set('/kid/jwks.json', [kid1.jwk]);
  app = await upstream();
  const yaml = [
    PLAINTEXT_MESH,
    GATEWAY,
    service('app', [app.port]),
    policy('rot', '/rot/jwks.json', '10m'),
    policy('out', '/out/jwks.json', '2s'),
    policy('kid', '/kid/jwks.json', '10m'),
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: ${rule('rot')}${rule('out')}${rule('kid')}
`,
  ];
  gw = await inProcessGateway(yaml, 'default/edge');
  const cfg = translateFor(yaml, { role: 'gateway', gateway: 'default/edge', service: 'edge', namespace: 'default', appPort: 1 });
  admin = await startAdmin('127.0.0.1', 0, { runtime: gw.runtime, listeners: [...gw.listeners.values()], xds: () => cfg, xdsConnected: () => true, xdsProtocol: () => 'sotw', draining: () => false, xdsCounters: new Map(), node: { id: 'edge-1', service: 'edge', namespace: 'default' } });
  pool = new Pool(`http://127.0.0.1:${gw.port()}`, { connections: 16 });
  // Each provider's keys are fetched when the config arrives, once, before any request.
  await until('the first fetches', () => ['/rot/jwks.json', '/out/jwks.json', '/kid/jwks.json'].every((p) => gw.runtime.jwks.all().some((j) => j.src.uri.endsWith(p) && j.counts.success === 1)));
}, 60_000);

afterAll(async () => {
  await pool?.close();
  admin?.server.close();
  await gw?.close();
  await app?.close();
  await jw?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('remote JWKS through the origin cluster', () => {
  it('fetched once per provider at config time, through the TLS context that trusts the policy\'s CA', async () => {
    expect([...jw.fetches.entries()].sort()).toEqual([['/kid/jwks.json', 1], ['/out/jwks.json', 1], ['/rot/jwks.json', 1]]);
    expect(await get('/rot/1', await mint(k1, 'rot'))).toBe(200);
    expect(jw.fetches.get('/rot/jwks.json')).toBe(1);
  });

  it('(a) rotation: old and new tokens interleaved under load, zero failures, one extra fetch', async () => {
    const oldToken = await mint(k1, 'rot');
    const statuses: number[] = [];
    // 100 requests before the rotation, 300 after (half with the new key), 8 at a time.
    const load = async (n: number, token: (i: number) => string) => {
      for (let i = 0; i < n; i += 8) statuses.push(...(await Promise.all(Array.from({ length: Math.min(8, n - i) }, (_, j) => get(`/rot/${i + j}`, token(i + j))))));
    };
    await load(100, () => oldToken);
    jw.keys.set('/rot/jwks.json', [k1.jwk, k2.jwk]);
    const newToken = await mint(k2, 'rot');
    await load(300, (i) => (i % 2 ? newToken : oldToken));
    const curl = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', '-H', 'host: api.test', '-H', `authorization: Bearer ${newToken}`, `http://127.0.0.1:${gw.port()}/rot/curl`]);
    statuses.push(Number(curl.stdout));
    expect(statuses.length).toBe(401);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(jw.fetches.get('/rot/jwks.json')).toBe(2);
    expect(await metric('weft_jwks_fetches_total', 'provider="default/rot/idp",result="success"')).toBe(2);
  }, 60_000);

  it('(c) 1,000 unknown kids: all refused 401, exactly one JWKS fetch for all of them', async () => {
    const before = jw.fetches.get('/kid/jwks.json')!;
    const stranger = await keyPair('x');
    const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => mint({ kid: `unknown-${i}`, priv: stranger.priv }, 'kid')));
    const t0 = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < tokens.length; i += 20) statuses.push(...(await Promise.all(tokens.slice(i, i + 20).map((t) => get('/kid/x', t)))));
    const elapsed = Date.now() - t0;
    expect(statuses.length).toBe(1000);
    expect(statuses.filter((s) => s !== 401)).toEqual([]);
    // The design's bound: one refetch per 30 s window the burst spans (UNKNOWN_KID_REFETCH_MS).
    expect(elapsed).toBeLessThan(30_000);
    expect(jw.fetches.get('/kid/jwks.json')! - before).toBe(1);
    expect(await metric('weft_jwks_unknown_kid_total', 'provider="default/kid/idp",action="refetched"')).toBe(1);
    expect(await metric('weft_jwks_fetches_total', 'provider="default/kid/idp",result="success"')).toBe(2);
    // Known keys still work.
    expect(await get('/kid/ok', await mint(kid1, 'kid'))).toBe(200);
  }, 60_000);

  it('(b) endpoint down 60 s, then garbage: keys expire (2 s cacheDuration) and are kept, zero failed requests; failures counted; refreshed when back', async () => {
    const token = await mint(out1, 'out');
    const failedBefore = await metric('weft_jwks_fetches_total', 'provider="default/out/idp",result="error"');
    expect(failedBefore).toBe(0);
    jw.mode = 'down';
    const statuses: number[] = [];
    const paced = async (ms: number) => {
      const end = Date.now() + ms;
      // Bounded in count and time: at most one request per 50 ms.
      for (let n = 0; n < ms / 50 && Date.now() < end; n++) {
        statuses.push(await get('/out/x', token));
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await paced(60_000);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(await metric('weft_jwks_stale', 'provider="default/out/idp"')).toBe(1);
    const errors = await metric('weft_jwks_fetches_total', 'provider="default/out/idp",result="error"');
    // Retried in the background: 1 s, then every 2 s (the backoff is capped by the cache duration).
    expect(errors).toBeGreaterThanOrEqual(20);
    expect(errors).toBeLessThanOrEqual(35);
    jw.mode = 'garbage';
    await paced(5_000);
    expect(await metric('weft_jwks_fetches_total', 'provider="default/out/idp",result="invalid"')).toBeGreaterThanOrEqual(1);
    expect(statuses.length).toBeGreaterThan(500);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const ok = await metric('weft_jwks_fetches_total', 'provider="default/out/idp",result="success"');
    jw.mode = 'up';
    await until('a good fetch after the outage', async () => (await metric('weft_jwks_fetches_total', 'provider="default/out/idp",result="success"')) > ok, 10_000);
    expect(await metric('weft_jwks_stale', 'provider="default/out/idp"')).toBe(0);
    expect(await get('/out/y', token)).toBe(200);
  }, 120_000);
});

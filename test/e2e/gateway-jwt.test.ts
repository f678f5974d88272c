// JwtPolicy end to end in real processes: `weft apply` to a control plane, a `weft gateway`
// process, an HTTPS JWKS server (generated certificate, trusted only through the policy's
// caCertificates) whose keys rotate mid-test, tokens minted by jose, clients curl and undici.
// The gateway fetches the keys once when the config arrives (through the origin cluster the
// control plane emitted), answers 401/403 with RFC 6750 challenges, copies the subject to the
// upstream, takes a rotated-in key with one extra fetch and zero failures, and reports its fetches
// in /stats/prometheus.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, startControlPlane, startGateway, weftApply, type ControlPlaneProc, type GatewayProc } from '../harness/processes.js';
import { edgeGateway, PLAINTEXT_MESH, service, upstream, type Upstream } from '../harness/sidecar.js';

const run = promisify(execFile);
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

async function keyPair(kid: string): Promise<{ kid: string; priv: Key; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  return { kid, priv: privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}
const mint = (k: { kid: string; priv: Key }, scope: string) =>
  new SignJWT({ scope }).setProtectedHeader({ alg: 'ES256', kid: k.kid }).setIssuer('https://idp.test').setAudience('orders').setSubject('alice').setIssuedAt().setExpirationTime('10m').sign(k.priv);

let dir: string;
let cp: ControlPlaneProc;
let gw: GatewayProc;
let up: Upstream;
let jwks: https.Server;
let keys: JWK[];
let fetches = 0;
let base: string;
let k1: Awaited<ReturnType<typeof keyPair>>;
let k2: Awaited<ReturnType<typeof keyPair>>;

async function metric(line: string): Promise<number> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '5', `${gw.admin}/stats/prometheus`]);
  const l = stdout.split('\n').find((x) => x.startsWith(line));
  return l ? Number(l.split(' ').at(-1)) : Number.NaN;
}

async function curl(path: string, token?: string): Promise<{ status: number; headers: string }> {
  const { stdout } = await run('curl', ['-sS', '-D', '-', '-o', '/dev/null', '--max-time', '5', ...(token ? ['-H', `authorization: Bearer ${token}`] : []), `${base}${path}`]);
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(stdout)![1]), headers: stdout };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'weft-jwt-e2e-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '2', '-subj', '/CN=jwks.test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'pipe' });
  const certPem = readFileSync(join(dir, 'c.pem'), 'utf8');
  [k1, k2] = await Promise.all([keyPair('k1'), keyPair('k2')]);
  keys = [k1.jwk];
  jwks = https.createServer({ cert: certPem, key: readFileSync(join(dir, 'k.pem')) }, (_q, s) => {
    fetches++;
    s.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  jwks.on('clientError', (_e, sock) => sock.destroy());
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  up = await upstream((q, s) => s.end(`hello ${q.headers['x-user'] ?? '?'} ${q.headers.authorization ? 'with' : 'without'} token`));
  cp = await startControlPlane();
  const gwPort = await freePort();
  base = `http://127.0.0.1:${gwPort}`;
  const yaml = `${PLAINTEXT_MESH}---
${service('orders', [up.port])}---
${edgeGateway([{ name: 'web', port: gwPort }], `
    - matches: [{ path: { type: PathPrefix, value: /admin } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: JwtPolicy, name: admins } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]`)}---
apiVersion: weft.dev/v1alpha1
kind: JwtPolicy
metadata: { name: users }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  providers:
    - name: idp
      issuer: https://idp.test
      audiences: [orders]
      claimToHeaders: [{ claim: sub, header: x-user }]
      remoteJwks:
        uri: https://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json
        caCertificates: |
          ${certPem.trim().split('\n').join('\n          ')}
---
apiVersion: weft.dev/v1alpha1
kind: JwtPolicy
metadata: { name: admins }
spec:
  providers:
    - name: idp
      issuer: https://idp.test
      audiences: [orders]
      remoteJwks:
        uri: https://127.0.0.1:${(jwks.address() as AddressInfo).port}/.well-known/jwks.json
        caCertificates: |
          ${certPem.trim().split('\n').join('\n          ')}
  requirement: { scopes: [admin] }
`;
  const r = await weftApply(cp, yaml, 'jwt.yaml');
  expect(r.code, r.stderr).toBe(0);
  gw = await startGateway(cp.xdsPort, 'default/edge');
  await eventually(async () => ((await curl('/x').catch(() => undefined))?.status === 401 ? true : undefined), 30_000, 100);
}, 120_000);

afterAll(async () => {
  await Promise.all([gw?.kill(), cp?.kill(), up?.close()]);
  await new Promise<void>((r) => (jwks ? jwks.close(() => r()) : r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('JwtPolicy at a weft gateway', () => {
  it('no token: 401 with the Bearer challenge (curl); a valid token: 200, the subject copied, the token stripped (undici)', async () => {
    const r = await curl('/orders/1');
    expect(r.status).toBe(401);
    expect(r.headers).toMatch(/^www-authenticate: Bearer realm="http:\/\/127\.0\.0\.1:\d+\/orders\/1"\r$/im);
    expect(r.headers).toMatch(/^x-weft-error: JWT_MISSING\r$/im);
    const ok = await request(`${base}/orders/1`, { headers: { authorization: `Bearer ${await mint(k1, 'read')}` } });
    expect([ok.statusCode, await ok.body.text()]).toEqual([200, 'hello alice without token']);
  });

  it('a valid token without the route\'s scope: 403 insufficient_scope; with it: 200', async () => {
    const r = await curl('/admin/x', await mint(k1, 'read'));
    expect(r.status).toBe(403);
    expect(r.headers).toMatch(/^www-authenticate: Bearer realm="[^"]+", error="insufficient_scope", error_description="Jwt lacks the scope 'admin'", scope="admin"\r$/im);
    expect((await curl('/admin/x', await mint(k1, 'read admin'))).status).toBe(200);
  });

  it('keys fetched once for both policies\' provider sources; a rotated-in key: zero failures, one more fetch per provider that sees it; counted in /stats/prometheus', async () => {
    // Two policies, one JWKS URI: a key set per provider (the providers are not the same one).
    expect(fetches).toBe(2);
    keys = [k1.jwk, k2.jwk];
    const oldToken = await mint(k1, 'read');
    const newToken = await mint(k2, 'read');
    const statuses: number[] = [];
    for (let i = 0; i < 200; i += 10) {
      statuses.push(...(await Promise.all(Array.from({ length: 10 }, async (_, j) => {
        const r = await request(`${base}/orders/${i + j}`, { headers: { authorization: `Bearer ${(i + j) % 2 ? newToken : oldToken}` } });
        await r.body.dump();
        return r.statusCode;
      }))));
    }
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(fetches).toBe(3);
    expect(await metric('weft_jwks_fetches_total{provider="default/users/idp",result="success"}')).toBe(2);
    expect(await metric('weft_jwks_fetches_total{provider="default/admins/idp",result="success"}')).toBe(1);
    expect(await metric('weft_jwks_fetches_total{provider="default/users/idp",result="error"}')).toBe(0);
  }, 60_000);
});

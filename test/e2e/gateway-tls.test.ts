// The gateway's HTTPS front door through real processes and real clients (issue 19 item 2): a
// control plane, `orders` (app + sidecar) and `weft gateway`; certificates made by openssl and
// stored with `weft create secret tls`; two HTTPS listeners on one port told apart by SNI; curl
// (--resolve, --http2, TLS 1.2), openssl s_client and h2load as the clients; plain HTTP
// redirected to HTTPS; `weft get` shows certificate expiry and never the key; a certificate
// replaced under h2load load with zero failed requests and an open HTTP/2 connection unbroken.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupCerts, pemFile, selfSignedCert, type TestCert } from '../harness/certs.js';
import { eventually, figure, freePort, startControlPlane, startGateway, startInstance, weft, weftApply, type ControlPlaneProc, type GatewayProc, type Instance } from '../harness/processes.js';

const run = promisify(execFile);

const gatewayYaml = (http: number, https: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: ${http}, protocol: HTTP }
    - name: shop
      port: ${https}
      protocol: HTTPS
      hostname: shop.example.com
      tls: { certificateRefs: [{ name: shop-cert }] }
    - name: api
      port: ${https}
      protocol: HTTPS
      hostname: api.example.com
      tls: { certificateRefs: [{ name: api-cert }] }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: shop }, { kind: Gateway, name: edge, sectionName: api }]
  rules: [{ backendRefs: [{ name: orders, port: 8080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: to-https }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }]
  rules:
    - filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, port: ${https}, statusCode: 301 } }]
`;

describe('weft gateway: HTTPS termination with real clients', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let gw: GatewayProc;
  let httpPort: number;
  let httpsPort: number;
  let shop: TestCert;
  let api: TestCert;
  let caFile: string;
  const resolve = (host: string) => ['--resolve', `${host}:${httpsPort}:127.0.0.1`];

  async function createSecret(name: string, c: TestCert): Promise<void> {
    const r = await weft(['create', 'secret', 'tls', name, '--cert', c.certFile, '--key', c.keyFile], { cp });
    expect(r.code, r.stderr).toBe(0);
  }

  beforeAll(async () => {
    cp = await startControlPlane();
    [httpPort, httpsPort] = [await freePort(), await freePort()];
    shop = selfSignedCert(['shop.example.com']);
    api = selfSignedCert(['api.example.com'], { rsa: true });
    caFile = pemFile(shop.certPem + api.certPem);
    await createSecret('shop-cert', shop);
    await createSecret('api-cert', api);
    const r = await weftApply(cp, gatewayYaml(httpPort, httpsPort), 'edge.yaml');
    expect(r.code, r.stderr).toBe(0);
    [orders, gw] = await Promise.all([startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'), startGateway(cp.xdsPort, 'default/edge')]);
    await eventually(async () => (await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...resolve('shop.example.com'), '--cacert', caFile, `https://shop.example.com:${httpsPort}/x`]).catch(() => ({ stdout: '' }))).stdout === '200', 30_000, 200);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), orders?.kill(), cp?.kill()]);
    cleanupCerts();
  });

  it('curl reaches the mesh over HTTPS with SNI, HTTP/2 and HTTP/1.1, TLS 1.3 and 1.2, verifying the certificate', async () => {
    const curl = async (host: string, ...args: string[]) => (await run('curl', ['-sS', ...resolve(host), '--cacert', caFile, '-w', '\n%{http_code} %{http_version} %{ssl_verify_result}', ...args, `https://${host}:${httpsPort}/api/items`])).stdout.split('\n');
    const h2 = await curl('shop.example.com', '--http2');
    expect(h2.at(-1)).toBe('200 2 0');
    expect((JSON.parse(h2[0]!) as { name: string; url: string }).url).toBe('/api/items');
    expect((await curl('api.example.com', '--http1.1')).at(-1)).toBe('200 1.1 0');
    expect((await curl('shop.example.com', '--tlsv1.2', '--tls-max', '1.2')).at(-1)).toBe('200 2 0');
    figure('gateway https via curl', { h2: h2.at(-1) });
  });

  it('openssl s_client sees the certificate SNI picks, TLS 1.3 and ALPN h2', async () => {
    // stdin from /dev/null: s_client ends once the handshake is done.
    const s = async (name: string) => (await run('bash', ['-c', `openssl s_client -connect 127.0.0.1:${httpsPort} -servername ${name} -alpn h2,http/1.1 -CAfile ${caFile} </dev/null`], { timeout: 10_000 })).stdout;
    const a = await s('api.example.com');
    expect(a).toMatch(/New, TLSv1\.3/);
    expect(a).toMatch(/subject=CN ?= ?api\.example\.com/);
    expect(a).toMatch(/ALPN protocol: h2/);
    expect(a).toMatch(/Verify return code: 0 \(ok\)/);
    expect(await s('shop.example.com')).toMatch(/subject=CN ?= ?shop\.example\.com/);
    // TLS 1.2 only with forward-secret AEAD suites, on a port whose listeners all have hostnames
    // (no default chain: the server's own context must still carry the suites). api's key is RSA,
    // with which a plain-RSA, CBC suite would be possible.
    const weak = await run('bash', ['-c', `openssl s_client -connect 127.0.0.1:${httpsPort} -servername api.example.com -tls1_2 -cipher AES128-SHA </dev/null 2>&1; echo rc=$?`], { timeout: 10_000 });
    expect(weak.stdout).toMatch(/rc=1/);
    expect(weak.stdout).not.toMatch(/Cipher is AES128-SHA/);
    const strong = await run('bash', ['-c', `openssl s_client -connect 127.0.0.1:${httpsPort} -servername shop.example.com -tls1_2 </dev/null 2>&1`], { timeout: 10_000 });
    expect(strong.stdout).toMatch(/Cipher is ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)/);
  });

  it('redirects plain HTTP to HTTPS, and answers plain HTTP on the HTTPS port with 400', async () => {
    const r = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '-H', 'Host: shop.example.com', `http://127.0.0.1:${httpPort}/api/items?a=1`]);
    expect(r.stdout).toBe(`301 https://shop.example.com:${httpsPort}/api/items?a=1`);
    const plain = await run('curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: shop.example.com', `http://127.0.0.1:${httpsPort}/`]);
    expect(plain.stdout).toBe('400');
  });

  it('weft get shows each certificate with its names and expiry, and never the key', async () => {
    const g = await weft(['get', 'gateway', 'edge'], { cp });
    expect(g.stdout).toMatch(/shop HTTPS:\d+ shop\.example\.com \[shop-cert: shop\.example\.com expires \d{4}-\d\d-\d\d( in \d+ days)?\]/);
    expect(g.stdout).toMatch(/api HTTPS:\d+ api\.example\.com \[api-cert: api\.example\.com expires/);
    const y = await weft(['get', 'secret', 'shop-cert', '-o', 'yaml'], { cp });
    expect(y.stdout).toContain('tls.key: <redacted>');
    expect(y.stdout).not.toContain(shop.keyPem.split('\n')[1]!);
    const certs = await weft(['proxy-config', gw.id, '--type', 'secret'], { cp });
    expect(certs.code, certs.stderr).toBe(0);
    expect(certs.stdout).toMatch(/tls\/default\/shop-cert\s+serving cert\s+shop\.example\.com\s/);
    const dump = await weft(['proxy-config', gw.id, '-o', 'json'], { cp });
    expect(dump.stdout).toContain('[redacted]');
    const sidecarDump = await (await fetch(`${gw.admin}/config_dump`)).text();
    for (const k of [shop, api]) for (const out of [certs.stdout, dump.stdout, sidecarDump]) expect(out).not.toContain(k.keyPem.split('\n')[1]!);
  });

  it('replaces a certificate under h2load load: zero failed requests, an open HTTP/2 connection unbroken, new handshakes get the new certificate', async () => {
    // A long-lived HTTP/2 connection opened before the replacement, used after it.
    const session = http2.connect(`https://shop.example.com:${httpsPort}`, { host: '127.0.0.1', servername: 'shop.example.com', ca: [shop.certPem], checkServerIdentity: () => undefined, createConnection: () => tls.connect({ host: '127.0.0.1', port: httpsPort, servername: 'shop.example.com', ca: [shop.certPem], ALPNProtocols: ['h2'] }) });
    const ask = () =>
      new Promise<number>((resolve, reject) => {
        const r = session.request({ ':path': '/api/long', ':authority': 'shop.example.com' });
        r.on('response', (h) => resolve(Number(h[':status'])));
        r.on('error', reject);
        r.resume();
        r.end();
      });
    expect(await ask()).toBe(200);
    const renewed = selfSignedCert(['shop.example.com', 'www.shop.example.com']);
    const load = run('h2load', ['-n', '6000', '-c', '4', '-m', '8', `--connect-to=127.0.0.1:${httpsPort}`, `https://shop.example.com:${httpsPort}/api/load`], { timeout: 90_000 });
    let replaced = 0;
    for (const c of [renewed, shop, renewed]) {
      await createSecret('shop-cert', c);
      replaced++;
    }
    const out = (await load).stdout;
    const m = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
    figure('gateway https h2load during certificate replacement', { line: m?.[0], replaced });
    expect(m, out).not.toBeNull();
    expect([m![4], m![5], m![6]]).toEqual(['6000', '0', '0']);
    expect(/status codes: (\d+) 2xx/.exec(out)?.[1]).toBe('6000');
    expect(await ask()).toBe(200);
    expect(session.closed || session.destroyed).toBe(false);
    session.close();
    // New handshakes get the renewed certificate.
    const fp = new X509Certificate(renewed.certPem).fingerprint256;
    await eventually(async () => {
      const got = await new Promise<string>((res, rej) => {
        const s = tls.connect({ host: '127.0.0.1', port: httpsPort, servername: 'shop.example.com', rejectUnauthorized: false }, () => {
          res(s.getPeerCertificate().fingerprint256);
          s.end();
        });
        s.on('error', rej);
      });
      return got === fp;
    }, 20_000, 100);
  });
});

// TLS termination at the gateway, in process: HTTPS listeners sharing port 8443 serve their own
// certificates and routes by SNI (exact, wildcard, and the default listener without hostname
// for other names or no SNI), over TLS 1.2 and 1.3 with ALPN h2 or http/1.1; plain HTTP on the
// HTTPS port gets 400; an HTTP listener redirects to HTTPS; a replaced certificate is served to
// new connections while open ones keep working.
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupCerts, selfSignedCert, tlsSecret, type TestCert } from '../../../harness/certs.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8080, protocol: HTTP }
    - name: shop
      port: 8443
      protocol: HTTPS
      hostname: shop.example
      tls: { certificateRefs: [{ name: shop-cert }] }
    - name: api
      port: 8443
      protocol: HTTPS
      hostname: "*.api.example"
      tls: { certificateRefs: [{ kind: Secret, name: api-cert }] }
    - name: fallback
      port: 8443
      protocol: HTTPS
      tls: { mode: Terminate, certificateRefs: [{ name: default-cert }] }
`;
const route = (name: string, section: string, backend: string, extra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: ${section} }]
  rules: [{ ${extra}backendRefs: [{ name: ${backend}, port: 8080 }] }]
`;
const REDIRECT = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: to-https }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }]
  rules:
    - filters: [{ type: RequestRedirect, requestRedirect: { scheme: https, port: 443, statusCode: 301 } }]
`;
// Canonical host: the bare domain redirects to www, keeping the scheme (https) and the path.
const CANONICAL = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: canonical }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: fallback }]
  hostnames: [example.org]
  rules:
    - filters: [{ type: RequestRedirect, requestRedirect: { hostname: www.example.org, statusCode: 301 } }]
`;
const SECURITY = `apiVersion: weft.dev/v1alpha1
kind: SecurityHeadersPolicy
metadata: { name: edge-headers }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  hsts: { maxAgeSeconds: 31536000, includeSubDomains: true }
  frameOptions: DENY
`;

interface Seen {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  subject: string;
  protocol: string | null;
  version: string | null;
}

describe('gateway TLS termination', () => {
  let shop: TestCert;
  let api: TestCert;
  let dflt: TestCert;
  let orders: Upstream;
  let apis: Upstream;
  let other: Upstream;
  let gw: InProcessGateway;
  let yaml: string[];
  const ca = () => [shop.certPem, api.certPem, dflt.certPem];

  beforeAll(async () => {
    shop = selfSignedCert(['shop.example']);
    api = selfSignedCert(['*.api.example']);
    dflt = selfSignedCert(['default.example']);
    orders = await upstream((q, s) => {
      s.setHeader('x-seen-proto', String(q.headers['x-forwarded-proto']));
      s.end('orders');
    });
    apis = await upstream((_q, s) => s.end('api'));
    other = await upstream((_q, s) => s.end('other'));
    yaml = [PLAINTEXT_MESH, GATEWAY, service('orders', [orders.port]), service('apis', [apis.port]), service('other', [other.port]), tlsSecret('shop-cert', shop), tlsSecret('api-cert', api), tlsSecret('default-cert', dflt), route('shop', 'shop', 'orders'), route('api', 'api', 'apis'), route('fallback', 'fallback', 'other'), REDIRECT, CANONICAL, SECURITY];
    gw = await inProcessGateway(yaml, 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await Promise.all([orders?.close(), apis?.close(), other?.close()]);
    cleanupCerts();
  });

  /** One HTTPS/1.1 request with SNI `servername` (none when undefined) and Host `host`. */
  function get(servername: string | undefined, host: string, o: { maxVersion?: tls.SecureVersion; agent?: https.Agent; path?: string } = {}): Promise<Seen> {
    return new Promise((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: gw.port('shop'), path: o.path ?? '/', headers: { host, 'x-forwarded-proto': 'http' }, ca: ca(), servername: servername ?? '', agent: o.agent ?? false, ...(o.maxVersion ? { maxVersion: o.maxVersion } : {}), checkServerIdentity: () => undefined },
        (res) => {
          const sock = res.socket as tls.TLSSocket;
          const subject = String(sock.getPeerCertificate().subject?.CN ?? '');
          const protocol = sock.alpnProtocol || null;
          const version = sock.getProtocol();
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, subject, protocol, version }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('serves each HTTPS listener its certificate and its routes, chosen by SNI', async () => {
    const shopped = await get('shop.example', 'shop.example');
    expect(shopped).toMatchObject({ status: 200, body: 'orders', subject: 'shop.example' });
    // The upstream learns the client's scheme, whatever x-forwarded-proto the client sent.
    expect(shopped.headers['x-seen-proto']).toBe('https');
    expect(await get('a.api.example', 'a.api.example')).toMatchObject({ status: 200, body: 'api', subject: '*.api.example' });
    expect(await get('deep.b.api.example', 'deep.b.api.example')).toMatchObject({ status: 200, body: 'api', subject: '*.api.example' });
    // Another name, or no SNI at all: the listener without hostname.
    expect(await get('unknown.example', 'unknown.example')).toMatchObject({ status: 200, body: 'other', subject: 'default.example' });
    expect(await get(undefined, 'whatever.example')).toMatchObject({ status: 200, body: 'other', subject: 'default.example' });
  });

  it('routes a request by its connection: a Host of another listener finds no route there', async () => {
    const r = await get('shop.example', 'x.api.example');
    expect(r.status).toBe(404);
    expect(r.subject).toBe('shop.example');
  });

  it('speaks TLS 1.3 and 1.2', async () => {
    expect((await get('shop.example', 'shop.example')).version).toBe('TLSv1.3');
    expect(await get('shop.example', 'shop.example', { maxVersion: 'TLSv1.2' })).toMatchObject({ status: 200, body: 'orders', version: 'TLSv1.2' });
  });

  it('negotiates HTTP/2 by ALPN', async () => {
    const s = http2.connect(`https://127.0.0.1:${gw.port('shop')}`, { servername: 'shop.example', ca: ca(), checkServerIdentity: () => undefined });
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = s.request({ ':path': '/', ':authority': 'shop.example' });
        let status = 0;
        let body = '';
        r.on('response', (h) => (status = Number(h[':status'])));
        r.on('data', (c: Buffer) => (body += c));
        r.on('end', () => resolve({ status, body }));
        r.on('error', reject);
        r.end();
      });
      expect((s.socket as tls.TLSSocket).alpnProtocol).toBe('h2');
      expect({ status, body }).toEqual({ status: 200, body: 'orders' });
    } finally {
      s.close();
    }
  });

  it('answers plain HTTP on the HTTPS port with 400', async () => {
    const r = await send(gw.port('shop'), '/', { host: 'shop.example' });
    expect(r.status).toBe(400);
    expect(r.headers['x-weft-error']).toBe('BAD_REQUEST');
    expect(r.body).toContain('HTTPS port');
  });

  it('redirects HTTP to HTTPS on the HTTP listener, without HSTS there (RFC 6797 7.2) but with the other security headers', async () => {
    const r = await send(gw.port('web'), '/cart?x=1', { host: 'shop.example' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://shop.example/cart?x=1');
    expect(r.headers['strict-transport-security']).toBeUndefined();
    expect(r.headers['x-frame-options']).toBe('DENY');
  });

  it('sends HSTS on HTTPS listeners', async () => {
    const r = await get('shop.example', 'shop.example');
    expect(r.status).toBe(200);
    expect(r.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(r.headers['x-frame-options']).toBe('DENY');
  });

  it('redirects the bare domain to its canonical host, keeping https and the path', async () => {
    const r = await get('example.org', 'example.org', { path: '/a/b?c=1' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://www.example.org/a/b?c=1');
    expect(r.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  it('serves a replaced certificate to new connections; an open connection keeps working', async () => {
    const { X509Certificate } = await import('node:crypto');
    const old = shop;
    const renewed = selfSignedCert(['shop.example', 'www.shop.example']);
    const trust = [old.certPem, renewed.certPem];
    // One kept-alive connection (the agent pools by TLS options, so every request passes the same).
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const viaAgent = () =>
      new Promise<{ fp: string; body: string; port: number }>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: gw.port('shop'), path: '/', headers: { host: 'shop.example' }, ca: trust, servername: 'shop.example', agent, checkServerIdentity: () => undefined }, (res) => {
          const sock = res.socket as tls.TLSSocket;
          const fp = sock.getPeerCertificate().fingerprint256;
          const port = sock.localPort!;
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve({ fp, body, port }));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const before = await viaAgent();
      expect(before.fp).toBe(new X509Certificate(old.certPem).fingerprint256);
      const swap = (d: string) => (d === tlsSecret('shop-cert', old) ? tlsSecret('shop-cert', renewed) : d);
      yaml = yaml.map(swap);
      shop = renewed;
      gw.apply(yaml);
      // The kept-alive connection (same local port) still answers with the old handshake...
      const after = await viaAgent();
      expect(after).toEqual({ ...before, body: 'orders' });
      // ...and a new connection gets the new certificate.
      const fresh = await new Promise<string>((resolve, reject) => {
        const s = tls.connect({ host: '127.0.0.1', port: gw.port('shop'), servername: 'shop.example', ca: [renewed.certPem], checkServerIdentity: () => undefined }, () => {
          resolve(s.getPeerCertificate().fingerprint256);
          s.end();
        });
        s.on('error', reject);
      });
      expect(fresh).toBe(new X509Certificate(renewed.certPem).fingerprint256);
    } finally {
      agent.destroy();
    }
  });
});

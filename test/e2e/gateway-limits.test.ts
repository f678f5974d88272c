// ClientTrafficPolicy and SecurityHeadersPolicy through real processes and curl: a control plane,
// `orders` (app + sidecar) and `weft gateway` with an access log, configured with `weft apply`.
// Each limit answers curl with its status and x-weft-error (HTTP/1.1, and HTTP/2 by prior
// knowledge for the head size; an HTTP/2 body over the limit is in the in-process tests: curl
// 7.88 fails with error 92, at random, on the RST_STREAM(NO_ERROR) RFC 9113 section 8.1 has a
// server send after an early answer while the client still uploads), a slow head gets 408, the limits show in the gateway's metrics and access log, and
// every response carries the Gateway's security headers.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, startControlPlane, startGateway, startInstance, tempDir, weftApply, type ControlPlaneProc, type GatewayProc, type Instance } from '../harness/processes.js';

const config = (port: number) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: ${port}, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: orders, port: 8080 }] }]
---
apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: edge-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  maxRequestBodyBytes: 1024
  maxRequestHeaderBytes: 2048
  maxUriLength: 64
  requestHeaderTimeout: 1s
  idleTimeout: 30s
  maxConnections: 100
---
apiVersion: weft.dev/v1alpha1
kind: SecurityHeadersPolicy
metadata: { name: site }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  contentTypeOptions: nosniff
  frameOptions: DENY
  referrerPolicy: no-referrer
`;

/** curl's view of one exchange: status and response headers (lowercase names). */
function curl(args: string[], stdin?: string): Promise<{ status: number; headers: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    const p = execFile('curl', ['-sS', '-o', '/dev/null', '-D', '-', '--max-time', '10', ...args], (err, stdout) => {
      if (err && !stdout) return reject(err);
      const blocks = stdout.trim().split(/\r?\n\r?\n/);
      const lines = blocks.at(-1)!.split(/\r?\n/);
      const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0]!)?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status, headers });
    });
    if (stdin !== undefined) p.stdin!.end(stdin);
  });
}

describe('weft gateway: client traffic limits and security headers (curl)', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let gw: GatewayProc;
  let port: number;
  let log: string;
  const url = (path = '/') => `http://127.0.0.1:${port}${path}`;

  beforeAll(async () => {
    cp = await startControlPlane();
    port = await freePort();
    const r = await weftApply(cp, config(port), 'edge.yaml');
    expect(r.code, r.stderr).toBe(0);
    log = join(tempDir('weft-gw-log-'), 'access.log');
    [orders, gw] = await Promise.all([startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'), startGateway(cp.xdsPort, 'default/edge', { extraArgs: ['--access-log', log] })]);
    await eventually(async () => (await curl([url('/api')]).catch(() => undefined))?.status === 200, 20_000, 100);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), orders?.kill(), cp?.kill()]);
  });

  it.each([
    ['a request within every limit', ['-H', 'host: shop.example'], undefined, 200, undefined],
    ['a declared body over maxRequestBodyBytes', ['--data-binary', '@-'], 'x'.repeat(2000), 413, 'BODY_TOO_LARGE'],
    ['a chunked body over maxRequestBodyBytes', ['-H', 'transfer-encoding: chunked', '--data-binary', '@-'], 'x'.repeat(2000), 413, 'BODY_TOO_LARGE'],
    ['a head over maxRequestHeaderBytes', ['-H', `x-big: ${'y'.repeat(3000)}`], undefined, 431, 'HEADERS_TOO_LARGE'],
    ['a target over maxUriLength', [], undefined, 414, 'URI_TOO_LONG'],
    ['HTTP/2: a head over maxRequestHeaderBytes', ['--http2-prior-knowledge', '-H', `x-big: ${'y'.repeat(3000)}`], undefined, 431, 'HEADERS_TOO_LARGE'],
  ] as const)('curl: %s', async (what, args, body, status, code) => {
    const path = what.includes('maxUriLength') ? `/${'p'.repeat(100)}` : '/api';
    const r = await curl([...args, url(path)], body);
    expect(r.status).toBe(status);
    expect(r.headers['x-weft-error']).toBe(code);
  });

  it('sets the security headers on every response, and no HSTS over plain HTTP', async () => {
    const r = await curl([url('/api')]);
    expect([r.headers['x-content-type-options'], r.headers['x-frame-options'], r.headers['referrer-policy'], r.headers['strict-transport-security']]).toEqual(['nosniff', 'DENY', 'no-referrer', undefined]);
  });

  it('answers a head that trickles in slower than requestHeaderTimeout 408 and closes', async () => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('error', () => undefined);
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    const head = 'GET /api HTTP/1.1\r\nhost: shop.example\r\n' + 'x-slow: a\r\n'.repeat(100);
    let i = 0;
    const t = setInterval(() => (s.destroyed || i >= head.length ? clearInterval(t) : s.write(head[i++]!)), 50);
    await closed;
    clearInterval(t);
    expect(got).toMatch(/^HTTP\/1\.1 408 [^]*x-weft-error: HEADERS_TIMEOUT/);
  });

  it('counts each limit in weft_downstream_limit_rejections_total and logs it', async () => {
    const text = await (await fetch(`${gw.admin}/stats/prometheus`)).text();
    const count = (limit: string) => Number(new RegExp(`^weft_downstream_limit_rejections_total\\{listener="gateway.web",limit="${limit}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    expect([count('maxRequestBodyBytes'), count('maxRequestHeaderBytes'), count('maxUriLength'), count('requestHeaderTimeout')]).toEqual([2, 2, 1, 1]);
    const lines = await eventually(() => {
      const l = readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((x) => JSON.parse(x) as Record<string, unknown>);
      return l.some((x) => x.weft_error === 'HEADERS_TIMEOUT') ? l : undefined;
    }, 10_000);
    // Only the limits' codes: the first requests, before the gateway had its routes, may have failed otherwise.
    const LIMIT_CODES = new Set(['BODY_TOO_LARGE', 'HEADERS_TOO_LARGE', 'URI_TOO_LONG', 'HEADERS_TIMEOUT']);
    const errs = lines.map((x) => x.weft_error as string).filter((c) => LIMIT_CODES.has(c)).sort();
    expect(errs).toEqual(['BODY_TOO_LARGE', 'BODY_TOO_LARGE', 'HEADERS_TIMEOUT', 'HEADERS_TOO_LARGE', 'HEADERS_TOO_LARGE', 'URI_TOO_LONG']);
    expect(lines.find((x) => x.weft_error === 'HEADERS_TIMEOUT')).toMatchObject({ event: 'limit', limit: 'requestHeaderTimeout', status: 408, listener: 'gateway.web' });
  });
});

// Config changes never drop connections (issue 19 item 4 and its acceptance): 60 s of HTTPS
// traffic through `weft gateway` while, every 2 s, one `weft apply` replaces the route (a header
// it sets flips) and the listener's certificate (two certificates alternate). Zero requests may
// fail, and three long-lived exchanges opened before the changes run through all of them on their
// first connection: a WebSocket (echo every 500 ms), an SSE response (an event every 500 ms) and
// a gRPC bidi stream (a message every 500 ms), all over TLS to the gateway.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupCerts, selfSignedCert, tlsSecret, type TestCert } from '../harness/certs.js';
import { eventually, figure, freePort, startControlPlane, startGateway, startInstance, weftApply, type ControlPlaneProc, type GatewayProc, type Instance } from '../harness/processes.js';

const SECONDS = Number(process.env.WEFT_RELOAD_SECONDS ?? 60);
const EVERY_MS = 2000;
const TICK_MS = 500;

const config = (port: number, cert: TestCert, version: number) => `${tlsSecret('edge-cert', cert)}---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: ${port}, protocol: HTTPS, hostname: "*.example.com", tls: { certificateRefs: [{ name: edge-cert }] } }
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [shop.example.com]
  rules:
    # Server-sent events outlive any request timeout: 0s turns it off (Gateway API).
    - matches: [{ path: { type: PathPrefix, value: /stream } }]
      timeouts: { request: 0s }
      backendRefs: [{ name: orders, port: 8080 }]
    - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: x-custom, value: "v${version}" }] } }]
      backendRefs: [{ name: orders, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: greeter }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  hostnames: [grpc.example.com]
  rules:
    - matches: [{ method: { service: weft.test.Echo } }]
      backendRefs: [{ name: greeter, port: 50051 }]
`;

describe('weft gateway: routes and certificates replaced every 2 s under 60 s of load', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let greeter: Instance;
  let gw: GatewayProc;
  let port: number;
  let certs: [TestCert, TestCert];

  beforeAll(async () => {
    cp = await startControlPlane();
    port = await freePort();
    certs = [selfSignedCert(['*.example.com']), selfSignedCert(['*.example.com', 'example.com'])];
    const r = await weftApply(cp, config(port, certs[0], 0), 'edge.yaml');
    expect(r.code, r.stderr).toBe(0);
    [orders, greeter, gw] = await Promise.all([startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'), startInstance(cp.xdsPort, 'grpc', 'greeter', 'greeter-1'), startGateway(cp.xdsPort, 'default/edge')]);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), orders?.kill(), greeter?.kill(), cp?.kill()]);
    cleanupCerts();
  });

  it('fails no request, and an open WebSocket, SSE response and gRPC stream run through every change', async () => {
    const ca = [certs[0].certPem, certs[1].certPem];
    const connect = () => tls.connect({ host: '127.0.0.1', port, servername: 'shop.example.com', ca, ALPNProtocols: ['http/1.1'], checkServerIdentity: () => undefined });
    const pool = new Pool(`https://127.0.0.1:${port}`, { connections: 4, connect: { servername: 'shop.example.com', ca, checkServerIdentity: () => undefined } });
    const HOST = { host: 'shop.example.com' };
    await eventually(async () => (await pool.request({ path: '/ready', method: 'GET', headers: HOST }).then(async (r) => (await r.body.text(), r.statusCode)).catch(() => 0)) === 200, 30_000, 200);

    // The WebSocket-style upgrade (the app echoes bytes after 101).
    const ws = connect();
    let wsText = '';
    ws.on('data', (b: Buffer) => (wsText += b.toString('latin1')));
    let wsClosed = false;
    ws.on('close', () => (wsClosed = true));
    await new Promise<void>((r) => ws.once('secureConnect', () => r()));
    ws.write('GET /ws HTTP/1.1\r\nHost: shop.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    await eventually(async () => wsText.includes('101 Switching Protocols'), 10_000, 20);

    // SSE: one event every 500 ms for longer than the run.
    const events = Math.ceil((SECONDS * 1000) / TICK_MS) + 40;
    const sse = connect();
    let sseText = '';
    let sseEnded = false;
    sse.on('data', (b: Buffer) => (sseText += b.toString('latin1')));
    sse.on('end', () => (sseEnded = true));
    sse.on('close', () => (sseEnded = true));
    await new Promise<void>((r) => sse.once('secureConnect', () => r()));
    sse.write(`GET /stream?sse=1&chunks=${events}&ms=${TICK_MS} HTTP/1.1\r\nHost: shop.example.com\r\nAccept: text/event-stream\r\n\r\n`);

    // gRPC bidi over TLS (h2).
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(ca.join(''))), { 'grpc.ssl_target_name_override': 'grpc.example.com', 'grpc.default_authority': 'grpc.example.com' });
    const id = (b: Buffer) => b;
    const chat = client.makeBidiStreamRequest('/weft.test.Echo/Chat', id, id, new grpc.Metadata(), {});
    const replies: string[] = [];
    let chatStatus: grpc.StatusObject | undefined;
    chat.on('data', (b: Buffer) => replies.push(b.toString()));
    chat.on('status', (s: grpc.StatusObject) => (chatStatus = s));
    chat.on('error', () => undefined);

    // Load: 4 connections, bounded by count and by the run's time.
    let stop = false;
    let sent = 0;
    let ok = 0;
    const failures: Record<string, number> = {};
    const versions = new Set<string>();
    const worker = async () => {
      while (!stop && sent < 200_000) {
        sent++;
        try {
          const r = await pool.request({ path: `/load/${sent}`, method: 'GET', headers: HOST });
          const body = (await r.body.json()) as { headers?: { 'x-custom'?: string } };
          if (r.statusCode === 200) {
            ok++;
            versions.add(body.headers?.['x-custom'] ?? '');
          } else failures[String(r.statusCode)] = (failures[String(r.statusCode)] ?? 0) + 1;
        } catch (e) {
          const k = (e as { code?: string }).code ?? (e as Error).message;
          failures[k] = (failures[k] ?? 0) + 1;
        }
      }
    };
    const load = Promise.all([worker(), worker(), worker(), worker()]);

    // Every 2 s, one apply (the admin API, as `weft apply` sends it) replaces the route and the
    // certificate; every 500 ms, one WebSocket echo and one gRPC message.
    const token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
    const t0 = Date.now();
    let applies = 0;
    const applyErrors: string[] = [];
    const changes = (async () => {
      for (let next = t0 + EVERY_MS; next < t0 + SECONDS * 1000; next += EVERY_MS) {
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
        const v = (applies + 1) % 2;
        const r = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ files: [{ name: 'swap.yaml', content: config(port, certs[v]!, v) }] }) });
        if (r.status !== 200) applyErrors.push(`${r.status} ${await r.text()}`);
        applies++;
      }
    })();
    let wsSent = 0;
    let tick = 0;
    while (Date.now() - t0 < SECONDS * 1000) {
      await new Promise((r) => setTimeout(r, TICK_MS));
      ws.write(`ping-${wsSent++};`);
      chat.write(Buffer.from(`m${tick++}`));
    }
    stop = true;
    await Promise.all([load, changes]);
    expect(applyErrors).toEqual([]);
    // Events still arrive on the SSE response after the last change (it ran through all of them).
    const sseAtLastApply = (sseText.match(/data: chunk \d+/g) ?? []).length;
    await eventually(async () => (sseText.match(/data: chunk \d+/g) ?? []).length >= sseAtLastApply + 2, 10_000, 20);
    chat.end();
    await eventually(async () => chatStatus !== undefined, 10_000, 20);
    await eventually(async () => (wsText.match(/ping-\d+;/g) ?? []).length === wsSent, 10_000, 20);
    const sseEvents = (sseText.match(/data: chunk \d+/g) ?? []).length;
    figure('gateway reload under load', { seconds: SECONDS, applies, sent, ok, failures, versions: [...versions].sort(), wsEchoes: wsSent, sseEvents, grpcReplies: replies.length, grpcStatus: chatStatus && `${chatStatus.code} ${chatStatus.details}` });

    expect(failures).toEqual({});
    expect(ok).toBe(sent);
    expect(ok).toBeGreaterThan(1000);
    expect(applies).toBe(Math.ceil((SECONDS * 1000) / EVERY_MS) - 1);
    // Both route versions served (the changes reached the gateway while it ran).
    expect([...versions].sort()).toEqual(['v0', 'v1']);
    // The WebSocket: every echo came back on the connection opened before the first change.
    expect(wsClosed).toBe(false);
    expect((wsText.match(/ping-\d+;/g) ?? []).length).toBe(wsSent);
    // SSE: events kept coming in order on the same response (it outlives the run).
    expect(sseEnded).toBe(false);
    // (Not a count per second: the app's 500 ms interval drifts on a busy machine, 106 of 120 in
    // one CI run. Loss shows as a gap in the sequence; a cut as sseEnded or no event after the
    // last apply, checked above.)
    expect(sseEvents).toBeGreaterThan(sseAtLastApply);
    expect(sseText.match(/data: chunk \d+/g)!.map((x) => Number(x.slice(12)))).toEqual(Array.from({ length: sseEvents }, (_, i) => i));
    // gRPC: every message answered, the stream ended OK.
    expect(chatStatus?.code).toBe(grpc.status.OK);
    expect(replies).toEqual(Array.from({ length: tick }, (_, i) => `greeter-1:m${i}`));
    // New handshakes get the certificate of the last apply.
    const last = certs[applies % 2]!;
    const fp = await new Promise<string>((res, rej) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'shop.example.com', rejectUnauthorized: false }, () => {
        res(s.getPeerCertificate().fingerprint256);
        s.end();
      });
      s.on('error', rej);
    });
    expect(fp).toBe(new X509Certificate(last.certPem).fingerprint256);
    ws.destroy();
    sse.destroy();
    client.close();
    await pool.close();
  }, 150_000);
});

// Traffic through two real sidecars (A's outbound -> B's inbound -> B's app) with a real control
// plane: HTTP/1.1 (keep-alive, bodies both ways, chunked, 100-continue, trailers, Upgrade), h2c,
// gRPC (unary, server/client/bidi streaming, status and trailers), header hygiene, and
// malformed requests that must get a 4xx while the sidecar keeps serving.
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';

const MESH = `apiVersion: weft.dev/v1alpha1
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
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
`;

/** One raw HTTP/1.1 exchange on a fresh connection; resolves with everything the server sent. */
function raw(port: number, text: string | Buffer, waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.on('error', () => resolve(out));
    s.on('close', () => resolve(out));
    s.write(text);
    setTimeout(() => s.destroy(), waitMs);
  });
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: { host: 'orders', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, trailers: res.trailers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('sidecar proxying (A -> sidecar A -> sidecar B -> app B)', () => {
  let cp: ControlPlaneProc;
  let a: SidecarProc;
  let orders: Instance;
  let greeter: Instance;
  let web: Instance;
  let grpcClient: grpc.Client;

  beforeAll(async () => {
    cp = await startControlPlane();
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, MESH);
    expect((await weft(['apply', '-f', f], { cp })).code).toBe(0);
    [orders, greeter, web] = await Promise.all([
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'),
      // No --app-protocol: the sidecar's default (auto) speaks h2c to the app because the Service's port is grpc.
      startInstance(cp.xdsPort, 'grpc', 'greeter', 'greeter-1', { appProtocol: 'auto' }),
      // web has an app of its own: its /ready (checked below) needs the app port listening.
      startInstance(cp.xdsPort, 'http', 'web', 'web-1'),
    ]);
    a = web.sidecar;
    await waitForHosts(a, 'outbound|8080||orders.default', 1);
    await waitForHosts(a, 'outbound|50051||greeter.default', 1);
    grpcClient = new grpc.Client(`127.0.0.1:${a.outboundPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'greeter' });
  });
  afterAll(async () => {
    grpcClient?.close();
    // web's app too: it outlived the suite when only its sidecar was kept.
    await Promise.all([web?.kill('SIGKILL'), orders?.kill(), greeter?.kill(), cp?.kill()]);
  });

  it('forwards HTTP/1.1 with Host routing, x-forwarded-*, x-request-id, and without hop-by-hop headers', async () => {
    const r = await get(a.outboundPort, '/hello?x=1', { connection: 'keep-alive, x-custom', 'x-custom': 'secret', 'keep-alive': 'timeout=5', 'x-request-id': 'req-123' });
    expect(r.status).toBe(200);
    const j = JSON.parse(r.body) as { name: string; url: string; headers: Record<string, string | undefined> };
    expect(j.name).toBe('orders-1');
    expect(j.url).toBe('/hello?x=1');
    expect(j.headers.host).toBe('orders');
    expect(j.headers['x-request-id']).toBe('req-123');
    expect(j.headers['x-forwarded-for']).toBe('127.0.0.1, 127.0.0.1');
    expect(j.headers['x-forwarded-proto']).toBe('http');
    expect(j.headers['x-custom']).toBeUndefined();
    expect(j.headers['keep-alive']).toBeUndefined();
    const gen = JSON.parse((await get(a.outboundPort, '/')).body) as { headers: Record<string, string> };
    expect(gen.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('accepts absolute-form targets (the sidecar as HTTP_PROXY)', async () => {
    const out = await raw(a.outboundPort, 'GET http://orders.default/abs HTTP/1.1\r\nHost: orders.default\r\nConnection: close\r\n\r\n');
    expect(out).toMatch(/^HTTP\/1.1 200/);
    expect(out).toContain('"url":"/abs"');
  });

  it('streams a 1 MiB request body and its echo, with content-length and chunked', async () => {
    const payload = Buffer.alloc(1 << 20, 'x');
    for (const chunked of [false, true]) {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: a.outboundPort, path: '/echo', method: 'POST', headers: { host: 'orders', ...(chunked ? {} : { 'content-length': payload.length }) } }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve(Buffer.concat(parts)));
        });
        req.on('error', reject);
        for (let i = 0; i < 16; i++) req.write(payload.subarray(i * 65536, (i + 1) * 65536));
        req.end();
      });
      expect(body.equals(payload)).toBe(true);
    }
  });

  it('handles Expect: 100-continue', async () => {
    const r = await new Promise<{ continued: boolean; body: string }>((resolve, reject) => {
      let continued = false;
      const req = http.request({ host: '127.0.0.1', port: a.outboundPort, path: '/echo', method: 'PUT', headers: { host: 'orders', expect: '100-continue', 'content-length': 5 } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ continued, body }));
      });
      req.on('continue', () => {
        continued = true;
        req.end('hello');
      });
      req.on('error', reject);
    });
    expect(r).toEqual({ continued: true, body: 'hello' });
  });

  it('streams responses as they come and passes trailers', async () => {
    const s = await get(a.outboundPort, '/stream?chunks=5&ms=20');
    expect(s.body).toBe('chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n');
    const t = await get(a.outboundPort, '/trailers', { te: 'trailers' });
    expect(t.body).toBe('hello');
    expect(t.trailers['x-checksum']).toBe('abc123');
  });

  it('passes an Upgrade (WebSocket-style) through and pipes bytes both ways', async () => {
    const out = await new Promise<string>((resolve) => {
      const s = net.connect(a.outboundPort, '127.0.0.1');
      let got = '';
      s.on('data', (d) => {
        got += d.toString();
        if (got.includes('\r\n\r\n') && !got.includes('ping-pong')) s.write('ping-pong');
        if (got.includes('ping-pong')) {
          s.destroy();
          resolve(got);
        }
      });
      s.write('GET /ws HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      setTimeout(() => (s.destroy(), resolve(got)), 3000);
    });
    expect(out).toMatch(/^HTTP\/1.1 101/);
    expect(out).toContain('x-app: orders-1');
    expect(out).toContain('ping-pong');
  });

  it('serves HTTP/2 cleartext on the same outbound port', async () => {
    const session = http2.connect(`http://127.0.0.1:${a.outboundPort}`);
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const s = session.request({ ':path': '/h2', ':authority': 'orders' });
      let status = 0;
      let body = '';
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (c: Buffer) => (body += c));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
      s.end();
    });
    session.close();
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ name: 'orders-1', url: '/h2' });
  });

  const echoPath = '/weft.test.Echo/';
  const id = (b: Buffer) => b;

  it('proxies gRPC unary with trailers and status codes intact', async () => {
    const call = (md: grpc.Metadata) =>
      new Promise<{ err: grpc.ServiceError | null; value?: Buffer; trailers?: grpc.Metadata }>((resolve) => {
        let trailers: grpc.Metadata | undefined;
        const c = grpcClient.makeUnaryRequest(`${echoPath}Echo`, id, id, Buffer.from('hi'), md, { deadline: Date.now() + 5000 }, (err, value) => setImmediate(() => resolve({ err, value, trailers })));
        c.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
      });
    const ok = await call(new grpc.Metadata());
    expect(ok.err).toBeNull();
    expect(ok.value!.toString()).toBe('greeter-1:hi');
    expect(ok.trailers!.get('x-served-by')).toEqual(['greeter-1']);
    const md = new grpc.Metadata();
    md.set('fail', '5');
    const nf = await call(md);
    expect(nf.err!.code).toBe(grpc.status.NOT_FOUND);
    expect(nf.err!.details).toBe('asked to fail with 5');
    expect(nf.trailers!.get('x-served-by')).toEqual(['greeter-1']);
  });

  it('proxies gRPC bidi, server and client streaming', async () => {
    const bidi = await new Promise<{ msgs: string[]; count: unknown }>((resolve, reject) => {
      const msgs: string[] = [];
      const c = grpcClient.makeBidiStreamRequest(`${echoPath}Chat`, id, id, new grpc.Metadata(), { deadline: Date.now() + 5000 });
      c.on('data', (b: Buffer) => msgs.push(b.toString()));
      c.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve({ msgs, count: s.metadata.get('x-count')[0] }) : reject(new Error(s.details))));
      c.on('error', reject);
      for (let i = 0; i < 5; i++) c.write(Buffer.from(`m${i}`));
      c.end();
    });
    expect(bidi.msgs).toEqual(['greeter-1:m0', 'greeter-1:m1', 'greeter-1:m2', 'greeter-1:m3', 'greeter-1:m4']);
    expect(bidi.count).toBe('5');
    const server = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const c = grpcClient.makeServerStreamRequest(`${echoPath}Count`, id, id, Buffer.from('200'), new grpc.Metadata(), { deadline: Date.now() + 5000 });
      c.on('data', () => n++);
      c.on('status', (s: grpc.StatusObject) => (s.code === 0 ? resolve(n) : reject(new Error(s.details))));
      c.on('error', reject);
    });
    expect(server).toBe(200);
    const sum = await new Promise<string>((resolve, reject) => {
      const c = grpcClient.makeClientStreamRequest(`${echoPath}Sum`, id, id, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, v) => (err ? reject(err) : resolve(v!.toString())));
      for (let i = 0; i < 10; i++) c.write(Buffer.alloc(1000));
      c.end();
    });
    expect(sum).toBe('greeter-1:10000');
  });

  it('answers a gRPC call whose grpc-timeout passes with DEADLINE_EXCEEDED', async () => {
    const md = new grpc.Metadata();
    md.set('delay-ms', '2000');
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      grpcClient.makeUnaryRequest(`${echoPath}Echo`, id, id, Buffer.from('x'), md, { deadline: Date.now() + 300 }, (e) => resolve(e));
    });
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('answers malformed requests with a 4xx and keeps serving', async () => {
    const rejected = async () => Number(/^weft_downstream_requests_rejected_total\{listener="outbound"\} (\d+)$/m.exec(await (await fetch(`${a.admin}/stats/prometheus`)).text())?.[1] ?? 0);
    const before = await rejected();
    const cases: Array<[string, string, number, string]> = [
      ['invalid header bytes', 'GET / HTTP/1.1\r\nHost: orders\r\nX-Bad: a\x01b\r\n\r\n', 400, 'BAD_REQUEST'],
      ['Content-Length with Transfer-Encoding', 'POST /echo HTTP/1.1\r\nHost: orders\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'BAD_REQUEST'],
      ['headers over the limit', `GET / HTTP/1.1\r\nHost: orders\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['missing Host', 'GET / HTTP/1.1\r\nX-Other: 1\r\n\r\n', 400, 'BAD_REQUEST'],
      ['a bad request line', 'GET /a b c HTTP/1.1\r\nHost: orders\r\n\r\n', 400, 'BAD_REQUEST'],
    ];
    for (const [what, text, status, code] of cases) {
      const out = await raw(a.outboundPort, text, 800);
      expect(/^HTTP\/1\.1 (\d{3}) /.exec(out)?.[1], what).toBe(String(status));
      expect(/\r\nx-weft-error: ([^\r]*)\r\n/i.exec(out)?.[1], what).toBe(code);
      expect((await get(a.outboundPort, '/')).status, `still serving after ${what}`).toBe(200);
    }
    // Each refusal counted once.
    expect(await rejected()).toBe(before + cases.length);
  });

  it('answers an unknown host 404 with x-weft-error', async () => {
    const r = await get(a.outboundPort, '/', { host: 'nobody.example' });
    expect(r.status).toBe(404);
    expect(r.headers['x-weft-error']).toBe('NO_ROUTE');
  });

  it('serves /ready, /config_dump, /clusters and /stats/prometheus on the admin port', async () => {
    expect((await fetch(`${a.admin}/ready`)).status).toBe(200);
    const dump = (await (await fetch(`${a.admin}/config_dump`)).json()) as { versions: Record<string, string>; clusters: Array<{ name: string }>; listeners: unknown[] };
    expect(Object.keys(dump.versions).sort()).toEqual(['cluster', 'endpoint', 'listener', 'route', 'secret']);
    expect(dump.clusters.map((c) => c.name)).toContain('outbound|8080||orders.default');
    expect(dump.listeners.length).toBe(2);
    const stats = await (await fetch(`${a.admin}/stats/prometheus`)).text();
    expect(stats).toMatch(/weft_upstream_responses_total\{cluster="outbound\|8080\|\|orders.default",class="2xx"\} \d+/);
    expect(stats).toContain('weft_xds_connected 1');
  });
});

// Draining an HTTP listener (what `weft sidecar` / `weft gateway` do on SIGTERM: drain, then close
// every socket): a response whose last bytes are still buffered in the process when its request
// ends must reach the client whole. A client that reads slowly keeps the socket's kernel buffers
// full, and a TLS socket queues each write while the one before it is in flight, so the proxy's
// last writes wait in the socket when the exchange ends; close() then destroyed them (found by
// test/integration/sidecar/workers.test.ts: UND_ERR_SOCKET on requests in flight at SIGTERM).
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedCert, tlsSecret } from '../../harness/certs.js';
import { inProcessGateway, PLAINTEXT_MESH, service, upstream, type InProcessGateway, type Upstream } from '../../harness/sidecar.js';

const SIZE = 8 * 1024 * 1024;
const CERT = selfSignedCert(['big.example']);

describe('HTTP listener drain', () => {
  let up: Upstream;
  let gw: InProcessGateway;
  beforeAll(async () => {
    const body = Buffer.alloc(SIZE, 0x61);
    // No content-length: the response is chunked, and its last chunk goes out in a write of its own.
    up = await upstream((_q, s) => {
      s.write(body);
      s.end();
    });
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: big-cert }] } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: big }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: big, port: 8080 }] }]
`;
    gw = await inProcessGateway([PLAINTEXT_MESH, tlsSecret('big-cert', CERT), yaml, service('big', [up.port])], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await up?.close();
  });

  it('ends only once a response in flight has left the process, so close() after it cuts nothing', async () => {
    const listener = gw.listeners.get('web')!;
    const c = tls.connect({ port: gw.port(), host: '127.0.0.1', servername: 'big.example', ca: CERT.certPem });
    c.on('error', () => undefined);
    const raw: Buffer[] = [];
    let closed = false;
    let started!: () => void;
    const first = new Promise<void>((r) => (started = r));
    c.on('data', (d: Buffer) => {
      raw.push(d);
      started();
      // A slow reader: the proxy's socket stays full to the end of the response.
      c.pause();
      setTimeout(() => c.resume(), 2);
    });
    const done = new Promise<void>((r) => c.on('close', () => ((closed = true), r())));
    c.write('GET /big HTTP/1.1\r\nhost: big.example\r\n\r\n');
    await first;
    const text = (): string => Buffer.concat(raw).toString('latin1');
    // What main.ts does on SIGTERM: drain, then close every socket.
    const left = await listener.drain(20_000);
    listener.close();
    await done;
    expect(left).toBe(0);
    expect(closed).toBe(true);
    const all = text();
    const at = all.indexOf('\r\n\r\n');
    expect(all.slice(0, at)).toMatch(/^HTTP\/1\.1 200 [^]*transfer-encoding: chunked/);
    // The body, unchunked, and the last chunk.
    let body = 0;
    let i = at + 4;
    for (;;) {
      const eol = all.indexOf('\r\n', i);
      const n = parseInt(all.slice(i, eol), 16);
      if (!(n >= 0)) break;
      i = eol + 2 + n + 2;
      body += n;
      if (n === 0) break;
    }
    expect(body).toBe(SIZE);
    expect(all.endsWith('\r\n0\r\n\r\n')).toBe(true);
  });
});

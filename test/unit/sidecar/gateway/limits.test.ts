// ClientTrafficPolicy at the gateway, in process: each limit through the translator, the
// proxy's decoders and real listeners on loopback, answered with its exact status and
// x-weft-error (HTTP/1.1 and HTTP/2), counted per limit, and logged (requests through the
// observer, connection-level refusals through onLimit). Timing tests wait on the socket's own
// events (the 408 and the close), never on a fixed sleep. Limits change live: an open
// keep-alive connection gets the new limit on its next request, without being dropped.
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../../harness/processes.js';
import { PREFACE, SETTINGS, block, fr } from '../../../harness/h2-frames.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: few, port: 8001, protocol: HTTP }
`;
const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ backendRefs: [{ name: orders, port: 8080 }] }]
`;
const limits = (body: number) => `apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: edge-limits }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  maxRequestBodyBytes: ${body}
  maxRequestHeaderBytes: 4096
  maxUriLength: 100
  requestHeaderTimeout: 300ms
  idleTimeout: 400ms
`;
// The listener's own policy wins over the Gateway's, whole: 'few' has only a connection limit.
const FEW = `apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: few-connections }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: few }]
  maxConnections: 3
`;

let app: Upstream;
let gw: InProcessGateway;
const mesh = (body = 1000) => [PLAINTEXT_MESH, GATEWAY, service('orders', [app.port]), ROUTE, limits(body), FEW];

beforeAll(async () => {
  app = await upstream((_q, s, body) => s.end(`got ${body.length}`));
  gw = await inProcessGateway(mesh(), 'default/edge');
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await app?.close();
});

/** A raw HTTP/1.1 connection: what the server wrote, and when it closed. */
function raw(port: number): { socket: net.Socket; text: () => string; closed: Promise<void>; data: (re: RegExp) => Promise<string> } {
  const socket = net.connect(port, '127.0.0.1');
  let buf = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (c: Buffer) => {
    buf += c.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  socket.on('error', () => undefined);
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  const data = async (re: RegExp): Promise<string> => {
    while (!re.test(buf)) {
      const more = new Promise<void>((r) => waiters.push(r));
      const gone = closed.then(() => {
        if (!re.test(buf)) throw new Error(`closed before ${re}; got ${JSON.stringify(buf)}`);
      });
      await Promise.race([more, gone]);
    }
    return buf;
  };
  return { socket, text: () => buf, closed, data };
}

async function h2(port: number, headers: Record<string, string>, body?: Buffer[]): Promise<{ status: number; headers: http2.IncomingHttpHeaders; text: string }> {
  const c = http2.connect(`http://127.0.0.1:${port}`);
  c.on('error', () => undefined);
  try {
    return await new Promise((resolve, reject) => {
      const r = c.request({ ':path': '/', ':authority': 'shop.example', ...headers }, { endStream: !body });
      let h: http2.IncomingHttpHeaders = {};
      let text = '';
      r.on('response', (x) => (h = x));
      r.on('data', (d: Buffer) => (text += d.toString()));
      r.on('end', () => resolve({ status: Number(h[':status']), headers: h, text }));
      r.on('error', reject);
      if (body) {
        // Written one chunk per tick, no content-length: the proxy can only count.
        void (async () => {
          for (const b of body) {
            if (r.destroyed) return;
            r.write(b);
            await new Promise((x) => setTimeout(x, 5));
          }
          if (!r.destroyed) r.end();
        })();
      }
    });
  } finally {
    c.close();
  }
}

describe('ClientTrafficPolicy limits at the gateway (HTTP/1.1 and HTTP/2)', { timeout: 10_000 }, () => {
  it.each([
    ['a body within the limit', { body: 'x'.repeat(1000) }, 200, undefined],
    ['a declared body over the limit (content-length)', { body: 'x'.repeat(1001) }, 413, 'BODY_TOO_LARGE'],
    ['a target over maxUriLength', { path: `/${'p'.repeat(120)}` }, 414, 'URI_TOO_LONG'],
    ['a target within maxUriLength', { path: `/${'p'.repeat(90)}` }, 200, undefined],
    ['a head over maxRequestHeaderBytes', { headers: { 'x-big': 'y'.repeat(5000) } }, 431, 'HEADERS_TOO_LARGE'],
  ] as const)('HTTP/1.1: %s', async (_what, req, status, code) => {
    const r = await send(gw.port('web'), 'path' in req ? req.path : '/', { host: 'shop.example', method: 'body' in req ? 'POST' : 'GET', ...('headers' in req ? { headers: req.headers } : {}), ...('body' in req ? { body: req.body } : {}) });
    expect(r.status).toBe(status);
    expect(r.headers['x-weft-error']).toBe(code);
  });

  it('HTTP/1.1: a declared body over the limit is refused before it is read, and the connection closes', async () => {
    const c = raw(gw.port('web'));
    const seen = app.seen.length;
    c.socket.write('POST / HTTP/1.1\r\nhost: shop.example\r\ncontent-length: 1000000\r\n\r\n');
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 413 [^]*x-weft-error: BODY_TOO_LARGE/);
    expect(app.seen.length).toBe(seen);
  });

  it('HTTP/1.1: a chunked body is counted as it streams; past the limit 413, the upstream never gets it whole', async () => {
    const c = raw(gw.port('web'));
    const seen = app.seen.length;
    c.socket.write('POST / HTTP/1.1\r\nhost: shop.example\r\ntransfer-encoding: chunked\r\n\r\n');
    // 400 bytes per chunk, until the proxy answers: the third chunk passes 1000.
    for (let i = 0; i < 10 && !c.socket.destroyed && !c.text(); i++) {
      c.socket.write(`190\r\n${'z'.repeat(400)}\r\n`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 413 [^]*x-weft-error: BODY_TOO_LARGE/);
    expect(app.seen.slice(seen)).toEqual([]);
    expect(gw.finished.at(-1)).toMatchObject({ status: 413, weftError: 'BODY_TOO_LARGE' });
  });

  it('HTTP/1.1: a chunked body within the limit goes through', async () => {
    const c = raw(gw.port('web'));
    c.socket.write('POST / HTTP/1.1\r\nhost: shop.example\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n190\r\n' + 'z'.repeat(400) + '\r\n0\r\n\r\n');
    await c.closed;
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 [^]*got 400$/);
  });

  it('HTTP/2: a header list over maxRequestHeaderBytes is answered 431 on its stream', async () => {
    const r = await h2(gw.port('web'), { 'x-big': 'y'.repeat(5000) });
    expect(r.status).toBe(431);
    expect(r.headers['x-weft-error']).toBe('HEADERS_TOO_LARGE');
  });

  it('HTTP/2: a streamed body over the limit is answered 413; a target too long 414', async () => {
    const big = await h2(gw.port('web'), { ':method': 'POST' }, Array.from({ length: 8 }, () => Buffer.alloc(300, 'q')));
    expect(big.status).toBe(413);
    expect(big.headers['x-weft-error']).toBe('BODY_TOO_LARGE');
    const ok = await h2(gw.port('web'), { ':method': 'POST' }, [Buffer.alloc(300, 'q')]);
    expect([ok.status, ok.text]).toEqual([200, 'got 300']);
    const long = await h2(gw.port('web'), { ':path': `/${'p'.repeat(120)}` });
    expect([long.status, long.headers['x-weft-error']]).toEqual([414, 'URI_TOO_LONG']);
  });

  it('slowloris: a head sent byte by byte slower than requestHeaderTimeout gets 408 HEADERS_TIMEOUT and the connection closes', async () => {
    const c = raw(gw.port('web'));
    const head = 'GET / HTTP/1.1\r\nhost: shop.example\r\nx-slow: ' + 'a'.repeat(200);
    let stop = false;
    const trickle = (async () => {
      for (const ch of head) {
        if (stop || c.socket.destroyed) return;
        c.socket.write(ch);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await c.closed;
    stop = true;
    await trickle;
    expect(c.text()).toMatch(/^HTTP\/1\.1 408 [^]*x-weft-error: HEADERS_TIMEOUT/);
    expect(gw.limitEvents.some((e) => e.limit === 'requestHeaderTimeout' && e.code === 'HEADERS_TIMEOUT' && e.listener === 'gateway.web')).toBe(true);
  });

  it('slowloris over HTTP/2: a header block left open past requestHeaderTimeout is sent GOAWAY ENHANCE_YOUR_CALM and closed, counted as that limit', async () => {
    const before = { ...gw.listeners.get('web')!.stats.limits };
    const c = raw(gw.port('web'));
    const head = block([':method', 'GET', ':scheme', 'http', ':authority', 'shop.example', ':path', '/']);
    // HEADERS with END_STREAM but not END_HEADERS: half the block, and no CONTINUATION.
    c.socket.write(Buffer.concat([PREFACE, SETTINGS, fr(1, 1, 1, head.subarray(0, 4))]));
    await c.closed;
    const bytes = Buffer.from(c.text(), 'latin1');
    const goaways: number[] = [];
    for (let i = 0; i + 9 <= bytes.length; i += 9 + bytes.readUIntBE(i, 3)) if (bytes[i + 3] === 7) goaways.push(bytes.readUInt32BE(i + 13));
    expect(goaways).toEqual([11]);
    const after = gw.listeners.get('web')!.stats.limits;
    expect([after.requestHeaderTimeout - before.requestHeaderTimeout, after.idleTimeout - before.idleTimeout]).toEqual([1, 0]);
  });

  it('idleTimeout: a connection that sends nothing, and a keep-alive one after its request, are closed', async () => {
    const before = gw.listeners.get('web')!.stats.limits.idleTimeout;
    const silent = raw(gw.port('web'));
    const kept = raw(gw.port('web'));
    kept.socket.write('GET / HTTP/1.1\r\nhost: shop.example\r\n\r\n');
    await kept.data(/got 0$/);
    await Promise.all([silent.closed, kept.closed]);
    expect(silent.text()).toBe('');
    expect(gw.listeners.get('web')!.stats.limits.idleTimeout - before).toBe(2);
  });

  it('idleTimeout over HTTP/2: a session with no stream open is sent GOAWAY and closed', async () => {
    const before = gw.listeners.get('web')!.stats.limits.idleTimeout;
    const c = http2.connect(`http://127.0.0.1:${gw.port('web')}`);
    c.on('error', () => undefined);
    const goaway = new Promise<void>((r) => c.once('goaway', () => r()));
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const r = c.request({ ':path': '/', ':authority': 'shop.example' });
    r.resume();
    await new Promise((x) => r.once('end', x));
    await Promise.all([goaway, closed]);
    expect(gw.listeners.get('web')!.stats.limits.idleTimeout - before).toBe(1);
  });

  it('maxConnections: with 3 open, a 4th connection is closed at once; once one closes, a new one is served', async () => {
    const l = gw.listeners.get('few')!;
    const open = [raw(gw.port('few')), raw(gw.port('few')), raw(gw.port('few'))];
    await eventually(() => l.stats.cxActive === 3);
    const extra = raw(gw.port('few'));
    extra.socket.write('GET / HTTP/1.1\r\nhost: shop.example\r\n\r\n');
    await extra.closed;
    expect(extra.text()).toBe('');
    expect(l.stats.limits.maxConnections).toBe(1);
    expect(gw.limitEvents.filter((e) => e.limit === 'maxConnections')).toHaveLength(1);
    open[0]!.socket.destroy();
    await eventually(() => l.stats.cxActive === 2);
    const next = raw(gw.port('few'));
    next.socket.write('GET / HTTP/1.1\r\nhost: shop.example\r\nconnection: close\r\n\r\n');
    await next.closed;
    expect(next.text()).toMatch(/^HTTP\/1\.1 200 /);
    for (const o of open) o.socket.destroy();
  });

  it('counts each limit per listener (weft_downstream_limit_rejections_total)', () => {
    const s = gw.listeners.get('web')!.stats.limits;
    expect(s.maxRequestBodyBytes).toBeGreaterThanOrEqual(3);
    expect(s.maxUriLength).toBeGreaterThanOrEqual(2);
    expect(s.maxRequestHeaderBytes).toBeGreaterThanOrEqual(2);
    expect(s.requestHeaderTimeout).toBeGreaterThanOrEqual(1);
  });

  it('applies a changed policy live: an open keep-alive connection keeps going and gets the new limit', async () => {
    const c = raw(gw.port('web'));
    c.socket.write('POST / HTTP/1.1\r\nhost: shop.example\r\ncontent-length: 500\r\n\r\n' + 'x'.repeat(500));
    await c.data(/got 500$/);
    gw.apply(mesh(100));
    c.socket.write('POST / HTTP/1.1\r\nhost: shop.example\r\ncontent-length: 500\r\n\r\n' + 'x'.repeat(500));
    await c.data(/413 [^]*BODY_TOO_LARGE/);
    await c.closed;
    gw.apply(mesh());
  });

  it('applies a lower maxConnections live: the open connection is kept and served, a new one is refused', async () => {
    const l = gw.listeners.get('few')!;
    await eventually(() => l.stats.cxActive === 0);
    const kept = raw(gw.port('few'));
    await eventually(() => l.stats.cxActive === 1);
    const refused = l.stats.limits.maxConnections;
    gw.apply([...mesh().slice(0, -1), FEW.replace('maxConnections: 3', 'maxConnections: 1')]);
    const extra = raw(gw.port('few'));
    await extra.closed;
    expect(l.stats.limits.maxConnections).toBe(refused + 1);
    kept.socket.write('GET / HTTP/1.1\r\nhost: shop.example\r\nconnection: close\r\n\r\n');
    await kept.closed;
    expect(kept.text()).toMatch(/^HTTP\/1\.1 200 /);
    gw.apply(mesh());
  });
});

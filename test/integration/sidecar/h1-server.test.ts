// The sidecar's HTTP/1.1 server side (sidecar/http/h1-server.ts) with raw TCP clients on loopback:
// keep-alive, pipelining in order, HTTP/1.0, HEAD, 100-continue, a response that beats its request
// body, chunked responses with trailers, malformed and oversized heads, the head and keep-alive
// timeouts (the listener's sweep, driven here with a fake clock), a client that goes away, draining.
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { H1Connection, type H1Hooks, type H1Options } from '../../../sidecar/http/h1-server.js';
import type { H1Downstream } from '../../../sidecar/http/h1-downstream.js';
import { selfSignedCert } from '../../harness/certs.js';

/** Waits (bounded) for a condition that must come true: never a fixed sleep before a check. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const OPTS: H1Options = { maxHeaderBytes: 2048, headersTimeoutMs: 30_000, keepAliveTimeoutMs: 60_000 };

interface Ended {
  path: string;
  status: number;
  grpcStatus: number;
}

/** A server whose requests `handle` answers; records every end and rejection. */
async function serve(handle: (d: H1Downstream) => void | Promise<void>, o: { internalError?: (e: unknown) => void; tls?: tls.TlsOptions } = {}) {
  const ended: Ended[] = [];
  const conns: H1Connection[] = [];
  let rejected = 0;
  let draining = false;
  const hooks: H1Hooks = {
    request: (d) => void handle(d),
    end: (d, status, grpcStatus) => ended.push({ path: d.path, status, grpcStatus }),
    rejected: () => rejected++,
    limit: () => undefined,
    internalError:
      o.internalError ??
      ((e) => {
        throw e;
      }),
    draining: () => draining,
  };
  const accept = (s: net.Socket): void => void conns.push(new H1Connection(s, hooks, OPTS));
  const srv = o.tls ? tls.createServer(o.tls, accept) : net.createServer(accept);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  closers.push(() => {
    for (const c of conns) c.socket.destroy();
    srv.close();
  });
  return {
    port,
    ended,
    conns,
    rejected: () => rejected,
    drain: () => {
      draining = true;
      for (const c of conns) c.drain();
    },
  };
}

const closers: Array<() => void> = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
});

/** A raw client: write bytes, collect everything until `until` matches or the server closes. */
async function raw(port: number, ca?: string) {
  const s = ca ? tls.connect({ port, host: '127.0.0.1', servername: 'localhost', ca }) : net.connect(port, '127.0.0.1');
  await new Promise<void>((r) => s.once(ca ? 'secureConnect' : 'connect', r));
  let buf = '';
  let closed = false;
  const waiters: Array<() => void> = [];
  s.on('data', (d) => {
    buf += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  s.on('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w();
  });
  s.on('error', () => undefined);
  closers.push(() => s.destroy());
  const wait = async (ok: () => boolean, ms = 3000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out; got so far: ${JSON.stringify(buf)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return {
    s,
    send: (t: string) => s.write(t, 'latin1'),
    text: () => buf,
    closed: () => closed,
    /** Waits for n complete responses with content-length bodies (or the close). */
    responses: async (n: number): Promise<string[]> => {
      const parse = (): string[] => {
        const out: string[] = [];
        let rest = buf;
        while (out.length < n) {
          const end = rest.indexOf('\r\n\r\n');
          if (end < 0) break;
          const head = rest.slice(0, end);
          const cl = /content-length: (\d+)/i.exec(head);
          const total = end + 4 + (cl ? Number(cl[1]) : 0);
          if (rest.length < total) break;
          out.push(rest.slice(0, total));
          rest = rest.slice(total);
        }
        return out;
      };
      await wait(() => parse().length >= n || closed);
      return parse();
    },
    wait,
  };
}

const ok = (d: H1Downstream, body: string) => d.respondSimple(200, { 'content-type': 'text/plain' }, body);

describe('HTTP/1.1 server connection (native llhttp)', () => {
  it('serves keep-alive requests on one connection with content-length and a date', async () => {
    const srv = await serve((d) => ok(d, `hi ${d.path}${d.search} ${d.authority}`));
    const c = await raw(srv.port);
    c.send('GET /a?x=1 HTTP/1.1\r\nHost: Svc.Local\r\n\r\n');
    c.send('GET /b HTTP/1.1\r\nhost: svc\r\n\r\n');
    const [r1, r2] = await c.responses(2);
    expect(r1).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r1).toMatch(/\r\ndate: .+ GMT\r\n/);
    expect(r1).toMatch(/hi \/a\?x=1 svc\.local$/);
    expect(r2).toMatch(/hi \/b svc$/);
    expect(c.closed()).toBe(false);
    expect(srv.ended.map((e) => [e.path, e.status])).toEqual([
      ['/a', 200],
      ['/b', 200],
    ]);
  });

  it('answers pipelined requests in order, one routed at a time', async () => {
    let active = 0;
    let most = 0;
    const srv = await serve(async (d) => {
      active++;
      most = Math.max(most, active);
      // The first is the slowest: order must still hold.
      await new Promise((r) => setTimeout(r, d.path === '/1' ? 80 : 5));
      active--;
      ok(d, d.path);
    });
    const c = await raw(srv.port);
    c.send('GET /1 HTTP/1.1\r\nhost: a\r\n\r\nPOST /2 HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nhost: a\r\n\r\n');
    const rs = await c.responses(3);
    expect(rs.map((r) => r.slice(r.lastIndexOf('\n') + 1))).toEqual(['/1', '/2', '/3']);
    expect(most).toBe(1);
  });

  it('reads request bodies (content-length and chunked) as a stream', async () => {
    const srv = await serve(async (d) => {
      const parts: Buffer[] = [];
      for await (const b of d.body as AsyncIterable<Buffer>) parts.push(b);
      ok(d, `${d.hasBody} ${Buffer.concat(parts).toString()}`);
    });
    const c = await raw(srv.port);
    c.send('PUT /x HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello');
    c.send('POST /y HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n');
    c.send('GET /z HTTP/1.1\r\nhost: a\r\n\r\n');
    const rs = await c.responses(3);
    expect(rs.map((r) => r.slice(r.lastIndexOf('\n') + 1))).toEqual(['true hello', 'true abcde', 'false ']);
  });

  it('closes after an HTTP/1.0 response unless asked to keep alive, and after Connection: close', async () => {
    const srv = await serve((d) => ok(d, 'x'));
    const c = await raw(srv.port);
    c.send('GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n');
    const [r] = await c.responses(1);
    expect(r).toMatch(/\r\nconnection: keep-alive\r\n/);
    c.send('GET / HTTP/1.0\r\n\r\n');
    await c.wait(() => c.closed());
    expect(c.text()).toMatch(/connection: close\r\n\r\nx$/);
    const c2 = await raw(srv.port);
    c2.send('GET / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n');
    await c2.wait(() => c2.closed());
    expect(c2.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n/);
  });

  it('streams a response without length chunked to HTTP/1.1 with trailers, close-delimited to HTTP/1.0', async () => {
    const srv = await serve((d) => {
      d.writeHead(200, { 'content-type': 'text/plain' }, false);
      d.write(Buffer.from('ab'));
      setTimeout(() => {
        d.write(Buffer.alloc(5000, 'z'));
        d.end({ 'x-checksum': '7' });
      }, 10);
    });
    const c = await raw(srv.port);
    c.send('GET / HTTP/1.1\r\nhost: a\r\nte: trailers\r\n\r\n');
    await c.wait(() => c.text().endsWith('0\r\nx-checksum: 7\r\n\r\n'));
    expect(c.text()).toContain('transfer-encoding: chunked\r\n\r\n2\r\nab\r\n1388\r\n');
    const c10 = await raw(srv.port);
    c10.send('GET / HTTP/1.0\r\n\r\n');
    await c10.wait(() => c10.closed());
    expect(c10.text()).not.toContain('transfer-encoding');
    expect(c10.text()).toMatch(/\r\n\r\nabz{5000}$/);
  });

  it('sends no body for HEAD, 204 and 304, keeping content-length', async () => {
    const srv = await serve((d) => {
      const status = d.path === '/204' ? 204 : d.path === '/304' ? 304 : 200;
      d.writeHead(status, { 'content-length': status === 200 ? '11' : '0' }, false);
      d.write(Buffer.from('hello world'));
      d.end(undefined);
    });
    const c = await raw(srv.port);
    c.send('HEAD / HTTP/1.1\r\nhost: a\r\n\r\nGET /204 HTTP/1.1\r\nhost: a\r\n\r\nGET /304 HTTP/1.1\r\nhost: a\r\n\r\nGET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await c.wait(() => c.text().endsWith('hello world'));
    const t = c.text();
    expect(t.match(/HTTP\/1\.1/g)).toHaveLength(4);
    expect(t.indexOf('hello world')).toBe(t.length - 11);
  });

  it('answers Expect: 100-continue before the body is read', async () => {
    const srv = await serve(async (d) => {
      const parts: Buffer[] = [];
      for await (const b of d.body as AsyncIterable<Buffer>) parts.push(b);
      ok(d, Buffer.concat(parts).toString());
    });
    const c = await raw(srv.port);
    c.send('PUT / HTTP/1.1\r\nhost: a\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n');
    await c.wait(() => c.text() === 'HTTP/1.1 100 Continue\r\n\r\n');
    c.send('body');
    await c.wait(() => c.text().endsWith('body'));
  });

  it('keeps the connection usable when the response beats a large request body', async () => {
    const srv = await serve((d) => ok(d, `early ${d.path}`));
    const c = await raw(srv.port);
    c.send('POST /big HTTP/1.1\r\nhost: a\r\ncontent-length: 200000\r\n\r\n');
    await c.responses(1);
    // The rest of the body is read and dropped; the next request on the connection is served.
    c.send('x'.repeat(200_000));
    c.send('GET /next HTTP/1.1\r\nhost: a\r\n\r\n');
    const rs = await c.responses(2);
    expect(rs[1]).toMatch(/early \/next$/);
  });

  it('answers malformed requests 400, oversized heads 431 and CONNECT 405, then closes', async () => {
    const srv = await serve((d) => ok(d, 'fine'));
    const cases: Array<[string, RegExp]> = [
      ['GET / HTTP/1.1\r\nhost: a\r\nbad header\r\n\r\n', /^HTTP\/1\.1 400 [^]*x-weft-error: BAD_REQUEST/],
      ['GET / HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n', /^HTTP\/1\.1 400 /],
      [`GET / HTTP/1.1\r\nhost: a\r\nx-big: ${'y'.repeat(4000)}\r\n\r\n`, /^HTTP\/1\.1 431 [^]*HEADERS_TOO_LARGE/],
      ['CONNECT a:443 HTTP/1.1\r\nhost: a:443\r\n\r\n', /^HTTP\/1\.1 405 /],
    ];
    for (const [req, want] of cases) {
      const c = await raw(srv.port);
      c.send(req);
      await c.wait(() => c.closed());
      expect(c.text()).toMatch(want);
    }
    expect(srv.rejected()).toBe(4);
    // A good request after a malformed pipelined one is answered first, then the 400.
    const c = await raw(srv.port);
    c.send('GET /ok HTTP/1.1\r\nhost: a\r\n\r\nGARBAGE\r\n\r\n');
    await c.wait(() => c.closed());
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 [^]*fineHTTP\/1\.1 400 /);
  });

  it('answers a head that takes too long 408 and closes idle keep-alive connections (sweep, fake clock)', async () => {
    const srv = await serve((d) => ok(d, 'x'));
    const slow = await raw(srv.port);
    slow.send('GET / HTTP/1.1\r\nhost: a\r\n');
    const idle = await raw(srv.port);
    idle.send('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await idle.responses(1);
    await until(() => srv.conns.length === 2);
    expect(srv.conns).toHaveLength(2);
    const now = Date.now();
    for (const c of srv.conns) c.sweep(now + 1000, OPTS);
    expect(slow.closed() || idle.closed()).toBe(false);
    for (const c of srv.conns) c.sweep(now + OPTS.headersTimeoutMs + 1000, OPTS);
    await slow.wait(() => slow.closed());
    expect(slow.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(idle.closed()).toBe(false);
    for (const c of srv.conns) c.sweep(now + OPTS.keepAliveTimeoutMs + 1000, OPTS);
    await idle.wait(() => idle.closed());
  });

  it('tells the request when the client goes away mid-response', async () => {
    let gone = 0;
    const srv = await serve((d) => {
      d.onClientGone(() => gone++);
      d.writeHead(200, {}, false);
      d.write(Buffer.from('partial'));
    });
    const c = await raw(srv.port);
    c.send('GET /cut HTTP/1.1\r\nhost: a\r\n\r\n');
    await c.wait(() => c.text().includes('partial'));
    c.s.destroy();
    await until(() => gone > 0);
    expect(gone).toBe(1);
    expect(srv.ended).toEqual([{ path: '/cut', status: 200, grpcStatus: -1 }]);
  });

  it('drains: idle connections close now, busy ones after their response with connection: close', async () => {
    let release: (() => void) | undefined;
    const srv = await serve((d) => {
      if (d.path === '/slow') release = () => ok(d, 'done');
      else ok(d, 'x');
    });
    const idle = await raw(srv.port);
    idle.send('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
    await idle.responses(1);
    const busy = await raw(srv.port);
    busy.send('GET /slow HTTP/1.1\r\nhost: a\r\n\r\n');
    await until(() => release !== undefined); // the server is handling /slow: the connection is busy
    srv.drain();
    await idle.wait(() => idle.closed());
    expect(busy.closed()).toBe(false);
    release!();
    await busy.wait(() => busy.closed());
    expect(busy.text()).toMatch(/connection: close\r\n\r\ndone$/);
  });

  it('routes an Upgrade like any request and hands over the socket, with the bytes after the head, only when asked (101)', async () => {
    const seen: string[] = [];
    const srv = await serve((d) => {
      seen.push(`${d.method} ${d.path} ${d.upgrade ?? '-'}`);
      // The answer comes later, as an upstream's would.
      setTimeout(() => {
        const t = d.conn.tunnel(d)!;
        t.socket.end(Buffer.concat([Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'), t.head]));
      }, 10);
    });
    const c = await raw(srv.port);
    c.send('GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nframe-bytes');
    await c.wait(() => c.closed());
    expect(c.text()).toBe('HTTP/1.1 101 Switching Protocols\r\n\r\nframe-bytes');
    expect(seen).toEqual(['GET /ws websocket']);
  });

  it('never parses the bytes after an Upgrade as a request when the answer is not 101, and closes', async () => {
    const seen: string[] = [];
    const srv = await serve((d) => {
      seen.push(`${d.method} ${d.path} ${d.upgrade ?? '-'}`);
      ok(d, 'no switch');
    });
    const c = await raw(srv.port);
    c.send('GET /ws HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\nGET /admin HTTP/1.1\r\nhost: a\r\n\r\n');
    await c.wait(() => c.closed());
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*connection: close\r\n\r\nno switch$/);
    expect(seen).toEqual(['GET /ws websocket']);
  });

  it('serves `Upgrade: h2c` as a plain request without its upgrade headers, then closes', async () => {
    const seen: string[] = [];
    const srv = await serve((d) => {
      seen.push(`${d.path} ${d.upgrade ?? '-'} ${d.header('upgrade') ?? '-'} ${d.header('http2-settings') ?? '-'}`);
      ok(d, 'plain');
    });
    const c = await raw(srv.port);
    c.send('GET /x HTTP/1.1\r\nhost: a\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    await c.wait(() => c.closed());
    expect(c.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nplain$/);
    expect(seen).toEqual(['/x - - -']);
  });

  it('answers 400 to an `Upgrade: h2c` request whose chunked body is malformed (the binding reports no error for Upgrades)', async () => {
    const srv = await serve((d) => {
      d.body.on('error', () => undefined);
      d.body.resume();
    });
    const c = await raw(srv.port);
    c.send('POST /x HTTP/1.1\r\nhost: a\r\nconnection: upgrade\r\nupgrade: h2c\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n');
    await c.wait(() => c.closed());
    expect(c.text()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
  });

  it('refuses a HEAD with the same head and no body; a request line the parser stopped in gets an empty body', async () => {
    const srv = await serve((d) => ok(d, 'x'));
    const head = await raw(srv.port);
    head.send('HEAD / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    await head.wait(() => head.closed());
    expect(head.text()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[\s\S]*content-length: \d+\r\nconnection: close\r\n\r\n$/);
    const pipelined = await raw(srv.port);
    pipelined.send('GET / HTTP/1.1\r\nHost: a\r\n\r\nHEAD / HTTP/1.1\nHost: a\n\n');
    await pipelined.wait(() => pipelined.closed());
    expect(pipelined.text()).toMatch(/\r\n\r\nxHTTP\/1\.1 400 Bad Request\r\n[\s\S]*content-length: 0\r\nconnection: close\r\n\r\n$/);
  });

  it.each([
    ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['a Host with whitespace inside', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    ['a Host with userinfo', 'GET / HTTP/1.1\r\nHost: user@a\r\n\r\n'],
    ['a Host with a path', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n'],
    ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nx: y\r\n\r\n'],
  ])('answers 400 to %s and never routes it', async (_name, text) => {
    const seen: string[] = [];
    const srv = await serve((d) => {
      seen.push(d.path);
      ok(d, 'x');
    });
    const c = await raw(srv.port);
    c.send(text);
    await c.wait(() => c.closed());
    expect(c.text()).toMatch(/^HTTP\/1\.1 400 /);
    expect(seen).toEqual([]);
    expect(srv.rejected()).toBe(1);
  });
});

// The parser consumes the socket's native handle (llhttp reads in C++, as node:http does): what
// JS did per 'data' chunk now happens per kOnExecute, and pausing stops the handle itself.
describe('HTTP/1.1 server connection reading in C++ (consumed handle)', () => {
  it('answers 500 and closes when routing throws, routes nothing after it, and serves the next connection', async () => {
    const errors: unknown[] = [];
    const seen: string[] = [];
    const srv = await serve(
      (d) => {
        seen.push(d.path);
        if (d.path === '/boom') throw new Error('boom');
        ok(d, 'fine');
      },
      { internalError: (e) => errors.push(e) },
    );
    const c = await raw(srv.port);
    c.send('GET /boom HTTP/1.1\r\nhost: a\r\n\r\nGET /after HTTP/1.1\r\nhost: a\r\n\r\n');
    await c.wait(() => c.closed());
    expect(c.text()).toMatch(/^HTTP\/1\.1 500 [^]*x-weft-error: INTERNAL/);
    expect(c.text()).not.toMatch(/fine/);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
    expect(seen).toEqual(['/boom']);
    const next = await raw(srv.port);
    next.send('GET /ok HTTP/1.1\r\nhost: a\r\n\r\n');
    expect((await next.responses(1))[0]).toMatch(/fine$/);
  });

  it('stops reading the socket while a request body is not read, and reads all of it once it is', async () => {
    const MiB = 1024 * 1024;
    let held: H1Downstream | undefined;
    const srv = await serve((d) => {
      held = d;
    });
    const c = await raw(srv.port);
    c.send(`POST /up HTTP/1.1\r\nhost: a\r\ncontent-length: ${32 * MiB}\r\n\r\n`);
    c.s.write(Buffer.alloc(32 * MiB, 0x61));
    await until(() => held !== undefined);
    const server = srv.conns[0]!.socket as net.Socket & { _handle: { reading: boolean } | null };
    // The body stream's buffer fills and the connection stops the handle: the rest stays in the
    // client's and the kernel's buffers, not in the sidecar's memory.
    await until(() => server._handle?.reading === false);
    expect(server.bytesRead).toBeLessThan(8 * MiB);
    expect(c.s.writableLength).toBeGreaterThan(0);
    let n = 0;
    for await (const b of held!.body as AsyncIterable<Buffer>) n += b.length;
    expect(n).toBe(32 * MiB);
    ok(held!, `got ${n}`);
    expect((await c.responses(1))[0]).toMatch(new RegExp(`got ${32 * MiB}$`));
  });

  it('tells a first request the parser refuses as a HEAD (no body in the 400) from a GET (a body), by its first bytes', async () => {
    const srv = await serve((d) => ok(d, 'x'));
    const head = await raw(srv.port);
    head.send('HEAD / HTTP/1.1\r\nhost: a\r\nbad header\r\n\r\n');
    await head.wait(() => head.closed());
    expect(head.text()).toMatch(/^HTTP\/1\.1 400 [^]*content-length: [1-9]\d*\r\nconnection: close\r\n\r\n$/);
    const get = await raw(srv.port);
    get.send('GET / HTTP/1.1\r\nhost: a\r\nbad header\r\n\r\n');
    await get.wait(() => get.closed());
    expect(get.text()).toMatch(/^HTTP\/1\.1 400 [^]*\r\n\r\n.*malformed request/);
  });

  it('serves TLS connections the same way: keep-alive, pipelining, a body, an Upgrade handed over', async () => {
    const cert = selfSignedCert(['localhost']);
    const srv = await serve(
      async (d) => {
        if (d.path === '/ws') {
          // The answer comes after the head was read, as an upstream's would.
          await new Promise((r) => setTimeout(r, 10));
          const t = d.conn.tunnel(d);
          if (!t) return ok(d, 'no tunnel');
          t.socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\necho:${t.head.toString()}`);
          t.socket.on('data', (b: Buffer) => t.socket.write(`echo:${b.toString()}`));
          t.socket.resume();
          return;
        }
        let n = 0;
        if (d.hasBody) for await (const b of d.body as AsyncIterable<Buffer>) n += b.length;
        ok(d, `${d.path} ${n}`);
      },
      { tls: { key: cert.keyPem, cert: cert.certPem } },
    );
    const c = await raw(srv.port, cert.certPem);
    c.send(`GET /1 HTTP/1.1\r\nhost: a\r\n\r\nPOST /2 HTTP/1.1\r\nhost: a\r\ncontent-length: 100000\r\n\r\n${'b'.repeat(100_000)}GET /3 HTTP/1.1\r\nhost: a\r\n\r\n`);
    const rs = await c.responses(3);
    expect(rs.map((r) => r.slice(r.lastIndexOf('\n') + 1))).toEqual(['/1 0', '/2 100000', '/3 0']);
    const u = await raw(srv.port, cert.certPem);
    u.send('GET /ws HTTP/1.1\r\nhost: a\r\nupgrade: x\r\nconnection: upgrade\r\n\r\nfirst');
    await u.wait(() => u.text().includes('echo:first'));
    u.send('second');
    await u.wait(() => u.text().includes('echo:second'));
    expect(u.text()).toMatch(/^HTTP\/1\.1 101 /);
  });
});

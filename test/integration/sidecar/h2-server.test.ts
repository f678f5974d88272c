/**
 * The sidecar's own HTTP/2 server side (sidecar/h2/server.ts) against real clients on loopback:
 * node:http2 (nghttp2, whose HPACK encoder uses Huffman and the dynamic table) and a raw TCP
 * client sending exactly the frames a case needs, for the malformed and hostile ones.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PREFACE, SETTINGS, block, fr, readFrames, type ReadFrame } from '../../harness/h2-frames.js';
import { H2ServerSession, type H2ServerStream } from '../../../sidecar/h2/server.js';
import { H2Downstream } from '../../../sidecar/http/downstream.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

interface Server {
  port: number;
  sessions: H2ServerSession[];
  opened: H2ServerStream[];
  closed: H2ServerStream[];
}

/** A server whose streams `serve` answers; by default it echoes the body with x-echo-* headers and grpc-style trailers. */
async function server(serve?: (st: H2ServerStream) => void, o: { maxConcurrentStreams?: number; maxHeaderListSize?: number; headTimeoutMs?: number; onHeadTimeout?: () => void } = {}): Promise<Server> {
  const res: Server = { port: 0, sessions: [], opened: [], closed: [] };
  const srv = net.createServer((sock) => {
    const s = new H2ServerSession(sock, {
      maxHeaderListSize: o.maxHeaderListSize ?? 16 * 1024,
      maxConcurrentStreams: o.maxConcurrentStreams,
      onStream: (st) => {
        res.opened.push(st);
        (serve ?? echo)(st);
      },
      onStreamClose: (st) => res.closed.push(st),
    });
    if (o.headTimeoutMs) s.setHeadTimeout(o.headTimeoutMs, o.onHeadTimeout ?? (() => undefined));
    res.sessions.push(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanup.push(() => {
    for (const s of res.sessions) s.destroy();
    srv.close();
  });
  res.port = (srv.address() as net.AddressInfo).port;
  return res;
}

function echo(st: H2ServerStream): void {
  const h: Record<string, string> = { 'content-type': 'application/octet-stream' };
  for (let i = 0; i < st.headers.length; i += 2) if (st.headers[i]!.startsWith('x-')) h[`x-echo-${st.headers[i]!.slice(2)}`] = st.headers[i + 1]!;
  st.respond(200, { ...h, 'x-path': st.path ?? '' }, false);
  const b = st.body;
  b.on('data', (c: Buffer) => {
    if (!st.write(c)) {
      b.pause();
      st.onceDrain(() => b.resume());
    }
  });
  b.on('end', () => st.end({ 'grpc-status': '0', 'grpc-message': 'ok' }));
}

function client(port: number): http2.ClientHttp2Session {
  const c = http2.connect(`http://127.0.0.1:${port}`);
  c.on('error', () => undefined);
  cleanup.push(() => c.destroy());
  return c;
}

function call(c: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ head: http2.IncomingHttpHeaders; body: Buffer; trailers?: http2.IncomingHttpHeaders; rst: number }> {
  return new Promise((resolve, reject) => {
    const r = c.request({ ':method': 'POST', ...headers });
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    r.on('response', (h) => (head = h));
    r.on('trailers', (t) => (trailers = t));
    r.on('data', (d: Buffer) => chunks.push(d));
    r.on('error', reject);
    r.on('close', () => resolve({ head, body: Buffer.concat(chunks), trailers, rst: r.rstCode }));
    r.end(body);
  });
}

describe('HTTP/2 server side against node:http2 (nghttp2) clients', () => {
  it('serves 300 concurrent calls on one connection: heads, bodies and trailers intact', async () => {
    const srv = await server();
    const c = client(srv.port);
    const rs = await Promise.all(Array.from({ length: 300 }, (_, n) => call(c, { ':path': `/svc/M${n}?q=${n}`, 'x-n': String(n), 'x-v': `v-${n % 5}-é`, cookie: ['a=1', `b=${n}`] }, Buffer.from(`body ${n}`))));
    rs.forEach((r, n) => {
      expect(r.head[':status']).toBe(200);
      expect(r.head['x-echo-n']).toBe(String(n));
      expect(r.head['x-echo-v']).toBe(`v-${n % 5}-é`);
      expect(r.head['x-path']).toBe(`/svc/M${n}?q=${n}`);
      expect(r.body.toString()).toBe(`body ${n}`);
      expect(r.trailers?.['grpc-status']).toBe('0');
    });
    expect(srv.closed.length).toBe(300);
    expect(srv.sessions[0]!.activeStreams).toBe(0);
  });

  it('H2Downstream: cookies split over fields are one header again for the upstream, other repeats stay', async () => {
    let seen: { raw: string[]; cookie?: string; accept?: string; authority: string; path: string; search: string } | undefined;
    const srv = await server((st) => {
      const d = new H2Downstream(st);
      seen = { raw: d.rawPairs(), cookie: d.header('cookie'), accept: d.header('accept'), authority: d.authority, path: d.path, search: d.search };
      st.respond(204, {}, true);
    });
    const c = client(srv.port);
    await call(c, { ':method': 'GET', ':path': '/p?q=1', ':authority': 'Orders:8080', cookie: ['a=1', 'b=2'], accept: ['x/y', 'z/w'] });
    expect(seen!.cookie).toBe('a=1; b=2');
    expect(seen!.raw.filter((x, i) => i % 2 === 0 && x === 'cookie').length).toBe(1);
    expect(seen!.raw[seen!.raw.indexOf('cookie') + 1]).toBe('a=1; b=2');
    expect(seen!.accept).toBe('x/y,z/w');
    expect([seen!.authority, seen!.path, seen!.search]).toEqual(['orders:8080', '/p', '?q=1']);
  });

  it('echoes 4 MiB both ways within flow control', async () => {
    const srv = await server();
    const c = client(srv.port);
    const big = Buffer.alloc(4 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    const r = await call(c, { ':path': '/echo' }, big);
    expect(r.body.equals(big)).toBe(true);
  });

  it('an answer before the request body ended resets the stream with NO_ERROR, the response intact', async () => {
    const srv = await server((st) => {
      st.respond(404, {}, false);
      st.write(Buffer.from('no'));
      st.end();
    });
    const c = client(srv.port);
    const r = c.request({ ':method': 'POST', ':path': '/early' });
    r.write(Buffer.alloc(1000));
    const out = await new Promise<{ status: unknown; body: string; rst: number }>((resolve) => {
      let status: unknown;
      const chunks: Buffer[] = [];
      r.on('response', (h) => (status = h[':status']));
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('error', () => undefined);
      r.on('close', () => resolve({ status, body: Buffer.concat(chunks).toString(), rst: r.rstCode }));
    });
    expect(out).toEqual({ status: 404, body: 'no', rst: http2.constants.NGHTTP2_NO_ERROR });
  });

  it('tells a stream its client reset it, and the connection keeps serving', async () => {
    let gone = 0;
    const srv = await server((st) => {
      if (st.path === '/hang') {
        st.onGone(() => gone++);
        return;
      }
      echo(st);
    });
    const c = client(srv.port);
    const r = c.request({ ':method': 'GET', ':path': '/hang' });
    r.on('error', () => undefined);
    await new Promise((res) => setTimeout(res, 50));
    r.close(http2.constants.NGHTTP2_CANCEL);
    const ok = await call(c, { ':path': '/ok' });
    expect(ok.head[':status']).toBe(200);
    expect(gone).toBe(1);
    expect(srv.closed.find((s) => s.path === '/hang')?.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('refuses streams past MAX_CONCURRENT_STREAMS (the client queues them when it honours the setting)', async () => {
    const srv = await server((st) => setTimeout(() => echo(st), 10), { maxConcurrentStreams: 3 });
    const c = client(srv.port);
    await call(c, { ':path': '/first' });
    const rs = await Promise.all(Array.from({ length: 12 }, (_, n) => call(c, { ':path': `/q${n}` })));
    expect(rs.every((r) => Number(r.head[':status']) === 200)).toBe(true);
  });

  it('goaway() lets the stream in flight finish, refuses new ones and closes once idle', async () => {
    let release: (() => void) | undefined;
    const srv = await server((st) => {
      if (st.path === '/slow') release = () => echo(st);
      else echo(st);
    });
    const c = client(srv.port);
    const slow = call(c, { ':path': '/slow' });
    await new Promise((res) => setTimeout(res, 50));
    const goaway = new Promise<number>((res) => c.once('goaway', (code: number) => res(code)));
    srv.sessions[0]!.goaway();
    expect(await goaway).toBe(http2.constants.NGHTTP2_NO_ERROR);
    release!();
    expect((await slow).head[':status']).toBe(200);
    await new Promise<void>((res) => (c.destroyed ? res() : c.once('close', () => res())));
  });

  it('an idle timeout closes a connection without streams, after telling the listener', async () => {
    let told = 0;
    const srv = await server();
    const c = client(srv.port);
    await call(c, { ':path': '/' });
    srv.sessions[0]!.setIdleTimeout(100, () => told++);
    await new Promise<void>((res) => c.once('close', () => res()));
    expect(told).toBe(1);
  });
});

// --- a scripted client for what nghttp2 would never send ---

const GET = (path = '/') => [':method', 'GET', ':scheme', 'http', ':authority', 'x', ':path', path];
const req = (id: number, list = GET(), flags = 5) => fr(1, flags, id, block(list));

/** Sends `bytes` to the server and collects its frames until it closes or `ms` pass. */
async function exchange(port: number, bytes: Buffer[], ms = 300): Promise<{ frames: ReadFrame[]; closed: boolean }> {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.on('error', () => undefined);
  cleanup.push(() => sock.destroy());
  const frames: ReadFrame[] = [];
  let closed = false;
  readFrames(sock, (f) => frames.push(f), false);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  for (const b of bytes) sock.write(b);
  await new Promise<void>((r) => {
    const t = setTimeout(r, ms);
    sock.once('close', () => {
      closed = true;
      clearTimeout(t);
      r();
    });
  });
  return { frames, closed };
}
const goaway = (f: ReadFrame[]) => f.filter((x) => x.type === 7).map((x) => x.payload.readUInt32BE(4));
const rst = (f: ReadFrame[], id: number) => f.filter((x) => x.type === 3 && x.id === id).map((x) => x.payload.readUInt32BE(0));
const status200 = (f: ReadFrame[], id: number) => f.some((x) => x.type === 1 && x.id === id);

describe('HTTP/2 server side against a hostile or broken client', () => {
  const streamErrors: [string, Buffer[]][] = [
    ['no :path', [req(1, [':method', 'GET', ':scheme', 'http'])]],
    ['no :method', [req(1, [':scheme', 'http', ':path', '/'])]],
    ['a repeated :path', [req(1, [...GET(), ':path', '/x'])]],
    ['a :status in a request', [req(1, [...GET(), ':status', '200'])]],
    ['a pseudo-header after a regular one', [req(1, [':method', 'GET', 'x', 'y', ':scheme', 'http', ':path', '/'])]],
    ['an uppercase header name', [req(1, [...GET(), 'X-Up', '1'])]],
    ['a connection-specific header', [req(1, [...GET(), 'connection', 'keep-alive'])]],
    ['te other than trailers', [req(1, [...GET(), 'te', 'gzip'])]],
    ['a NUL in a value', [req(1, [...GET(), 'x', 'a\0b'])]],
    ['a body longer than content-length', [req(1, [...GET(), 'content-length', '2'], 4), fr(0, 1, 1, Buffer.from('abc'))]],
    ['a body shorter than content-length', [req(1, [...GET(), 'content-length', '5'], 4), fr(0, 1, 1, Buffer.from('abc'))]],
    ['trailers with a pseudo-header', [req(1, GET(), 4), fr(1, 5, 1, block([':path', '/']))]],
    ['HEADERS in the middle of a body', [req(1, GET(), 4), fr(0, 0, 1, Buffer.from('a')), fr(1, 4, 1, block(['x', 'y']))]],
    ['DATA past the stream window (the body is not read)', [req(1, GET(), 4), ...Array.from({ length: 17 }, () => fr(0, 0, 1, Buffer.alloc(16384)))]],
  ];
  for (const [name, frames] of streamErrors) {
    it(`${name}: RST_STREAM PROTOCOL_ERROR or FLOW_CONTROL_ERROR, no response, and the next stream is served`, async () => {
      const srv = await server((st) => {
        if (st.id === 1 && name.includes('not read')) return;
        const b = st.body;
        b.resume();
        b.on('end', () => {
          st.respond(200, {}, true);
        });
      });
      const { frames: got, closed } = await exchange(srv.port, [PREFACE, SETTINGS, ...frames, req(3)]);
      expect(closed).toBe(false);
      expect(rst(got, 1).length, JSON.stringify(got.map((f) => [f.type, f.id]))).toBe(1);
      expect([1, 3]).toContain(rst(got, 1)[0]);
      expect(status200(got, 1)).toBe(false);
      expect(status200(got, 3)).toBe(true);
    });
  }

  const connErrors: [string, Buffer[], number][] = [
    ['a wrong preface', [Buffer.from('PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n'), SETTINGS], 1],
    ['a first frame that is not SETTINGS', [PREFACE, fr(6, 0, 0, Buffer.alloc(8))], 1],
    ['HEADERS on an even stream', [PREFACE, SETTINGS, req(2)], 1],
    ['DATA on an idle stream', [PREFACE, SETTINGS, fr(0, 1, 5, Buffer.from('x'))], 1],
    ['PUSH_PROMISE from a client', [PREFACE, SETTINGS, req(1, GET(), 4), fr(5, 4, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), block(GET())]))], 1],
    ['a frame above the max frame size', [PREFACE, SETTINGS, req(1, GET(), 4), fr(0, 0, 1, Buffer.alloc(16385))], 6],
    ['a connection window past 2^31-1', [PREFACE, SETTINGS, fr(8, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))], 3],
    ['an HPACK index beyond the tables', [PREFACE, SETTINGS, fr(1, 5, 1, Buffer.from([0xff, 0x10]))], 9],
    ['a header block interrupted', [PREFACE, SETTINGS, fr(1, 1, 1, block(GET())), fr(6, 0, 0, Buffer.alloc(8))], 1],
    ['SETTINGS_ENABLE_PUSH 2', [PREFACE, fr(4, 0, 0, Buffer.from([0, 2, 0, 0, 0, 2]))], 1],
    ['RST_STREAM on an idle stream', [PREFACE, SETTINGS, fr(3, 0, 7, Buffer.alloc(4))], 1],
    ['a rapid-reset flood (CVE-2023-44487)', [PREFACE, SETTINGS, ...Array.from({ length: 1100 }, (_, i) => Buffer.concat([req(2 * i + 1, GET(), 4), fr(3, 0, 2 * i + 1, Buffer.from([0, 0, 0, 8]))]))], 11],
    ['an empty DATA flood (CVE-2019-9518)', [PREFACE, SETTINGS, req(1, GET(), 4), ...Array.from({ length: 1100 }, () => fr(0, 0, 1))], 11],
    ['a CONTINUATION flood (CVE-2024-27316)', [PREFACE, SETTINGS, fr(1, 0, 1, block(GET())), ...Array.from({ length: 200 }, () => fr(9, 0, 1, Buffer.alloc(1000, 0x80)))], 11],
  ];
  for (const [name, bytes, code] of connErrors) {
    it(`${name}: GOAWAY ${code} and the connection closed`, async () => {
      const srv = await server((st) => st.respond(200, {}, true));
      const { frames: got, closed } = await exchange(srv.port, bytes, 1000);
      expect(goaway(got)).toContain(code);
      expect(closed).toBe(true);
      // Every stream opened was closed and reported once.
      expect(new Set(srv.closed).size).toBe(srv.opened.length);
    });
  }

  it('a header block left open past the head timeout: GOAWAY ENHANCE_YOUR_CALM, closed, the listener told once', async () => {
    let told = 0;
    const srv = await server((st) => st.respond(200, {}, true), { headTimeoutMs: 150, onHeadTimeout: () => told++ });
    const head = block(GET());
    // HEADERS with END_STREAM but not END_HEADERS, half the block; the rest never comes.
    const { frames: got, closed } = await exchange(srv.port, [PREFACE, SETTINGS, fr(1, 1, 1, head.subarray(0, 5))], 3000);
    expect(goaway(got)).toEqual([11]);
    expect(closed).toBe(true);
    expect(told).toBe(1);
    expect(srv.opened).toHaveLength(0);
  });

  it('a header block ended by CONTINUATION is served, and the head timeout does not fire after it', async () => {
    let told = 0;
    const srv = await server((st) => st.respond(200, {}, true), { headTimeoutMs: 150, onHeadTimeout: () => told++ });
    const head = block(GET());
    const bytes = [PREFACE, SETTINGS, fr(1, 1, 1, head.subarray(0, 5)), fr(9, 4, 1, head.subarray(5)), req(3)];
    const { frames: got, closed } = await exchange(srv.port, bytes, 300);
    expect([status200(got, 1), status200(got, 3)]).toEqual([true, true]);
    // Decided by the session's state, not by waiting: the timer the open block started is gone.
    expect(srv.sessions[0]!.headTimerArmed).toBe(false);
    expect([closed, told, goaway(got)]).toEqual([false, 0, []]);
  });

  it('a client that leaves with a header block open: the head timer goes with the connection', async () => {
    let told = 0;
    const srv = await server((st) => st.respond(200, {}, true), { headTimeoutMs: 60_000, onHeadTimeout: () => told++ });
    const c = net.connect(srv.port, '127.0.0.1');
    c.on('error', () => undefined);
    await new Promise<void>((r) => c.once('connect', () => r()));
    c.write(Buffer.concat([PREFACE, SETTINGS, fr(1, 1, 1, block(GET()).subarray(0, 5))]));
    await vi.waitFor(() => expect(srv.sessions[0]?.headTimerArmed).toBe(true));
    const session = srv.sessions[0]!;
    const gone = new Promise<void>((r) => (session.onClose = r));
    c.destroy();
    await gone;
    expect(session.headTimerArmed).toBe(false);
    expect(told).toBe(0);
  });

  it('marks a head over the decode limit (64 KiB) tooLarge, answered, and keeps the connection', async () => {
    const srv = await server((st) => st.respond(st.tooLarge ? 431 : 200, {}, true), { maxHeaderListSize: 1024 });
    const b = block([...GET('/big'), 'x-big', 'y'.repeat(70 * 1024)]);
    const parts = [fr(1, 1, 1, b.subarray(0, 16384))];
    for (let off = 16384; off < b.length; off += 16384) parts.push(fr(9, off + 16384 >= b.length ? 4 : 0, 1, b.subarray(off, off + 16384)));
    const { frames: got, closed } = await exchange(srv.port, [PREFACE, SETTINGS, ...parts, req(3)]);
    expect(closed).toBe(false);
    expect(srv.opened.map((s) => [s.id, s.tooLarge])).toEqual([[1, true], [3, false]]);
    expect(status200(got, 1) && status200(got, 3)).toBe(true);
  });

  it('a request over MAX_CONCURRENT_STREAMS is refused (REFUSED_STREAM), the others served', async () => {
    const srv = await server(() => undefined, { maxConcurrentStreams: 2 });
    const { frames: got } = await exchange(srv.port, [PREFACE, SETTINGS, req(1), req(3), req(5)]);
    expect(rst(got, 5)).toEqual([7]);
    expect(srv.opened.map((s) => s.id)).toEqual([1, 3]);
  });

  it('answers PING and acknowledges SETTINGS', async () => {
    const srv = await server();
    const { frames: got } = await exchange(srv.port, [PREFACE, SETTINGS, fr(6, 0, 0, Buffer.from('pingpong'))]);
    expect(got.some((f) => f.type === 6 && f.flags === 1 && f.payload.toString() === 'pingpong')).toBe(true);
    expect(got.some((f) => f.type === 4 && f.flags === 1)).toBe(true);
    expect(got[0]!.type).toBe(4); // the server preface is SETTINGS
  });

  it('survives any bytes after a valid start: streams opened are closed once, the process goes on', async () => {
    for (let n = 0; n < 150; n++) {
      const junk = Buffer.alloc(1 + ((n * 53) % 300));
      for (let i = 0; i < junk.length; i++) junk[i] = (n * 97 + i * 29 + (i >> 2)) & 0xff;
      const srv = await server((st) => {
        st.body.resume();
        st.respond(200, {}, false);
        st.write(Buffer.from('x'));
      });
      await exchange(srv.port, [PREFACE, SETTINGS, req(1, GET(), 4), junk], 40);
      cleanup.splice(0).forEach((f) => f());
      await new Promise((r) => setTimeout(r, 5));
      expect(srv.closed.length).toBe(srv.opened.length);
      expect(new Set(srv.closed).size).toBe(srv.closed.length);
    }
  });
});

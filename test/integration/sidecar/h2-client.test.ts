/**
 * The sidecar's own HTTP/2 client (sidecar/h2/client.ts) against real peers on loopback: a
 * node:http2 (nghttp2) server, whose HPACK encoder uses Huffman and the dynamic table, and a raw
 * TCP server that sends exactly the frames a case needs, for the malformed and hostile ones.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SETTINGS, block, fr, readFrames } from '../../harness/h2-frames.js';
import { H2ClientSession, type H2FailureKind, type H2StreamHandler } from '../../../sidecar/h2/client.js';

interface Result {
  status?: number;
  headers?: string[];
  body: Buffer[];
  trailers?: string[];
  ended: boolean;
  failure?: { kind: H2FailureKind; message: string; code: number };
}

function handler(r: Result, done: () => void, onData?: (c: Buffer) => boolean): H2StreamHandler {
  return {
    onHead(status, headers, end) {
      r.status = status;
      r.headers = headers;
      if (end) {
        r.ended = true;
        done();
      }
    },
    onData(c) {
      r.body.push(Buffer.from(c));
      return onData ? onData(c) : true;
    },
    onEnd(trailers) {
      r.trailers = trailers;
      r.ended = true;
      done();
    },
    onFailure(kind, err, code) {
      r.failure = { kind, message: err.message, code };
      done();
    },
    onDrain() {},
  };
}

function call(s: H2ClientSession, headers: string[], body?: Buffer, onData?: (c: Buffer) => boolean): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { body: [], ended: false };
    const st = s.request(headers, !body, handler(r, () => resolve(r), onData));
    if (body) {
      st.write(body);
      st.end();
    }
  });
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

function connect(port: number, idleTimeoutMs = 30_000): H2ClientSession {
  const socket = net.connect({ host: '127.0.0.1', port });
  const s = new H2ClientSession(socket, 'connect', { connectTimeoutMs: 2000, idleTimeoutMs });
  cleanup.push(() => socket.destroy());
  return s;
}

async function nodeServer(onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void, settings: http2.Settings = {}): Promise<number> {
  const server = http2.createServer({ settings });
  server.on('stream', onStream);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

const req = (path = '/', method = 'GET'): string[] => [':method', method, ':scheme', 'http', ':authority', 'test', ':path', path];

describe('HTTP/2 client against node:http2 (nghttp2)', () => {
  it('reads heads, bodies and trailers with Huffman and dynamic-table coding across 300 calls on one connection', async () => {
    const port = await nodeServer((st, h) => {
      const n = Number(h['x-n']);
      st.respond({ ':status': 200, 'x-echo': String(h['x-value']), 'x-n': n, 'content-type': 'application/grpc', 'set-cookie': ['a=1', `b=${n}`] }, { waitForTrailers: true });
      st.on('wantTrailers', () => st.sendTrailers({ 'grpc-status': '0', 'grpc-message': `done ${n}` }));
      st.end(Buffer.from(`body ${n}`));
    });
    const s = connect(port);
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, n) => call(s, [...req('/svc/Method', 'POST'), 'x-n', String(n), 'x-value', `v-${n % 7}-é`, 'te', 'trailers'], Buffer.from('hello'))),
    );
    results.forEach((r, n) => {
      expect(r.failure).toBeUndefined();
      expect(r.status).toBe(200);
      const h = r.headers!;
      expect(h[h.indexOf('x-echo') + 1]).toBe(`v-${n % 7}-é`);
      expect(h.filter((x, i) => i % 2 === 0 && x === 'set-cookie').length).toBe(2);
      expect(Buffer.concat(r.body).toString()).toBe(`body ${n}`);
      expect(r.trailers).toEqual(['grpc-status', '0', 'grpc-message', `done ${n}`]);
    });
  });

  it('sends and receives 4 MiB bodies within both sides flow control windows', async () => {
    const port = await nodeServer((st) => {
      st.respond({ ':status': 200 });
      st.pipe(st); // echo
    });
    const s = connect(port);
    const big = Buffer.alloc(4 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const r = await call(s, req('/echo', 'POST'), big);
    expect(r.failure).toBeUndefined();
    expect(Buffer.concat(r.body).equals(big)).toBe(true);
  });

  it('a paused reader stops its stream at the window, not the connection, and gets everything on resume', async () => {
    const port = await nodeServer((st) => {
      st.respond({ ':status': 200 });
      st.end(Buffer.alloc(3 << 20, 1));
    });
    const s = connect(port);
    let stream: ReturnType<H2ClientSession['request']> | undefined;
    let got = 0;
    let paused = false;
    const slow = new Promise<Result>((resolve) => {
      const r: Result = { body: [], ended: false };
      stream = s.request(req('/big'), true, handler(r, () => resolve(r), (c) => {
        got += c.length;
        if (!paused && got >= 64 * 1024) {
          paused = true;
          return false;
        }
        return true;
      }));
    });
    // While it is paused, another call on the same connection completes.
    await new Promise((r) => setTimeout(r, 200));
    expect(paused).toBe(true);
    const before = got;
    const other = await call(s, req('/other'));
    expect(other.status).toBe(200);
    expect(got).toBe(before);
    stream!.resume();
    const r = await slow;
    expect(r.failure).toBeUndefined();
    expect(Buffer.concat(r.body).length).toBe(3 << 20);
  });

  it('queues streams past the peer MAX_CONCURRENT_STREAMS and runs them all', async () => {
    let open = 0;
    let most = 0;
    const port = await nodeServer(
      (st) => {
        open++;
        most = Math.max(most, open);
        setTimeout(() => {
          st.respond({ ':status': 200 });
          st.end('ok');
          open--;
        }, 5);
      },
      { maxConcurrentStreams: 2 },
    );
    const s = connect(port);
    await call(s, req()); // the server's SETTINGS are in
    const rs = await Promise.all(Array.from({ length: 20 }, () => call(s, req())));
    expect(rs.every((r) => r.status === 200)).toBe(true);
    expect(most).toBeLessThanOrEqual(2);
  });

  it('a request whose body ends on a later tick (as a Readable ends) goes out in one socket write', async () => {
    const port = await nodeServer((st) => {
      st.respond({ ':status': 200 });
      st.end('ok');
    });
    const s = connect(port);
    expect((await call(s, req('/warm'))).status).toBe(200); // preface and SETTINGS are out of the way
    const writes: Buffer[] = [];
    const orig = s.socket.write.bind(s.socket) as (b: Buffer) => boolean;
    s.socket.write = ((b: Buffer) => (writes.push(Buffer.from(b)), orig(b))) as typeof s.socket.write;
    /** [type, flags] of each frame in a write. */
    const frames = (b: Buffer): Array<[number, number]> => {
      const out: Array<[number, number]> = [];
      for (let at = 0; at + 9 <= b.length; at += 9 + b.readUIntBE(at, 3)) out.push([b[at + 3]!, b[at + 4]!]);
      return out;
    };
    const r = await new Promise<Result>((resolve) => {
      const out: Result = { body: [], ended: false };
      // From a macrotask, as a proxied request starts from a socket read (not from a microtask).
      setImmediate(() => {
        const st = s.request(req('/post', 'POST'), false, handler(out, () => resolve(out)));
        st.write(Buffer.from('hello'));
        process.nextTick(() => st.end()); // where a proxied request body's 'end' comes from
      });
    });
    expect(r.status).toBe(200);
    // HEADERS, the DATA and the END_STREAM frame: the first write, not one write per tick. (Later
    // writes are the window given back for the response.)
    const first = frames(writes[0]!);
    expect(first[0]![0]).toBe(1); // HEADERS
    expect(first.filter(([t]) => t === 0).length).toBeGreaterThanOrEqual(1);
    expect(first.some(([t, f]) => t === 0 && (f & 1) === 1)).toBe(true); // DATA with END_STREAM
  });

  it('closes an idle connection after idleTimeoutMs', async () => {
    const port = await nodeServer((st) => {
      st.respond({ ':status': 204 });
      st.end();
    });
    const s = connect(port, 200);
    expect((await call(s, req())).status).toBe(204);
    expect(s.usable).toBe(true);
    await new Promise<void>((r) => s.socket.once('close', () => r()));
    expect(s.usable).toBe(false);
  });

  it('a cancelled stream sends RST_STREAM CANCEL and the connection keeps serving', async () => {
    const reset: number[] = [];
    const port = await nodeServer((st, h) => {
      st.on('close', () => reset.push(st.rstCode));
      if (h[':path'] === '/hang') return;
      st.respond({ ':status': 200 });
      st.end();
    });
    const s = connect(port);
    const st = s.request(req('/hang'), true, handler({ body: [], ended: false }, () => undefined));
    await new Promise((r) => setTimeout(r, 50));
    st.cancel();
    expect((await call(s, req('/ok'))).status).toBe(200);
    await new Promise((r) => setTimeout(r, 50));
    expect(reset).toContain(http2.constants.NGHTTP2_CANCEL);
  });
});

// --- a scripted server for what nghttp2 would never send ---

const HEAD_OK = (id: number, flags = 4) => fr(1, flags, id, block([':status', '200']));

/** A server that, once the client's first HEADERS arrived, writes `frames(streamId)`; it records the frames it got. */
async function scripted(frames: (id: number) => Buffer[], first: Buffer[] = [SETTINGS]): Promise<{ port: number; got: { type: number; id: number; payload: Buffer }[] }> {
  const got: { type: number; id: number; payload: Buffer }[] = [];
  const server = net.createServer((sock) => {
    sock.on('error', () => undefined);
    for (const f of first) sock.write(f);
    let sent = false;
    readFrames(sock, (f) => {
      got.push({ type: f.type, id: f.id, payload: f.payload });
      if (f.type === 1 && !sent) {
        sent = true;
        for (const x of frames(f.id)) sock.write(x);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => server.close());
  return { port: (server.address() as net.AddressInfo).port, got };
}

describe('HTTP/2 client against a hostile or broken upstream', () => {
  const data = (id: number, s: string, flags = 0) => fr(0, flags, id, Buffer.from(s));
  const rstOf = (got: { type: number; payload: Buffer }[]) => got.filter((f) => f.type === 3).map((f) => f.payload.readUInt32BE(0));
  const goawayOf = (got: { type: number; payload: Buffer }[]) => got.filter((f) => f.type === 7).map((f) => f.payload.readUInt32BE(4));
  const cases: { name: string; frames: (id: number) => Buffer[]; first?: Buffer[]; kind: H2FailureKind; rst?: number; goaway?: number }[] = [
    { name: 'DATA before the response head', frames: (id) => [data(id, 'x', 1)], kind: 'protocol', rst: 1 },
    { name: 'no :status', frames: (id) => [fr(1, 5, id, block(['x', 'y']))], kind: 'protocol', rst: 1 },
    { name: 'a two-digit :status', frames: (id) => [fr(1, 5, id, block([':status', '20']))], kind: 'protocol', rst: 1 },
    { name: 'a request pseudo-header in a response', frames: (id) => [fr(1, 5, id, block([':status', '200', ':path', '/']))], kind: 'protocol', rst: 1 },
    { name: 'an uppercase header name', frames: (id) => [fr(1, 5, id, block([':status', '200', 'X-Up', '1']))], kind: 'protocol', rst: 1 },
    { name: 'a connection-specific header', frames: (id) => [fr(1, 5, id, block([':status', '200', 'connection', 'close']))], kind: 'protocol', rst: 1 },
    { name: 'a CR in a value', frames: (id) => [fr(1, 5, id, block([':status', '200', 'x', 'a\r\nb: c']))], kind: 'protocol', rst: 1 },
    { name: 'a body longer than content-length', frames: (id) => [fr(1, 4, id, block([':status', '200', 'content-length', '2'])), data(id, 'abc', 1)], kind: 'protocol', rst: 1 },
    { name: 'a body shorter than content-length', frames: (id) => [fr(1, 4, id, block([':status', '200', 'content-length', '5'])), data(id, 'abc', 1)], kind: 'protocol', rst: 1 },
    { name: 'HEADERS in the middle of a body', frames: (id) => [HEAD_OK(id), data(id, 'a'), fr(1, 4, id, block(['x', 'y']))], kind: 'protocol', rst: 1 },
    { name: 'a pseudo-header in trailers', frames: (id) => [HEAD_OK(id), fr(1, 5, id, block([':status', '200']))], kind: 'protocol', rst: 1 },
    { name: 'RST_STREAM REFUSED_STREAM', frames: (id) => [fr(3, 0, id, Buffer.from([0, 0, 0, 7]))], kind: 'refused' },
    { name: 'RST_STREAM INTERNAL_ERROR', frames: (id) => [fr(3, 0, id, Buffer.from([0, 0, 0, 2]))], kind: 'reset' },
    { name: 'GOAWAY below the stream', frames: () => [fr(7, 0, 0, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0]))], kind: 'refused' },
    { name: 'PUSH_PROMISE', frames: (id) => [fr(5, 4, id, Buffer.concat([Buffer.from([0, 0, 0, 2]), block([':method', 'GET'])]))], kind: 'protocol', goaway: 1 },
    { name: 'a frame above the max frame size', frames: (id) => [HEAD_OK(id), data(id, 'x'.repeat(16385))], kind: 'protocol', goaway: 6 },
    { name: 'DATA on stream 0', frames: () => [data(0, 'x')], kind: 'protocol', goaway: 1 },
    { name: 'DATA on a stream never opened', frames: (id) => [data(id + 2, 'x')], kind: 'protocol', goaway: 1 },
    { name: 'HEADERS on an even stream', frames: () => [fr(1, 4, 2, block([':status', '200']))], kind: 'protocol', goaway: 1 },
    { name: 'a connection WINDOW_UPDATE of 0', frames: () => [fr(8, 0, 0, Buffer.alloc(4))], kind: 'protocol', goaway: 1 },
    { name: 'a connection window past 2^31-1', frames: () => [fr(8, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))], kind: 'protocol', goaway: 3 },
    { name: 'a stream WINDOW_UPDATE of 0', frames: (id) => [fr(8, 0, id, Buffer.alloc(4))], kind: 'protocol', rst: 1 },
    { name: 'an HPACK index beyond the tables', frames: (id) => [fr(1, 5, id, Buffer.from([0xff, 0x10]))], kind: 'protocol', goaway: 9 },
    { name: 'a header block interrupted by another frame', frames: (id) => [fr(1, 1, id, block([':status', '200'])), fr(6, 0, 0, Buffer.alloc(8))], kind: 'protocol', goaway: 1 },
    { name: 'CONTINUATION without HEADERS', frames: (id) => [fr(9, 4, id, block([':status', '200']))], kind: 'protocol', goaway: 1 },
    { name: 'a PING of the wrong size', frames: () => [fr(6, 0, 0, Buffer.alloc(7))], kind: 'protocol', goaway: 6 },
    { name: 'DATA padding longer than the frame', frames: (id) => [HEAD_OK(id), fr(0, 8, id, Buffer.from([5, 1, 2]))], kind: 'protocol', goaway: 1 },
    { name: 'SETTINGS_ENABLE_PUSH 1 from the server', frames: () => [], first: [fr(4, 0, 0, Buffer.from([0, 2, 0, 0, 0, 1]))], kind: 'protocol', goaway: 1 },
    { name: 'a first frame that is not SETTINGS', frames: () => [], first: [fr(6, 0, 0, Buffer.alloc(8))], kind: 'protocol', goaway: 1 },
    { name: 'SETTINGS_MAX_FRAME_SIZE below 16384', frames: () => [], first: [fr(4, 0, 0, Buffer.from([0, 5, 0, 0, 0x10, 0]))], kind: 'protocol', goaway: 1 },
    { name: 'the connection closed mid-response', frames: (id) => [HEAD_OK(id), data(id, 'partial')], kind: 'reset' },
  ];
  for (const c of cases) {
    it(`${c.name}: the stream fails as ${c.kind}${c.rst !== undefined ? `, RST_STREAM ${c.rst}` : ''}${c.goaway !== undefined ? `, GOAWAY ${c.goaway}` : ''}`, async () => {
      const { port, got } = await scripted(c.frames, c.first);
      const s = connect(port);
      const pending = call(s, req());
      if (c.name.includes('closed mid-response')) setTimeout(() => s.socket.destroy(), 100);
      const r = await pending;
      expect(r.failure?.kind, JSON.stringify(r)).toBe(c.kind);
      await new Promise((res) => setTimeout(res, 30));
      if (c.rst !== undefined) {
        expect(rstOf(got)).toContain(c.rst);
        expect(s.usable).toBe(true); // a stream error keeps the connection
      }
      if (c.goaway !== undefined) {
        expect(goawayOf(got)).toContain(c.goaway);
        expect(s.usable).toBe(false);
      }
    });
  }

  it('answers PING, acknowledges SETTINGS, skips 1xx heads and ignores unknown frame types', async () => {
    const { port, got } = await scripted((id) => [
      fr(6, 0, 0, Buffer.from('pingpong')),
      fr(0xfa, 0, 0, Buffer.from('?')),
      fr(1, 4, id, block([':status', '100'])),
      HEAD_OK(id),
      data(id, 'fine', 1),
    ]);
    const s = connect(port);
    const r = await call(s, req());
    expect(r.status).toBe(200);
    expect(Buffer.concat(r.body).toString()).toBe('fine');
    await new Promise((res) => setTimeout(res, 30));
    expect(got.some((f) => f.type === 6 && f.payload.toString() === 'pingpong')).toBe(true);
    expect(got.some((f) => f.type === 4 && f.payload.length === 0)).toBe(true);
  });

  it('survives any byte sequence from the upstream: every call ends once, the process goes on', async () => {
    for (let n = 0; n < 150; n++) {
      const junk = Buffer.alloc(1 + ((n * 37) % 200));
      for (let i = 0; i < junk.length; i++) junk[i] = (n * 131 + i * 17 + (i >> 3)) & 0xff;
      const { port } = await scripted((id) => [HEAD_OK(id), junk], [SETTINGS]);
      const s = connect(port);
      let calls = 0;
      const r = await new Promise<Result>((resolve) => {
        const res: Result = { body: [], ended: false };
        s.request(req(), true, handler(res, () => {
          calls++;
          resolve(res);
        }));
        setTimeout(() => {
          s.socket.destroy();
        }, 100);
      });
      expect(r.ended || r.failure !== undefined).toBe(true);
      await new Promise((res) => setTimeout(res, 5));
      expect(calls).toBe(1);
      cleanup.splice(0).forEach((f) => f());
    }
  });
});

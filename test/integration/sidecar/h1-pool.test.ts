// The sidecar's HTTP/1.1 upstream pool (sidecar/upstream/h1-pool.ts) against raw TCP servers on
// loopback that answer byte for byte what each case needs: keep-alive reuse and its limits, bodies
// framed every way HTTP/1.1 allows, interim responses, trailers, queueing, and failures.
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { H1Pool, type H1FailureKind, type H1Request } from '../../../sidecar/upstream/h1-pool.js';
import { Host } from '../../../sidecar/upstream/host.js';
import { recordSocketWrites } from '../../harness/socket-writes.js';
import { closeLoopLoad, loopBusy, loopQuiet } from '../../harness/loop-load.js';

interface Result {
  status: number;
  headers: string[];
  body: string;
  trailers?: string[];
  error?: { kind: H1FailureKind; code?: string };
}

/** A server that hands each request's raw head (and body bytes) to `answer` and writes what it returns. */
async function server(answer: (req: string, sock: net.Socket, n: number) => string | undefined): Promise<{ port: number; conns: () => number; requests: string[]; close: () => void }> {
  let conns = 0;
  let n = 0;
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    conns++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      // One request at a time: a head, then a body by content-length or chunked up to 0\r\n\r\n.
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        let total = end + 4;
        const cl = /content-length: (\d+)/i.exec(head);
        if (cl) total += Number(cl[1]);
        else if (/transfer-encoding: chunked/i.test(head)) {
          const z = buf.indexOf('0\r\n\r\n', end + 4);
          if (z < 0) return;
          total = z + 5;
        }
        if (buf.length < total) return;
        const req = buf.slice(0, total);
        buf = buf.slice(total);
        requests.push(req);
        const out = answer(req, s, n++);
        if (out !== undefined) s.write(out, 'latin1');
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    conns: () => conns,
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

/** Waits (bounded) for a condition that must come true: never a fixed sleep before a check. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function send(pool: H1Pool, req: Partial<H1Request> = {}): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { status: 0, headers: [], body: '' };
    pool.request(
      { method: 'GET', path: '/', headers: ['host', 'up'], body: undefined, ...req },
      {
        onHeaders(status, raw) {
          r.status = status;
          r.headers = raw;
        },
        onData(chunk) {
          r.body += chunk.toString('latin1');
          return true;
        },
        onComplete(trailers) {
          if (trailers) r.trailers = trailers;
          resolve(r);
        },
        onError(err, kind) {
          r.error = { kind, code: (err as NodeJS.ErrnoException).code };
          resolve(r);
        },
      },
    );
  });
}

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) {
    await new Promise((r) => setImmediate(r));
    yield Buffer.from(p);
  }
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});
afterAll(closeLoopLoad);

async function setup(answer: Parameters<typeof server>[0], o: Partial<{ maxConnections: number; idleTimeoutMs: number; connectTimeoutMs: number }> = {}) {
  const s = await server(answer);
  let connectErrors = 0;
  const pool = new H1Pool(new Host('127.0.0.1', s.port, 1, '', 0), { maxConnections: 8, connectTimeoutMs: 2000, idleTimeoutMs: 60_000, ...o }, undefined, () => connectErrors++);
  cleanup.push(() => pool.close(), s.close);
  return { s, pool, connectErrors: () => connectErrors };
}

describe('HTTP/1.1 upstream pool', () => {
  it('reuses one keep-alive connection for requests in sequence, and writes the head as given', async () => {
    const { s, pool } = await setup(() => ok('hi'));
    for (let i = 0; i < 5; i++) expect(await send(pool, { path: `/x?i=${i}` })).toMatchObject({ status: 200, body: 'hi' });
    expect(s.conns()).toBe(1);
    expect(s.requests[3]).toBe('GET /x?i=3 HTTP/1.1\r\nhost: up\r\n\r\n');
    expect(pool.connections).toBe(1);
  });

  it('does not reuse a connection after Connection: close, or a Keep-Alive timeout of 1 s or less', async () => {
    const { s, pool } = await setup((_r, _s, n) => (n === 0 ? ok('a', 'connection: close\r\n') : n === 1 ? ok('b', 'keep-alive: timeout=1\r\n') : ok('c')));
    expect((await send(pool)).body).toBe('a');
    expect((await send(pool)).body).toBe('b');
    expect((await send(pool)).body).toBe('c');
    expect(s.conns()).toBe(3);
  });

  it('closes a connection idle longer than the idle timeout instead of reusing it', async () => {
    const { s, pool } = await setup(() => ok('x'), { idleTimeoutMs: 50 });
    await send(pool);
    await new Promise((r) => setTimeout(r, 120));
    await send(pool);
    expect(s.conns()).toBe(2);
  });

  it('drops a connection the server closed while idle, and the next request opens a new one', async () => {
    const { s, pool } = await setup((_r, sock) => {
      setTimeout(() => sock.end(), 10);
      return ok('x');
    });
    expect((await send(pool)).status).toBe(200);
    // The server's FIN reaches the idle connection: the pool drops it (polled, bounded).
    for (const end = Date.now() + 5000; pool.connections !== 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
    expect(pool.connections).toBe(0);
    expect((await send(pool)).status).toBe(200);
    expect(s.conns()).toBe(2);
  });

  it('reads chunked bodies with trailers, read-until-close bodies, and no body for HEAD, 204 and 304', async () => {
    const { pool } = await setup((req, sock) => {
      if (req.startsWith('GET /chunked')) return 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-sum\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nx-sum: 5\r\n\r\n';
      if (req.startsWith('GET /eof')) {
        sock.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
        return undefined;
      }
      if (req.startsWith('HEAD')) return 'HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\n';
      if (req.startsWith('GET /204')) return 'HTTP/1.1 204 No Content\r\n\r\n';
      return 'HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\n\r\n';
    });
    expect(await send(pool, { path: '/chunked' })).toMatchObject({ status: 200, body: 'abcde', trailers: ['x-sum', '5'] });
    expect(await send(pool, { path: '/eof' })).toMatchObject({ status: 200, body: 'until the end' });
    expect(await send(pool, { method: 'HEAD' })).toMatchObject({ status: 200, body: '' });
    expect(await send(pool, { path: '/204' })).toMatchObject({ status: 204, body: '' });
    expect(await send(pool, { path: '/304' })).toMatchObject({ status: 304, body: '' });
  });

  it('skips interim 100 and 103 responses', async () => {
    const { pool } = await setup(() => `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n${ok('final')}`);
    expect(await send(pool)).toMatchObject({ status: 200, body: 'final' });
    expect(await send(pool)).toMatchObject({ status: 200, body: 'final' });
  });

  it('sends bodies by content-length, or chunked when the length is unknown, and content-length: 0 for an empty POST', async () => {
    const { s, pool } = await setup(() => ok('ok'));
    await send(pool, { method: 'POST', headers: ['host', 'up', 'content-length', '6'], body: chunks('abc', 'def') });
    await send(pool, { method: 'PUT', body: chunks('xyz', '12') });
    await send(pool, { method: 'POST' });
    expect(s.requests).toEqual([
      'POST / HTTP/1.1\r\nhost: up\r\ncontent-length: 6\r\n\r\nabcdef',
      'PUT / HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n3\r\nxyz\r\n2\r\n12\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nhost: up\r\ncontent-length: 0\r\n\r\n',
    ]);
    expect(s.conns()).toBe(1);
  });

  it('writes a chunk of a chunked body as one write: size line, data and CRLF together', async () => {
    const { s, pool } = await setup(() => ok('ok'));
    // What each socket write carried (a writev's buffers joined), for writes to this server only.
    const { writes, restore } = recordSocketWrites((sock) => sock.remotePort === s.port);
    try {
      await send(pool, { method: 'PUT', body: chunks('xyz', '12') });
    } finally {
      restore();
    }
    expect(s.requests).toEqual(['PUT / HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n3\r\nxyz\r\n2\r\n12\r\n0\r\n\r\n']);
    expect(writes).toEqual(['PUT / HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n', '3\r\nxyz\r\n', '2\r\n12\r\n', '0\r\n\r\n']);
  });

  it.each([
    ['content-length', ['content-length', '5'], 'POST / HTTP/1.1\r\nhost: up\r\ncontent-length: 5\r\n\r\nab123'],
    ['chunked', [], 'POST / HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n3\r\n123\r\n0\r\n\r\n'],
  ])('sends a %s request whose body is all there as one write, also while the loop is quiet', async (_name, extra, want) => {
    const { s, pool } = await setup(() => ok('ok'));
    await loopQuiet();
    const { writes, restore } = recordSocketWrites((sock) => sock.remotePort === s.port);
    async function* now(...parts: string[]): AsyncGenerator<Buffer> {
      for (const p of parts) yield Buffer.from(p);
    }
    try {
      await send(pool, { method: 'POST', headers: ['host', 'up', ...extra], body: now('ab', '123') });
    } finally {
      restore();
    }
    expect(writes).toEqual([want]);
  });

  it('holds the heads of one turn until the turn is over, then writes each connection\'s once, while the loop is busy (write-batch)', async () => {
    const { s, pool } = await setup(() => ok('ok'));
    await Promise.all([send(pool), send(pool)]); // two connections, now idle
    expect(s.conns()).toBe(2);
    await loopBusy();
    const { writes, restore } = recordSocketWrites((sock) => sock.remotePort === s.port);
    try {
      const both = Promise.all([send(pool, { path: '/a' }), send(pool, { path: '/b' })]);
      expect(writes).toEqual([]); // assigned to idle connections, but nothing written yet in this turn
      await new Promise((r) => setImmediate(r));
      expect(writes).toEqual(['GET /a HTTP/1.1\r\nhost: up\r\n\r\n', 'GET /b HTTP/1.1\r\nhost: up\r\n\r\n']);
      expect((await both).map((r) => r.body)).toEqual(['ok', 'ok']);
    } finally {
      restore();
    }
  });

  it('queues requests beyond maxConnections and serves them in order as connections free up', async () => {
    const { s, pool } = await setup((req, sock) => {
      setTimeout(() => sock.write(ok(req.split(' ')[1]!.slice(1))), 20);
      return undefined;
    }, { maxConnections: 2 });
    const got = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((p) => send(pool, { path: `/${p}` })));
    expect(got.map((g) => g.body)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(s.conns()).toBe(2);
  });

  it('keeps every byte of concurrent large responses read into the shared read buffer, with a reader that holds chunks', async () => {
    // The parser consumes each socket: reads land in node's parser buffer, shared by every
    // connection, and are parsed in C++: a chunk handed on must be the parser's own copy. 8 connections answer 8 distinct 256 KiB bodies in small
    // writes at once; the handler keeps every chunk it gets until the end and compares.
    const body = (i: number) => Buffer.from(Array.from({ length: 256 * 1024 }, (_, k) => 65 + ((k * 7 + i * 13) % 26)));
    const { pool } = await setup((req, sock) => {
      const i = Number(req.split(' ')[1]!.slice(1));
      const b = body(i);
      sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${b.length}\r\n\r\n`);
      let at = 0;
      const more = () => {
        for (let n = 0; n < 8 && at < b.length; n++, at += 4096) sock.write(b.subarray(at, at + 4096));
        if (at < b.length) setImmediate(more);
      };
      more();
      return undefined;
    });
    const got = await Promise.all(Array.from({ length: 8 }, (_, i) => new Promise<Buffer>((resolve, reject) => {
      const held: Buffer[] = [];
      pool.request({ method: 'GET', path: `/${i}`, headers: ['host', 'up'], body: undefined }, {
        onHeaders() {},
        onData(chunk) {
          held.push(chunk);
          return true;
        },
        onComplete() {
          resolve(Buffer.concat(held));
        },
        onError: reject,
      });
    })));
    for (let i = 0; i < 8; i++) expect(got[i]!.equals(body(i)), `response ${i}`).toBe(true);
  });

  it('reports connect failures as connect, resets as reset, garbage as protocol', async () => {
    const dead = new H1Pool(new Host('127.0.0.1', 1, 1, '', 0), { maxConnections: 1, connectTimeoutMs: 2000, idleTimeoutMs: 1000 }, undefined, () => {});
    expect((await send(dead)).error).toMatchObject({ kind: 'connect', code: 'ECONNREFUSED' });
    const { pool } = await setup((req, sock) => {
      if (req.startsWith('GET /reset')) {
        sock.write('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
        setTimeout(() => sock.destroy(), 10);
        return undefined;
      }
      return 'NOT HTTP AT ALL\r\n\r\n';
    });
    expect((await send(pool, { path: '/reset' })).error?.kind).toBe('reset');
    expect((await send(pool, { path: '/garbage' })).error?.kind).toBe('protocol');
  });

  // A server that answers 200 to anything: a refusal is the pool's, and the server sees nothing.
  it.each([
    ['a header value with CR LF', { headers: ['host', 'up', 'x-evil', 'a\r\nx-injected: 1'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['a header value with a bare LF', { headers: ['host', 'up', 'x-evil', 'a\nx-injected: 1'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['a header value with a bare CR', { headers: ['host', 'up', 'x-evil', 'a\rx'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['a header value with NUL', { headers: ['host', 'up', 'x-evil', 'a\0b'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['a header name with CR LF', { headers: ['host', 'up', 'x-a\r\nx-injected', '1'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['a header name with a space', { headers: ['host', 'up', 'x a', '1'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['a header name with a colon', { headers: ['host', 'up', 'x:a', '1'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['an empty header name', { headers: ['host', 'up', '', '1'] }, 'HPE_INVALID_HEADER_TOKEN'],
    ['a path with CR LF', { path: '/a HTTP/1.1\r\nhost: up\r\n\r\nGET /b' }, 'HPE_INVALID_URL'],
    ['a path with a space', { path: '/a b' }, 'HPE_INVALID_URL'],
    ['a path with a tab', { path: '/a\tb' }, 'HPE_INVALID_URL'],
    ['an empty path', { path: '' }, 'HPE_INVALID_URL'],
    ['a method with a space', { method: 'GET /x' }, 'HPE_INVALID_URL'],
  ] as const)('refuses %s before writing anything, and the connection serves the next request', async (_what, req, code) => {
    const { s, pool } = await setup(() => ok('fine'));
    expect((await send(pool, req as Partial<H1Request>)).error).toEqual({ kind: 'protocol', code });
    expect(await send(pool, { path: '/next' })).toMatchObject({ status: 200, body: 'fine' });
    expect(s.requests).toEqual(['GET /next HTTP/1.1\r\nhost: up\r\n\r\n']);
  });

  it('refuses a request exactly when one of its header names is not a token or one value holds CR, LF or NUL (random lists)', async () => {
    const { s, pool } = await setup(() => ok('fine'));
    const tchar = fc.constantFrom(...'abcxyzABC019-_.!#$%&*+^`|~'.split(''));
    const vchar = fc.constantFrom(...'abc XYZ019\t,;:=/"()\x7f\x80\xff'.split(''));
    const header = fc.tuple(fc.string({ unit: tchar, minLength: 1, maxLength: 12 }), fc.string({ unit: vchar, maxLength: 20 }));
    // The breakage (if any): in which header, name or value, where, and which character.
    const bad = fc.option(fc.record({ at: fc.nat(), inName: fc.boolean(), pos: fc.nat(), ch: fc.constantFrom('\r', '\n', '\0', '\r\n', ' ', ':', '', '\u0100') }), { nil: undefined });
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(header, { minLength: 1, maxLength: 6 }), bad, async (hs, b) => {
        const flat = hs.flat();
        let broken = false;
        if (b !== undefined) {
          const i = (b.at % hs.length) * 2 + (b.inName ? 0 : 1);
          const cur = flat[i]!;
          const p = b.pos % (cur.length + 1);
          // '' empties a name (invalid) and leaves a value as it is (valid); a space or a colon is
          // fine in a value; U+0100 is never a token character.
          flat[i] = b.ch === '' ? (b.inName ? '' : cur) : cur.slice(0, p) + b.ch + cur.slice(p);
          broken = b.inName || ['\r', '\n', '\0', '\r\n'].includes(b.ch);
        }
        const r = await send(pool, { headers: ['host', 'up', ...flat] });
        if (broken) expect(r.error, JSON.stringify(flat)).toEqual({ kind: 'protocol', code: 'HPE_INVALID_HEADER_TOKEN' });
        else {
          expect(r, JSON.stringify(flat)).toMatchObject({ status: 200 });
          sent++;
        }
      }),
      { numRuns: 150 },
    );
    // What reached the server is exactly what was accepted.
    expect(s.requests).toHaveLength(sent);
  });

  it('an aborted request closes its connection and the queue moves on', async () => {
    const { s, pool } = await setup((req, sock) => {
      if (!req.startsWith('GET /slow')) return ok('fast');
      setTimeout(() => sock.writable && sock.write(ok('slow')), 500);
      return undefined;
    }, { maxConnections: 1 });
    const slow = pool.request({ method: 'GET', path: '/slow', headers: ['host', 'up'], body: undefined }, { onHeaders() {}, onData: () => true, onComplete() {}, onError() {} });
    const next = send(pool, { path: '/next' });
    // The slow request is on the wire (the server has it) before it is aborted.
    for (const end = Date.now() + 5000; !s.requests.some((r) => r.startsWith('GET /slow')) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 5));
    expect(s.requests.some((r) => r.startsWith('GET /slow'))).toBe(true);
    slow.abort();
    expect(await next).toMatchObject({ status: 200, body: 'fast' });
    expect(s.conns()).toBe(2);
  });

  it('stops reading the socket while the handler is full, and reads the rest after resume()', async () => {
    const MiB = 1024 * 1024;
    const { pool } = await setup((_req, sock) => {
      sock.write(`HTTP/1.1 200 OK\r\ncontent-length: ${32 * MiB}\r\n\r\n`);
      sock.write(Buffer.alloc(32 * MiB, 0x62));
      return undefined;
    });
    let n = 0;
    let full = true;
    let done!: (v: number) => void;
    const finished = new Promise<number>((r) => (done = r));
    const call = pool.request({ method: 'GET', path: '/', headers: ['host', 'up'], body: undefined }, {
      onHeaders() {},
      onData(chunk) {
        n += chunk.length;
        return !full;
      },
      onComplete: () => done(n),
      onError: (e) => done(-1 - (e as Error).message.length),
    });
    await until(() => n > 0);
    const socket = call.conn!.socket as net.Socket & { _handle: { reading: boolean } | null };
    // The parser's handle is stopped: the rest stays in the server's and the kernel's buffers.
    await until(() => socket._handle?.reading === false);
    expect(socket.bytesRead).toBeLessThan(8 * MiB);
    full = false;
    call.resume();
    expect(await finished).toBe(32 * MiB);
  });

  it.each(['onHeaders', 'onData'] as const)('fails the call as protocol when its handler throws in %s, and serves the next request', async (where) => {
    const { pool } = await setup(() => ok('fine'));
    const bug = (): never => {
      throw new Error('handler bug');
    };
    const failed = await new Promise<{ kind: H1FailureKind; message: string }>((resolve) => {
      pool.request({ method: 'GET', path: '/', headers: ['host', 'up'], body: undefined }, {
        onHeaders: () => (where === 'onHeaders' ? bug() : undefined),
        onData: () => (where === 'onData' ? bug() : true),
        onComplete: () => resolve({ kind: 'reset', message: 'completed' }),
        onError: (e, kind) => resolve({ kind, message: e.message }),
      });
    });
    expect(failed).toEqual({ kind: 'protocol', message: 'handler bug' });
    expect((await send(pool)).body).toBe('fine');
  });
});

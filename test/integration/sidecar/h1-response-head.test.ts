// The HTTP/1.1 response head a listener writes (H1Downstream.writeHead from a header object,
// writeHeadRaw from an HTTP/1.1 upstream's lines as received): a header whose name or value holds
// CR, LF or NUL is never written, hop-by-hop headers are not passed on, and every other header is,
// in order; random header sets with random breakage, against a raw TCP client on loopback.
import net from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H1Connection } from '../../../sidecar/http/h1-server.js';
import { answeringHooks } from '../../harness/h1-hooks.js';
import type { H1Downstream } from '../../../sidecar/http/h1-downstream.js';
import type { ResponseHeaders } from '../../../sidecar/http/filter.js';

let srv: net.Server;
let port: number;
/** What the next request is answered with (set before each request): `answerRaw` when set, else `answer`. */
let answer: ResponseHeaders = {};
let answerRaw: string[] | undefined;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  const hooks = answeringHooks((d: H1Downstream) => {
    if (answerRaw) d.writeHeadRaw(200, answerRaw);
    else d.writeHead(200, answer, false);
    d.write(Buffer.from('ok'));
    d.end(undefined);
  });
  srv = net.createServer((s) => {
    sockets.push(s);
    new H1Connection(s, hooks, { maxHeaderBytes: 8192, headersTimeoutMs: 30_000, keepAliveTimeoutMs: 60_000 });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  port = (srv.address() as net.AddressInfo).port;
});
afterAll(() => {
  for (const s of sockets) s.destroy();
  srv.close();
});

/** One request on a new connection; the response head's header lines (status line and date left out). */
async function headLines(): Promise<string[]> {
  const c = net.connect(port, '127.0.0.1');
  c.on('error', () => undefined);
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no complete response: ${JSON.stringify(buf)}`)), 5000);
    c.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && buf.length >= end + 6) {
        clearTimeout(t);
        resolve();
      }
    });
    c.write('GET / HTTP/1.1\r\nhost: a\r\n\r\n');
  });
  c.destroy();
  const head = buf.slice(0, buf.indexOf('\r\n\r\n'));
  expect(buf.slice(head.length)).toBe('\r\n\r\nok');
  return head.split('\r\n').slice(1).filter((l) => !l.startsWith('date: '));
}

/** A generated header with its breakage (CR, LF or NUL put into the name or the value) applied. */
function broken(e: { name: string; value: string; broken?: { inName: boolean; pos: number; ch: string } | undefined }): { name: string; value: string } {
  if (!e.broken) return e;
  const s = e.broken.inName ? e.name : e.value;
  const p = e.broken.pos % (s.length + 1);
  const x = s.slice(0, p) + e.broken.ch + s.slice(p);
  return e.broken.inName ? { name: x, value: e.value } : { name: e.name, value: x };
}

describe('H1Downstream.writeHead', () => {
  it('leaves out exactly the headers whose name or value holds CR, LF or NUL', async () => {
    answer = { 'content-length': '2', 'x-a': 'fine', 'x-b': 'split\r\nx-injected: 1', 'x-c\r\nx-injected': '1', 'x-d': 'nul\0', 'x-e': 'bare\n', 'x-f': ['one', 'two\r\nx-injected: 2', 'three'], 'x-g': 7 };
    expect(await headLines()).toEqual(['content-length: 2', 'x-a: fine', 'x-f: one', 'x-f: three', 'x-g: 7']);
    answer = { 'content-length': '2', 'x-a': 'fine' };
    expect(await headLines()).toEqual(['content-length: 2', 'x-a: fine']);
  });

  it('random header sets with random breakage: every clean header written, no broken one, in order', async () => {
    const nchar = fc.constantFrom(...'abcxyz019-_.'.split(''));
    const vchar = fc.constantFrom(...'abc XYZ019\t,;:=/"()'.split(''));
    const breakage = fc.constantFrom('\r', '\n', '\0', '\r\n', '\r\nx-injected: 1');
    const entry = fc.record({
      // x- first: a name like '1' would be an integer key, which an object lists before the others
      name: fc.string({ unit: nchar, minLength: 1, maxLength: 10 }).map((n) => `x-${n}`),
      value: fc.string({ unit: vchar, maxLength: 20 }),
      broken: fc.option(fc.record({ inName: fc.boolean(), pos: fc.nat(), ch: breakage }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(entry, { selector: (e) => e.name, minLength: 1, maxLength: 8 }), async (entries) => {
        const h: Record<string, string> = { 'content-length': '2' };
        const want = ['content-length: 2'];
        for (const e of entries) {
          const { name, value } = broken(e);
          if (!e.broken) want.push(`${name}: ${value}`);
          h[name] = value;
        }
        answer = h;
        expect(await headLines()).toEqual(want);
      }),
      { numRuns: 60 },
    );
  });
});

describe('H1Downstream.writeHeadRaw (an HTTP/1.1 upstream\'s lines as received)', () => {
  const HOP = ['Connection', 'keep-alive', 'Transfer-Encoding', 'TE', 'Upgrade', 'Proxy-Connection', 'HTTP2-Settings'];

  it('lowercases names, drops hop-by-hop headers and broken lines, keeps order and repeats', async () => {
    answerRaw = ['Content-Length', '2', 'Connection', 'keep-alive', 'X-A', 'one', 'Set-Cookie', 'a=1', 'x-b', 'split\r\nx-injected: 1', 'Transfer-Encoding', 'chunked', 'set-cookie', 'b=2', 'X-C', 'nul\0', 'ETag', '"e"'];
    try {
      expect(await headLines()).toEqual(['content-length: 2', 'x-a: one', 'set-cookie: a=1', 'set-cookie: b=2', 'etag: "e"']);
    } finally {
      answerRaw = undefined;
    }
  });

  it('random raw header lists (mixed case, hop-by-hop names, breakage): exactly the clean end-to-end ones, lowercased, in order', async () => {
    const nchar = fc.constantFrom(...'abcXYZ019-_.'.split(''));
    const vchar = fc.constantFrom(...'abc XYZ019\t,;:=/"()'.split(''));
    const breakage = fc.constantFrom('\r', '\n', '\0', '\r\n', '\r\nx-injected: 1');
    const entry = fc.record({
      name: fc.oneof(fc.string({ unit: nchar, minLength: 1, maxLength: 10 }).map((n) => `X-${n}`), fc.constantFrom(...HOP), fc.constantFrom('Date', 'ETag', 'Cache-Control', 'set-cookie')),
      value: fc.string({ unit: vchar, maxLength: 20 }),
      broken: fc.option(fc.record({ inName: fc.boolean(), pos: fc.nat(), ch: breakage }), { nil: undefined }),
    });
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), async (entries) => {
          const raw = ['Content-Length', '2'];
          const want = ['content-length: 2'];
          for (const e of entries) {
            const { name, value } = broken(e);
            if (!e.broken && !HOP.includes(name) && name !== 'Date') want.push(`${name.toLowerCase()}: ${value}`);
            raw.push(name, value);
          }
          answerRaw = raw;
          expect(await headLines()).toEqual(want);
        }),
        { numRuns: 60 },
      );
    } finally {
      answerRaw = undefined;
    }
  });
});

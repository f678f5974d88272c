// Fuzz of Weft's own HTTP/2 server and client sides (sidecar/h2/) with generated frame sequences:
// mostly well-framed frames of every type with random flags, stream ids, lengths and payloads,
// valid and mangled HPACK blocks, over real loopback sockets. Whatever comes, no exception escapes,
// every stream the server opened is reported closed exactly once, and every client call ends once.
import fc from 'fast-check';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { PREFACE, SETTINGS, block, fr } from '../harness/h2-frames.js';
import { H2ClientSession } from '../../sidecar/h2/client.js';
import { H2ServerSession, type H2ServerStream } from '../../sidecar/h2/server.js';

/** WEFT_FUZZ_SCALE=10 runs every property ten times as long (a local search; CI runs 1). */
const SCALE = Number(process.env.WEFT_FUZZ_SCALE ?? 1);


const name = fc.constantFrom(':method', ':path', ':scheme', ':authority', ':status', 'content-length', 'te', 'x-a', 'X-B', 'connection', 'grpc-status', 'cookie');
const value = fc.constantFrom('GET', 'POST', '/', '/x', 'http', 'a', '0', '5', 'trailers', '200', 'a\r\nb', '');
const hpack = fc.oneof(
  fc.array(fc.tuple(name, value), { maxLength: 6 }).map((p) => block(p.flat())),
  fc.uint8Array({ maxLength: 40 }),
);
const payload = fc.oneof(hpack, fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 8, maxLength: 8 }));
const frameArb = fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 1, 2, 3, 5, 7, 0x7fffffff), payload).map(([t, f, id, p]) => fr(t, f, id, p));

async function listen(onConn: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer(onConn);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

describe('HTTP/2 frame fuzz', () => {
  it('the server side: any frame sequence after the preface leaves no stream open or reported twice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { maxLength: 25 }), async (frames) => {
        const opened: H2ServerStream[] = [];
        const closed: H2ServerStream[] = [];
        let session: H2ServerSession | undefined;
        const l = await listen((sock) => {
          session = new H2ServerSession(sock, {
            maxHeaderListSize: 16 * 1024,
            onStream: (st) => {
              opened.push(st);
              st.body.resume();
              st.respond(200, { 'x-a': '1' }, false);
              st.write(Buffer.from('body'));
              st.end({ 'grpc-status': '0' });
            },
            onStreamClose: (st) => closed.push(st),
          });
        });
        const c = net.connect({ host: '127.0.0.1', port: l.port });
        c.on('error', () => undefined);
        c.on('data', () => undefined);
        await new Promise<void>((r) => c.once('connect', () => r()));
        c.write(Buffer.concat([PREFACE, SETTINGS, ...frames]));
        await new Promise((r) => setTimeout(r, 20));
        c.destroy();
        await new Promise((r) => setTimeout(r, 10));
        session?.destroy();
        await new Promise((r) => setTimeout(r, 5));
        l.close();
        expect(new Set(closed).size).toBe(closed.length);
        expect(closed.length).toBe(opened.length);
      }),
      { numRuns: 150 * SCALE },
    );
  });

  it('the client side: any frame sequence from an upstream ends every call exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(frameArb, { maxLength: 25 }), fc.integer({ min: 1, max: 4 }), async (frames, calls) => {
        const l = await listen((sock) => {
          sock.on('error', () => undefined);
          sock.on('data', () => undefined);
          sock.write(Buffer.concat([SETTINGS, ...frames]));
          setTimeout(() => sock.destroy(), 20);
        });
        const socket = net.connect({ host: '127.0.0.1', port: l.port });
        const s = new H2ClientSession(socket, 'connect', { connectTimeoutMs: 1000, idleTimeoutMs: 1000 });
        const ends = new Array<number>(calls).fill(0);
        await Promise.all(
          Array.from({ length: calls }, (_, i) =>
            new Promise<void>((resolve) => {
              const done = () => {
                ends[i]!++;
                resolve();
              };
              const st = s.request([':method', 'POST', ':scheme', 'http', ':authority', 'a', ':path', '/'], false, {
                onHead: (_st, _h, end) => {
                  if (end) done();
                },
                onData: () => true,
                onEnd: done,
                onFailure: done,
                onDrain: () => undefined,
              });
              st.write(Buffer.from('x'));
              st.end();
            }),
          ),
        );
        await new Promise((r) => setTimeout(r, 5));
        socket.destroy();
        l.close();
        expect(ends.every((n) => n === 1)).toBe(true);
      }),
      { numRuns: 150 * SCALE },
    );
  });
});

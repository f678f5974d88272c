// The sidecar's control-plane gRPC client (sidecar/xds/grpc-channel.ts) against a real grpc-js
// server and against peers that misbehave: messages both ways, statuses from trailers and from
// trailers-only heads, percent-encoded messages, deadlines, refused connections, a peer that
// answers no PING (keepalive), an oversized message, a non-gRPC HTTP/2 server.
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcChannel, GrpcStatus, type GrpcError } from '../../../sidecar/xds/grpc-channel.js';

const id = (b: Buffer) => b;
const ser = (s: string) => Buffer.from(s);
const de = (b: Buffer) => b.toString();
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({ path, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
const SERVICE = {
  Echo: method('/t.T/Echo', true, true),
  Fail: method('/t.T/Fail', false, false),
  Slow: method('/t.T/Slow', false, false),
  Big: method('/t.T/Big', false, false),
  Many: method('/t.T/Many', false, true),
};

let server: grpc.Server;
let address = '';
beforeAll(async () => {
  server = new grpc.Server();
  server.addService(SERVICE, {
    Echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.from(`echo:${b.toString()}`)));
      call.on('end', () => call.end());
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb({ code: grpc.status.PERMISSION_DENIED, details: 'not yours: 100% ünicode' }),
    Slow: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => setTimeout(() => cb(null, Buffer.from('late')), 2000).unref(),
    Big: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(2048, 1)),
    // An empty message, 300 small ones (many per read), one of 3 MiB (many reads), an empty one.
    Many: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      call.write(Buffer.alloc(0));
      for (let i = 0; i < 300; i++) call.write(Buffer.from(String(i)));
      call.write(Buffer.alloc(3 << 20, 7));
      call.write(Buffer.alloc(0));
      call.end();
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  address = `127.0.0.1:${port}`;
});
afterAll(() => server.forceShutdown());

const fail = (p: Promise<unknown>) => p.then(() => undefined, (e: GrpcError) => e);

describe('GrpcChannel', () => {
  it('streams messages both ways and ends OK when the server does', async () => {
    const ch = new GrpcChannel(address);
    const got: string[] = [];
    const closed = new Promise<GrpcError | undefined>((resolve) => {
      const call = ch.call(SERVICE.Echo.path, ser, de, { onMessage: (m) => got.push(m), onClose: resolve });
      call.write('a');
      call.write('b'.repeat(100_000)); // over one DATA frame
      call.write('c');
      call.end();
    });
    expect(await closed).toBeUndefined();
    expect(got.map((m) => m.slice(0, 8))).toEqual(['echo:a', 'echo:bbb', 'echo:c']);
    expect(got[1]!.length).toBe(100_005);
    ch.close();
  });

  it('cuts messages out of reads whatever their sizes: empty, many per read, one over many reads', async () => {
    const ch = new GrpcChannel(address);
    const got: Buffer[] = [];
    const closed = new Promise<GrpcError | undefined>((resolve) => {
      const call = ch.call(SERVICE.Many.path, ser, (b: Buffer) => b, { onMessage: (m) => got.push(m), onClose: resolve });
      call.write('go');
      call.end();
    });
    expect(await closed).toBeUndefined();
    expect(got.length).toBe(303);
    expect(got[0]!.length).toBe(0);
    expect(got.slice(1, 301).map((b) => b.toString())).toEqual(Array.from({ length: 300 }, (_, i) => String(i)));
    expect(got[301]!.length).toBe(3 << 20);
    expect(got[301]!.every((x) => x === 7)).toBe(true);
    expect(got[302]!.length).toBe(0);
    // Each message is a buffer of its own, not a view of a larger read.
    expect(got.slice(1, 301).every((b) => b.buffer.byteLength === b.length || b.length === 0)).toBe(true);
    ch.close();
  });

  it('a status with a message: code and the decoded message', async () => {
    const ch = new GrpcChannel(address);
    const e = await fail(ch.unary(SERVICE.Fail.path, ser, de, 'x', 5000));
    expect(e?.code).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(e?.details).toBe('not yours: 100% ünicode');
    expect(e?.message).toBe('7 PERMISSION_DENIED: not yours: 100% ünicode');
    ch.close();
  });

  it('an unknown method: UNIMPLEMENTED (a trailers-only answer)', async () => {
    const ch = new GrpcChannel(address);
    expect((await fail(ch.unary('/t.T/Nope', ser, de, 'x', 5000)))?.code).toBe(GrpcStatus.UNIMPLEMENTED);
    ch.close();
  });

  it('a deadline: DEADLINE_EXCEEDED, sent as grpc-timeout too', async () => {
    const ch = new GrpcChannel(address);
    const t0 = performance.now();
    const e = await fail(ch.unary(SERVICE.Slow.path, ser, de, 'x', 200));
    expect(e?.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    expect(performance.now() - t0).toBeLessThan(1900); // before the server's answer at 2 s
    ch.close();
  });

  it('a message over the limit: RESOURCE_EXHAUSTED', async () => {
    const ch = new GrpcChannel(address, { maxMessageBytes: 1024 });
    expect((await fail(ch.unary(SERVICE.Big.path, ser, de, 'x', 5000)))?.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    const ok = new GrpcChannel(address);
    expect((await ok.unary(SERVICE.Big.path, ser, de, 'x', 5000)).length).toBe(2048);
    ch.close();
    ok.close();
  });

  it('nothing listening: UNAVAILABLE with the socket error', async () => {
    const probe = net.createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as net.AddressInfo).port;
    probe.close();
    const ch = new GrpcChannel(`127.0.0.1:${port}`);
    const e = await fail(ch.unary(SERVICE.Fail.path, ser, de, 'x', 5000));
    expect(e?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(e?.details).toMatch(/ECONNREFUSED/);
    ch.close();
  });

  it('keepalive: a peer that accepts but never answers a PING ends the call UNAVAILABLE', async () => {
    const sockets: net.Socket[] = [];
    const hole = net.createServer((s) => sockets.push(s.on('error', () => {}))).listen(0, '127.0.0.1'); // reads nothing, writes nothing
    await once(hole, 'listening');
    const ch = new GrpcChannel(`127.0.0.1:${(hole.address() as net.AddressInfo).port}`, { keepalive: { intervalMs: 100, timeoutMs: 100 } });
    const closed = new Promise<GrpcError | undefined>((resolve) => ch.call(SERVICE.Echo.path, ser, de, { onMessage: () => {}, onClose: resolve }));
    const e = await closed;
    expect(e?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(e?.details).toMatch(/keepalive: no PING ACK within 100 ms/);
    ch.close();
    for (const s of sockets) s.destroy();
    hole.close();
  });

  it('an HTTP/2 server that is not gRPC: its HTTP status mapped (404 -> UNIMPLEMENTED)', async () => {
    const h2 = http2.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('no');
    });
    h2.listen(0, '127.0.0.1');
    await once(h2, 'listening');
    const ch = new GrpcChannel(`127.0.0.1:${(h2.address() as net.AddressInfo).port}`);
    const e = await fail(ch.unary(SERVICE.Fail.path, ser, de, 'x', 5000));
    expect(e?.code).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(e?.details).toMatch(/HTTP 404/);
    ch.close();
    h2.close();
  });

  it('a closed channel takes no calls', async () => {
    const ch = new GrpcChannel(address);
    ch.close();
    expect((await fail(ch.unary(SERVICE.Fail.path, ser, de, 'x', 5000)))?.code).toBe(GrpcStatus.UNAVAILABLE);
  });
});

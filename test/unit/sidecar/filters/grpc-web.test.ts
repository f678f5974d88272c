// The grpc_web filter in process, on the inbound listener of a gRPC service (the translator puts it
// there for every grpc port): a gRPC-Web call (binary and text) over HTTP/1.1 reaches the app as a
// gRPC call, and the reply comes back framed for gRPC-Web, its status in a trailer frame; a plain
// gRPC call is not touched by it.
import http2 from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookstore, frame, grpcUpstream, type GrpcUpstream } from '../../../harness/grpc-upstream.js';
import { inProcessSidecar, PLAINTEXT_MESH, send, type InProcessSidecar } from '../../../harness/sidecar.js';

const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bookstore }
spec:
  ports: [{ name: grpc, port: 9090, protocol: grpc }]
`;

let app: GrpcUpstream;
let sc: InProcessSidecar;
const b = bookstore();
const REQ = frame(toBinary(b.msg('bookstore.GetShelfRequest'), create(b.msg('bookstore.GetShelfRequest'), { shelf: 7n })));

beforeAll(async () => {
  app = await grpcUpstream();
  sc = await inProcessSidecar([PLAINTEXT_MESH, SVC], { service: 'bookstore', appPort: app.port, appProtocol: 'grpc' });
}, 60_000);
afterAll(async () => {
  await sc.close();
  await app.close();
});

/** [message frames..., trailer text] of a gRPC-Web body. */
function frames(body: Buffer): { messages: Buffer[]; trailer: string } {
  const messages: Buffer[] = [];
  let trailer = '';
  for (let i = 0; i < body.length; ) {
    const len = body.readUInt32BE(i + 1);
    const payload = body.subarray(i + 5, i + 5 + len);
    if (body[i] === 0x80) trailer = payload.toString('latin1');
    else messages.push(payload);
    i += 5 + len;
  }
  return { messages, trailer };
}

describe('grpc_web filter', () => {
  it('binary: the app gets a gRPC call; the reply is a gRPC-Web message and a trailer frame', async () => {
    const r = await send(sc.inbound, '/bookstore.Bookstore/GetShelf', { method: 'POST', host: 'bookstore', headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' }, body: REQ });
    expect([r.status, r.headers['content-type']]).toEqual([200, 'application/grpc-web+proto']);
    const f = frames(r.raw);
    const shelf = fromBinary(b.msg('bookstore.Shelf'), f.messages[0]!) as unknown as { theme: string };
    expect(shelf.theme).toBe('shelf 7');
    expect(f.trailer).toMatch(/^grpc-status: 0\r\n/);
    expect(app.calls.at(-1)).toBe('/bookstore.Bookstore/GetShelf');
  });

  it('text: base64 both ways, the reply repeats the text content type', async () => {
    const r = await send(sc.inbound, '/bookstore.Bookstore/GetShelf', { method: 'POST', host: 'bookstore', headers: { 'content-type': 'application/grpc-web-text', 'x-grpc-web': '1' }, body: REQ.toString('base64') });
    expect(r.headers['content-type']).toBe('application/grpc-web-text+proto');
    const f = frames(Buffer.from(r.body, 'base64'));
    expect(f.messages).toHaveLength(1);
    expect(f.trailer).toMatch(/^grpc-status: 0\r\n/);
  });

  it('an unimplemented method: the status comes in the headers and the trailer frame', async () => {
    const r = await send(sc.inbound, '/bookstore.Bookstore/Ping', { method: 'POST', host: 'bookstore', headers: { 'content-type': 'application/grpc-web+proto' }, body: frame(new Uint8Array(0)) });
    expect([r.status, r.headers['grpc-status']]).toEqual([200, '12']);
    expect(frames(r.raw).trailer).toContain('grpc-status: 12\r\n');
  });

  it('passes a plain gRPC call (HTTP/2) through untouched', async () => {
    const c = http2.connect(`http://127.0.0.1:${sc.inbound}`);
    c.on('error', () => undefined);
    const out = await new Promise<{ status: string | undefined; data: Buffer }>((resolve, reject) => {
      const st = c.request({ ':method': 'POST', ':path': '/bookstore.Bookstore/GetShelf', ':authority': 'bookstore', 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let status: string | undefined;
      st.on('data', (d: Buffer) => chunks.push(d));
      st.on('trailers', (t) => (status = String(t['grpc-status'])));
      st.on('end', () => resolve({ status, data: Buffer.concat(chunks) }));
      st.on('error', reject);
      st.end(REQ);
    });
    c.close();
    expect(out.status).toBe('0');
    expect(out.data[0]).toBe(0);
  });
});

// Weft's reverse translation filter in process, on a caller's outbound listener: a gRPC call to a
// service whose instances speak HTTP/JSON (GRPCTranslation grpcToJson) reaches the app as the
// HTTP request its google.api.http rule names, and the JSON answer comes back as the protobuf
// reply; an HTTP error becomes its gRPC status; a streaming method is UNIMPLEMENTED; a malformed
// request message is INVALID_ARGUMENT.
import http2 from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookstore, frame } from '../../../harness/grpc-upstream.js';
import { inProcessSidecar, PLAINTEXT_MESH, service, upstream, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';

const b = bookstore();
const translation = `apiVersion: weft.dev/v1alpha1
kind: GRPCTranslation
metadata: { name: library-grpc }
spec:
  service: library
  direction: grpcToJson
  protoServices: [bookstore.Bookstore]
  descriptorSet: ${Buffer.from(b.set).toString('base64')}
`;

let app: Upstream;
let sc: InProcessSidecar;

beforeAll(async () => {
  app = await upstream((req, res) => {
    if (req.url === '/v1/shelves/7') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: '7', theme: 'from json' }));
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'no such shelf' }));
    }
  });
  sc = await inProcessSidecar([PLAINTEXT_MESH, service('library', [app.port]), service('web', []), translation], { service: 'web', appPort: 1 });
}, 60_000);
afterAll(async () => {
  await sc.close();
  await app.close();
});

/** One gRPC call through the outbound listener: grpc-status, grpc-message and the reply bytes. */
async function call(method: string, msg: Uint8Array): Promise<{ status: string; message: string; reply: Buffer }> {
  const c = http2.connect(`http://127.0.0.1:${sc.outbound}`);
  c.on('error', () => undefined);
  try {
    return await new Promise((resolve, reject) => {
      const st = c.request({ ':method': 'POST', ':path': `/bookstore.Bookstore/${method}`, ':authority': 'library:8080', 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      st.on('response', (h) => (head = h));
      st.on('data', (d: Buffer) => chunks.push(d));
      let trailers: http2.IncomingHttpHeaders = {};
      st.on('trailers', (t) => (trailers = t));
      st.on('end', () => {
        const t = { ...head, ...trailers };
        resolve({ status: String(t['grpc-status']), message: decodeURIComponent(String(t['grpc-message'] ?? '')), reply: Buffer.concat(chunks) });
      });
      st.on('error', reject);
      st.end(frame(msg));
    });
  } finally {
    c.close();
  }
}

const shelfReq = (n: bigint) => toBinary(b.msg('bookstore.GetShelfRequest'), create(b.msg('bookstore.GetShelfRequest'), { shelf: n }));

describe('grpc_json_reverse filter', () => {
  it('GetShelf(7) is GET /v1/shelves/7 at the app; the JSON answer is the reply', async () => {
    const r = await call('GetShelf', shelfReq(7n));
    expect(r.status).toBe('0');
    const shelf = fromBinary(b.msg('bookstore.Shelf'), r.reply.subarray(5)) as unknown as { id: bigint; theme: string };
    expect([shelf.id, shelf.theme]).toEqual([7n, 'from json']);
    expect(app.seen.at(-1)).toMatchObject({ method: 'GET', url: '/v1/shelves/7' });
  });

  it('an HTTP 404 is NOT_FOUND with the app\'s message', async () => {
    const r = await call('GetShelf', shelfReq(8n));
    expect([r.status, r.message]).toEqual(['5', 'no such shelf']);
  });

  it('a request message whose nested Book runs one byte past its length is INVALID_ARGUMENT, and the app sees nothing', async () => {
    // CreateBookRequest { shelf = 7, book = Book { title = "x" } } with the book's length 2 where it takes 3.
    const msg = Buffer.from([0x08, 0x07, 0x12, 0x02, 0x12, 0x01, 0x78]);
    expect(fromBinary(b.msg('bookstore.CreateBookRequest'), msg)).toBeTruthy(); // protobuf-es alone reads it whole
    const before = app.seen.length;
    const r = await call('CreateBook', msg);
    expect(r.status).toBe('3');
    expect(r.message).toContain('runs past the end of its length');
    expect(app.seen.length).toBe(before);
  });

  it('a streaming method is UNIMPLEMENTED (it cannot be one HTTP request), and the app sees nothing', async () => {
    const before = app.seen.length;
    const r = await call('StreamBooks', new Uint8Array(0));
    expect(r.status).toBe('12');
    expect(r.message).toContain('streaming methods cannot be translated');
    expect(app.seen.length).toBe(before);
  });
});

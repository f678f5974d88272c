// The grpc_json_transcoder filter in process, on the inbound listener of a gRPC service with a
// GRPCTranslation (jsonToGrpc): an HTTP/JSON request mapped by its google.api.http rule reaches the
// app as the gRPC call, the reply comes back as JSON; a gRPC error becomes its HTTP status and
// `{code, message}`; paths no rule maps, and gRPC callers, pass on untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bookstore, grpcUpstream, type GrpcUpstream } from '../../../harness/grpc-upstream.js';
import { inProcessSidecar, PLAINTEXT_MESH, send, type InProcessSidecar } from '../../../harness/sidecar.js';

const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bookstore }
spec:
  ports: [{ name: grpc, port: 9090, protocol: grpc }]
`;
const translation = () => `apiVersion: weft.dev/v1alpha1
kind: GRPCTranslation
metadata: { name: bookstore-json }
spec:
  service: bookstore
  protoServices: [bookstore.Bookstore]
  descriptorSet: ${Buffer.from(bookstore().set).toString('base64')}
`;

let app: GrpcUpstream;
let sc: InProcessSidecar;

beforeAll(async () => {
  app = await grpcUpstream();
  sc = await inProcessSidecar([PLAINTEXT_MESH, SVC, translation()], { service: 'bookstore', appPort: app.port, appProtocol: 'grpc' });
}, 60_000);
afterAll(async () => {
  await sc.close();
  await app.close();
});

describe('grpc_json_transcoder filter', () => {
  it('GET /v1/shelves/7 is the GetShelf call; the reply is JSON', async () => {
    const r = await send(sc.inbound, '/v1/shelves/7', { host: 'bookstore' });
    expect([r.status, r.headers['content-type']]).toEqual([200, 'application/json']);
    expect(JSON.parse(r.body)).toEqual({ id: '7', theme: 'shelf 7' });
    expect(app.calls.at(-1)).toBe('/bookstore.Bookstore/GetShelf');
  });

  it('a gRPC error becomes its HTTP status and {code, message}', async () => {
    const r = await send(sc.inbound, '/v1/shelves/7/books', { host: 'bookstore' });
    expect(r.status).toBe(501);
    expect(JSON.parse(r.body)).toMatchObject({ code: 12 });
  });

  it('a malformed request is 400 INVALID_ARGUMENT before any call', async () => {
    const before = app.calls.length;
    const r = await send(sc.inbound, '/v1/shelves/x', { host: 'bookstore' });
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ code: 3 });
    expect(app.calls.length).toBe(before);
  });
});

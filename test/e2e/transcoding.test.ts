// HTTP/JSON -> gRPC through the mesh, real processes: a @grpc/grpc-js bookstore server behind its
// sidecar, a GRPCTranslation applied with the descriptor set buf built, and JSON calls from
// another service's sidecar (web -> web's sidecar -> bookstore's sidecar (transcoder) -> app).
import http from 'node:http';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDescriptorSet } from '../harness/descriptors.js';
import { figure, spawnNode, startControlPlane, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type SidecarProc, type Spawned } from '../harness/processes.js';

const ROOT = join(import.meta.dirname, '..', '..');

function req(port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers: { host: 'bookstore', ...(body ? { 'content-type': 'application/json' } : {}), ...headers } }, (res) => {
      let b = '';
      res.on('data', (c: Buffer) => (b += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
    });
    r.on('error', reject);
    r.setTimeout(5000, () => r.destroy(new Error(`timeout: ${method} ${path}`)));
    r.end(body);
  });
}


/** GetShelf as a gRPC client calls it (grpc-js, protobuf on the wire), with authority bookstore. */
async function grpcGetShelf(port: number, shelf: bigint): Promise<{ code: number; id?: bigint; theme?: string; details?: string }> {
  const grpc = await import('@grpc/grpc-js');
  const { createFileRegistry, fromBinary, toBinary, create } = await import('@bufbuild/protobuf');
  const { FileDescriptorSetSchema } = await import('@bufbuild/protobuf/wkt');
  const m = createFileRegistry(fromBinary(FileDescriptorSetSchema, buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore')))).getService('bookstore.Bookstore')!.methods.find((x) => x.name === 'GetShelf')!;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'bookstore' });
  try {
    return await new Promise((resolve) => {
      client.makeUnaryRequest(
        '/bookstore.Bookstore/GetShelf',
        (x: { shelf: bigint }) => Buffer.from(toBinary(m.input, create(m.input, x))),
        (b: Buffer) => fromBinary(m.output, b) as unknown as { id: bigint; theme: string },
        { shelf },
        (err: { code: number; details: string } | null, reply?: { id: bigint; theme: string }) => resolve(err ? { code: err.code, details: err.details } : { code: 0, id: reply!.id, theme: reply!.theme }),
      );
    });
  } finally {
    client.close();
  }
}

describe('HTTP/JSON clients of a gRPC service (GRPCTranslation)', () => {
  let cp: ControlPlaneProc;
  let app: Spawned;
  let bookstore: SidecarProc;
  let web: SidecarProc;
  let descriptorFile: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    const dir = tempDir();
    const set = buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore'));
    descriptorFile = join(dir, 'bookstore.binpb');
    writeFileSync(descriptorFile, set);
    const f = join(dir, 'mesh.yaml');
    writeFileSync(f, [
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: bookstore }\nspec:\n  ports: [{ name: grpc, port: 9090, protocol: grpc }]\n',
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: web }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n',
      // weft apply reads the descriptor set next to the YAML (spec.descriptorSetFile).
      'apiVersion: weft.dev/v1alpha1\nkind: GRPCTranslation\nmetadata: { name: bookstore-json }\nspec:\n  service: bookstore\n  protoServices: [bookstore.Bookstore]\n  ignoredQueryParameters: [api_key]\n  descriptorSetFile: bookstore.binpb\n',
    ].join('---\n'));
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    app = spawnNode([join(ROOT, 'test/harness/bookstore-server.mjs'), '0'], { env: { DESCRIPTOR_SET: descriptorFile } });
    const port = Number((await app.waitLine(/listening (\d+)/))[1]);
    bookstore = await startSidecar(cp.xdsPort, { service: 'bookstore', appPort: port, appProtocol: 'grpc' });
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1 });
    await waitForHosts(web, 'outbound|9090||bookstore.default', 1);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), bookstore?.kill('SIGKILL'), app?.kill('SIGKILL')]);
    await cp?.kill();
  });

  it("dumps its config with every filter's typed config rendered (transcoder, gRPC-Web, RBAC, tracer)", async () => {
    const text = await (await fetch(`${bookstore.admin}/config_dump`)).text();
    expect(text).not.toContain('cannot render as JSON');
    expect(text).toContain('type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder');
  });

  it('GET with a path variable', async () => {
    const r = await req(web.outboundPort, 'GET', '/v1/shelves/1');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ id: '1', theme: 'science fiction' });
  });

  it('GET with query parameters (repeated, int32) and an ignored one', async () => {
    const r = await req(web.outboundPort, 'GET', '/v1/shelves/1/books?authors=Herbert&authors=Simmons&page_size=5&api_key=k');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ books: [{ title: 'Dune', author: 'Herbert', isbn: '9780441013593', genre: 'FICTION' }, { title: 'Hyperion', author: 'Simmons', isbn: '9780553283686', genre: 'FICTION' }] });
  });

  it('POST with a body field, PATCH with body "*", response_body, and auto mapping', async () => {
    const c = await req(web.outboundPort, 'POST', '/v1/shelves/7/books', JSON.stringify({ title: 'Foundation', isbn: '42', published: '1951-06-01T00:00:00Z', pages: 255 }));
    expect(c.status).toBe(200);
    expect(JSON.parse(c.body)).toEqual({ name: 'shelves/7/books/42', title: 'Foundation', isbn: '42', published: '1951-06-01T00:00:00Z', pages: 255 });
    const u = await req(web.outboundPort, 'PATCH', '/v1/shelves/7/books/42', JSON.stringify({ title: 'Foundation', labels: { lang: 'en' }, ebookUrl: 'https://x/f.epub' }));
    expect(JSON.parse(u.body)).toEqual({ name: 'shelves/7/books/42', title: 'Foundation', labels: { lang: 'en' }, ebookUrl: 'https://x/f.epub' });
    const t = await req(web.outboundPort, 'GET', '/v1/shelves/7/books/42:title');
    expect(t.body).toBe('"Dune"');
    const p = await req(web.outboundPort, 'POST', '/bookstore.Bookstore/Ping', '{}');
    expect([p.status, p.body]).toEqual([200, '{}']);
  });

  it('server streaming as NDJSON, and as SSE when asked', async () => {
    const r = await req(web.outboundPort, 'GET', '/v1/shelves/5/books:stream?page_size=3');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/x-ndjson');
    const lines = r.body.trim().split('\n').map((l) => JSON.parse(l) as { name: string });
    expect(lines.map((l) => l.name)).toEqual(['shelves/5/books/0', 'shelves/5/books/1', 'shelves/5/books/2']);
    const s = await req(web.outboundPort, 'GET', '/v1/shelves/5/books:stream?page_size=2', undefined, { accept: 'text/event-stream' });
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.body.split('\n\n').filter(Boolean).map((e) => (JSON.parse(e.replace(/^data: /, '')) as { name: string }).name)).toEqual(['shelves/5/books/0', 'shelves/5/books/1']);
    // A stream that fails midway ends with an error line.
    const e = await req(web.outboundPort, 'GET', '/v1/shelves/13/books:stream?page_size=4');
    const el = e.body.trim().split('\n');
    expect(el).toHaveLength(3);
    expect(JSON.parse(el[2]!)).toEqual({ error: { code: 14, message: 'shelf 13 collapsed', details: [] } });
  });

  it('maps gRPC errors to HTTP statuses with a JSON body, and bad requests to 400 naming the field', async () => {
    const nf = await req(web.outboundPort, 'GET', '/v1/shelves/9');
    expect([nf.status, JSON.parse(nf.body)]).toEqual([404, { code: 5, message: 'shelf 9 does not exist', details: [] }]);
    const ia = await req(web.outboundPort, 'POST', '/v1/shelves/7/books', '{"isbn":"1"}');
    expect([ia.status, JSON.parse(ia.body).code]).toEqual([400, 3]);
    const unknown = await req(web.outboundPort, 'POST', '/v1/shelves/7/books', '{"titel":"x"}');
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).message).toContain('titel');
    const badJson = await req(web.outboundPort, 'POST', '/v1/shelves/7/books', '{"title":');
    expect(badJson.status).toBe(400);
    const badQuery = await req(web.outboundPort, 'GET', '/v1/shelves/1/books?page_sise=2');
    expect([badQuery.status, JSON.parse(badQuery.body).message]).toEqual([400, expect.stringContaining('page_sise')]);
    figure('transcoding errors', { notFound: nf.status, invalidArgument: ia.status, unknownField: JSON.parse(unknown.body).message });
    // Plain gRPC to the same service still works through the same listener (not transcoded): a
    // grpc-js call, answered by the gRPC server itself (its message, its status).
    const after = await grpcGetShelf(web.outboundPort, 1n);
    expect(after).toEqual({ code: 0, id: 1n, theme: 'science fiction' });
    expect(await grpcGetShelf(web.outboundPort, 2n)).toEqual({ code: 5, details: 'shelf 2 does not exist' });
  });

  it('rejects a GRPCTranslation whose descriptor lacks the named service, and keeps the running config', async () => {
    const f = join(tempDir(), 'bad.yaml');
    const set = buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore'));
    writeFileSync(f, `apiVersion: weft.dev/v1alpha1\nkind: GRPCTranslation\nmetadata: { name: bookstore-json }\nspec:\n  service: bookstore\n  protoServices: [bookstore.Library]\n  descriptorSet: ${Buffer.from(set).toString('base64')}\n`);
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.protoServices[0]: service bookstore.Library is not in the descriptor set (it has: bookstore.Bookstore)');
    expect((await req(web.outboundPort, 'GET', '/v1/shelves/1')).status).toBe(200);
  });

  it('serves gRPC-Web: a real connect-web client (unary and server streaming), text mode, CORS preflight', async () => {
    const { createClient } = await import('@connectrpc/connect');
    const { createGrpcWebTransport } = await import('@connectrpc/connect-web');
    const { createFileRegistry, fromBinary } = await import('@bufbuild/protobuf');
    const { FileDescriptorSetSchema } = await import('@bufbuild/protobuf/wkt');
    const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptorFile)));
    const svc = reg.getService('bookstore.Bookstore')!;
    // fetch through web's sidecar with Host: bookstore (fetch itself may not set Host).
    const viaSidecar = ((input: string | URL | Request, init?: RequestInit) =>
      new Promise<Response>((resolve, reject) => {
        const url = new URL(input instanceof Request ? input.url : String(input));
        const h: Record<string, string> = {};
        new Headers(init?.headers).forEach((v, k) => (h[k] = v));
        h.host = 'bookstore';
        const r = http.request({ host: '127.0.0.1', port: web.outboundPort, method: init?.method ?? 'POST', path: url.pathname + url.search, headers: h }, (res) => {
          const rh = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) rh.set(k, Array.isArray(v) ? v.join(', ') : v);
          resolve(new Response(Readable.toWeb(res) as ReadableStream, { status: res.statusCode ?? 0, headers: rh }));
        });
        r.on('error', reject);
        r.end(init?.body ? Buffer.from(init.body as Uint8Array) : undefined);
      })) as typeof fetch;
    // Over h2 (as a peer sidecar sends it): the response ends with the trailer frame and END_STREAM.
    {
      const http2 = await import('node:http2');
      const sess = http2.connect(`http://127.0.0.1:${bookstore.inboundPort}`);
      const st = sess.request({ ':method': 'POST', ':path': '/bookstore.Bookstore/GetShelf', 'content-type': 'application/grpc-web+proto' });
      const chunks: Buffer[] = [];
      st.on('data', (c: Buffer) => chunks.push(c));
      st.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
      await new Promise<void>((res, rej) => {
        st.on('end', res);
        st.on('error', rej);
        setTimeout(() => rej(new Error('the h2 gRPC-Web response did not end')), 5000);
      });
      sess.close();
      const out = Buffer.concat(chunks);
      const trailer = out.subarray(5 + out.readUInt32BE(1));
      expect([out[0], trailer[0], trailer.subarray(5).toString()]).toEqual([0, 0x80, 'grpc-status: 0\r\ngrpc-message: OK\r\n']);
    }
    const transport = createGrpcWebTransport({ baseUrl: 'http://bookstore', fetch: viaSidecar });
    const client = createClient(svc, transport) as unknown as {
      getShelf(r: { shelf: bigint }): Promise<{ id: bigint; theme: string }>;
      streamBooks(r: { shelf: bigint; pageSize: number }): AsyncIterable<{ name: string }>;
    };
    const shelf = await client.getShelf({ shelf: 1n });
    expect([shelf.id, shelf.theme]).toEqual([1n, 'science fiction']);
    const names: string[] = [];
    for await (const b of client.streamBooks({ shelf: 4n, pageSize: 3 })) names.push(b.name);
    expect(names).toEqual(['shelves/4/books/0', 'shelves/4/books/1', 'shelves/4/books/2']);
    let code: unknown;
    try {
      await client.getShelf({ shelf: 9n });
    } catch (e) {
      code = (e as { code?: number }).code;
    }
    expect(code).toBe(5); // NOT_FOUND, from the trailer frame
    // grpc-web-text: base64 both ways.
    const msg = Buffer.from([0x08, 0x01]); // GetShelfRequest{shelf: 1}
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const t = await req(web.outboundPort, 'POST', '/bookstore.Bookstore/GetShelf', frame.toString('base64'), { 'content-type': 'application/grpc-web-text', origin: 'https://shop.example' });
    expect(t.headers['content-type']).toBe('application/grpc-web-text+proto');
    expect(t.headers['access-control-allow-origin']).toBe('https://shop.example');
    const out = Buffer.from(t.body, 'base64');
    const trailer = out.subarray(5 + out.readUInt32BE(1));
    expect(trailer[0]).toBe(0x80);
    expect(trailer.subarray(5).toString()).toMatch(/^grpc-status: 0\r\n/);
    // CORS preflight.
    const pre = await req(web.outboundPort, 'OPTIONS', '/bookstore.Bookstore/GetShelf', undefined, { origin: 'https://shop.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web' });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-methods']).toContain('POST');
    expect(pre.headers['access-control-allow-headers']).toBe('content-type,x-grpc-web');
    figure('grpc-web', { unary: shelf.theme, streamed: names.length, notFound: code, textMode: t.headers['content-type'], preflight: pre.status });
  });

  // Regression: sidecar B answers gRPC-Web with HEADERS and DATA written together; when they reach
  // sidecar A in one read, Node pushes the DATA before it emits 'response'. A used to forward that
  // body first (Node then sent an implicit 200), and the head that followed threw
  // ERR_HTTP2_HEADERS_SENT and killed the process (found by bench/weft-transcode.sh).
  it('keeps every body intact under 50 concurrent h2 gRPC-Web streams', async () => {
    const http2 = await import('node:http2');
    const total = 8000;
    let sent = 0;
    const bodies = new Map<string, number>();
    const statuses = new Map<number, number>();
    const worker = async (): Promise<void> => {
      const sess = http2.connect(`http://127.0.0.1:${web.outboundPort}`);
      sess.on('error', () => {});
      try {
        while (sent < total) {
          sent++;
          await new Promise<void>((res, rej) => {
            const st = sess.request({ ':method': 'POST', ':path': '/bookstore.Bookstore/GetShelf', ':authority': 'bookstore', 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' });
            const chunks: Buffer[] = [];
            let status = 0;
            st.on('response', (h) => (status = Number(h[':status'])));
            st.on('data', (c: Buffer) => chunks.push(c));
            st.on('end', () => {
              const b = Buffer.concat(chunks).toString('hex');
              bodies.set(b, (bodies.get(b) ?? 0) + 1);
              statuses.set(status, (statuses.get(status) ?? 0) + 1);
              res();
            });
            st.on('error', rej);
            st.end(Buffer.from([0, 0, 0, 0, 2, 8, 1]));
          });
        }
      } finally {
        sess.close();
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    expect([web.proc.exitCode, web.proc.signalCode]).toEqual([null, null]);
    expect(Object.fromEntries(statuses)).toEqual({ 200: total });
    expect(bodies.size).toBe(1);
    const [body] = [...bodies.keys()];
    expect(Buffer.from(body!, 'hex').toString('latin1')).toContain('science fiction');
    figure('grpc-web under concurrency', { requests: total, distinctBodies: bodies.size });
  }, 60_000);
});

describe('gRPC clients of an HTTP/JSON service (GRPCTranslation direction grpcToJson)', () => {
  let cp: ControlPlaneProc;
  let app: Spawned;
  let library: SidecarProc;
  let web: SidecarProc;
  let set: Uint8Array;

  beforeAll(async () => {
    cp = await startControlPlane();
    set = buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore'));
    const dir = tempDir();
    cpSync(join(ROOT, 'test/fixtures/bookstore/bookstore.proto'), join(dir, 'bookstore.proto'));
    const f = join(dir, 'mesh.yaml');
    writeFileSync(f, [
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: library }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n',
      'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: web }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n',
      // weft apply compiles the .proto next to the YAML with buf (spec.protoFiles).
      'apiVersion: weft.dev/v1alpha1\nkind: GRPCTranslation\nmetadata: { name: library-grpc }\nspec:\n  service: library\n  direction: grpcToJson\n  protoServices: [bookstore.Bookstore]\n  protoFiles: [bookstore.proto]\n',
    ].join('---\n'));
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    app = spawnNode([join(ROOT, 'test/harness/bookstore-rest.mjs'), '0']);
    const port = Number((await app.waitLine(/listening (\d+)/))[1]);
    library = await startSidecar(cp.xdsPort, { service: 'library', appPort: port });
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1 });
    await waitForHosts(web, 'outbound|8080||library.default', 1);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), library?.kill('SIGKILL'), app?.kill('SIGKILL')]);
    await cp?.kill();
  });

  it('maps unary calls to the HTTP rules and the JSON answers (or HTTP errors) back to messages and statuses', async () => {
    const grpc = await import('@grpc/grpc-js');
    const { createFileRegistry, fromBinary, toBinary, create } = await import('@bufbuild/protobuf');
    const { FileDescriptorSetSchema } = await import('@bufbuild/protobuf/wkt');
    const reg = createFileRegistry(fromBinary(FileDescriptorSetSchema, set));
    const svc = reg.getService('bookstore.Bookstore')!;
    const client = new grpc.Client(`127.0.0.1:${web.outboundPort}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'library' });
    const call = (method: string, init: Record<string, unknown>) => {
      const m = svc.methods.find((x) => x.name === method)!;
      return new Promise<{ code: number; details?: string; reply?: Record<string, unknown> }>((resolve) => {
        client.makeUnaryRequest(
          `/bookstore.Bookstore/${method}`,
          (x: Record<string, unknown>) => Buffer.from(toBinary(m.input, create(m.input, x))),
          (b: Buffer) => fromBinary(m.output, b) as unknown as Record<string, unknown>,
          init,
          (err: { code: number; details: string } | null, reply?: Record<string, unknown>) => resolve(err ? { code: err.code, details: err.details } : { code: 0, ...(reply ? { reply } : {}) }),
        );
      });
    };
    const shelf = await call('GetShelf', { shelf: 1n });
    expect([shelf.code, shelf.reply?.id, shelf.reply?.theme]).toEqual([0, 1n, 'poetry']);
    const missing = await call('GetShelf', { shelf: 2n });
    expect([missing.code, missing.details]).toEqual([5, 'shelf 2 not found']);
    const list = await call('ListBooks', { shelf: 3n, pageSize: 1, authors: ['Plath'] });
    expect(list.code).toBe(0);
    expect((list.reply!.books as Array<{ title: string }>).map((b) => b.title)).toEqual(['Ariel']);
    expect(list.reply!.nextPageToken).toBe('shelf=3;query=?page_size=1&authors=Plath');
    const created = await call('CreateBook', { shelf: 4n, book: { title: 'Howl', isbn: 7n } });
    expect([created.code, created.reply?.name, created.reply?.title]).toEqual([0, 'shelves/4/books/7', 'Howl']);
    const bad = await call('CreateBook', { shelf: 4n, book: { isbn: 7n } });
    expect([bad.code, bad.details]).toEqual([3, 'a book needs a title']);
    const title = await call('GetBookTitle', { name: 'shelves/1/books/2' });
    expect([title.code, title.reply?.title]).toEqual([0, 'Dune']);
    const stream = await call('StreamBooks', { shelf: 1n });
    expect(stream.code).toBe(12);
    figure('grpc -> http/json', { getShelf: shelf.code, notFound: missing.code, invalidArgument: bad.code, listed: list.reply!.nextPageToken, streaming: stream.code });
    client.close();
  });
});

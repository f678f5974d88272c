// Table-driven tests of HTTP/JSON -> gRPC transcoding against a real descriptor set (built by
// buf from test/fixtures/bookstore): template matching, the request message built from path,
// query and body, the proto3 JSON mapping round trip, replies, errors and config mistakes.
import { join } from 'node:path';
import { fromBinary, toBinary, fromJson, toJson, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildDescriptorSet } from '../../harness/descriptors.js';
import { grpcCodeForHttp, httpStatusForGrpc, TranscodeError, Transcoder, TranscoderConfigError } from '../../../common/transcode/transcoder.js';
import { PathTemplate, TemplateError } from '../../../common/transcode/http-template.js';

const FIXTURE = join(import.meta.dirname, '..', '..', 'fixtures', 'bookstore');
let t: Transcoder;
let set: Uint8Array;

beforeAll(() => {
  set = buildDescriptorSet(FIXTURE);
  t = new Transcoder({ descriptorSet: set, services: ['bookstore.Bookstore'], ignoredQueryParameters: ['api_key'] });
}, 30_000);

function call(method: string, url: string, body = '') {
  const u = new URL(url, 'http://x');
  const m = t.match(method, u.pathname);
  if (!m) return { grpc: undefined, json: undefined };
  const bin = t.requestMessage(m, u.searchParams, Buffer.from(body));
  const input = m.binding.method.input;
  return { grpc: m.binding.grpcPath, json: toJson(input, fromBinary(input, bin), { registry: t.registry }) };
}

describe('path templates', () => {
  it.each([
    ['/v1/shelves/{shelf}', '/v1/shelves/7', { shelf: '7' }],
    ['/v1/{name=shelves/*/books/*}', '/v1/shelves/1/books/2', { name: 'shelves/1/books/2' }],
    ['/v1/{name=shelves/*/books/*}:title', '/v1/shelves/1/books/2:title', { name: 'shelves/1/books/2' }],
    ['/v1/files/{path=**}', '/v1/files/a/b/c.txt', { path: 'a/b/c.txt' }],
    ['/v1/files/{path=**}', '/v1/files', { path: '' }],
    ['/v1/shelves/{shelf}', '/v1/shelves/a%20b', { shelf: 'a b' }],
    ['/v1/{a.b}/x', '/v1/z/x', { 'a.b': 'z' }],
  ])('%s matches %s', (tpl, path, want) => {
    const vars = new PathTemplate(tpl).match(path);
    expect(Object.fromEntries(vars!.map(([p, v]) => [p.join('.'), v]))).toEqual(want);
  });
  it.each([
    ['/v1/shelves/{shelf}', '/v1/shelves'],
    ['/v1/shelves/{shelf}', '/v1/shelves/7/books'],
    ['/v1/shelves/{shelf}', '/v1/shelves/'],
    ['/v1/{name=shelves/*/books/*}:title', '/v1/shelves/1/books/2'],
    ['/v1/shelves/{shelf}/books', '/v1/shelves/1/books:stream'],
  ])('%s does not match %s', (tpl, path) => expect(new PathTemplate(tpl).match(path)).toBeUndefined());
  it.each(['v1/x', '/v1/{x', '/v1/**/x', '/v1/{1x}', '/v1/x:'])('rejects %s', (tpl) => expect(() => new PathTemplate(tpl)).toThrow(TemplateError));
});

describe('HTTP/JSON -> gRPC request mapping', () => {
  it.each<[string, string, string, string | undefined, JsonValue]>([
    ['GET path variable (int64 as string)', 'GET', '/v1/shelves/9007199254740993', '/bookstore.Bookstore/GetShelf', { shelf: '9007199254740993' }],
    ['GET query: int32, repeated, enum, bool', 'GET', '/v1/shelves/7/books?page_size=3&authors=ann&authors=bob&genre=HISTORY&in_print=true', '/bookstore.Bookstore/ListBooks', { shelf: '7', pageSize: 3, authors: ['ann', 'bob'], genre: 'HISTORY', inPrint: true }],
    ['additional binding, enum by number, ignored parameter', 'GET', '/v1/books?shelf=3&genre=1&api_key=secret', '/bookstore.Bookstore/ListBooks', { shelf: '3', genre: 'FICTION' }],
    ['POST body field + path variable', 'POST', '/v1/shelves/7/books', '/bookstore.Bookstore/CreateBook', { shelf: '7', book: { title: 'Dune', isbn: '9780441013593' } }],
    ['PATCH body "*" + multi-segment variable', 'PATCH', '/v1/shelves/1/books/2', '/bookstore.Bookstore/UpdateBook', { name: 'shelves/1/books/2', title: 'Dune' }],
    ['custom verb', 'GET', '/v1/shelves/1/books/2:title', '/bookstore.Bookstore/GetBookTitle', { name: 'shelves/1/books/2' }],
    ['server streaming', 'GET', '/v1/shelves/5/books:stream?page_size=2', '/bookstore.Bookstore/StreamBooks', { shelf: '5', pageSize: 2 }],
    ['no rule: POST /pkg.Service/Method', 'POST', '/bookstore.Bookstore/Ping', '/bookstore.Bookstore/Ping', {}],
  ])('%s', (_name, method, url, grpc, json) => {
    const body = url.startsWith('/v1/shelves/7/books') && method === 'POST' ? '{"title":"Dune","isbn":"9780441013593"}' : method === 'PATCH' ? '{"title":"Dune"}' : method === 'POST' ? '{}' : '';
    expect(call(method, url, body)).toEqual({ grpc, json });
  });

  it('does not match what is not bound', () => {
    expect(t.match('DELETE', '/v1/shelves/7')).toBeUndefined();
    expect(t.match('GET', '/v2/shelves/7')).toBeUndefined();
  });

  it.each([
    ['bad JSON', 'POST', '/v1/shelves/7/books', '{"title": ', /not JSON/],
    ['an unknown body field is named', 'POST', '/v1/shelves/7/books', '{"titel":"Dune"}', /titel/],
    ['an unknown query parameter is named', 'GET', '/v1/shelves/7/books?pagesize=3', '', /pagesize/],
    ['a bad bool is named', 'GET', '/v1/shelves/7/books?in_print=yes', '', /in_print/],
    ['a bad enum', 'GET', '/v1/shelves/7/books?genre=POETRY', '', /POETRY/],
    ['a non-number for int64', 'GET', '/v1/shelves/seven', '', /seven|shelf/],
    ['body "*" must be an object', 'PATCH', '/v1/shelves/1/books/2', '[1,2]', /JSON object/],
    ['a body where none is bound', 'GET', '/v1/shelves/7', '{"a":1}', /takes no body/],
  ])('400: %s', (_n, method, url, body, re) => {
    let err: unknown;
    try {
      call(method, url, body);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TranscodeError);
    expect((err as TranscodeError).status).toBe(400);
    expect((err as Error).message).toMatch(re);
  });
});

describe('proto3 JSON mapping round trips', () => {
  const book = (): DescMessage => t.registry.getMessage('bookstore.Book')!;
  it.each<[string, JsonValue]>([
    ['int64 as string, enum by name', { isbn: '9223372036854775807', genre: 'HISTORY' }],
    ['Timestamp and Duration', { published: '1965-08-01T12:30:00Z', readTime: '3600.500s' }],
    ['wrapper', { pages: 412 }],
    ['map', { labels: { lang: 'en', format: 'paperback' } }],
    ['bytes as base64', { cover: 'iVBORw0KGgo=' }],
    ['oneof (one branch)', { ebookUrl: 'https://example.com/dune.epub' }],
    ['oneof (the other branch)', { paperWeightG: 540 }],
    ['everything', { name: 'shelves/1/books/2', title: 'Dune', author: 'Herbert', isbn: '1', genre: 'FICTION', published: '1965-08-01T00:00:00Z', readTime: '60s', pages: 1, labels: { a: 'b' }, cover: 'AQID', paperWeightG: 1 }],
  ])('%s', (_n, json) => {
    const d = book();
    const bin = toBinary(d, fromJson(d, json, { registry: t.registry }));
    expect(toJson(d, fromBinary(d, bin), { registry: t.registry })).toEqual(json);
  });
  it('accepts proto field names and numbers-as-strings on input, and writes canonical JSON', () => {
    const d = book();
    const m = fromJson(d, { paper_weight_g: '7', read_time: '1.5s', genre: 2 }, { registry: t.registry });
    expect(toJson(d, m, { registry: t.registry })).toEqual({ paperWeightG: 7, readTime: '1.500s', genre: 'HISTORY' });
  });
});

describe('replies and errors', () => {
  it('writes the reply as JSON, or only response_body', () => {
    const d = t.registry.getMessage('bookstore.Book')!;
    const reply = toBinary(d, fromJson(d, { title: 'Dune', isbn: '42' }, { registry: t.registry }));
    const byPath = (p: string) => t.bindings.find((b) => b.template.source === p)!;
    expect(JSON.parse(t.replyJson(byPath('/v1/{name=shelves/*/books/*}'), reply))).toEqual({ title: 'Dune', isbn: '42' });
    expect(JSON.parse(t.replyJson(byPath('/v1/{name=shelves/*/books/*}:title'), reply))).toBe('Dune');
  });
  it('maps gRPC codes to HTTP statuses by the standard table', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map(httpStatusForGrpc)).toEqual([200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]);
    expect(JSON.parse(t.errorJson(5, 'no shelf 9'))).toEqual({ code: 5, message: 'no shelf 9', details: [] });
  });
  it('rejects config mistakes with a clear message', () => {
    expect(() => new Transcoder({ descriptorSet: set, services: ['bookstore.Library'] })).toThrow(/bookstore.Library is not in the descriptor set \(it has: bookstore.Bookstore\)/);
    expect(() => new Transcoder({ descriptorSet: Buffer.from('not a descriptor'), services: ['x.Y'] })).toThrow(TranscoderConfigError);
  });
});

describe('reverse direction (gRPC -> HTTP/JSON)', () => {
  it.each([
    ['/v1/shelves/{shelf}', { shelf: '7' }, '/v1/shelves/7'],
    ['/v1/{name=shelves/*/books/*}:title', { name: 'shelves/1/books/2' }, '/v1/shelves/1/books/2:title'],
    ['/v1/tags/{tag}', { tag: 'a b/c' }, '/v1/tags/a%20b%2Fc'],
  ])('expands %s', (tpl, vals, want) => {
    const t = new PathTemplate(tpl);
    expect(t.expand((p) => (vals as Record<string, string>)[p.join('.')])).toBe(want);
    expect(Object.fromEntries(t.match(want)!.map(([p, v]) => [p.join('.'), v]))).toEqual(vals);
  });

  it('builds the HTTP request from a message: path variables, then query or body', () => {
    const req = (grpcPath: string, json: JsonValue) => {
      const b = t.forGrpcPath(grpcPath)!;
      const d = b.method.input;
      return t.httpRequestFor(b, toBinary(d, fromJson(d, json, { registry: t.registry })));
    };
    expect(req('/bookstore.Bookstore/ListBooks', { shelf: '3', pageSize: 2, authors: ['a', 'b'], genre: 'HISTORY' })).toEqual({ method: 'GET', path: '/v1/shelves/3/books?page_size=2&authors=a&authors=b&genre=HISTORY', body: undefined });
    expect(req('/bookstore.Bookstore/CreateBook', { shelf: '3', book: { title: 'Dune', pages: 412 } })).toEqual({ method: 'POST', path: '/v1/shelves/3/books', body: '{"title":"Dune","pages":412}' });
    expect(req('/bookstore.Bookstore/UpdateBook', { name: 'shelves/1/books/2', title: 'Dune' })).toEqual({ method: 'PATCH', path: '/v1/shelves/1/books/2', body: '{"title":"Dune"}' });
    expect(req('/bookstore.Bookstore/Ping', {})).toEqual({ method: 'POST', path: '/bookstore.Bookstore/Ping', body: '{}' });
  });

  it('reads the reply from JSON (response_body, unknown fields ignored) and maps HTTP statuses', () => {
    const title = t.forGrpcPath('/bookstore.Bookstore/GetBookTitle')!;
    const d = title.method.output;
    expect(toJson(d, fromBinary(d, t.replyFromJson(title, '"Dune"')))).toEqual({ title: 'Dune' });
    const shelf = t.forGrpcPath('/bookstore.Bookstore/GetShelf')!;
    expect(toJson(shelf.method.output, fromBinary(shelf.method.output, t.replyFromJson(shelf, '{"id":"1","extra":true}')))).toEqual({ id: '1' });
    expect(() => t.replyFromJson(shelf, '<html>')).toThrow(/not JSON/);
    expect([400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 418].map(grpcCodeForHttp)).toEqual([3, 16, 7, 5, 10, 8, 13, 13, 14, 4, 9]);
  });
});


// The compressor filter in process: CompressionPolicies on a Gateway (targetRefs), on one listener
// (an opt-out) and on route rules (ExtensionRef), through the translator, the sidecar's decoders
// and real gateway listeners. Accept-Encoding with q-values picks br or gzip; small, binary,
// already-encoded, no-transform, HEAD, 204 and 304 responses pass untouched; Vary is added when
// the response is eligible; a streamed response reaches the client chunk by chunk; whatever the
// body and however it is chunked, the client decompresses exactly what the upstream sent, over
// HTTP/1.1 and HTTP/2; a config the sidecar cannot run is refused with its path.
import http from 'node:http';
import http2 from 'node:http2';
import zlib from 'node:zlib';
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../../../common/extensions.js';
import { CompressorPerRouteSchema, CompressorSchema } from '../../../../proto/gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.js';
import { chooseEncoding, compressor, compressorCounters, type CompressorConfig } from '../../../../sidecar/http/filters/compressor.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import { parsePerFilter } from '../../../../sidecar/http/filters/index.js';
import { DISABLED } from '../../../../sidecar/http/filter.js';
import { FilterConfigSchema } from '../../../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import { inProcessGateway, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type Upstream } from '../../../harness/sidecar.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: api, port: 9000, protocol: HTTP }
`;
const policy = (name: string, spec: string) => `apiVersion: weft.dev/v1alpha1\nkind: CompressionPolicy\nmetadata: { name: ${name} }\nspec:\n${spec}`;
const ref = (name: string) => `      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CompressionPolicy, name: ${name} } }]\n`;
const POLICIES = [
  policy('site', '  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]\n  algorithms: [brotli, gzip]\n  minContentLength: 100\n'),
  policy('api-off', '  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: api }]\n  disabled: true\n'),
  policy('json-only', '  algorithms: [gzip]\n  contentTypes: [application/json]\n  minContentLength: 0\n'),
  policy('opt-out', '  disabled: true\n'),
  policy('strict', '  algorithms: [gzip]\n  disableOnETag: true\n  removeAcceptEncoding: true\n'),
];
const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /json-only } }]
${ref('json-only')}      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /raw } }]
${ref('opt-out')}      backendRefs: [{ name: app, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /strict } }]
${ref('strict')}      backendRefs: [{ name: app, port: 8080 }]
    - backendRefs: [{ name: app, port: 8080 }]
`;

const TEXT = 'All happy families are alike; each unhappy family is unhappy in its own way. '.repeat(40);
/** Bodies the property test asks the upstream for, by id. */
const bodies = new Map<string, { chunks: Buffer[]; type: string }>();
/** Released by the streaming test once the client has decoded the first chunk. */
let releaseStream: () => void = () => undefined;
/** Resolved when the upstream's /hold response is closed (the gateway gave up on it). */
let holdClosed: Promise<void> = Promise.resolve();

function answer(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const p = url.pathname.replace(/^\/(json-only|raw|strict)/, '');
  const n = Number(url.searchParams.get('n') ?? TEXT.length);
  const type = url.searchParams.get('type') ?? 'text/plain; charset=utf-8';
  const body = TEXT.slice(0, n);
  if (p === '/chunked') {
    res.writeHead(200, { 'content-type': type });
    res.write(body.slice(0, 100));
    res.end(body.slice(100));
  } else if (p === '/encoded') {
    res.writeHead(200, { 'content-type': type, 'content-encoding': 'gzip' });
    res.end(zlib.gzipSync(body));
  } else if (p === '/headers') {
    // Response headers from the query: /headers?h=name:value&h=...
    const h: Record<string, string> = { 'content-type': type };
    for (const x of url.searchParams.getAll('h')) h[x.slice(0, x.indexOf(':'))] = x.slice(x.indexOf(':') + 1);
    res.writeHead(200, h);
    res.end(body);
  } else if (p === '/status') {
    res.writeHead(Number(url.searchParams.get('s')), { 'content-type': type });
    res.end();
  } else if (p === '/stream') {
    // text/event-stream is not in Envoy's default list: a streamed text/plain body stands in.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('data: first\n\n');
    releaseStream = () => res.end('data: last\n\n');
  } else if (p === '/hold') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('data: first\n\n');
    holdClosed = new Promise((resolve) => res.on('close', () => resolve()));
  } else if (p === '/prop') {
    const b = bodies.get(url.searchParams.get('id')!)!;
    res.writeHead(200, { 'content-type': b.type });
    const write = (i: number): void => {
      if (i === b.chunks.length) return void res.end();
      res.write(b.chunks[i]);
      setImmediate(() => write(i + 1));
    };
    write(0);
  } else {
    res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

let app: Upstream;
let gw: InProcessGateway;

beforeAll(async () => {
  app = await upstream(answer);
  gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('app', [app.port]), ...POLICIES, ROUTES], 'default/edge');
}, 30_000);
afterAll(async () => {
  await gw?.close();
  await app?.close();
});

const get = (path: string, acceptEncoding?: string, o: { method?: string; listener?: string } = {}) =>
  send(gw.port(o.listener ?? 'web'), path, { host: 'shop.example', ...(o.method ? { method: o.method } : {}), headers: acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding } });

function decode(encoding: string | undefined, raw: Buffer): string {
  if (encoding === 'gzip') return zlib.gunzipSync(raw).toString();
  if (encoding === 'br') return zlib.brotliDecompressSync(raw).toString();
  return raw.toString();
}

describe('compressor: choosing the encoding', () => {
  // Policy `site`: algorithms [brotli, gzip] (brotli is choose_first).
  it.each([
    [undefined, undefined],
    ['gzip', 'gzip'],
    ['br', 'br'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['gzip, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip;q=1, br;q=0.5', 'gzip'],
    ['br;q=0.8, gzip;q=0.9', 'gzip'],
    ['br;q=0', undefined],
    ['br;q=0, *', 'gzip'],
    ['*', 'br'],
    ['*;q=0', undefined],
    ['identity', undefined],
    ['identity;q=1, gzip;q=0.5', undefined],
    ['gzip;q=0.5, identity;q=0.1', 'gzip'],
    ['deflate', undefined],
    ['gzip;q=abc', undefined],
    ['gzip;q=0.001, br;q=0.0', 'gzip'],
    ['', undefined],
  ])('Accept-Encoding %j -> %s', async (ae, want) => {
    const r = await get('/text', ae);
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBe(want);
    expect(r.headers.vary).toBe('Accept-Encoding');
    expect(decode(r.headers['content-encoding'], r.raw)).toBe(TEXT);
    if (want) expect(r.headers['content-length']).toBeUndefined();
    else expect(r.headers['content-length']).toBe(String(TEXT.length));
  });

  it('ties go to the first entry in the chain without choose_first; choose_first wins a tie', () => {
    const e = (encoding: 'gzip' | 'br', chooseFirst = false) => ({ encoding, chooseFirst }) as CompressorConfig;
    const [g, b] = [e('gzip'), e('br')];
    expect(chooseEncoding('br, gzip', [g, b])).toBe(g);
    const bf = e('br', true);
    expect(chooseEncoding('gzip, br', [g, bf])).toBe(bf);
    expect(chooseEncoding('gzip;q=0.9, br;q=0.8', [g, bf])).toBe(g);
  });
});

describe('compressor: what is left alone', () => {
  it('compresses at minContentLength and above; leaves smaller responses but adds no Vary to them', async () => {
    const at = await get('/text?n=100', 'gzip');
    expect(at.headers['content-encoding']).toBe('gzip');
    expect(decode('gzip', at.raw)).toBe(TEXT.slice(0, 100));
    const below = await get('/text?n=99', 'gzip');
    expect(below.headers['content-encoding']).toBeUndefined();
    expect(below.headers.vary).toBeUndefined();
    expect(below.body).toBe(TEXT.slice(0, 99));
  });

  it('compresses a response of unknown length (chunked)', async () => {
    const r = await get('/chunked', 'gzip');
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(decode('gzip', r.raw)).toBe(TEXT);
  });

  it.each([
    ['text/html', true],
    ['application/json; charset=utf-8', true],
    ['Image/SVG+XML', true],
    ['image/png', false],
    ['application/octet-stream', false],
    ['application/grpc', false],
  ])('content type %s: compressed %s', async (type, yes) => {
    const r = await get(`/text?type=${encodeURIComponent(type)}`, 'gzip');
    expect(r.headers['content-encoding']).toBe(yes ? 'gzip' : undefined);
    expect(r.headers.vary).toBe(yes ? 'Accept-Encoding' : undefined);
    expect(decode(r.headers['content-encoding'], r.raw)).toBe(TEXT);
  });

  it('never compresses twice: an encoded response passes as it is', async () => {
    const r = await get('/encoded', 'gzip, br');
    expect(r.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(r.raw).toString()).toBe(TEXT);
  });

  it('leaves Cache-Control: no-transform responses alone', async () => {
    const r = await get(`/headers?h=${encodeURIComponent('cache-control:public, No-Transform')}`, 'gzip');
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body).toBe(TEXT);
  });

  it('leaves a range (Content-Range) alone: its offsets count identity bytes', async () => {
    const r = await get(`/headers?h=${encodeURIComponent(`content-range:bytes 0-${TEXT.length - 1}/${TEXT.length * 2}`)}`, 'gzip');
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body).toBe(TEXT);
  });

  it('appends to an existing Vary, and does not repeat it', async () => {
    const a = await get(`/headers?h=${encodeURIComponent('vary:Origin')}`, 'gzip');
    expect(a.headers.vary).toBe('Origin, Accept-Encoding');
    const b = await get(`/headers?h=${encodeURIComponent('vary:accept-encoding')}`, 'gzip');
    expect(b.headers.vary).toBe('accept-encoding');
  });

  it('removes a strong ETag from a compressed response and keeps a weak one (Envoy)', async () => {
    const strong = await get(`/headers?h=${encodeURIComponent('etag:"v1"')}`, 'gzip');
    expect(strong.headers['content-encoding']).toBe('gzip');
    expect(strong.headers.etag).toBeUndefined();
    const weak = await get(`/headers?h=${encodeURIComponent('etag:W/"v1"')}`, 'gzip');
    expect(weak.headers.etag).toBe('W/"v1"');
    const identity = await get(`/headers?h=${encodeURIComponent('etag:"v1"')}`, undefined);
    expect(identity.headers.etag).toBe('"v1"');
  });

  it('HEAD, 204 and 304 get no Content-Encoding', async () => {
    const head = await get('/text', 'gzip', { method: 'HEAD' });
    expect(head.headers['content-encoding']).toBeUndefined();
    expect(head.headers['content-length']).toBe(String(TEXT.length));
    expect(head.headers.vary).toBe('Accept-Encoding');
    for (const s of [204, 304]) {
      const r = await get(`/status?s=${s}`, 'gzip');
      expect(r.status).toBe(s);
      expect(r.headers['content-encoding']).toBeUndefined();
      expect(r.raw.length).toBe(0);
    }
  });
});

describe('compressor: policies per listener and per rule', () => {
  it('a listener-targeted opt-out wins over its Gateway\'s policy', async () => {
    const r = await get('/text', 'gzip, br', { listener: 'api' });
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers.vary).toBeUndefined();
  });

  it('a rule\'s ExtensionRef replaces the Gateway\'s policy for that rule', async () => {
    // json-only: gzip only, application/json only, no minimum.
    const text = await get('/json-only/text', 'br, gzip');
    expect(text.headers['content-encoding']).toBeUndefined();
    const json = await get('/json-only/text?n=5&type=application/json', 'br, gzip');
    expect(json.headers['content-encoding']).toBe('gzip');
    expect(decode('gzip', json.raw)).toBe(TEXT.slice(0, 5));
  });

  it('a rule\'s policy stays off for the listener\'s other rules (its entries are HttpFilter.disabled)', async () => {
    // The api listener has no policy of its own (api-off); its /json-only rule names json-only.
    const other = await get('/text?n=5&type=application/json', 'gzip', { listener: 'api' });
    expect(other.headers['content-encoding']).toBeUndefined();
    const named = await get('/json-only/text?n=5&type=application/json', 'gzip', { listener: 'api' });
    expect(named.headers['content-encoding']).toBe('gzip');
  });

  it('removeAcceptEncoding: the upstream does not see Accept-Encoding, the client still gets gzip', async () => {
    const r = await get('/strict/text?probe=ae', 'gzip');
    expect(r.headers['content-encoding']).toBe('gzip');
    const seen = app.seen.find((x) => x.url === '/strict/text?probe=ae')!;
    expect(seen.headers['accept-encoding']).toBeUndefined();
    const other = await get('/text?probe=ae2', 'gzip');
    expect(other.headers['content-encoding']).toBe('gzip');
    expect(app.seen.find((x) => x.url === '/text?probe=ae2')!.headers['accept-encoding']).toBe('gzip');
  });

  it('disableOnETag: a response with an ETag (weak or strong) is not compressed', async () => {
    for (const tag of ['"v1"', 'W/"v1"']) {
      const r = await get(`/strict/headers?h=${encodeURIComponent(`etag:${tag}`)}`, 'gzip');
      expect(r.headers['content-encoding']).toBeUndefined();
      expect(r.headers.etag).toBe(tag);
      expect(r.body).toBe(TEXT);
    }
    expect((await get('/strict/headers', 'gzip')).headers['content-encoding']).toBe('gzip');
  });

  it('a rule naming a disabled policy opts out of compression', async () => {
    const r = await get('/raw/text', 'gzip, br');
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.body).toBe(TEXT);
  });

  it('counts what it compressed, per listener and encoding', async () => {
    const before = compressorCounters().get('gateway.web|br')?.compressed ?? 0;
    const bytesIn = compressorCounters().get('gateway.web|br')?.totalUncompressedBytes ?? 0;
    await get('/text', 'br');
    const c = compressorCounters().get('gateway.web|br')!;
    expect(c.compressed).toBe(before + 1);
    expect(c.totalUncompressedBytes).toBe(bytesIn + TEXT.length);
    expect(c.totalCompressedBytes).toBeGreaterThan(0);
  });
});

describe('compressor: streaming', () => {
  it('a streamed response reaches the client before the upstream ends it', async () => {
    const seen = await new Promise<string>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: gw.port('web'), path: '/stream', headers: { host: 'shop.example', 'accept-encoding': 'gzip' }, agent: false }, (res) => {
        if (res.headers['content-encoding'] !== 'gzip') {
          releaseStream();
          return reject(new Error(`not compressed: ${JSON.stringify(res.headers)}`));
        }
        const gunzip = zlib.createGunzip();
        let text = '';
        gunzip.on('data', (c: Buffer) => {
          text += c.toString();
          // The first event decoded while the upstream still holds the response open: let it finish.
          if (text === 'data: first\n\n') releaseStream();
        });
        gunzip.on('end', () => resolve(text));
        gunzip.on('error', reject);
        res.pipe(gunzip);
      });
      req.on('error', reject);
      req.end();
    });
    expect(seen).toBe('data: first\n\ndata: last\n\n');
  }, 10_000);

  it('a client that goes away mid-stream: the compressor stops, the upstream request is cancelled, the gateway serves on', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: gw.port('web'), path: '/hold', headers: { host: 'shop.example', 'accept-encoding': 'br' }, agent: false }, (res) => {
        if (res.headers['content-encoding'] !== 'br') return reject(new Error('not compressed'));
        const d = zlib.createBrotliDecompress();
        d.on('data', () => {
          req.destroy();
          resolve();
        });
        d.on('error', reject);
        res.on('error', () => undefined);
        res.pipe(d);
      });
      req.on('error', () => undefined);
      req.end();
    });
    await holdClosed;
    const r = await get('/text', 'br');
    expect(decode(r.headers['content-encoding'], r.raw)).toBe(TEXT);
  }, 10_000);

  it('the client decompresses exactly the bytes the upstream sent, however they are chunked (HTTP/1.1 and HTTP/2)', async () => {
    const h2 = http2.connect(`http://127.0.0.1:${gw.port('web')}`);
    h2.on('error', () => undefined);
    let id = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 6 }), fc.constantFrom('gzip', 'br'), fc.boolean(), async (chunks, enc, overH2) => {
          const key = String(id++);
          bodies.set(key, { chunks: chunks.map((c) => Buffer.from(c)), type: 'application/json' });
          const want = Buffer.concat(chunks);
          let encoding: string | undefined;
          let raw: Buffer;
          if (overH2) {
            const s = h2.request({ ':path': `/prop?id=${key}`, ':authority': 'shop.example', 'accept-encoding': enc });
            const parts: Buffer[] = [];
            [encoding, raw] = await new Promise<[string | undefined, Buffer]>((resolve, reject) => {
              let e: string | undefined;
              s.on('response', (h) => (e = h['content-encoding'] as string | undefined));
              s.on('data', (c: Buffer) => parts.push(c));
              s.on('end', () => resolve([e, Buffer.concat(parts)]));
              s.on('error', reject);
            });
          } else {
            const r = await get(`/prop?id=${key}`, enc);
            encoding = r.headers['content-encoding'];
            raw = r.raw;
          }
          bodies.delete(key);
          expect(encoding).toBe(enc);
          const got = enc === 'gzip' ? zlib.gunzipSync(raw) : zlib.brotliDecompressSync(raw);
          expect(got.equals(want)).toBe(true);
        }),
        { numRuns: 40 },
      );
    } finally {
      h2.close();
    }
  }, 30_000);
});

describe('compressor: config the sidecar cannot run is refused with its path', () => {
  const parse = (init: Parameters<typeof create<typeof CompressorSchema>>[1]) => {
    const p = new Problems('test');
    compressor.parse(anyPack(CompressorSchema, create(CompressorSchema, init)), p, 'typed_config');
    return p.errors.map((e) => `${e.path}: ${e.message}`);
  };
  const gzipLib = { name: 'gzip', typedConfig: anyPack(EXTENSIONS.gzip.schema, create(EXTENSIONS.gzip.schema, {})) };

  it('accepts gzip and brotli libraries', () => {
    expect(parse({ compressorLibrary: gzipLib })).toEqual([]);
    expect(parse({ compressorLibrary: { name: 'br', typedConfig: anyPack(EXTENSIONS.brotli.schema, create(EXTENSIONS.brotli.schema, { quality: 11 })) } })).toEqual([]);
  });

  it('refuses an unknown library, a missing one, request compression, runtime flags and bad settings', () => {
    expect(parse({ compressorLibrary: { name: 'zstd', typedConfig: { typeUrl: 'type.googleapis.com/envoy.extensions.compression.zstd.compressor.v3.Zstd', value: new Uint8Array() } } })).toEqual([
      expect.stringMatching(/^typed_config\.compressor_library\.typed_config\.type_url: compressor library .*Zstd is not supported/),
    ]);
    expect(parse({})).toEqual(['typed_config.compressor_library: is required (a gzip or brotli compressor library)']);
    expect(parse({ compressorLibrary: gzipLib, requestDirectionConfig: {} })).toEqual(['typed_config.request_direction_config: is not supported by the Weft sidecar (refused rather than ignored)', 'typed_config.request_direction_config: request compression is not supported by the Weft sidecar']);
    expect(parse({ compressorLibrary: gzipLib, responseDirectionConfig: { commonConfig: { enabled: { runtimeKey: 'k' } } } })).toContain('typed_config.response_direction_config.common_config.enabled: is not supported by the Weft sidecar (refused rather than ignored)');
    expect(parse({ compressorLibrary: { name: 'gzip', typedConfig: anyPack(EXTENSIONS.gzip.schema, create(EXTENSIONS.gzip.schema, { windowBits: 16, memoryLevel: 0 })) } })).toEqual([
      'typed_config.compressor_library.typed_config.memory_level: must be 1..9, got 0',
      'typed_config.compressor_library.typed_config.window_bits: must be 9..15, got 16',
    ]);
    expect(parse({ compressorLibrary: gzipLib, responseDirectionConfig: { commonConfig: { contentType: ['text/html; charset=utf-8'] } } })).toEqual([
      "typed_config.response_direction_config.common_config.content_type[0]: 'text/html; charset=utf-8' is not a media type (type/subtype, no parameters)",
    ]);
    expect(parse({ compressorLibrary: gzipLib, contentLength: 10, responseDirectionConfig: {} })[0]).toMatch(/^typed_config: set the deprecated/);
  });

  it('per route: disabled must be true; overrides turn the entry on', () => {
    const p = new Problems('test');
    const pr = compressor.perRoute!;
    expect(pr.parse(anyPack(CompressorPerRouteSchema, create(CompressorPerRouteSchema, { override: { case: 'disabled', value: true } })), p, 'r')).toBe('disabled');
    expect(pr.parse(anyPack(CompressorPerRouteSchema, create(CompressorPerRouteSchema, { override: { case: 'overrides', value: {} } })), p, 'r')).toEqual({ removeAcceptEncoding: undefined });
    expect(p.errors).toEqual([]);
    pr.parse(anyPack(CompressorPerRouteSchema, create(CompressorPerRouteSchema, {})), p, 'r');
    expect(p.errors.map((e) => e.message)).toEqual(['needs disabled or overrides']);
  });

  it('a FilterConfig{disabled} turns off an entry named <filter>.<qualifier> too', () => {
    const p = new Problems('test');
    const off = anyPack(FilterConfigSchema, create(FilterConfigSchema, { disabled: true }));
    expect(parsePerFilter('envoy.filters.http.compressor.gzip/default/site', off, p, 'r')).toBe(DISABLED);
    expect(p.errors).toEqual([]);
  });
});

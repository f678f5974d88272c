/**
 * Envoy's compressor filter (envoy.filters.http.compressor, Compressor): compresses responses
 * for clients that accept it. One http_filters entry per compression library (gzip, brotli),
 * as in Envoy; the entries of one chain agree on a single encoding per request.
 *
 * Per request: the client's `Accept-Encoding` (q-values, `*`, `identity`, q=0 refusing) chooses
 * among the encodings of the compressor entries in the chain: the highest q wins; on a tie the
 * entry with `choose_first`, then the first in the chain. The chosen entry compresses the
 * response when it is eligible: not to a HEAD request, not 1xx / 204 / 304, a body follows the
 * head, no `Content-Encoding` yet (never twice), no `Content-Range` (a range counts identity
 * bytes; Weft's addition), no `Cache-Control: no-transform`, the media
 * type in `content_type` (Envoy's list when empty; a response without Content-Type is eligible,
 * as in Envoy), `Content-Length` at least `min_content_length` (unknown length: eligible), and
 * no ETag when `disable_on_etag_header`. Then Content-Length goes, Content-Encoding is set, a
 * strong ETag is removed (a weak one kept; Envoy's behaviour) and `Vary: Accept-Encoding` is
 * added; an eligible response that is not compressed (the client did not ask) gets the Vary too,
 * so caches in front keep the variants apart.
 *
 * The body streams through node:zlib (gzip / brotli) with a sync flush once the chunks written
 * in one turn of the event loop are in, so a server-sent event or a streamed chunk reaches the
 * client without waiting for the next one; nothing is buffered beyond zlib's window. Backpressure
 * passes both ways (the client's drain resumes the compressor; the compressor's drain the
 * upstream). A compressor error aborts the response (its head is gone; it cannot be completed).
 *
 * Per route: CompressorPerRoute `disabled` leaves the entry out of the route's chain;
 * `overrides` (with HttpFilter.disabled on the listener: turns the entry on for the route) may
 * override remove_accept_encoding_header. Refused: request compression
 * (request_direction_config), runtime flags, a compressor library other than gzip and brotli.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import zlib from 'node:zlib';
import type { Readable } from 'node:stream';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, isExtensionConfig } from '../../../common/extensions.js';
import type { Compressor, CompressorPerRoute } from '../../../proto/gen/envoy/extensions/filters/http/compressor/v3/compressor_pb.js';
import type { Gzip } from '../../../proto/gen/envoy/extensions/compression/gzip/compressor/v3/gzip_pb.js';
import type { Brotli } from '../../../proto/gen/envoy/extensions/compression/brotli/compressor/v3/brotli_pb.js';
import type { Problems } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { ForwardingSink, RequestView, type Filter, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from '../filter.js';

const FIELDS = supportedFields({
  'envoy.extensions.filters.http.compressor.v3.Compressor': ['content_length', 'content_type', 'disable_on_etag_header', 'remove_accept_encoding_header', 'compressor_library', 'response_direction_config', 'choose_first'],
  'envoy.extensions.filters.http.compressor.v3.Compressor.ResponseDirectionConfig': ['common_config', 'disable_on_etag_header', 'remove_accept_encoding_header'],
  'envoy.extensions.filters.http.compressor.v3.Compressor.CommonDirectionConfig': ['min_content_length', 'content_type'],
  'envoy.config.core.v3.TypedExtensionConfig': ['name', 'typed_config'],
  'envoy.extensions.compression.gzip.compressor.v3.Gzip': ['memory_level', 'compression_level', 'compression_strategy', 'window_bits', 'chunk_size'],
  'envoy.extensions.compression.brotli.compressor.v3.Brotli': ['quality', 'encoder_mode', 'window_bits', 'input_block_bits', 'chunk_size', 'disable_literal_context_modeling'],
  'envoy.extensions.filters.http.compressor.v3.CompressorPerRoute': ['disabled', 'overrides'],
  'envoy.extensions.filters.http.compressor.v3.CompressorOverrides': ['response_direction_config'],
  'envoy.extensions.filters.http.compressor.v3.ResponseDirectionOverrides': ['remove_accept_encoding_header'],
});

/** Envoy's default media types (compressor_filter.cc defaultContentEncoding). */
export const DEFAULT_CONTENT_TYPES: readonly string[] = Object.freeze([
  'text/html', 'text/plain', 'text/css', 'application/javascript', 'application/x-javascript', 'text/javascript', 'text/x-javascript', 'text/ecmascript', 'text/js', 'text/jscript',
  'text/x-js', 'application/ecmascript', 'application/x-json', 'application/xml', 'application/json', 'image/svg+xml', 'text/xml', 'application/xhtml+xml',
]);
/** Envoy's default min_content_length. */
export const DEFAULT_MIN_CONTENT_LENGTH = 30;

export type Encoding = 'gzip' | 'br';

/** A Compressor entry, compiled. */
export interface CompressorConfig {
  readonly encoding: Encoding;
  /** compressor_library.name (Envoy roots the library's stats there). */
  readonly library: string;
  readonly minLength: number;
  readonly types: ReadonlySet<string>;
  readonly disableOnEtag: boolean;
  readonly removeAcceptEncoding: boolean;
  readonly chooseFirst: boolean;
  /** A new compressing stream with the library's settings. */
  readonly make: () => zlib.Gzip | zlib.BrotliCompress;
}

/** A route's CompressorPerRoute, compiled: 'disabled', or the overrides (which also turn the entry on). */
export type CompressorRoute = 'disabled' | { readonly removeAcceptEncoding: boolean | undefined };

function range(p: Problems, path: string, v: number | undefined, min: number, max: number): void {
  if (v !== undefined && (v < min || v > max)) p.add(path, `must be ${min}..${max}, got ${v}`);
}

function gzipMaker(g: Gzip, p: Problems, path: string): () => zlib.Gzip {
  range(p, `${path}.memory_level`, g.memoryLevel, 1, 9);
  range(p, `${path}.window_bits`, g.windowBits, 9, 15);
  range(p, `${path}.chunk_size`, g.chunkSize, 4096, 65536);
  if (g.compressionLevel < 0 || g.compressionLevel > 9) p.add(`${path}.compression_level`, `unknown level ${g.compressionLevel}`);
  if (g.compressionStrategy < 0 || g.compressionStrategy > 4) p.add(`${path}.compression_strategy`, `unknown strategy ${g.compressionStrategy}`);
  // Envoy's defaults: memory level 5, a 4 KiB window (12 bits), zlib's default level (6).
  const opts: zlib.ZlibOptions = {
    level: g.compressionLevel === 0 ? zlib.constants.Z_DEFAULT_COMPRESSION : g.compressionLevel,
    memLevel: g.memoryLevel ?? 5,
    windowBits: g.windowBits ?? 12,
    strategy: g.compressionStrategy,
    chunkSize: g.chunkSize ?? 4096,
  };
  return () => zlib.createGzip(opts);
}

function brotliMaker(b: Brotli, p: Problems, path: string): () => zlib.BrotliCompress {
  range(p, `${path}.quality`, b.quality, 0, 11);
  range(p, `${path}.window_bits`, b.windowBits, 10, 24);
  range(p, `${path}.input_block_bits`, b.inputBlockBits, 16, 24);
  range(p, `${path}.chunk_size`, b.chunkSize, 4096, 65536);
  const C = zlib.constants;
  const mode = [C.BROTLI_MODE_GENERIC, C.BROTLI_MODE_GENERIC, C.BROTLI_MODE_TEXT, C.BROTLI_MODE_FONT][b.encoderMode];
  if (mode === undefined) p.add(`${path}.encoder_mode`, `unknown mode ${b.encoderMode}`);
  // Envoy's defaults: quality 3, window 18 bits, input block 24 bits.
  const opts: zlib.BrotliOptions = {
    chunkSize: b.chunkSize ?? 4096,
    params: {
      [C.BROTLI_PARAM_QUALITY]: b.quality ?? 3,
      [C.BROTLI_PARAM_LGWIN]: b.windowBits ?? 18,
      [C.BROTLI_PARAM_LGBLOCK]: b.inputBlockBits ?? 24,
      [C.BROTLI_PARAM_MODE]: mode ?? C.BROTLI_MODE_GENERIC,
      [C.BROTLI_PARAM_DISABLE_LITERAL_CONTEXT_MODELING]: b.disableLiteralContextModeling ? 1 : 0,
    },
  };
  return () => zlib.createBrotliCompress(opts);
}

function compile(c: Compressor, p: Problems, path: string): CompressorConfig | undefined {
  checkSupported(EXTENSIONS.compressor.schema, c, FIELDS, p, path);
  if (c.requestDirectionConfig) p.add(`${path}.request_direction_config`, 'request compression is not supported by the Weft sidecar');
  const rd = c.responseDirectionConfig;
  if (rd && (c.contentLength !== undefined || c.contentType.length || c.disableOnEtagHeader || c.removeAcceptEncodingHeader)) {
    p.add(path, 'set the deprecated content_length / content_type / disable_on_etag_header / remove_accept_encoding_header or response_direction_config, not both (Envoy would ignore the former)');
  }
  if (rd?.commonConfig?.enabled) p.add(`${path}.response_direction_config.common_config.enabled`, 'runtime flags are not supported (the sidecar has no runtime)');
  const lib = c.compressorLibrary;
  const lp = `${path}.compressor_library`;
  let encoding: Encoding | undefined;
  let make: CompressorConfig['make'] | undefined;
  const any = lib?.typedConfig;
  if (!lib || !any) p.add(lp, 'is required (a gzip or brotli compressor library)');
  else if (isExtensionConfig(any.typeUrl, EXTENSIONS.gzip)) {
    const g = unpackAny(any, EXTENSIONS.gzip.schema);
    if (g) {
      checkSupported(EXTENSIONS.gzip.schema, g, FIELDS, p, `${lp}.typed_config`);
      encoding = 'gzip';
      make = gzipMaker(g, p, `${lp}.typed_config`);
    } else p.add(`${lp}.typed_config`, 'is not a Gzip');
  } else if (isExtensionConfig(any.typeUrl, EXTENSIONS.brotli)) {
    const b = unpackAny(any, EXTENSIONS.brotli.schema);
    if (b) {
      checkSupported(EXTENSIONS.brotli.schema, b, FIELDS, p, `${lp}.typed_config`);
      encoding = 'br';
      make = brotliMaker(b, p, `${lp}.typed_config`);
    } else p.add(`${lp}.typed_config`, 'is not a Brotli');
  } else p.add(`${lp}.typed_config.type_url`, `compressor library ${any.typeUrl} is not supported by the Weft sidecar (gzip and brotli are)`);
  const common = rd?.commonConfig;
  const types = (rd ? common?.contentType : c.contentType) ?? [];
  types.forEach((t, i) => {
    if (!/^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/i.test(t)) p.add(`${path}${rd ? '.response_direction_config.common_config' : ''}.content_type[${i}]`, `'${t}' is not a media type (type/subtype, no parameters)`);
  });
  if (!encoding || !make) return undefined;
  return {
    encoding,
    library: lib!.name,
    minLength: (rd ? common?.minContentLength : c.contentLength) ?? DEFAULT_MIN_CONTENT_LENGTH,
    types: new Set((types.length ? types : DEFAULT_CONTENT_TYPES).map((t) => t.toLowerCase())),
    disableOnEtag: rd ? rd.disableOnEtagHeader : c.disableOnEtagHeader,
    removeAcceptEncoding: rd ? rd.removeAcceptEncodingHeader : c.removeAcceptEncodingHeader,
    chooseFirst: c.chooseFirst,
    make,
  };
}

function parse(any: Any, p: Problems, path: string): CompressorConfig | undefined {
  const c = unpackAny(any, EXTENSIONS.compressor.schema);
  if (!c) {
    p.add(path, 'is not a Compressor');
    return undefined;
  }
  return compile(c, p, path);
}

function parsePerRoute(any: Any, p: Problems, path: string): CompressorRoute | undefined {
  const r: CompressorPerRoute | undefined = unpackAny(any, EXTENSIONS.compressorPerRoute.schema);
  if (!r) {
    p.add(path, 'is not a CompressorPerRoute');
    return undefined;
  }
  checkSupported(EXTENSIONS.compressorPerRoute.schema, r, FIELDS, p, path);
  const o = r.override;
  if (o.case === 'disabled') {
    if (!o.value) p.add(`${path}.disabled`, 'must be true (Envoy: const true), or use overrides');
    return 'disabled';
  }
  if (o.case === 'overrides') return { removeAcceptEncoding: o.value.responseDirectionConfig?.removeAcceptEncodingHeader };
  p.add(path, 'needs disabled or overrides');
  return undefined;
}

// ------------------------------------------------------------------------------ Accept-Encoding

/**
 * The entry among `entries` (in chain order) the request's Accept-Encoding chooses, or undefined
 * for identity. RFC 9110 12.5.3: a coding's q is its own, else that of `*`, else it is not
 * acceptable; q=0 refuses. `identity` with a higher q than every coding wins. A malformed q
 * drops its element (Envoy).
 */
export function chooseEncoding(acceptEncoding: string | undefined, entries: readonly CompressorConfig[]): CompressorConfig | undefined {
  if (!acceptEncoding) return undefined;
  const q = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const semi = part.indexOf(';');
    let coding = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (!coding) continue;
    if (coding === 'x-gzip') coding = 'gzip';
    let value = 1;
    if (semi >= 0) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(part.slice(semi + 1));
      if (!m) continue;
      value = Number(m[1]);
      if (!(value >= 0 && value <= 1)) continue;
    }
    if (!q.has(coding)) q.set(coding, value);
  }
  const star = q.get('*');
  let best: CompressorConfig | undefined;
  let bestQ = 0;
  for (const e of entries) {
    const v = q.get(e.encoding) ?? star ?? 0;
    if (v > bestQ || (v === bestQ && v > 0 && e.chooseFirst && !best!.chooseFirst)) {
      best = e;
      bestQ = v;
    }
  }
  const identity = q.get('identity');
  if (best && identity !== undefined && identity > bestQ) return undefined;
  return best;
}

// ----------------------------------------------------------------------------------- the filter

/** Envoy's compressor stats (per listener and encoding): what /stats/prometheus shows as weft_compressor_*. */
export interface CompressorCounters {
  compressed: number;
  notCompressed: number;
  noAcceptHeader: number;
  contentLengthTooSmall: number;
  notCompressedEtag: number;
  totalUncompressedBytes: number;
  totalCompressedBytes: number;
}
const COUNTERS = new Map<string, CompressorCounters>();

/** Every listener's compressor counters, keyed `listener|encoding` (they outlive the chains). */
export function compressorCounters(): ReadonlyMap<string, CompressorCounters> {
  return COUNTERS;
}

function countersFor(listener: string, encoding: Encoding): CompressorCounters {
  const key = `${listener}|${encoding}`;
  let c = COUNTERS.get(key);
  if (!c) COUNTERS.set(key, (c = { compressed: 0, notCompressed: 0, noAcceptHeader: 0, contentLengthTooSmall: 0, notCompressedEtag: 0, totalUncompressedBytes: 0, totalCompressedBytes: 0 }));
  return c;
}

/** The compressor entries of one request's chain and what they chose (Envoy's encoding registry). */
interface Registry {
  readonly acceptEncoding: string | undefined;
  readonly entries: CompressorConfig[];
  /** undefined: not chosen yet; null: identity. */
  chosen: CompressorConfig | null | undefined;
}
const REGISTRIES = new WeakMap<RequestInfo, Registry>();

function one(v: string | string[] | number | undefined): string | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : String(v);
}

function hasToken(v: string | undefined, token: string): boolean {
  if (!v) return false;
  for (const t of v.split(',')) if (t.trim().toLowerCase() === token) return true;
  return false;
}

/** The request without Accept-Encoding (remove_accept_encoding_header): the upstream then sends identity. */
class WithoutAcceptEncoding extends RequestView {
  override header(name: string): string | undefined {
    return name === 'accept-encoding' ? undefined : this.req.header(name);
  }
  override rawPairs(): string[] {
    const src = this.req.rawPairs();
    const out: string[] = [];
    for (let i = 0; i < src.length; i += 2) if (src[i] !== 'accept-encoding') out.push(src[i]!, src[i + 1]!);
    return out;
  }
}

/** The response sink of one compressor entry: passes the response through, or compresses it. */
class CompressingSink extends ForwardingSink {
  #z: zlib.Gzip | zlib.BrotliCompress | undefined;
  #flushQueued = false;
  #flush: (() => void) | undefined;
  #trailers: ResponseHeaders | undefined;
  #gone: Array<() => void> | undefined;
  #done = false;

  constructor(
    res: ResponseSink,
    private readonly cfg: CompressorConfig,
    private readonly reg: Registry,
    private readonly method: string,
    private readonly stats: CompressorCounters,
  ) {
    super(res);
    // An HTTP/1.1 downstream keeps one client-gone callback: this sink takes it, stops its
    // compressor, and tells every stage after it that registered one.
    res.onClientGone(() => {
      this.#destroy();
      if (this.#gone) for (const fn of this.#gone) fn();
    });
  }

  override onClientGone(fn: () => void): void {
    (this.#gone ??= []).push(fn);
  }

  override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    const h = this.#decide(status, headers, endStream);
    this.res.writeHead(status, h, endStream);
  }

  /** The head to send, and the compressor when this entry compresses the body. */
  #decide(status: number, headers: ResponseHeaders, endStream: boolean): ResponseHeaders {
    const cfg = this.cfg;
    const s = this.stats;
    // A range (206, Content-Range) counts identity bytes: compressing it would corrupt what the client reassembles.
    if (status < 200 || headers['content-encoding'] !== undefined || headers['content-range'] !== undefined || hasToken(one(headers['cache-control']), 'no-transform')) return headers;
    const ct = one(headers['content-type']);
    if (ct !== undefined) {
      const semi = ct.indexOf(';');
      if (!cfg.types.has((semi < 0 ? ct : ct.slice(0, semi)).trim().toLowerCase())) return headers;
    }
    const etag = one(headers.etag);
    if (cfg.disableOnEtag && etag !== undefined) {
      s.notCompressedEtag++;
      s.notCompressed++;
      return headers;
    }
    const cl = one(headers['content-length']);
    if (cl !== undefined && Number(cl) < cfg.minLength) {
      s.contentLengthTooSmall++;
      s.notCompressed++;
      return headers;
    }
    // Eligible: whether or not this request gets it compressed, the response varies by Accept-Encoding.
    const out: ResponseHeaders = { ...headers };
    const vary = one(headers.vary);
    if (!hasToken(vary, 'accept-encoding') && !hasToken(vary, '*')) out.vary = vary ? `${vary}, Accept-Encoding` : 'Accept-Encoding';
    const reg = this.reg;
    if (reg.chosen === undefined) reg.chosen = chooseEncoding(reg.acceptEncoding, reg.entries) ?? null;
    if (reg.acceptEncoding === undefined) s.noAcceptHeader++;
    if (reg.chosen !== cfg || endStream || this.method === 'HEAD' || status === 204 || status === 304) {
      s.notCompressed++;
      return out;
    }
    s.compressed++;
    delete out['content-length'];
    out['content-encoding'] = cfg.encoding;
    if (etag !== undefined && !/^w\//i.test(etag)) delete out.etag;
    this.#start();
    return out;
  }

  #start(): void {
    const z = this.cfg.make();
    this.#z = z;
    z.on('error', () => {
      // The head is out: the response cannot be completed.
      this.#done = true;
      this.res.abort();
    });
    z.on('data', (out: Buffer) => {
      this.stats.totalCompressedBytes += out.length;
      if (!this.res.write(out)) {
        z.pause();
        this.res.onceDrain(() => z.resume());
      }
    });
    z.on('end', () => {
      if (this.#done) return;
      this.#done = true;
      this.res.end(this.#trailers);
    });
    const kind = this.cfg.encoding === 'gzip' ? zlib.constants.Z_SYNC_FLUSH : zlib.constants.BROTLI_OPERATION_FLUSH;
    this.#flush = () => {
      this.#flushQueued = false;
      if (!this.#done && !z.writableEnded && !z.destroyed) z.flush(kind);
    };
  }

  #destroy(): void {
    this.#done = true;
    const z = this.#z;
    if (z && !z.destroyed) z.destroy();
  }

  override write(chunk: Buffer): boolean {
    const z = this.#z;
    if (!z) return this.res.write(chunk);
    if (this.#done) return true;
    this.stats.totalUncompressedBytes += chunk.length;
    const ok = z.write(chunk);
    if (!this.#flushQueued) {
      // One sync flush per turn of the event loop: a streamed chunk is not held for the next.
      this.#flushQueued = true;
      setImmediate(this.#flush!);
    }
    return ok;
  }

  override onceDrain(fn: () => void): void {
    const z = this.#z;
    if (!z) return this.res.onceDrain(fn);
    z.once('drain', fn);
  }

  override end(trailers: ResponseHeaders | undefined): void {
    const z = this.#z;
    if (!z) return this.res.end(trailers);
    if (this.#done) return;
    this.#trailers = trailers;
    z.end();
  }

  override abort(): void {
    this.#destroy();
    this.res.abort();
  }
}

function compressorFilter(cfg: CompressorConfig, listener: string): Filter {
  const stats = countersFor(listener, cfg.encoding);
  return (next) => (req, res, info) => {
    let reg = REGISTRIES.get(info);
    if (!reg) REGISTRIES.set(info, (reg = { acceptEncoding: req.header('accept-encoding'), entries: [], chosen: undefined }));
    reg.entries.push(cfg);
    next(cfg.removeAcceptEncoding && req.header('accept-encoding') !== undefined ? new WithoutAcceptEncoding(req) : req, new CompressingSink(res, cfg, reg, req.method, stats), info);
  };
}

export const compressor: HttpFilterFactory<CompressorConfig, CompressorRoute> = {
  extension: EXTENSIONS.compressor,
  parse,
  perRoute: { schema: EXTENSIONS.compressorPerRoute.schema, parse: parsePerRoute },
  create: (cfg, route, ctx) => {
    if (route === 'disabled') return undefined;
    const c = route?.removeAcceptEncoding === undefined ? cfg : { ...cfg, removeAcceptEncoding: route.removeAcceptEncoding };
    return compressorFilter(c, ctx.listener);
  },
};

/**
 * JSON → gRPC on the inbound listener (the grpc_json_transcoder filter): a request the transcoder
 * matches is read (bounded), turned into one gRPC message, and forwarded by the ordinary Exchange
 * (retries, timeouts, balancing, stats) through a Downstream adapter that looks like a gRPC call to
 * the Exchange and writes JSON to the real client:
 *  - unary: the reply as JSON (or its response_body field), 200;
 *  - server streaming: newline-delimited JSON, or Server-Sent Events when the client asks for
 *    `text/event-stream`;
 *  - a gRPC error: the standard HTTP status for its code and `{code, message, details}`.
 */
import { Readable } from 'node:stream';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Problems } from '../../xds/types/decoded.js';
import { compileTranscoderAny } from '../../../common/transcode/compile.js';
import { EXTENSIONS } from '../../../common/extensions.js';
import { httpStatusForGrpc, TranscodeError, TranscoderConfigError, type Match, type Transcoder } from '../../../common/transcode/transcoder.js';
import type { Handler, HttpFilterFactory, RequestHead, RequestInfo, ResponseHeaders, ResponseSink } from '../filter.js';
import { Adapted, grpcFrame, grpcPairs, MAX_TRANSLATED_BODY as MAX_BODY, readWholeBody } from '../adapted.js';
import { respondJsonError } from '../respond.js';

/** Largest JSON request body transcoded (bigger: 413). */
const DROP = new Set(['content-type', 'content-length', 'transfer-encoding', 'accept', 'accept-encoding', 'expect', 'te', 'grpc-timeout']);


function transcoderFilter(t: Transcoder): (next: Handler) => Handler {
  return (next) => (req, res, info) => {
    const m = req.grpc ? undefined : t.match(req.method, req.path);
    if (!m) {
      next(req, res, info);
      return;
    }
    readWholeBody(req, info).then(
      (body) => {
        if (!body) return respondJsonError(res, info, 413, 8, `the request body is larger than ${MAX_BODY} bytes`);
        let msg: Uint8Array;
        try {
          msg = t.requestMessage(m, new URLSearchParams(req.search), body);
        } catch (e) {
          if (e instanceof TranscodeError) return respondJsonError(res, info, e.status, 3, e.message);
          throw e;
        }
        const g = new GrpcFromJson(req, res, info, m, t, grpcFrame(msg));
        next(g, g, info);
      },
      () => res.abort(),
    );
  };
}

/** A GrpcJsonTranscoder config, compiled (cached by its bytes); its errors go to `p`. */
export function parseTranscoder(any: Any, p: Problems, path: string): Transcoder | undefined {
  try {
    return compileTranscoderAny(any);
  } catch (e) {
    if (!(e instanceof TranscoderConfigError)) throw e;
    p.add(path, e.message);
    return undefined;
  }
}

/** Envoy's grpc_json_transcoder with proto_descriptor_bin (a path on the proxy is refused). */
export const grpcJsonTranscoder: HttpFilterFactory<Transcoder> = {
  extension: EXTENSIONS.grpcJsonTranscoder,
  parse: parseTranscoder,
  create: (t) => transcoderFilter(t),
};

/** What the Exchange sees: a gRPC call. What the client gets: JSON. */
class GrpcFromJson extends Adapted {
  readonly method = 'POST';
  readonly search = '';
  readonly hasBody = true;
  readonly body: Readable;
  readonly path: string;
  readonly #info: RequestInfo;
  readonly #m: Match;
  readonly #t: Transcoder;
  readonly #sse: boolean;
  #buf: Buffer = Buffer.alloc(0);
  #reply: Uint8Array | undefined;
  #started = false;
  #head: ResponseHeaders | undefined;

  constructor(d: RequestHead, res: ResponseSink, info: RequestInfo, m: Match, t: Transcoder, frame: Buffer) {
    super(d, res);
    this.#info = info;
    this.#m = m;
    this.#t = t;
    this.path = m.binding.grpcPath;
    this.body = Readable.from([frame]);
    this.#sse = (d.header('accept') ?? '').includes('text/event-stream');
  }

  get headersSent(): boolean {
    return this.#started || this.res.headersSent;
  }

  header(name: string): string | undefined {
    switch (name) {
      case 'content-type':
        return 'application/grpc';
      case 'te':
        return 'trailers';
      case ':method':
        return 'POST';
      case ':path':
        return this.path;
      case 'content-length':
      case 'grpc-timeout':
        return undefined;
      default:
        return this.req.header(name);
    }
  }

  rawPairs(): string[] {
    return grpcPairs(this.req.rawPairs(), DROP);
  }

  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    if (status !== 200) {
      // Not a gRPC answer (a proxy or a broken server in between).
      this.#finish({ 'grpc-status': '13', 'grpc-message': `upstream answered HTTP ${status}, not gRPC` });
      return;
    }
    this.#head = headers;
    if (endStream) this.#finish(headers);
  }

  write(chunk: Buffer): boolean {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    let ok = true;
    while (this.#buf.length >= 5) {
      const len = this.#buf.readUInt32BE(1);
      if (this.#buf.length < 5 + len) break;
      if (this.#buf[0] !== 0) {
        this.#finish({ 'grpc-status': '12', 'grpc-message': 'compressed gRPC messages are not supported by the transcoder' });
        return true;
      }
      const msg = this.#buf.subarray(5, 5 + len);
      this.#buf = this.#buf.subarray(5 + len);
      if (this.#m.binding.serverStreaming) ok = this.#emit(msg) && ok;
      else this.#reply = msg;
    }
    return ok;
  }

  #emit(msg: Uint8Array): boolean {
    const d = this.res;
    if (!this.#started) {
      this.#started = true;
      d.writeHead(200, { 'content-type': this.#sse ? 'text/event-stream' : 'application/x-ndjson', 'cache-control': 'no-cache' }, false);
    }
    const json = this.#t.replyJson(this.#m.binding, msg);
    return d.write(Buffer.from(this.#sse ? `data: ${json}\n\n` : `${json}\n`));
  }

  end(trailers: ResponseHeaders | undefined): void {
    this.#finish({ ...this.#head, ...trailers });
  }

  respondTrailersOnly(headers: ResponseHeaders): void {
    this.#finish(headers);
  }

  #finish(meta: ResponseHeaders): void {
    if (this.done) return;
    this.done = true;
    const d = this.res;
    const g = meta['grpc-status'];
    const code = g === undefined ? 2 : Number(g);
    let message = '';
    try {
      message = decodeURIComponent(String(meta['grpc-message'] ?? ''));
    } catch {
      message = String(meta['grpc-message'] ?? '');
    }
    const weft = meta['x-weft-error'];
    if (weft) this.#info.weftError = String(weft);
    const details = meta['grpc-status-details-bin'];
    if (this.#started) {
      // Mid-stream: the status can only travel in the body.
      if (code !== 0) {
        const err = this.#t.errorJson(code, message, details === undefined ? undefined : String(details));
        d.write(Buffer.from(this.#sse ? `event: error\ndata: ${err}\n\n` : `{"error":${err}}\n`));
      }
      d.end(undefined);
      return;
    }
    if (code === 0) {
      if (this.#m.binding.serverStreaming) d.respondSimple(200, { 'content-type': this.#sse ? 'text/event-stream' : 'application/x-ndjson' }, '');
      else d.respondSimple(200, { 'content-type': 'application/json' }, this.#t.replyJson(this.#m.binding, this.#reply ?? new Uint8Array(0)));
      return;
    }
    const h: ResponseHeaders = { 'content-type': 'application/json', 'grpc-status': String(code) };
    if (weft) h['x-weft-error'] = String(weft);
    d.respondSimple(httpStatusForGrpc(code), h, this.#t.errorJson(code, message, details === undefined ? undefined : String(details)));
  }
}

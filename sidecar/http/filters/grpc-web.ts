/**
 * Envoy's grpc_web filter (envoy.filters.http.grpc_web): a request with content type
 * `application/grpc-web[+proto]` (binary) or `application/grpc-web-text[+proto]` (base64) goes on
 * as a gRPC call; the next stages (the router, the Exchange) see an ordinary gRPC request. The
 * reply keeps the gRPC message framing; the trailers travel in the body as a final frame (flag
 * 0x80, `name: value\r\n` lines), and in text mode the body is base64. A trailers-only reply (an
 * error, the sidecar's or the app's) is written by the answer path (respond.ts). CORS is the
 * cors filter's (filters/cors.ts), which comes before this one.
 */
import { Readable } from 'node:stream';
import { EXTENSIONS } from '../../../common/extensions.js';
import { Adapted, grpcFrame, grpcPairs, MAX_TRANSLATED_BODY as MAX_BODY, readWholeBody } from '../adapted.js';
import type { Handler, HttpFilterFactory, RequestHead, RequestInfo, ResponseHeaders, ResponseSink } from '../filter.js';
import { grpcWebCall, type GrpcWebCall } from '../grpc-web-cors.js';
import { respondError, respondGrpcWebTrailersOnly } from '../respond.js';
import { noOptions } from './no-options.js';

const DROP = new Set(['content-type', 'content-length', 'transfer-encoding', 'accept', 'accept-encoding', 'expect', 'te', 'x-grpc-web', 'x-user-agent', 'origin', 'referer']);

function grpcWebFilter(next: Handler): Handler {
  return (req, res, info) => {
    const call = grpcWebCall(req);
    if (!call) {
      next(req, res, info);
      return;
    }
    readWholeBody(req, info).then(
      (raw) => {
        if (!raw) {
          respondError(req, res, info, 'REQUEST_TOO_LARGE', `the request body is larger than ${MAX_BODY} bytes`);
          return;
        }
        const body = call.text ? Buffer.from(raw.toString('latin1').replace(/\s+/g, ''), 'base64') : raw;
        const g = new GrpcFromGrpcWeb(req, res, info, body, call);
        next(g, g, info);
      },
      () => res.abort(),
    );
  };
}

export const grpcWeb: HttpFilterFactory<true> = {
  extension: EXTENSIONS.grpcWeb,
  parse: noOptions(EXTENSIONS.grpcWeb),
  create: () => grpcWebFilter,
};

class GrpcFromGrpcWeb extends Adapted {
  readonly method = 'POST';
  readonly search = '';
  readonly hasBody = true;
  readonly body: Readable;
  readonly path: string;
  readonly #info: RequestInfo;
  readonly #call: GrpcWebCall;
  readonly #text: boolean;
  #started = false;
  /** Text mode: bytes not yet base64-encoded (encoded in groups of 3). */
  #carry: Buffer = Buffer.alloc(0);
  #head: ResponseHeaders = {};

  constructor(d: RequestHead, res: ResponseSink, info: RequestInfo, body: Buffer, call: GrpcWebCall) {
    super(d, res);
    this.#info = info;
    this.#call = call;
    this.#text = call.text;
    this.path = d.path;
    this.body = Readable.from([body]);
  }

  get headersSent(): boolean {
    return this.#started;
  }

  header(name: string): string | undefined {
    if (name === 'content-type') return 'application/grpc';
    if (name === 'te') return 'trailers';
    if (name === ':method') return 'POST';
    if (name === 'content-length') return undefined;
    return this.req.header(name);
  }

  rawPairs(): string[] {
    return grpcPairs(this.req.rawPairs(), DROP);
  }

  #start(headers: ResponseHeaders): void {
    if (this.#started) return;
    this.#started = true;
    const h: ResponseHeaders = { 'content-type': this.#text ? 'application/grpc-web-text+proto' : 'application/grpc-web+proto' };
    for (const [k, v] of Object.entries(headers)) if (k !== 'content-type' && k !== ':status' && !k.startsWith('grpc-')) h[k] = v;
    this.res.writeHead(200, h, false);
  }

  #send(b: Buffer): boolean {
    if (!this.#text) return this.res.write(b);
    const all = this.#carry.length ? Buffer.concat([this.#carry, b]) : b;
    const whole = all.length - (all.length % 3);
    this.#carry = all.subarray(whole);
    return whole ? this.res.write(Buffer.from(all.subarray(0, whole).toString('base64'))) : true;
  }

  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    if (status !== 200) {
      this.#finish({ 'grpc-status': '13', 'grpc-message': `upstream answered HTTP ${status}, not gRPC` });
      return;
    }
    this.#head = headers;
    if (endStream) this.#finish(headers);
    else this.#start(headers);
  }

  write(chunk: Buffer): boolean {
    this.#start(this.#head);
    return this.#send(chunk);
  }

  end(trailers: ResponseHeaders | undefined): void {
    this.#finish(trailers ?? this.#head);
  }

  respondTrailersOnly(headers: ResponseHeaders): void {
    this.#finish(headers);
  }

  /** The trailer frame, then the end of the response (trailers-only when nothing was sent yet). */
  #finish(meta: ResponseHeaders): void {
    if (this.done) return;
    this.done = true;
    const weft = meta['x-weft-error'];
    if (weft) this.#info.weftError = String(weft);
    if (!this.#started) {
      this.#started = true;
      const m = meta['grpc-status'] === undefined ? { ...meta, 'grpc-status': '2', 'grpc-message': 'no grpc-status from upstream' } : meta;
      respondGrpcWebTrailersOnly(this.req, this.res, this.#call, m);
      return;
    }
    let lines = '';
    for (const [k, v] of Object.entries(meta)) {
      if (k.startsWith(':') || k === 'content-type') continue;
      if (k.startsWith('grpc-') || k === 'x-weft-error') lines += `${k}: ${Array.isArray(v) ? v.join(', ') : String(v)}\r\n`;
    }
    if (meta['grpc-status'] === undefined) lines = `grpc-status: 2\r\ngrpc-message: no grpc-status from upstream\r\n${lines}`;
    this.#send(grpcFrame(Buffer.from(lines, 'latin1'), 0x80));
    if (this.#text && this.#carry.length) {
      this.res.write(Buffer.from(this.#carry.toString('base64')));
      this.#carry = Buffer.alloc(0);
    }
    this.res.end(undefined);
  }
}

/**
 * gRPC → HTTP/JSON on the caller's outbound listener: a gRPC call to a service whose instances
 * speak HTTP/JSON (a GRPCTranslation with direction grpcToJson) is mapped by the method's
 * google.api.http rule to an HTTP request (path variables from fields, the body or query from
 * the rest), sent through the ordinary Exchange, and the JSON answer (or HTTP error) comes back
 * as a protobuf message and grpc-status. Unary methods only; others answer UNIMPLEMENTED.
 */
import { Readable } from 'node:stream';
import { EXTENSIONS } from '../../../common/extensions.js';
import { grpcCodeForHttp, TranscodeError, type Binding, type Transcoder } from '../../../common/transcode/transcoder.js';
import { Adapted, grpcFrame, MAX_TRANSLATED_BODY as MAX_BODY, readWholeBody } from '../adapted.js';
import type { Filter, HttpFilterFactory, RequestHead, RequestInfo, ResponseHeaders, ResponseSink } from '../filter.js';
import { grpcWebCall } from '../grpc-web-cors.js';
import { respondGrpcStatus } from '../respond.js';
import { noOptions } from './no-options.js';
import { parseTranscoder } from './grpc-json-transcoder.js';

const DROP = new Set(['content-type', 'content-length', 'transfer-encoding', 'te', 'accept', 'accept-encoding', 'grpc-accept-encoding', 'grpc-encoding', 'user-agent']);

function reverseFilter(t: Transcoder): Filter {
  return (next) => (req, res, info) => {
    if (!req.grpc || info.route?.kind !== 'forward' || grpcWebCall(req)) {
      next(req, res, info);
      return;
    }
    const b = t.forGrpcPath(req.path);
    if (!b) return respondGrpcStatus(res, 12, `method ${req.path} is not in the GRPCTranslation`);
    if (b.serverStreaming) return respondGrpcStatus(res, 12, `${req.path}: streaming methods cannot be translated to HTTP/JSON`);
    readWholeBody(req, info).then(
      (raw) => {
        if (!raw) return respondGrpcStatus(res, 8, `request larger than ${MAX_BODY} bytes`);
        if (raw.length < 5 || raw.length < 5 + raw.readUInt32BE(1)) return respondGrpcStatus(res, 13, 'the request is not one gRPC message');
        if (raw[0] !== 0) return respondGrpcStatus(res, 12, 'compressed gRPC messages are not supported by the translation');
        let call: { method: string; path: string; body: string | undefined };
        try {
          call = t.httpRequestFor(b, raw.subarray(5, 5 + raw.readUInt32BE(1)));
        } catch (e) {
          return respondGrpcStatus(res, 3, (e as Error).message);
        }
        const j = new JsonFromGrpc(req, res, info, t, b, call);
        next(j, j, info);
      },
      () => res.abort(),
    );
  };
}

/**
 * Weft's reverse translation filter: the listener-level config has no options, and the filter
 * does nothing there; a virtual host's `typed_per_filter_config` names the GRPCTranslation's
 * transcoder, and the routes of that host get the filter.
 */
export const grpcJsonReverse: HttpFilterFactory<true, Transcoder> = {
  extension: EXTENSIONS.grpcJsonReverseFilter,
  parse: noOptions(EXTENSIONS.grpcJsonReverseFilter),
  perRoute: { schema: EXTENSIONS.grpcJsonTranscoder.schema, parse: parseTranscoder },
  create: (_cfg, t) => (t ? reverseFilter(t) : undefined),
};

/** What the Exchange sees: an HTTP/JSON request. What the caller gets: a gRPC reply. */
class JsonFromGrpc extends Adapted {
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly hasBody: boolean;
  readonly body: Readable;
  readonly #info: RequestInfo;
  readonly #t: Transcoder;
  readonly #b: Binding;
  readonly #json: boolean;
  #status = 0;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(d: RequestHead, res: ResponseSink, info: RequestInfo, t: Transcoder, b: Binding, req: { method: string; path: string; body: string | undefined }) {
    super(d, res);
    this.#info = info;
    this.#t = t;
    this.#b = b;
    this.method = req.method;
    const q = req.path.indexOf('?');
    this.path = q < 0 ? req.path : req.path.slice(0, q);
    this.search = q < 0 ? '' : req.path.slice(q);
    this.#json = req.body !== undefined;
    this.hasBody = this.#json;
    this.body = Readable.from(this.#json ? [Buffer.from(req.body!)] : []);
  }

  get headersSent(): boolean {
    return this.done;
  }

  header(name: string): string | undefined {
    if (name === 'content-type') return this.#json ? 'application/json' : undefined;
    if (name === ':method') return this.method;
    if (name === ':path') return this.path + this.search;
    if (name === 'accept') return 'application/json';
    if (DROP.has(name) || name.startsWith('grpc-')) return undefined;
    return this.req.header(name);
  }

  rawPairs(): string[] {
    const src = this.req.rawPairs();
    const out: string[] = [];
    for (let i = 0; i < src.length; i += 2) if (!DROP.has(src[i]!) && !src[i]!.startsWith('grpc-')) out.push(src[i]!, src[i + 1]!);
    out.push('accept', 'application/json');
    if (this.#json) out.push('content-type', 'application/json');
    return out;
  }

  writeHead(status: number, _headers: ResponseHeaders, endStream: boolean): void {
    this.#status = status;
    if (endStream) this.#finish();
  }

  write(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size <= MAX_BODY) this.#chunks.push(chunk);
    return true;
  }

  end(): void {
    this.#finish();
  }

  respondTrailersOnly(headers: ResponseHeaders): void {
    // A gRPC answer the sidecar made (an error code of its own): pass it on as is.
    if (headers['grpc-status'] !== undefined) {
      this.done = true;
      this.res.respondTrailersOnly(headers);
      return;
    }
    this.#status = Number(headers[':status']) || 502;
    this.#finish();
  }

  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.#status = status;
    const weft = headers['x-weft-error'];
    if (weft) this.#info.weftError = String(weft);
    this.#chunks = [Buffer.from(body)];
    this.#finish();
  }

  #finish(): void {
    if (this.done) return;
    this.done = true;
    const d = this.res;
    const text = Buffer.concat(this.#chunks).toString('utf8');
    if (this.#size > MAX_BODY) return respondGrpcStatus(d, 8, `the service's answer is larger than ${MAX_BODY} bytes`);
    if (this.#status >= 200 && this.#status < 300) {
      let msg: Uint8Array;
      try {
        msg = this.#t.replyFromJson(this.#b, text);
      } catch (e) {
        return respondGrpcStatus(d, 13, e instanceof TranscodeError ? e.message : String(e));
      }
      d.writeHead(200, { 'content-type': 'application/grpc' }, false);
      d.write(grpcFrame(msg));
      d.end({ 'grpc-status': '0' });
      return;
    }
    let message = `HTTP ${this.#status}`;
    try {
      const j = JSON.parse(text) as { message?: unknown; error?: unknown };
      const m = typeof j.message === 'string' ? j.message : typeof j.error === 'string' ? j.error : undefined;
      if (m) message = m;
    } catch {
      if (text.trim()) message = text.trim().slice(0, 200);
    }
    respondGrpcStatus(d, grpcCodeForHttp(this.#status), message);
  }
}

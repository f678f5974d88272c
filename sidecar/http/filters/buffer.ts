/**
 * Envoy's buffer filter (envoy.filters.http.buffer, Buffer.max_request_bytes), the body limit of
 * a ClientTrafficPolicy: a request whose body is larger is answered 413 with
 * `x-weft-error: BODY_TOO_LARGE`. Unlike Envoy, the body is not buffered: it is counted as it
 * streams to the upstream, so the limit costs no memory.
 *  - a declared Content-Length over the limit is answered before a byte of the body is read, and
 *    the connection (HTTP/1.1) closes after the answer;
 *  - a declared length within the limit goes on untouched (the parser, llhttp or nghttp2, holds
 *    the body to its declared length);
 *  - a body of unknown length (chunked, or HTTP/2 without content-length) is counted; when it
 *    passes the limit, the upstream attempt is cancelled and the client gets 413 if nothing was
 *    answered yet, else its stream is reset; an HTTP/1.1 connection closes after it.
 * max_request_bytes is v3 Buffer's only field and is required; a BufferPerRoute in a route's
 * typed_per_filter_config is refused (this factory has no per-route parser).
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { Readable } from 'node:stream';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { BufferSchema } from '../../../proto/gen/envoy/extensions/filters/http/buffer/v3/buffer_pb.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import { ForwardingSink, RequestView, type Handler, type HttpFilterFactory, type RequestHead, type RequestInfo, type ResponseSink } from '../filter.js';
import { respondError } from '../respond.js';

const FIELDS = supportedFields({ 'envoy.extensions.filters.http.buffer.v3.Buffer': ['max_request_bytes'] });

function ignoreError(): void {}

/** A body of unknown length, passed through and counted; `over` is called once past `max`. */
class CountedBody extends Readable {
  #n = 0;
  #over = false;
  constructor(
    private readonly src: Readable,
    private readonly max: number,
    private readonly over: () => void,
  ) {
    super();
    // Every stream has an owner: errors reach the reader, never the process.
    this.on('error', ignoreError);
    src.on('data', (c: Buffer) => {
      if (this.#over) return;
      this.#n += c.length;
      if (this.#n > this.max) {
        this.#over = true;
        src.pause();
        this.over();
        return;
      }
      if (!this.push(c)) src.pause();
    });
    src.once('end', () => {
      if (!this.#over) this.push(null);
    });
    src.once('error', (e: Error) => this.destroy(e));
  }
  override _read(): void {
    if (!this.#over) this.src.resume();
  }
}

/** The request as the next stage sees it: the same, with a counted body. */
class CountedRequest extends RequestView {
  readonly #body: CountedBody;
  constructor(req: RequestHead, max: number, onOver: () => void) {
    super(req);
    this.#body = new CountedBody(req.body, max, onOver);
  }
  override get hasBody(): boolean {
    return true;
  }
  override get body(): Readable {
    return this.#body;
  }
}

/** The response sink that remembers how to cancel what is in flight for the request. */
class CancelingSink extends ForwardingSink {
  #cancel: (() => void) | undefined;
  override onClientGone(fn: () => void): void {
    this.#cancel = fn;
    this.res.onClientGone(fn);
  }
  cancel(): void {
    const c = this.#cancel;
    this.#cancel = undefined;
    c?.();
  }
}

function bodyLimit(max: number): (next: Handler) => Handler {
  return (next) => (req, res, info) => {
    if (!req.hasBody) return next(req, res, info);
    const cl = req.header('content-length');
    if (cl !== undefined) {
      const n = Number(cl);
      if (n > max) {
        // Refused before reading: the body is not read, so the connection cannot be reused.
        res.closeAfterResponse();
        respondError(req, res, info, 'BODY_TOO_LARGE', `the request body (content-length ${n}) is larger than ${max} bytes`);
        return;
      }
      if (Number.isSafeInteger(n)) return next(req, res, info);
    }
    const sink = new CancelingSink(res);
    const r = new CountedRequest(req, max, () => {
      // Whatever is in flight for the request stops (the upstream never sees it complete).
      sink.cancel();
      res.closeAfterResponse();
      respondError(req, res, info, 'BODY_TOO_LARGE', `the request body is larger than ${max} bytes`);
      r.body.destroy();
    });
    next(r, sink, info);
  };
}

export const buffer: HttpFilterFactory<number> = {
  extension: EXTENSIONS.buffer,
  parse(any, p, path) {
    const m = unpackAny(any, BufferSchema);
    if (!m) {
      p.add(path, 'is not an envoy.extensions.filters.http.buffer.v3.Buffer');
      return undefined;
    }
    checkSupported(BufferSchema, m, FIELDS, p, path);
    const max = m.maxRequestBytes;
    if (max === undefined || max < 1) {
      p.add(`${path}.max_request_bytes`, 'is required and must be at least 1');
      return undefined;
    }
    return max;
  },
  create: (max) => bodyLimit(max),
};

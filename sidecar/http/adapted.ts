/**
 * A request presented differently to the next stage (a gRPC call made from a JSON or gRPC-Web
 * request, an HTTP/JSON request made from a gRPC call), and the response sink that translates the
 * reply back for the real client. The peer belongs to the real request and the response's flow
 * control to the real sink; the info record is not here at all: it travels beside the request
 * (filter.ts), the same object whatever a filter presents.
 */
import type { Readable } from 'node:stream';
import { ForwardingSink, type RequestHead, type RequestInfo, type ResponseHeaders, type ResponseSink } from './filter.js';

export abstract class Adapted extends ForwardingSink implements RequestHead {
  readonly h2 = true;
  readonly grpc: boolean = true;
  readonly upgrade = undefined;
  abstract readonly method: string;
  abstract readonly path: string;
  abstract readonly search: string;
  abstract readonly hasBody: boolean;
  abstract readonly body: Readable;
  abstract override get headersSent(): boolean;
  /** The translated answer is complete (or was replaced by a whole answer, or aborted). */
  protected done = false;

  constructor(
    protected readonly req: RequestHead,
    res: ResponseSink,
  ) {
    super(res);
  }

  abstract header(name: string): string | undefined;
  abstract rawPairs(): string[];
  abstract override writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void;
  abstract override write(chunk: Buffer): boolean;
  abstract override end(trailers: ResponseHeaders | undefined): void;
  abstract override respondTrailersOnly(headers: ResponseHeaders): void;

  get authority(): string {
    return this.req.authority;
  }
  get remoteAddress(): string {
    return this.req.remoteAddress;
  }
  get principal(): string | undefined {
    return this.req.principal;
  }
  get secure(): boolean {
    return this.req.secure;
  }
  /** A whole answer (a redirect, a direct response) goes to the client as it is. */
  override respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.done = true;
    this.res.respondSimple(status, headers, body);
  }
  override abort(): void {
    this.done = true;
    this.res.abort();
  }
}

/** The largest request or reply body a translation buffers (JSON, gRPC-Web, reverse). */
export const MAX_TRANSLATED_BODY = 4 * 1024 * 1024;

/**
 * The whole request body, or undefined once it passes MAX_TRANSLATED_BODY. Translations need the
 * complete message before they can build the one they send; bytesReceived is set for the logs.
 */
export async function readWholeBody(d: RequestHead, info: RequestInfo): Promise<Buffer | undefined> {
  if (!d.hasBody) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let n = 0;
  // Not a for-await loop: leaving one early destroys the body, and an h2 request stream destroyed
  // is reset before the caller can answer 413 (a mesh client got 503 UPSTREAM_RESET instead). The
  // unread rest is dropped when the response ends (h1-server.ts; H2Downstream.respondSimple).
  const it = (d.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  for (let r = await it.next(); !r.done; r = await it.next()) {
    n += r.value.length;
    if (n > MAX_TRANSLATED_BODY) return undefined;
    chunks.push(r.value);
  }
  info.bytesReceived = n;
  return Buffer.concat(chunks);
}

/** The request headers of a gRPC call made from another request: `src` without `drop`, as gRPC. */
export function grpcPairs(src: readonly string[], drop: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < src.length; i += 2) if (!drop.has(src[i]!)) out.push(src[i]!, src[i + 1]!);
  out.push('content-type', 'application/grpc', 'te', 'trailers');
  return out;
}

/** One gRPC length-prefixed frame: flags (0 = message, 0x80 = gRPC-Web trailers), length, bytes. */
export function grpcFrame(payload: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = flags;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

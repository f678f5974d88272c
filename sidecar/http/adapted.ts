/**
 * A Downstream that stands in front of a real one and presents the request differently to the
 * Exchange (a gRPC call made from a JSON or gRPC-Web request). What belongs to the real request
 * (peer, timing, the metrics and access-log fields) is read from and written to the real one;
 * subclasses define the request they present and translate the response.
 */
import type { Context, Span } from '@opentelemetry/api';
import type { Downstream, ResponseHeaders } from './downstream.js';
import type { Readable } from 'node:stream';

export abstract class AdaptedDownstream implements Downstream {
  readonly h2 = true;
  readonly grpc = true;
  readonly upgrade = undefined;
  abstract readonly method: string;
  abstract readonly path: string;
  abstract readonly search: string;
  abstract readonly hasBody: boolean;
  abstract readonly body: Readable;
  abstract readonly headersSent: boolean;

  constructor(private readonly real: Downstream) {}

  abstract header(name: string): string | undefined;
  abstract rawPairs(): string[];
  abstract writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void;
  abstract write(chunk: Buffer): boolean;
  abstract end(trailers: ResponseHeaders | undefined): void;
  abstract respondTrailersOnly(headers: ResponseHeaders): void;

  // Request facts and bookkeeping belong to the real request.
  get authority(): string {
    return this.real.authority;
  }
  get remoteAddress(): string {
    return this.real.remoteAddress;
  }
  get principal(): string | undefined {
    return this.real.principal;
  }
  get startMs(): number {
    return this.real.startMs;
  }
  get traceCtx(): Context | undefined {
    return this.real.traceCtx;
  }
  set traceCtx(v: Context | undefined) {
    this.real.traceCtx = v;
  }
  get serverSpan(): Span | undefined {
    return this.real.serverSpan;
  }
  get routeName(): string {
    return this.real.routeName;
  }
  set routeName(v: string) {
    this.real.routeName = v;
  }
  get clusterName(): string {
    return this.real.clusterName;
  }
  set clusterName(v: string) {
    this.real.clusterName = v;
  }
  get attempts(): number {
    return this.real.attempts;
  }
  set attempts(v: number) {
    this.real.attempts = v;
  }
  get upstreamHost(): string {
    return this.real.upstreamHost;
  }
  set upstreamHost(v: string) {
    this.real.upstreamHost = v;
  }
  get weftError(): string {
    return this.real.weftError;
  }
  set weftError(v: string) {
    this.real.weftError = v;
  }
  get requestId(): string {
    return this.real.requestId;
  }
  set requestId(v: string) {
    this.real.requestId = v;
  }
  get traceId(): string {
    return this.real.traceId;
  }
  set traceId(v: string) {
    this.real.traceId = v;
  }
  get bytesSent(): number {
    return this.real.bytesSent;
  }
  set bytesSent(_v: number) {
    // counted by the real downstream's writes
  }
  get bytesReceived(): number {
    return this.real.bytesReceived;
  }
  set bytesReceived(_v: number) {
    // the JSON body was counted when it was read
  }

  onceDrain(fn: () => void): void {
    this.real.onceDrain(fn);
  }
  respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    this.real.respondSimple(status, headers, body);
  }
  abort(): void {
    this.real.abort();
  }
  onClientGone(fn: () => void): void {
    this.real.onClientGone(fn);
  }
  closeAfterResponse(): void {
    this.real.closeAfterResponse();
  }
}

/** The largest request or reply body a translation buffers (JSON, gRPC-Web, reverse). */
export const MAX_TRANSLATED_BODY = 4 * 1024 * 1024;

/**
 * The whole request body, or undefined once it passes MAX_TRANSLATED_BODY. Translations need the
 * complete message before they can build the one they send; bytesReceived is set for the logs.
 */
export async function readWholeBody(d: Downstream): Promise<Buffer | undefined> {
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
  d.bytesReceived = n;
  return Buffer.concat(chunks);
}

/** One gRPC length-prefixed frame: flags (0 = message, 0x80 = gRPC-Web trailers), length, bytes. */
export function grpcFrame(payload: Uint8Array, flags = 0): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = flags;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

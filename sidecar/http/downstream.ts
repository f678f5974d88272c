/**
 * The downstream side of one request, the same shape for HTTP/1.1 (h1-server.ts: Node's native
 * llhttp parser on the socket) and HTTP/2 (a raw node:http2 stream), so routing and forwarding are written once.
 * Holds the parsed authority, path and query split once, and writes the response with
 * backpressure and trailers.
 */
import { constants as h2c, type IncomingHttpHeaders as H2Headers, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { peerPrincipal } from '../tls/mesh-tls.js';
import type { Context, Span } from '@opentelemetry/api';

export type ResponseHeaders = Record<string, string | string[] | number>;

export interface Downstream {
  readonly h2: boolean;
  readonly grpc: boolean;
  readonly method: string;
  /** Lowercase host[:port] from :authority, Host or an absolute-form target. */
  readonly authority: string;
  /** The target's path; the router replaces it with the normalized path (uri.ts) before routing. */
  path: string;
  /** Query string including '?', or ''. */
  readonly search: string;
  /** HTTP/1.1 Upgrade requests: the Upgrade type, lowercase; undefined for every other request. */
  readonly upgrade: string | undefined;
  readonly remoteAddress: string;
  /** The peer's verified SPIFFE ID (mTLS on the inbound listener); undefined on plaintext. */
  readonly principal: string | undefined;
  /** Trace context of this request's SERVER span (inbound, when tracing is on). */
  traceCtx?: Context;
  // What the request went through, filled in on the way (metrics, access log, load reports).
  /** performance.now() when the request arrived. */
  readonly startMs: number;
  /** Matched route's name ('' when none matched) and the cluster it went to ('' when none). */
  routeName: string;
  clusterName: string;
  /** Upstream attempts made (retries included) and the last host tried. */
  attempts: number;
  upstreamHost: string;
  /** The x-weft-error code when the sidecar answered or cut the response; '' otherwise. */
  weftError: string;
  /** x-request-id sent upstream (kept or generated); '' before forwarding. */
  requestId: string;
  /** Trace id of the span the sidecar made for this request ('' when none). */
  traceId: string;
  /** The inbound SERVER span, ended when the response is done. */
  serverSpan?: Span;
  /** Response body bytes written, request body bytes read. */
  bytesSent: number;
  bytesReceived: number;
  readonly hasBody: boolean;
  readonly body: Readable;
  readonly headersSent: boolean;
  /** One header by lowercase name; `:method`, `:path`, `:authority` too. */
  header(name: string): string | undefined;
  /** Every request header as [name, value] pairs, names lowercase, without pseudo-headers. */
  rawPairs(): string[];
  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void;
  write(chunk: Buffer): boolean;
  onceDrain(fn: () => void): void;
  end(trailers: ResponseHeaders | undefined): void;
  respondTrailersOnly(headers: ResponseHeaders): void;
  respondSimple(status: number, headers: ResponseHeaders, body: string): void;
  /** Resets the stream / destroys the connection: the response cannot be completed. */
  abort(): void;
  /** Called once if the client goes away before the response ended. */
  onClientGone(fn: () => void): void;
  /** Ask the client to close this connection after the response (draining). */
  closeAfterResponse(): void;
}

export function splitTarget(target: string): [path: string, search: string] {
  const q = target.indexOf('?');
  return q < 0 ? [target, ''] : [target.slice(0, q), target.slice(q)];
}

/**
 * What the HTTP/1.1 and HTTP/2 downstreams share: the peer (address, mTLS principal) and what the
 * request went through, filled in on the way (metrics, access log, load reports, tracing).
 */
export abstract class SocketDownstream {
  readonly remoteAddress: string;
  readonly #socket: Socket | undefined;
  traceCtx?: Context;
  readonly startMs = performance.now();
  routeName = '';
  clusterName = '';
  attempts = 0;
  upstreamHost = '';
  weftError = '';
  requestId = '';
  traceId = '';
  serverSpan?: Span;
  bytesSent = 0;
  bytesReceived = 0;

  constructor(socket: Socket | undefined) {
    this.#socket = socket;
    this.remoteAddress = socket?.remoteAddress ?? '';
  }

  get principal(): string | undefined {
    return peerPrincipal(this.#socket);
  }
}

const H2_DROP = new Set([':method', ':path', ':authority', ':scheme', ':protocol']);

export class H2Downstream extends SocketDownstream implements Downstream {
  readonly h2 = true;
  readonly grpc: boolean;
  readonly method: string;
  readonly authority: string;
  path: string;
  readonly upgrade = undefined;
  readonly search: string;
  readonly hasBody: boolean;
  #sent = false;
  #ended = false;
  #trailers: ResponseHeaders | undefined;

  constructor(
    readonly stream: ServerHttp2Stream,
    readonly headers: H2Headers,
    readonly flags: number,
  ) {
    super(stream.session?.socket as Socket | undefined);
    this.method = headers[':method'] ?? 'GET';
    this.authority = (headers[':authority'] ?? headers.host ?? '').toLowerCase();
    [this.path, this.search] = splitTarget(headers[':path'] ?? '/');
    this.hasBody = !stream.endAfterHeaders;
    this.grpc = headers['content-type']?.startsWith('application/grpc') ?? false;
  }

  get body(): Readable {
    return this.stream;
  }
  get headersSent(): boolean {
    return this.#sent;
  }

  header(name: string): string | undefined {
    const v = this.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  }

  rawPairs(): string[] {
    const out: string[] = [];
    for (const k in this.headers) {
      if (H2_DROP.has(k)) continue;
      const v = this.headers[k];
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) out.push(k, x);
      else out.push(k, v);
    }
    return out;
  }

  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    if (this.stream.destroyed) return;
    this.#sent = true;
    headers[':status'] = status;
    if (endStream) {
      this.#ended = true;
      this.stream.respond(headers, { endStream: true });
      return;
    }
    this.stream.respond(headers, { waitForTrailers: true });
    this.stream.once('wantTrailers', () => {
      if (this.#trailers && Object.keys(this.#trailers).length) this.stream.sendTrailers(this.#trailers);
      // No trailers: an empty HEADERS frame ends the stream. (close() here left the stream open
      // for the peer: it saw neither END_STREAM nor RST_STREAM.)
      else this.stream.sendTrailers({});
    });
  }
  write(chunk: Buffer): boolean {
    this.bytesSent += chunk.length;
    return this.stream.destroyed ? true : this.stream.write(chunk);
  }
  onceDrain(fn: () => void): void {
    this.stream.once('drain', fn);
  }
  end(trailers: ResponseHeaders | undefined): void {
    if (this.#ended || this.stream.destroyed) return;
    this.#ended = true;
    this.#trailers = trailers;
    this.stream.end();
  }
  respondTrailersOnly(headers: ResponseHeaders): void {
    if (this.#ended || this.stream.destroyed) return;
    this.#sent = true;
    this.#ended = true;
    this.stream.respond(headers, { endStream: true });
  }
  respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    if (this.#ended || this.stream.destroyed) return;
    this.#sent = true;
    this.#ended = true;
    this.stream.respond({ ...headers, ':status': status, 'content-length': Buffer.byteLength(body) });
    this.stream.end(this.method === 'HEAD' ? undefined : body);
    // A request body not read to its end is not wanted: RST_STREAM NO_ERROR, which Node sends once
    // the response is flushed (RFC 9113 section 8.1), so the stream does not stay half open.
    if (this.hasBody && !this.stream.readableEnded) this.stream.close(h2c.NGHTTP2_NO_ERROR);
  }
  abort(): void {
    this.#ended = true;
    if (!this.stream.destroyed) this.stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
  }
  onClientGone(fn: () => void): void {
    this.stream.once('close', () => {
      if (!this.#ended || this.stream.rstCode !== h2c.NGHTTP2_NO_ERROR) fn();
    });
  }
  closeAfterResponse(): void {
    // Draining sends GOAWAY on the session; nothing per stream.
  }
}

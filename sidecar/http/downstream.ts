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
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from './filter.js';

export type { ResponseHeaders } from './filter.js';

/**
 * One request as the listener received it: its head and its response sink, one object per
 * transport, and the info record it carries. The connection manager hands the three to the
 * filter chain separately (filter.ts).
 */
export interface Downstream extends RequestHead, ResponseSink {
  /** The target's path; the connection manager replaces it with the normalized path before routing. */
  path: string;
  readonly info: RequestInfo;
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
  readonly info = new RequestInfo();

  constructor(socket: Socket | undefined) {
    this.#socket = socket;
    this.remoteAddress = socket?.remoteAddress ?? '';
  }

  get principal(): string | undefined {
    return peerPrincipal(this.#socket);
  }

  get secure(): boolean {
    return (this.#socket as { encrypted?: boolean } | undefined)?.encrypted === true;
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
    this.info.bytesSent += chunk.length;
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

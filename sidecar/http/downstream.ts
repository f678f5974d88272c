/**
 * The downstream side of one request, the same shape for HTTP/1.1 (h1-server.ts: Node's native
 * llhttp parser on the socket) and HTTP/2 (a raw node:http2 stream), so routing and forwarding are written once.
 * Holds the parsed authority, path and query split once, and writes the response with
 * backpressure and trailers.
 */
import { H2Error } from '../h2/frames.js';
import type { H2ServerStream } from '../h2/server.js';
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

/** One request on a downstream HTTP/2 connection (Weft's own server side, sidecar/h2/server.ts) and its response. */
export class H2Downstream extends SocketDownstream implements Downstream {
  readonly h2 = true;
  readonly grpc: boolean;
  readonly method: string;
  readonly authority: string;
  path: string;
  readonly upgrade = undefined;
  readonly search: string;
  readonly hasBody: boolean;

  constructor(readonly stream: H2ServerStream) {
    super(stream.session.socket);
    this.method = stream.method;
    this.authority = (stream.authority ?? pairValue(stream.headers, 'host') ?? '').toLowerCase();
    [this.path, this.search] = splitTarget(stream.path ?? '/');
    this.hasBody = !stream.endAfterHeaders;
    this.grpc = pairValue(stream.headers, 'content-type')?.startsWith('application/grpc') ?? false;
  }

  get body(): Readable {
    return this.stream.body;
  }
  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  header(name: string): string | undefined {
    if (name.charCodeAt(0) === 58) {
      const s = this.stream;
      return name === ':method' ? s.method : name === ':path' ? s.path : name === ':authority' ? s.authority : name === ':scheme' ? s.scheme : undefined;
    }
    const h = this.stream.headers;
    let out: string | undefined;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] !== name) continue;
      // Cookies split over fields are one header again with '; ' (RFC 9113 8.2.3); others with ','.
      out = out === undefined ? h[i + 1]! : `${out}${name === 'cookie' ? '; ' : ','}${h[i + 1]!}`;
    }
    return out;
  }

  rawPairs(): string[] {
    const h = this.stream.headers;
    // Cookies split over several fields (RFC 9113 8.2.3) are one header again, joined with '; ',
    // as an HTTP/1.1 upstream expects (RFC 6265: one Cookie header).
    let cookies = 0;
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'cookie') cookies++;
    if (cookies < 2) return h;
    const out: string[] = [];
    for (let i = 0; i < h.length; i += 2) if (h[i] !== 'cookie') out.push(h[i]!, h[i + 1]!);
    out.push('cookie', this.header('cookie')!);
    return out;
  }

  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    this.stream.respond(status, headers, endStream);
  }
  write(chunk: Buffer): boolean {
    this.info.bytesSent += chunk.length;
    return this.stream.write(chunk);
  }
  onceDrain(fn: () => void): void {
    this.stream.onceDrain(fn);
  }
  end(trailers: ResponseHeaders | undefined): void {
    this.stream.end(trailers);
  }
  respondTrailersOnly(headers: ResponseHeaders): void {
    const { ':status': status, ...rest } = headers;
    this.stream.respond(Number(status), rest, true);
  }
  respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    if (this.stream.headersSent) return;
    const head = this.method === 'HEAD';
    this.stream.respond(status, { ...headers, 'content-length': Buffer.byteLength(body) }, head);
    if (head) return;
    this.stream.write(Buffer.from(body));
    // A request body not read to its end is not wanted: the stream resets with NO_ERROR once the
    // response is out (RFC 9113 section 8.1), so it does not stay half open.
    this.stream.end();
  }
  abort(): void {
    this.stream.reset(H2Error.INTERNAL_ERROR);
  }
  onClientGone(fn: () => void): void {
    this.stream.onGone(fn);
  }
  closeAfterResponse(): void {
    // Draining sends GOAWAY on the connection; nothing per stream.
  }
}

function pairValue(h: string[], name: string): string | undefined {
  for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
  return undefined;
}

/**
 * One request stream of the sidecar's own HTTP/2 server side (server.ts has the connection, and
 * the protocol rules both enforce): the request head as checked (RFC 9113 8.3.1), its body as a
 * Readable given window as it is read, and the response (head, body within the client's windows,
 * trailers, reset).
 */
import { Readable } from 'node:stream';
import { SendQueue, h2Err, type SendingStream } from './connection.js';
import { BAD_FIELD_VALUE, H2Error, LOWER_TOKEN, RESPONSE_HOP, fieldError } from './frames.js';
import type { H2ServerSession } from './server.js';

/** Response headers as the sidecar builds them (downstream.ts's ResponseHeaders). */
export type H2ResponseHeaders = Record<string, string | string[] | number | undefined>;

/** The window a request stream starts with (given back as its body is read). */
export const STREAM_WINDOW = 256 * 1024;

/** The request body as a Readable: window is given back as it is read. */
class RequestBody extends Readable {
  constructor(private readonly s: H2ServerStream) {
    super();
  }
  override _read(): void {
    this.s.bodyWanted();
  }
}

export function ignore(): void {}

/** One request on a connection and its response. */
export class H2ServerStream implements SendingStream {
  readonly id: number;
  readonly session: H2ServerSession;
  readonly method: string;
  readonly scheme: string;
  readonly authority: string | undefined;
  readonly path: string | undefined;
  /** The regular request headers, [name, value, ...] as received (no pseudo-headers). */
  readonly headers: string[];
  /** RFC 9113 size of the head (name + value + 32 per field, pseudo-headers included). */
  readonly headerListSize: number;
  /** The head was larger than what we decode in full: answer 431. */
  readonly tooLarge: boolean;
  readonly endAfterHeaders: boolean;
  /** The response's status and grpc-status (headers or trailers), for the access log and metrics. */
  status = 0;
  grpcStatus = -1;
  headersSent = false;
  /** The RST_STREAM code that closed the stream (by either side), or -1. */
  rstCode = -1;
  /** The listener's own object for this request (its Downstream). */
  user: unknown = undefined;
  sendWindow: number;
  #body: RequestBody | undefined;
  #recvAvail = STREAM_WINDOW;
  #unacked = 0;
  #expectLength = -1;
  #received = 0;
  #remoteEnded: boolean;
  #localEnded = false;
  #endQueued = false;
  #trailers: H2ResponseHeaders | undefined;
  readonly #queue = new SendQueue();
  #done = false;
  #drainFns: (() => void)[] | undefined;
  #goneFns: (() => void)[] | undefined;

  constructor(session: H2ServerSession, id: number, head: RequestHead, endStream: boolean, sendWindow: number) {
    this.session = session;
    this.id = id;
    this.method = head.method;
    this.scheme = head.scheme;
    this.authority = head.authority;
    this.path = head.path;
    this.headers = head.headers;
    this.headerListSize = head.size;
    this.tooLarge = head.tooLarge;
    this.endAfterHeaders = endStream;
    this.#remoteEnded = endStream;
    this.#expectLength = head.contentLength;
    this.sendWindow = sendWindow;
  }

  /** The request body (ended at once when the request has none). */
  get body(): Readable {
    if (!this.#body) {
      const b = (this.#body = new RequestBody(this));
      // Errors reach the body's reader; this listener keeps an unread one from being uncaught.
      b.on('error', ignore);
      if (this.#remoteEnded) b.push(null);
    }
    return this.#body;
  }

  get done(): boolean {
    return this.#done;
  }

  get ended(): boolean {
    return this.#localEnded;
  }

  // --- the response ---

  respond(status: number, headers: H2ResponseHeaders, endStream: boolean): void {
    if (this.#done || this.headersSent) return;
    this.headersSent = true;
    this.status = status;
    const g = headers['grpc-status'];
    if (g !== undefined) this.grpcStatus = Number(g);
    this.session.sendHeaders(this.id, [':status', String(status), ...fields(headers)], endStream);
    if (endStream) this.#endedLocally();
  }

  /**
   * An interim `100 Continue` (RFC 9110 10.1.1: the request said `expect: 100-continue`): a
   * HEADERS frame without END_STREAM; the final response follows as usual. Only before it, while
   * the client still has a body to send.
   */
  sendContinue(): void {
    if (this.#done || this.headersSent || this.#remoteEnded) return;
    this.session.sendHeaders(this.id, [':status', '100'], false);
  }

  /** Queues body bytes; false: wait for onceDrain before writing more. */
  write(chunk: Buffer): boolean {
    if (this.#done || this.#localEnded || this.#endQueued || chunk.length === 0) return true;
    this.#queue.push(chunk);
    this.session.pump(this);
    return this.#queue.bytes === 0 && !this.session.needDrain;
  }

  onceDrain(fn: () => void): void {
    (this.#drainFns ??= []).push(fn);
    if (this.#queue.bytes === 0 && !this.session.needDrain) queueMicrotask(() => this.drained());
  }

  /** Ends the response after what is queued, with trailers if any. */
  end(trailers?: H2ResponseHeaders): void {
    if (this.#done || this.#localEnded || this.#endQueued) return;
    this.#endQueued = true;
    if (trailers && Object.keys(trailers).length > 0) {
      this.#trailers = trailers;
      const g = trailers['grpc-status'];
      if (g !== undefined) this.grpcStatus = Number(g);
    }
    this.session.pump(this);
  }

  /** Resets the stream (abort): RST_STREAM `code`. */
  reset(code: number): void {
    if (this.#done) return;
    this.rstCode = code;
    this.session.closeStream(this, code);
  }

  /** Called once when the client goes away before the response ended (reset, or the connection closed). */
  onGone(fn: () => void): void {
    (this.#goneFns ??= []).push(fn);
  }

  // --- called by the session ---

  take(max: number): [Buffer | undefined, boolean] | undefined {
    if (this.#localEnded) return undefined;
    if (this.#queue.bytes === 0) {
      if (!this.#endQueued) return undefined;
      if (this.#trailers) {
        const t = this.#trailers;
        this.#trailers = undefined;
        this.session.sendHeaders(this.id, fields(t), true);
        this.#endedLocally();
        return undefined;
      }
      this.#endedLocally();
      return [undefined, true];
    }
    if (max <= 0) return undefined;
    const chunk = this.#queue.take(max);
    const end = this.#queue.bytes === 0 && this.#endQueued && !this.#trailers;
    if (end) this.#endedLocally();
    return [chunk, end];
  }

  get hasQueued(): boolean {
    return !this.#localEnded && (this.#queue.bytes > 0 || this.#endQueued);
  }

  drained(): void {
    const fns = this.#drainFns;
    if (!fns || this.#done || this.#queue.bytes > 0 || this.session.needDrain) return;
    this.#drainFns = undefined;
    for (const f of fns) f();
  }

  /** Our END_STREAM went out (it is queued in order): the stream closes once the request ended too. */
  #endedLocally(): void {
    this.#localEnded = true;
    // A response before the whole request body: the rest is not wanted (RFC 9113 8.1).
    if (!this.#remoteEnded) queueMicrotask(() => this.session.closeStream(this, H2Error.NO_ERROR));
    else queueMicrotask(() => this.session.closeStream(this, -1));
  }

  /** Request DATA; returns an error (message or code) when it is not allowed. */
  data(chunk: Buffer, flow: number, endStream: boolean): string | H2Error | undefined {
    if (this.#remoteEnded) return H2Error.STREAM_CLOSED;
    if (flow > this.#recvAvail) return H2Error.FLOW_CONTROL_ERROR;
    this.#recvAvail -= flow;
    this.#received += chunk.length;
    if (this.#expectLength >= 0 && (this.#received > this.#expectLength || (endStream && this.#received !== this.#expectLength))) return 'body length differs from its content-length';
    this.#unacked += flow;
    let flowing = true;
    if (!this.#done) {
      // (Made now if nobody asked for it yet: the bytes wait in it.)
      const b = this.body;
      if (!b.destroyed) {
        if (chunk.length > 0) flowing = b.push(chunk);
        if (endStream) b.push(null);
      }
    }
    if (endStream) this.#remoteEnded = true;
    if (flowing) this.bodyWanted();
    if (endStream && this.#localEnded) this.session.closeStream(this, -1);
    return undefined;
  }

  /** Request trailers: no pseudo-headers, the end of the stream. */
  trailers(list: string[], endStream: boolean): string | undefined {
    if (this.#remoteEnded) return 'HEADERS after the end of the stream';
    if (!endStream) return 'HEADERS in the middle of a request body';
    for (let i = 0; i < list.length; i += 2) if (list[i]!.charCodeAt(0) === 58) return 'pseudo-header in trailers';
    if (this.#expectLength >= 0 && this.#received !== this.#expectLength) return 'body shorter than its content-length';
    const b = this.body;
    if (!b.destroyed) b.push(null);
    this.#remoteEnded = true;
    if (this.#localEnded) this.session.closeStream(this, -1);
    return undefined;
  }

  /** The body's reader wants more: window for what it took. */
  bodyWanted(): void {
    if (this.#remoteEnded || this.#done || this.#unacked < STREAM_WINDOW / 2) return;
    this.#recvAvail += this.#unacked;
    this.session.windowUpdate(this.id, this.#unacked);
    this.#unacked = 0;
  }

  /** The stream is closed: `gone` when the client left before our response ended. */
  closed(gone: boolean, err: Error | undefined): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.clear();
    const b = this.#body;
    if (b && !this.#remoteEnded && !b.destroyed) b.destroy(err ?? h2Err('the stream closed before the request body ended', 'ERR_HTTP2_STREAM_ERROR'));
    if (gone) {
      const fns = this.#goneFns;
      this.#goneFns = undefined;
      if (fns) for (const f of fns) f();
    }
  }
}

/** Response header fields: pseudo-headers and connection-specific ones dropped, names lowercase, unsafe values skipped. */
function fields(h: H2ResponseHeaders): string[] {
  const out: string[] = [];
  for (const k in h) {
    const v = h[k];
    if (v === undefined || k.charCodeAt(0) === 58) continue;
    const n = LOWER_TOKEN.test(k) ? k : k.toLowerCase();
    if (RESPONSE_HOP.has(n) || !LOWER_TOKEN.test(n)) continue;
    if (typeof v === 'object') {
      for (const x of v) if (!BAD_FIELD_VALUE.test(x)) out.push(n, x);
      continue;
    }
    const s = typeof v === 'number' ? String(v) : v;
    if (!BAD_FIELD_VALUE.test(s)) out.push(n, s);
  }
  return out;
}

export interface RequestHead {
  method: string;
  scheme: string;
  authority: string | undefined;
  path: string | undefined;
  headers: string[];
  size: number;
  tooLarge: boolean;
  contentLength: number;
}

/** Checks a request head (RFC 9113 8.3.1); returns it split, or a message saying why it is malformed. */
export function requestHead(list: string[], fits: boolean): RequestHead | string {
  let method: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let path: string | undefined;
  let regular = false;
  let size = 0;
  let contentLength = -1;
  const headers: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const n = list[i]!;
    const v = list[i + 1]!;
    size += n.length + v.length + 32;
    if (n.charCodeAt(0) === 58) {
      if (regular) return `pseudo-header ${n} after a regular header`;
      if (n === ':method' && method === undefined) method = v;
      else if (n === ':scheme' && scheme === undefined) scheme = v;
      else if (n === ':authority' && authority === undefined) authority = v;
      else if (n === ':path' && path === undefined) path = v;
      else return `invalid or repeated pseudo-header ${n}`;
      if (BAD_FIELD_VALUE.test(v)) return `invalid value in ${n}`;
      continue;
    }
    regular = true;
    const bad = fieldError(n, v);
    if (bad) return bad;
    if (n === 'content-length') {
      if (!/^[0-9]{1,15}$/.test(v) || (contentLength >= 0 && contentLength !== Number(v))) return 'invalid content-length';
      contentLength = Number(v);
    }
    headers.push(n, v);
  }
  if (method === undefined) return 'no :method';
  if (method === 'CONNECT') {
    if (authority === undefined || scheme !== undefined || path !== undefined) return 'CONNECT needs :authority and no :scheme or :path';
  } else if (scheme === undefined || path === undefined || path === '') return 'no :scheme or :path';
  return { method, scheme: scheme ?? '', authority, path, headers, size, tooLarge: !fits, contentLength };
}


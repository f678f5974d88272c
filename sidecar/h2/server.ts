/**
 * The sidecar's own HTTP/2 server side: one connection from a downstream client (h2c by prior
 * knowledge, or TLS with ALPN h2), its request streams, and their responses. Replaces
 * node:http2's Http2Server on the listeners, for the same reason as the client (client.ts): the
 * per-stream Duplex, header objects and events cost more than the whole proxy hop.
 *
 * What it enforces, as nghttp2 does for node:http2 (RFC 9113):
 * - the client preface, then SETTINGS first; our SETTINGS (MAX_CONCURRENT_STREAMS, windows,
 *   MAX_HEADER_LIST_SIZE), the client's applied;
 * - stream ids odd and increasing; a stream past MAX_CONCURRENT_STREAMS or after our GOAWAY is
 *   refused (RST_STREAM REFUSED_STREAM);
 * - a request head: :method, :scheme and :path present (CONNECT: :authority only), no other or
 *   repeated pseudo-header, pseudo-headers first, lowercase names, no connection-specific header,
 *   no CR/LF/NUL in a value; a malformed one is a stream error (RST_STREAM PROTOCOL_ERROR), not
 *   a response; trailers carry no pseudo-header and end the stream; the body agrees with
 *   content-length;
 * - flow control both ways: a request body is given window as its reader takes it; the response
 *   is sent within the client's windows and write() says when to wait;
 * - a response that ends before the request body resets the stream with NO_ERROR (RFC 9113 8.1);
 * - floods end the connection with GOAWAY ENHANCE_YOUR_CALM: RST_STREAM faster than nghttp2's
 *   default rate (a burst of 1,000, then 33 a second: CVE-2023-44487), empty DATA frames
 *   (CVE-2019-9518), PING or SETTINGS while the client leaves our answers unread, header blocks
 *   (HEADERS + CONTINUATION) above 64 KiB or twice the head limit (CVE-2024-27316).
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { H2Endpoint, IdleTimer, SendQueue, h2Err, type SendingStream } from './connection.js';
import { BAD_FIELD_VALUE, Frame, H2Error, LOWER_TOKEN, PREFACE, RESPONSE_HOP, Setting, fieldError } from './frames.js';

/** Response headers as the sidecar builds them (downstream.ts's ResponseHeaders). */
export type H2ResponseHeaders = Record<string, string | string[] | number | undefined>;

export interface H2ServerOptions {
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise; a larger head is still decoded (to answer 431) up to a hard cap. */
  maxHeaderListSize: number;
  maxConcurrentStreams?: number;
  /** A request head arrived (valid, within MAX_CONCURRENT_STREAMS). */
  onStream(s: H2ServerStream): void;
  /** A stream is over (both sides ended, or reset): its status and grpc-status are final. */
  onStreamClose(s: H2ServerStream): void;
}

const STREAM_WINDOW = 256 * 1024;
const CONN_WINDOW = 1 << 20;

/** A token bucket: `burst` events at once, `perSecond` after that. */
class Bucket {
  #tokens: number;
  #at = Date.now();
  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
  ) {
    this.#tokens = burst;
  }
  take(): boolean {
    const now = Date.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) * this.perSecond) / 1000);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}

/** The request body as a Readable: window is given back as it is read. */
class RequestBody extends Readable {
  constructor(private readonly s: H2ServerStream) {
    super();
  }
  override _read(): void {
    this.s.bodyWanted();
  }
}

function ignore(): void {}

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

interface RequestHead {
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
function requestHead(list: string[], fits: boolean): RequestHead | string {
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

/** One downstream HTTP/2 connection. */
export class H2ServerSession extends H2Endpoint<H2ServerStream> {
  readonly #o: H2ServerOptions;
  readonly #maxConcurrent: number;
  #prefaceDone = false;
  #lastId = 0;
  #goaway = false;
  readonly #resets = new Bucket(1000, 33);
  readonly #empty = new Bucket(1000, 100);
  readonly #idle = new IdleTimer(0, () => this.dead || this.streams.size > 0, () => undefined);
  /** The connection closed. */
  onClose: (() => void) | undefined;

  constructor(socket: Socket, o: H2ServerOptions) {
    const maxConcurrent = o.maxConcurrentStreams ?? 256;
    const decodeLimit = Math.max(64 * 1024, o.maxHeaderListSize);
    super(socket, {
      streamWindow: STREAM_WINDOW,
      connWindow: CONN_WINDOW,
      maxHeaderList: decodeLimit,
      maxHeaderBlock: 2 * decodeLimit,
      settings: [[Setting.MAX_CONCURRENT_STREAMS, maxConcurrent]],
    });
    this.#o = o;
    this.#maxConcurrent = maxConcurrent;
    socket.on('data', (d: Buffer) => this.onSocketData(d));
    socket.on('error', ignore);
    socket.on('close', () => this.#onClose());
    socket.on('drain', () => this.onSocketDrain());
    this.sendSettings();
  }

  /** Streams in flight. */
  get activeStreams(): number {
    return this.streams.size;
  }

  /** Closes the connection after `ms` without a stream in flight (0: never); `onIdle` is told first. */
  setIdleTimeout(ms: number, onIdle: () => void): void {
    this.#idle.disarm();
    this.#idle.ms = ms;
    this.#idle.onIdle = () => {
      onIdle();
      this.goaway();
    };
    this.#idle.arm();
  }

  /** Draining: GOAWAY (streams in flight finish; new ones are refused); the connection closes once idle. */
  goaway(): void {
    if (this.dead || this.#goaway) return;
    this.#goaway = true;
    this.sendGoaway(this.#lastId, H2Error.NO_ERROR);
    if (this.streams.size === 0) this.#end();
  }

  /** Closes now: streams in flight are cut. */
  destroy(): void {
    this.socket.destroy();
  }

  #end(): void {
    if (this.dead) return;
    this.flush();
    this.dead = true;
    this.#idle.disarm();
    this.socket.end();
  }

  /**
   * The stream is over: RST_STREAM `rst` (>= 0) if it is still open, its slot freed, the listener
   * told. `gone`: the client is gone before the response ended (a reset other than NO_ERROR).
   */
  closeStream(s: H2ServerStream, rst: number, gone = rst > 0, err?: Error): void {
    if (this.streams.get(s.id) !== s) return;
    if (rst >= 0) this.sendRst(s.id, rst);
    this.streams.delete(s.id);
    this.blocked.delete(s);
    s.closed(gone, err ?? (gone ? h2Err('the stream was reset', 'ERR_HTTP2_STREAM_ERROR') : undefined));
    this.#o.onStreamClose(s);
    if (this.streams.size === 0) {
      this.#idle.touch();
      if (this.#goaway) this.#end();
      else this.#idle.arm();
    }
  }

  // --- what the connection hands to the server side ---

  protected override consumePreface(b: Buffer): number {
    if (this.#prefaceDone) return 0;
    const n = Math.min(b.length, PREFACE.length);
    if (!b.subarray(0, n).equals(PREFACE.subarray(0, n))) {
      this.connError(H2Error.PROTOCOL_ERROR, 'not the HTTP/2 client preface');
      return -1;
    }
    if (b.length < PREFACE.length) {
      this.keep(b);
      return -1;
    }
    this.#prefaceDone = true;
    return PREFACE.length;
  }

  protected idle(id: number): boolean {
    return (id & 1) === 0 || id > this.#lastId;
  }

  protected pushSettingOk(v: number): boolean {
    return v === 0 || v === 1;
  }

  protected onPushPromise(): void {
    this.connError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE from a client', this.#lastId);
  }

  protected override onFrameCounted(type: number, flags: number, length: number): boolean {
    switch (type) {
      case Frame.DATA:
        return length > 0 || (flags & 0x1) !== 0 || this.#empty.take();
      case Frame.PING:
      case Frame.SETTINGS:
        // Answers the client does not read pile up in our socket: a flood.
        return (flags & 0x1) !== 0 || this.socket.writableLength < 1 << 20;
      default:
        return true;
    }
  }

  protected onHeaderBlock(id: number, list: string[], endStream: boolean, fits: boolean): void {
    if ((id & 1) === 0) return this.connError(H2Error.PROTOCOL_ERROR, `HEADERS on even stream ${id}`, this.#lastId);
    const s = this.streams.get(id);
    if (s) {
      const bad = s.trailers(list, endStream);
      if (bad) this.streamError(id, H2Error.PROTOCOL_ERROR, bad);
      return;
    }
    // A stream we closed or reset: what was in flight is ignored (RFC 9113 5.4.2).
    if (id <= this.#lastId) return;
    this.#lastId = id;
    if (this.#goaway || this.streams.size >= this.#maxConcurrent) {
      this.sendRst(id, H2Error.REFUSED_STREAM);
      return;
    }
    const head = requestHead(list, fits);
    if (typeof head === 'string') {
      this.sendRst(id, H2Error.PROTOCOL_ERROR);
      return;
    }
    const st = new H2ServerStream(this, id, head, endStream, this.peerInitialWindow);
    this.streams.set(id, st);
    this.#idle.disarm();
    this.#o.onStream(st);
  }

  protected onStreamData(s: H2ServerStream, chunk: Buffer, flow: number, endStream: boolean): void {
    const r = s.data(chunk, flow, endStream);
    if (r === undefined) return;
    if (typeof r === 'string') this.streamError(s.id, H2Error.PROTOCOL_ERROR, r);
    else this.streamError(s.id, r, r === H2Error.FLOW_CONTROL_ERROR ? 'DATA beyond the stream window' : 'DATA after the end of the stream');
  }

  protected onClosedData(): void {
    // A stream we closed or reset: ignored, its bytes counted in the connection window.
  }

  protected onRstStream(s: H2ServerStream, code: number): void {
    if (!this.#resets.take()) return this.connError(H2Error.ENHANCE_YOUR_CALM, 'too many RST_STREAM', this.#lastId);
    s.rstCode = code;
    this.closeStream(s, -1, !s.ended || code !== H2Error.NO_ERROR, h2Err(`the client reset the stream (${code})`, 'ERR_HTTP2_STREAM_ERROR'));
  }

  protected onGoaway(): void {
    // The client opens no more streams; those in flight finish.
    this.#goaway = true;
    if (this.streams.size === 0) this.#end();
  }

  protected onSettingsApplied(): void {}

  protected streamError(id: number, code: H2Error, _message: string): void {
    const s = this.streams.get(id);
    if (s) {
      s.rstCode = code;
      this.closeStream(s, code);
    } else this.sendRst(id, code);
  }

  protected failAll(err: Error): void {
    this.#idle.disarm();
    const all = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    for (const s of all) {
      s.closed(!s.ended, err);
      this.#o.onStreamClose(s);
    }
  }

  protected override connError(code: H2Error, message: string, lastId = this.#lastId): void {
    super.connError(code, message, lastId);
  }

  #onClose(): void {
    this.dead = true;
    this.failAll(h2Err('the client closed the connection', 'ECONNRESET'));
    this.onClose?.();
  }
}

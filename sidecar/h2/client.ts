/**
 * The sidecar's own HTTP/2 client: one connection to an h2 or gRPC upstream, its streams, flow
 * control and HPACK (hpack.ts), over a socket dial() opened (plain TCP or mTLS).
 *
 * Why not node:http2: its client costs ~70 us of CPU per unary call on this machine before Weft
 * does anything (per stream a Duplex, an AsyncResource.bind with two deprecate() wrappers, header
 * objects converted both ways, nghttp2 callbacks into JS). Here a call is one object, its head a
 * flat [name, value] list, and the frames of one tick one socket write.
 *
 * What it does, as RFC 9113 asks of a client:
 * - preface and SETTINGS (push disabled, our windows and header list limit), SETTINGS ACK, PING
 *   answered, the peer's SETTINGS applied (window deltas to open streams, frame size, concurrency:
 *   streams past MAX_CONCURRENT_STREAMS wait for a slot);
 * - flow control both ways: DATA is sent within the connection and stream windows and split to
 *   the peer's frame size; what we receive is counted against the windows we gave, and given back
 *   (WINDOW_UPDATE) as the reader takes it, so a paused reader stops its stream, not the connection;
 * - HEADERS + CONTINUATION, padding, trailers; 1xx heads skipped; a response head is checked as
 *   nghttp2 checks it (one 3-digit :status, no other pseudo-header, lowercase names, no
 *   connection-specific headers, no CR/LF/NUL in values, content-length against the DATA), a bad
 *   one resets the stream (PROTOCOL_ERROR);
 * - RST_STREAM (REFUSED_STREAM is a safe retry), GOAWAY (streams above the last id refused, the
 *   rest finish; no new streams), connection errors answered with GOAWAY and the socket closed;
 * - an idle connection (no streams for idleTimeoutMs) is closed with GOAWAY.
 * Every failure reaches the stream's handler once, as connect / refused / reset / protocol.
 */
import type { Socket } from 'node:net';
import { H2Endpoint, IdleTimer, SendQueue, h2CodeName, h2Err, type SendingStream } from './connection.js';
import { DEFAULT_WINDOW, H2Error, MAX_WINDOW, PREFACE, Setting, fieldError } from './frames.js';

export type H2FailureKind = 'connect' | 'refused' | 'reset' | 'protocol';

/** What a stream reports to its caller. Each is called at most once except onData and onDrain. */
export interface H2StreamHandler {
  /** The final response head; `end`: no body or trailers follow (and no onEnd comes). Headers are [name, value, ...], no pseudo-headers. */
  onHead(status: number, headers: string[], end: boolean): void;
  /** A body chunk (the caller's to keep). False: pause until resume(). */
  onData(chunk: Buffer): boolean;
  /** The response ended, with its trailers if it had any. */
  onEnd(trailers: string[] | undefined): void;
  /** The stream failed before it ended. `code`: the HTTP/2 error code when there was one. */
  onFailure(kind: H2FailureKind, err: Error, code: number): void;
  /** The request body may be written again after write() returned false. */
  onDrain(): void;
}

export interface H2ClientOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Largest response head or trailers accepted (RFC 9113 accounting), default 64 KiB. */
  maxHeaderListSize?: number;
}

/** Our receive windows: per stream (SETTINGS_INITIAL_WINDOW_SIZE) and for the connection. */
const STREAM_WINDOW = 1 << 20;
const CONN_WINDOW = 8 << 20;
/** A header block (HEADERS + CONTINUATION) larger than this ends the connection (CONTINUATION floods). */
const MAX_HEADER_BLOCK = 256 * 1024;

/** One request/response exchange on a session. */
export class H2ClientStream implements SendingStream {
  id = 0;
  readonly #session: H2ClientSession;
  readonly #h: H2StreamHandler;
  readonly #head: boolean;
  #headers: string[] | undefined;
  #endOnOpen: boolean;
  /** What is left to send: body chunks waiting for window, and whether end() was called. */
  readonly #queue = new SendQueue();
  #endQueued = false;
  #localEnded = false;
  #remoteEnded = false;
  #headed = false;
  #done = false;
  #wantDrain = false;
  sendWindow = DEFAULT_WINDOW;
  #recvAvail = STREAM_WINDOW;
  #consumed = 0;
  #paused = false;
  /** Received while paused: chunks, then the end (with trailers) once it came. */
  #held: Buffer[] | undefined;
  #heldEnd: { trailers: string[] | undefined } | undefined;
  #expectLength = -1;
  #received = 0;

  constructor(session: H2ClientSession, headers: string[], endStream: boolean, h: H2StreamHandler, head: boolean) {
    this.#session = session;
    this.#headers = headers;
    this.#endOnOpen = endStream;
    this.#localEnded = false;
    this.#h = h;
    this.#head = head;
  }

  /** Sends the request head (the session calls this when the stream gets its id). */
  open(id: number, initialWindow: number): string[] | undefined {
    this.id = id;
    this.sendWindow = initialWindow;
    const h = this.#headers;
    this.#headers = undefined;
    if (this.#endOnOpen) this.#localEnded = true;
    return h;
  }

  get endOnOpen(): boolean {
    return this.#endOnOpen;
  }

  /** Queues a body chunk; false: wait for onDrain before writing more. */
  write(chunk: Buffer): boolean {
    if (this.#done || this.#localEnded || this.#endQueued) return false;
    if (chunk.length === 0) return true;
    this.#queue.push(chunk);
    if (this.id !== 0) this.#session.pump(this);
    const ok = this.#queue.bytes === 0 && !this.#session.needDrain;
    if (!ok) this.#wantDrain = true;
    return ok;
  }

  /** Ends the request body. */
  end(): void {
    if (this.#done || this.#localEnded || this.#endQueued) return;
    this.#endQueued = true;
    if (this.id !== 0) this.#session.pump(this);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const held = this.#held;
    this.#held = undefined;
    if (held) {
      for (let i = 0; i < held.length; i++) {
        if (this.#done) return;
        const c = held[i]!;
        this.#consume(c.length);
        if (!this.#h.onData(c) && i < held.length - 1) {
          // Paused again: keep the rest.
          this.#paused = true;
          this.#held = held.slice(i + 1);
          return;
        }
      }
    }
    if (this.#done) return;
    const end = this.#heldEnd;
    if (end && !this.#paused) {
      this.#heldEnd = undefined;
      this.#finish(end.trailers);
    }
  }

  /** Gives up the stream: RST_STREAM CANCEL; the handler hears nothing more. */
  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    this.#session.closeStream(this, this.id !== 0 && !(this.#localEnded && this.#remoteEnded) ? H2Error.CANCEL : -1);
  }

  get done(): boolean {
    return this.#done;
  }

  // --- called by the session ---

  /** Takes up to `max` queued bytes for one DATA frame; [chunk, endStream], or undefined when nothing is to be sent. */
  take(max: number): [Buffer | undefined, boolean] | undefined {
    if (this.#localEnded) return undefined;
    if (this.#queue.bytes === 0) {
      if (!this.#endQueued) return undefined;
      this.#localEnded = true;
      return [undefined, true];
    }
    if (max <= 0) return undefined;
    const chunk = this.#queue.take(max);
    const end = this.#queue.bytes === 0 && this.#endQueued;
    if (end) this.#localEnded = true;
    return [chunk, end];
  }

  get hasQueued(): boolean {
    return !this.#localEnded && (this.#queue.bytes > 0 || this.#endQueued);
  }

  get localEnded(): boolean {
    return this.#localEnded;
  }

  get remoteEnded(): boolean {
    return this.#remoteEnded;
  }

  /** The session can take more of the body: tell the writer if it was waiting. */
  drained(): void {
    if (!this.#wantDrain || this.#done || this.#queue.bytes > 0 || this.#session.needDrain) return;
    this.#wantDrain = false;
    this.#h.onDrain();
  }

  /** A complete header block for this stream. Returns an error message when it is malformed. */
  headers(list: string[], endStream: boolean, tooLarge: boolean): string | undefined {
    if (this.#remoteEnded) return 'HEADERS after the end of the stream';
    if (tooLarge) return 'response head larger than the header list limit';
    if (!this.#headed) {
      let status = -1;
      let regular = false;
      const out: string[] = [];
      for (let i = 0; i < list.length; i += 2) {
        const n = list[i]!;
        const v = list[i + 1]!;
        if (n.charCodeAt(0) === 58) {
          if (regular || n !== ':status' || status !== -1 || !/^[0-9]{3}$/.test(v)) return `invalid pseudo-header ${n}`;
          status = Number(v);
          continue;
        }
        regular = true;
        const bad = fieldError(n, v);
        if (bad) return bad;
        if (n === 'content-length') {
          if (!/^[0-9]{1,15}$/.test(v) || (this.#expectLength >= 0 && this.#expectLength !== Number(v))) return 'invalid content-length';
          this.#expectLength = Number(v);
        }
        out.push(n, v);
      }
      if (status < 0) return 'no :status in the response';
      if (status < 200) {
        if (endStream || status === 101) return `status ${status} cannot end or switch an HTTP/2 stream`;
        this.#expectLength = -1;
        return undefined; // informational: the final head follows
      }
      if (this.#head || status === 204 || status === 304) this.#expectLength = -1;
      this.#headed = true;
      if (endStream) {
        if (this.#expectLength > 0) return 'content-length without the body';
        this.#remoteEnded = true;
      }
      this.#h.onHead(status, out, endStream);
      if (endStream && !this.#done) this.#complete();
      return undefined;
    }
    // Trailers: the end of the stream, no pseudo-headers.
    if (!endStream) return 'HEADERS in the middle of a response body';
    for (let i = 0; i < list.length; i += 2) {
      if (list[i]!.charCodeAt(0) === 58) return 'pseudo-header in trailers';
      const bad = fieldError(list[i]!, list[i + 1]!);
      if (bad) return bad;
    }
    if (this.#expectLength >= 0 && this.#received !== this.#expectLength) return 'body shorter than its content-length';
    this.#remoteEnded = true;
    this.#end(list);
    return undefined;
  }

  /** A DATA frame's payload (padding removed); `flowLength` is what it counts against the window. Error message when it is not allowed. */
  data(chunk: Buffer, flowLength: number, endStream: boolean): string | H2Error | undefined {
    if (this.#remoteEnded) return H2Error.STREAM_CLOSED;
    if (!this.#headed) return 'DATA before the response head';
    if (flowLength > this.#recvAvail) return H2Error.FLOW_CONTROL_ERROR;
    this.#recvAvail -= flowLength;
    // Padding is given back at once; the payload as the reader takes it.
    const pad = flowLength - chunk.length;
    if (pad > 0) this.#consume(pad);
    this.#received += chunk.length;
    if (this.#expectLength >= 0 && (this.#received > this.#expectLength || (endStream && this.#received !== this.#expectLength))) return 'body length differs from its content-length';
    if (endStream) this.#remoteEnded = true;
    if (chunk.length > 0) {
      if (this.#paused) (this.#held ??= []).push(chunk);
      else {
        this.#consume(chunk.length);
        if (!this.#h.onData(chunk)) this.#paused = true;
      }
    }
    if (endStream && !this.#done) this.#end(undefined);
    return undefined;
  }

  #consume(n: number): void {
    this.#consumed += n;
    if (this.#remoteEnded) return;
    if (this.#consumed >= STREAM_WINDOW / 2) {
      this.#recvAvail += this.#consumed;
      this.#session.windowUpdate(this.id, this.#consumed);
      this.#consumed = 0;
    }
  }

  #end(trailers: string[] | undefined): void {
    if (this.#paused && (this.#held?.length ?? 0) > 0) {
      this.#heldEnd = { trailers };
      this.#complete(false);
      return;
    }
    this.#finish(trailers);
  }

  #finish(trailers: string[] | undefined): void {
    this.#complete();
    this.#h.onEnd(trailers);
  }

  /** The response is in: the request body stops (an early response), the stream leaves the session. */
  #complete(markDone = true): void {
    if (markDone) this.#done = true;
    const cancelBody = !this.#localEnded;
    this.#localEnded = true;
    this.#queue.clear();
    this.#session.closeStream(this, cancelBody ? H2Error.CANCEL : -1);
  }

  /** The stream failed (RST_STREAM, GOAWAY, the connection). */
  fail(kind: H2FailureKind, err: Error, code: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#held = undefined;
    this.#heldEnd = undefined;
    this.#h.onFailure(kind, err, code);
  }

  /** A RST_STREAM from the peer. */
  reset(code: number): void {
    if (this.#done) return;
    if (this.#remoteEnded) {
      // The response is complete (its end may still be held for a paused reader): the peer only stops our body.
      this.#localEnded = true;
      this.#queue.clear();
      return;
    }
    const kind = code === H2Error.REFUSED_STREAM ? 'refused' : 'reset';
    this.fail(kind, h2Err(`upstream reset the stream (${h2CodeName(code)})`, code === H2Error.REFUSED_STREAM ? 'ERR_HTTP2_REFUSED_STREAM' : 'ERR_HTTP2_STREAM_ERROR'), code);
  }
}

/** One HTTP/2 connection to an upstream host. */
export class H2ClientSession extends H2Endpoint<H2ClientStream> {
  readonly #o: H2ClientOptions;
  #connected = false;
  #goingAway = false;
  #waiting: H2ClientStream[] = [];
  #nextId = 1;
  #connectTimer: NodeJS.Timeout | undefined;
  readonly #idle: IdleTimer;
  /** The session takes no new streams any more (GOAWAY, an error, closed): the pool opens another. */
  onUnusable: (() => void) | undefined;

  constructor(socket: Socket, ready: 'connect' | 'secureConnect', o: H2ClientOptions) {
    super(socket, {
      streamWindow: STREAM_WINDOW,
      connWindow: CONN_WINDOW,
      maxHeaderList: o.maxHeaderListSize ?? 64 * 1024,
      maxHeaderBlock: MAX_HEADER_BLOCK,
      settings: [[Setting.ENABLE_PUSH, 0]],
    });
    this.#o = o;
    this.#idle = new IdleTimer(o.idleTimeoutMs, () => this.dead || this.streams.size > 0 || this.#waiting.length > 0, () => this.close());
    this.#connectTimer = setTimeout(() => socket.destroy(h2Err('connect timeout', 'UND_ERR_CONNECT_TIMEOUT')), o.connectTimeoutMs);
    socket.once(ready, () => {
      clearTimeout(this.#connectTimer);
      this.#connected = true;
      const alpn = (socket as { alpnProtocol?: string | false }).alpnProtocol;
      if (typeof alpn === 'string' && alpn !== 'h2') this.connError(H2Error.HTTP_1_1_REQUIRED, `the upstream chose ${alpn}, not h2`);
    });
    socket.on('data', (d: Buffer) => this.onSocketData(d));
    let sockErr: Error | undefined;
    socket.on('error', (e: Error) => (sockErr = e));
    socket.on('close', () => this.#onClose(sockErr));
    socket.on('drain', () => this.onSocketDrain());
    socket.unref();
    this.send(PREFACE);
    this.sendSettings();
    this.#idle.arm();
  }

  /** Whether new streams can go on this session. */
  get usable(): boolean {
    return !this.dead && !this.#goingAway && this.#nextId <= MAX_WINDOW;
  }

  get connecting(): boolean {
    return !this.#connected && !this.dead;
  }

  /** Streams open or waiting (for tests and stats). */
  get streamCount(): number {
    return this.streams.size + this.#waiting.length;
  }

  /**
   * Starts a request. `headers`: [name, value, ...] with the pseudo-headers first, names lowercase.
   * A session that can take no stream fails it asynchronously as refused (safe to retry).
   */
  request(headers: string[], endStream: boolean, h: H2StreamHandler, head = false): H2ClientStream {
    const s = new H2ClientStream(this, headers, endStream, h, head);
    if (!this.usable) {
      queueMicrotask(() => s.fail('refused', h2Err('the upstream connection is closing', 'ERR_HTTP2_GOAWAY_SESSION'), H2Error.REFUSED_STREAM));
      return s;
    }
    this.#idle.disarm();
    if (this.streams.size < this.peerMaxConcurrent) this.#open(s);
    else this.#waiting.push(s);
    return s;
  }

  #open(s: H2ClientStream): void {
    const id = this.#nextId;
    this.#nextId += 2;
    this.streams.set(id, s);
    this.sendHeaders(id, s.open(id, this.peerInitialWindow)!, s.endOnOpen);
    if (s.hasQueued) this.pump(s);
  }

  /** The stream is over on our side: resets it (`rst` >= 0) and frees its slot. */
  closeStream(s: H2ClientStream, rst: number): void {
    const id = s.id;
    if (id === 0) {
      const i = this.#waiting.indexOf(s);
      if (i >= 0) this.#waiting.splice(i, 1);
      return;
    }
    if (this.streams.get(id) !== s) return;
    if (rst >= 0) this.sendRst(id, rst);
    this.streams.delete(id);
    this.blocked.delete(s);
    this.#openWaiting();
    if (this.streams.size === 0) {
      this.#idle.touch();
      if (this.#goingAway) this.#shutdown();
      else this.#idle.arm();
    }
  }

  #openWaiting(): void {
    while (this.#waiting.length && this.streams.size < this.peerMaxConcurrent && this.usable) this.#open(this.#waiting.shift()!);
  }

  /** Closes gracefully: no new streams, GOAWAY, the socket ends once open streams finish. */
  close(): void {
    if (this.dead) return;
    this.#unusable();
    for (const s of this.#waiting.splice(0)) s.fail('refused', h2Err('the upstream connection closed', 'ERR_HTTP2_GOAWAY_SESSION'), H2Error.REFUSED_STREAM);
    if (this.streams.size === 0) this.#shutdown();
  }

  #shutdown(): void {
    if (this.dead) return;
    this.sendGoaway(0, H2Error.NO_ERROR);
    this.flush();
    this.dead = true;
    this.#idle.disarm();
    this.socket.end();
  }

  #unusable(): void {
    if (this.#goingAway) return;
    this.#goingAway = true;
    this.onUnusable?.();
  }

  // --- what the connection hands to the client side ---

  /** A stream id we never opened (or a server-initiated one, which push being off rules out). */
  protected idle(id: number): boolean {
    return (id & 1) === 0 || id >= this.#nextId;
  }

  protected pushSettingOk(v: number): boolean {
    return v === 0; // a server must not enable push (RFC 9113 6.5.2)
  }

  protected onPushPromise(): void {
    this.connError(H2Error.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
  }

  protected onStreamData(s: H2ClientStream, chunk: Buffer, flow: number, endStream: boolean): void {
    const r = s.data(chunk, flow, endStream);
    if (r === undefined) return;
    if (typeof r === 'string') this.streamError(s.id, H2Error.PROTOCOL_ERROR, r);
    else this.streamError(s.id, r, r === H2Error.FLOW_CONTROL_ERROR ? 'DATA beyond the stream window' : 'DATA after the end of the stream');
  }

  protected onClosedData(): void {
    // A stream we already closed or reset: ignored, its bytes counted in the connection window.
  }

  protected onHeaderBlock(id: number, list: string[], endStream: boolean, fits: boolean): void {
    if (this.idle(id)) return this.connError(H2Error.PROTOCOL_ERROR, `HEADERS on idle stream ${id}`);
    const s = this.streams.get(id);
    if (!s) return;
    const bad = s.headers(list, endStream, !fits);
    if (bad !== undefined) this.streamError(id, H2Error.PROTOCOL_ERROR, bad);
  }

  protected onRstStream(s: H2ClientStream, code: number): void {
    // The slot is freed first: a retry the handler starts may take it.
    this.closeStream(s, -1);
    s.reset(code);
  }

  protected onSettingsApplied(): void {
    this.#openWaiting();
  }

  protected onGoaway(lastId: number, code: number): void {
    this.#unusable();
    const err = h2Err(`the upstream sent GOAWAY (${h2CodeName(code)})`, 'ERR_HTTP2_GOAWAY_SESSION');
    for (const [id, s] of [...this.streams]) {
      if (id <= lastId) continue;
      this.streams.delete(id);
      this.blocked.delete(s);
      s.fail('refused', err, H2Error.REFUSED_STREAM);
    }
    for (const s of this.#waiting.splice(0)) s.fail('refused', err, H2Error.REFUSED_STREAM);
    if (this.streams.size === 0) this.#shutdown();
  }

  protected streamError(id: number, code: H2Error, message: string): void {
    const s = this.streams.get(id);
    this.sendRst(id, code);
    if (!s) return;
    this.closeStream(s, -1);
    s.fail(code === H2Error.PROTOCOL_ERROR ? 'protocol' : 'reset', h2Err(`upstream stream error: ${message}`, 'ERR_HTTP2_STREAM_ERROR'), code);
  }

  protected failAll(err: Error, code: number): void {
    this.#fail('protocol', h2Err(`upstream ${err.message}`, 'ERR_HTTP2_ERROR'), code);
  }

  #onClose(err: Error | undefined): void {
    clearTimeout(this.#connectTimer);
    if (this.dead && this.streams.size === 0 && this.#waiting.length === 0) return;
    if (!this.#connected) this.#fail('connect', err ?? h2Err('the upstream closed the connection before it was established', 'ECONNRESET'), 0);
    else this.#fail('reset', err ?? h2Err('the upstream closed the connection', 'UND_ERR_SOCKET'), 0);
  }

  #fail(kind: H2FailureKind, err: Error, code: number): void {
    this.#unusable();
    this.dead = true;
    this.#idle.disarm();
    clearTimeout(this.#connectTimer);
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    const waiting = this.#waiting.splice(0);
    for (const s of streams) s.fail(kind, err, code);
    // Streams that never went out are safe to send elsewhere, unless the host was never reached.
    for (const s of waiting) s.fail(kind === 'connect' ? 'connect' : 'refused', err, H2Error.REFUSED_STREAM);
  }
}

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
import { H2Endpoint, IdleTimer, h2Err } from './connection.js';
import { H2ServerStream, STREAM_WINDOW, ignore, requestHead } from './server-stream.js';
import { Frame, H2Error, PREFACE, Setting } from './frames.js';

export type { H2ResponseHeaders } from './server-stream.js';
export { H2ServerStream } from './server-stream.js';

export interface H2ServerOptions {
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise; a larger head is still decoded (to answer 431) up to a hard cap. */
  maxHeaderListSize: number;
  maxConcurrentStreams?: number;
  /** A request head arrived (valid, within MAX_CONCURRENT_STREAMS). */
  onStream(s: H2ServerStream): void;
  /** A stream is over (both sides ended, or reset): its status and grpc-status are final. */
  onStreamClose(s: H2ServerStream): void;
}

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
  #headMs = 0;
  #onHeadTimeout: (() => void) | undefined;
  #headTimer: NodeJS.Timeout | undefined;
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

  /**
   * A header block left open (HEADERS without END_HEADERS) must end within `ms` (0: no limit), as
   * an HTTP/1.1 head must (requestHeaderTimeout): while it is open no other frame may come, so it
   * holds every stream of the connection, and half a block cannot be answered (its HPACK state is
   * unknown): GOAWAY ENHANCE_YOUR_CALM and the connection closed, `onTimeout` told first.
   */
  setHeadTimeout(ms: number, onTimeout: () => void): void {
    this.#headMs = ms;
    this.#onHeadTimeout = onTimeout;
  }

  /** A header block is open and its head timeout running. */
  get headTimerArmed(): boolean {
    return this.#headTimer !== undefined;
  }

  protected override onBlockOpen(): void {
    if (this.#headMs === 0 || this.#headTimer) return;
    this.#headTimer = setTimeout(() => {
      this.#headTimer = undefined;
      if (this.dead) return;
      this.#onHeadTimeout?.();
      this.connError(H2Error.ENHANCE_YOUR_CALM, `a header block did not end within ${this.#headMs} ms`);
    }, this.#headMs);
    this.#headTimer.unref();
  }

  protected override onBlockClosed(): void {
    clearTimeout(this.#headTimer);
    this.#headTimer = undefined;
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
    const all = this.streams.values();
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
    this.onBlockClosed(); // a head timer left running would hold the session until it fired
    this.failAll(h2Err('the client closed the connection', 'ECONNRESET'));
    this.onClose?.();
  }
}

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
import { H2Endpoint, IdleTimer, h2CodeName, h2Err } from './connection.js';
import { H2ClientStream, STREAM_WINDOW, type H2FailureKind, type H2StreamHandler } from './client-stream.js';
import { Frame, H2Error, MAX_WINDOW, PREFACE, Setting, frame } from './frames.js';

export { H2ClientStream, type H2FailureKind, type H2StreamHandler } from './client-stream.js';

export interface H2ClientOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Largest response head or trailers accepted (RFC 9113 accounting), default 64 KiB. */
  maxHeaderListSize?: number;
  /** Liveness PINGs (H2Keepalive); undefined: none. */
  keepalive?: H2Keepalive;
}

/**
 * Liveness, as Envoy's KeepaliveSettings: a PING every `intervalMs` once connected, plus a random
 * share of up to `jitterPercent` of it (so a fleet's PINGs do not line up); no ACK within
 * `timeoutMs` ends the connection (its streams fail as reset). A frame received meanwhile extends
 * the wait by another `timeoutMs`: the connection is alive, and the ACK may be queued behind DATA.
 * For paths that can vanish without a RST (the control-plane channel across a partition, an
 * upstream host that went away).
 */
export interface H2Keepalive {
  intervalMs: number;
  timeoutMs: number;
  /** 0..100; default 0. */
  jitterPercent?: number;
}

/** Our receive window for the connection (each stream's: STREAM_WINDOW, client-stream.ts). */
const CONN_WINDOW = 8 << 20;
/** A header block (HEADERS + CONTINUATION) larger than this ends the connection (CONTINUATION floods). */
const MAX_HEADER_BLOCK = 256 * 1024;

/** One HTTP/2 connection to an upstream host. */
export class H2ClientSession extends H2Endpoint<H2ClientStream> {
  readonly #o: H2ClientOptions;
  #connected = false;
  #goingAway = false;
  #waiting: H2ClientStream[] = [];
  #nextId = 1;
  #connectTimer: NodeJS.Timeout | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  #pingDeadline: NodeJS.Timeout | undefined;
  /** Frames received, and their count when the outstanding PING went out (keepalive). */
  #framesIn = 0;
  #framesAtPing = 0;
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
      if (o.keepalive) this.#nextPing(o.keepalive);
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

  #nextPing(k: H2Keepalive): void {
    const jitter = k.jitterPercent ? Math.random() * k.intervalMs * (k.jitterPercent / 100) : 0;
    this.#keepalive = setTimeout(() => this.#ping(k), k.intervalMs + jitter);
    this.#keepalive.unref();
  }

  #ping(k: H2Keepalive): void {
    if (this.dead) return;
    // One PING outstanding at a time: its deadline decides.
    if (!this.#pingDeadline) {
      this.send(frame(Frame.PING, 0, 0, Buffer.alloc(8)));
      this.#framesAtPing = this.#framesIn;
      this.#armPingDeadline(k);
    }
    this.#nextPing(k);
  }

  #armPingDeadline(k: H2Keepalive): void {
    this.#pingDeadline = setTimeout(() => {
      if (this.#framesIn !== this.#framesAtPing) {
        this.#framesAtPing = this.#framesIn;
        this.#armPingDeadline(k);
        return;
      }
      this.socket.destroy(h2Err(`keepalive: no PING ACK within ${k.timeoutMs} ms`, 'ERR_HTTP2_PING_TIMEOUT'));
    }, k.timeoutMs);
    this.#pingDeadline.unref();
  }

  protected override onFrameCounted(): boolean {
    this.#framesIn++;
    return true;
  }

  protected override onPingAck(): void {
    clearTimeout(this.#pingDeadline);
    this.#pingDeadline = undefined;
  }

  #stopKeepalive(): void {
    clearTimeout(this.#keepalive);
    clearTimeout(this.#pingDeadline);
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
    for (const s of this.streams.values()) {
      const id = s.id;
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
    this.#stopKeepalive();
    if (this.dead && this.streams.size === 0 && this.#waiting.length === 0) return;
    if (!this.#connected) this.#fail('connect', err ?? h2Err('the upstream closed the connection before it was established', 'ECONNRESET'), 0);
    else this.#fail('reset', err ?? h2Err('the upstream closed the connection', 'UND_ERR_SOCKET'), 0);
  }

  #fail(kind: H2FailureKind, err: Error, code: number): void {
    this.#unusable();
    this.dead = true;
    this.#idle.disarm();
    clearTimeout(this.#connectTimer);
    const streams = this.streams.values();
    this.streams.clear();
    this.blocked.clear();
    const waiting = this.#waiting.splice(0);
    for (const s of streams) s.fail(kind, err, code);
    // Streams that never went out are safe to send elsewhere, unless the host was never reached.
    for (const s of waiting) s.fail(kind === 'connect' ? 'connect' : 'refused', err, H2Error.REFUSED_STREAM);
  }
}

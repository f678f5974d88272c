/**
 * The sidecar's HTTP/1.1 server side: one H1Connection per accepted socket (plaintext or TLS),
 * parsing requests with Node's native llhttp binding (`_http_common.HTTPParser`, the parser and
 * strictness `node:http` uses; llhttp.ts) straight from the socket: as node:http does, the parser
 * consumes the socket's native handle, so llhttp reads in C++ into one shared buffer (no 'data'
 * event, no Buffer per read) and JS hears of each read once (kOnExecute); each request and its response
 * is an H1Downstream (h1-downstream.ts): one latin1 head plus the body framed by content-length or
 * chunked. No IncomingMessage, ServerResponse or header objects: a request is its raw
 * [name, value] pairs, and a body stream only when it has a body.
 * This replaced `http.Server` on the listeners; see docs/benchmarks.md for what it saved.
 *
 * What the connection does, as node:http and Envoy's HTTP/1.1 codec do:
 * - keep-alive per the request (HTTP/1.1 default, HTTP/1.0 with `Connection: keep-alive`);
 *   `Connection: close`, a close-delimited response or draining close the connection after the
 *   response;
 * - pipelining: requests are parsed as they come but routed one at a time, responses in order;
 *   reading pauses while a later request waits;
 * - `Expect: 100-continue` is answered `100 Continue` before the body is read;
 * - a response that ends before its request body was read: the rest of the body is read and
 *   dropped, so the connection stays usable;
 * - HEAD, 1xx, 204 and 304 responses carry no body; trailers go out with chunked responses;
 * - Upgrade requests leave the parser with the bytes after the head (forwardUpgrade pipes them);
 * - malformed requests and oversized heads are answered 400 / 431 HEADERS_TOO_LARGE (after the
 *   responses in flight) and the connection closed; the sidecar keeps serving;
 * - a head not complete within `headersTimeoutMs` of its first byte is answered 408
 *   HEADERS_TIMEOUT; a keep-alive connection idle for `keepAliveTimeoutMs` is closed (both checked
 *   by the listener's sweep, with the options current at each sweep, so a new limit holds for
 *   open connections too). The head size limit is the parser's, fixed per connection.
 */
import type { Socket } from 'node:net';
import { H1Downstream, type HeadInfo } from './h1-downstream.js';
import { respondError, respondErrorRaw } from './respond.js';
import { validAuthority } from './uri.js';
import { HTTPParser, K_BODY, K_COMPLETE, K_EXECUTE, K_HEADERS, K_HEADERS_COMPLETE, METHODS, CallbackGuard, newParser, pauseConsumed, resumeConsumed, startReading, streamHandle, type NativeParser, type StreamHandle } from './llhttp.js';
import { lowerName } from './header-names.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** Why a request is refused before routing: the parser's error, or a check of ours (status set). */
type HeadError = Error & { code?: string; status?: number; head?: boolean };

function headError(code: string, message: string, status = 400): HeadError {
  return Object.assign(new Error(message), { code, status });
}

/** Request headers that go with an `Upgrade: h2c` and are dropped with it (Envoy does the same). */
const H2C_HEADERS = new Set(['upgrade', 'http2-settings']);

/** What the listener does with requests; the connection does the HTTP/1.1 part. */
export interface H1Hooks {
  /** A request to route (one at a time per connection, in order). */
  request(d: H1Downstream): void;
  /** The response ended or the request was given up; status 0: no response head was sent. */
  end(d: H1Downstream, status: number, grpcStatus: number): void;
  /** The parser refused a request (malformed, head too large, head too slow). */
  rejected(): void;
  /** A limit closed or refused on this connection: the head too large or too slow, the connection idle too long. */
  limit(which: 'maxRequestHeaderBytes' | 'requestHeaderTimeout' | 'idleTimeout', socket: Socket): void;
  /** Our own code threw while serving this connection: it was closed, the process goes on. */
  internalError(err: unknown): void;
  /** Draining: every new request is answered with `connection: close`. */
  draining(): boolean;
}

export interface H1Options {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** `Upgrade: h2c` (alone or first in a list): HTTP/2 over cleartext by upgrade, which Weft does not forward. */
function isH2c(v: string): boolean {
  return v === 'h2c' || v.startsWith('h2c,') || v.startsWith('h2c ');
}

/** One accepted HTTP/1.1 connection. */
export class H1Connection {
  readonly socket: Socket;
  readonly #hooks: H1Hooks;
  readonly #parser: NativeParser;
  /** The socket's handle while the parser consumes it (reads go to llhttp, not to 'data'). */
  #handle: StreamHandle | undefined;
  /** Our own code threw inside a parser callback: handled once the parser has returned. */
  readonly #guard = new CallbackGuard();
  /** Requests parsed and not yet answered; the first one is routed, the rest wait their turn. */
  readonly #queue: H1Downstream[] = [];
  /** The request whose body the parser is reading (head parsed, end not yet). */
  #reading: H1Downstream | undefined;
  #raw: string[] = [];
  #url = '';
  /** An Upgrade request (or an `Upgrade: h2c` served as a plain request): the parser stops after it. */
  #upgrade: H1Downstream | undefined;
  /** Its end was parsed: the bytes after it are the caller's, not HTTP/1.1. */
  #upgradeDone = false;
  /** The bytes after the Upgrade request, for the tunnel once the upstream said 101. */
  #tunnelHead: Buffer | undefined;
  #error: HeadError | undefined;
  #dead = false;
  #closing = false;
  /** Why reading is paused: a full request body buffer, waiting requests. */
  #pausedForBody = false;
  /** Date.now() when the current head started arriving (0: not inside a head). */
  #headStart = 0;
  #idleSince = Date.now();
  #freed = false;
  // Whether a request the parser refuses was a HEAD (its answer then has no body) is known only
  // for the connection's first request: its first bytes are kept (one slice per connection, no
  // per-request work); for a later one the refusal has an empty body, right either way.
  #firstBytes: Buffer | undefined;
  #headSeen = false;
  readonly #onDataFn = (data: Buffer): void => this.#onData(data);
  readonly #onEndFn = (): void => this.#close();

  constructor(socket: Socket, hooks: H1Hooks, o: H1Options) {
    this.socket = socket;
    this.#hooks = hooks;
    socket.setNoDelay(true);
    const p = (this.#parser = newParser(HTTPParser.REQUEST, o.maxHeaderBytes));
    p[K_HEADERS] = (raw: string[], url: string) => {
      for (let i = 0; i < raw.length; i++) this.#raw.push(raw[i]!);
      this.#url += url;
    };
    // A throw inside a callback is kept and handled after the parser returns (CallbackGuard).
    const g = this.#guard;
    p[K_HEADERS_COMPLETE] = (maj: number, min: number, raw: string[] | undefined, method: number, url: string | undefined, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean) => {
      if (g.failed) return -1;
      try {
        return this.#onHead(maj, min, raw, method, url, upgrade, keepAlive);
      } catch (e) {
        g.keep(e);
        return -1;
      }
    };
    p[K_BODY] = g.wrap1((chunk: Buffer) => this.#onBody(chunk));
    p[K_COMPLETE] = g.wrap0(() => this.#onComplete());
    p[K_EXECUTE] = (r: number | HeadError) => this.#afterExecute(r, undefined);
    // Bytes read before the connection was made (the listener's sniffed first read, put back)
    // come as 'data'; everything after, straight to the parser.
    socket.on('data', this.#onDataFn);
    socket.on('end', this.#onEndFn);
    socket.on('error', this.#onEndFn);
    socket.on('close', this.#onEndFn);
    const h = streamHandle(socket);
    if (h !== undefined) {
      p.consume(h);
      this.#handle = h;
    }
  }

  /** True once the connection will close after the current response. */
  get closing(): boolean {
    return this.#closing;
  }

  #onData(data: Buffer): void {
    if (this.#wantsFirstBytes()) this.#keepFirstBytes(data);
    let r: ReturnType<NativeParser['execute']>;
    try {
      r = this.#parser.execute(data);
    } catch (e) {
      this.#internalError(e);
      return;
    }
    this.#afterExecute(r, data);
  }

  /** After the parser took one read: `data` is the read, or undefined when llhttp read it itself (consumed). */
  #afterExecute(r: number | HeadError, data: Buffer | undefined): void {
    const thrown = this.#guard.take();
    if (thrown) {
      // Our own code threw inside a parser callback (routing a request): this connection is
      // closed, the process keeps serving every other one.
      this.#internalError(thrown.error);
      return;
    }
    if (this.#dead) return;
    if (data === undefined && this.#wantsFirstBytes()) this.#keepFirstBytes(this.#parser.getCurrentBuffer());
    if (this.#error) return this.#parseError(this.#error);
    if (typeof r !== 'number') return this.#parseError(r);
    // A read that leaves a head incomplete starts the head timeout (once per head).
    if (this.#headStart === 0 && this.#reading === undefined && !this.#parser.headersCompleted()) this.#headStart = Date.now();
    if (this.#upgrade) this.#afterUpgrade(data ?? this.#parser.getCurrentBuffer(), r);
  }

  /** Until the first head is parsed, its first five bytes (a consumed read is a copy: none taken once they are in). */
  #wantsFirstBytes(): boolean {
    return !this.#headSeen && (this.#firstBytes === undefined || this.#firstBytes.length < 5);
  }

  /** The first bytes of the connection, to tell whether a first request the parser refuses was a HEAD. */
  #keepFirstBytes(data: Buffer): void {
    const f = this.#firstBytes;
    if (f === undefined) this.#firstBytes = data.subarray(0, 5);
    else if (f.length < 5) this.#firstBytes = Buffer.concat([f, data.subarray(0, 5 - f.length)]);
  }

  /** After a read that held (part of) an Upgrade request (or an `Upgrade: h2c` one). */
  #afterUpgrade(data: Buffer, r: number): void {
    const up = this.#upgrade!;
    if (!this.#upgradeDone) {
      // Node's binding reports no error for a message llhttp flagged as an Upgrade: it returns
      // where the parser stopped. Stopping inside the message (an `Upgrade: h2c` request's
      // malformed body) is a parse error like any other.
      if (r < data.length) this.#parseError(Object.assign(new Error('malformed request body'), { code: 'HPE_INVALID_BODY' }));
      return;
    }
    // The parser stops after an Upgrade request: what follows is not HTTP/1.1. It waits here,
    // unread by anyone, until the upstream answers 101 (tunnel) or anything else (dropped).
    this.#upgrade = undefined;
    this.#detach();
    if (up.upgrade !== undefined) this.#tunnelHead = data.subarray(r);
  }

  /** Our code threw while serving this connection: answer 500 if we still can, then close. */
  #internalError(e: unknown): void {
    this.#hooks.internalError(e);
    if (this.#dead) return;
    this.#detach();
    const d = this.#queue[0];
    if (d && !d.headersSent && !d.ended) {
      d.keepAlive = false;
      try {
        respondError(d, d, d.info, 'INTERNAL', 'internal error while serving the request');
        return;
      } catch {
        // fall through: close without an answer
      }
    }
    this.#close();
  }

  #onHead(maj: number, min: number, raw: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    this.#headStart = 0;
    this.#headSeen = true;
    if (this.#dead) return 0;
    if (raw === undefined) {
      raw = this.#raw;
      this.#raw = [];
    }
    if (url === undefined) {
      url = this.#url;
      this.#url = '';
    }
    const info: HeadInfo = { host: '', length: 0, chunked: false, grpc: false, expectContinue: false, upgrade: '' };
    let hosts = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const n = lowerName(raw[i]!);
      raw[i] = n;
      switch (n.length) {
        case 4:
          if (n === 'host') {
            hosts++;
            info.host = raw[i + 1]!;
          }
          break;
        case 6:
          if (n === 'expect' && raw[i + 1]!.toLowerCase() === '100-continue') info.expectContinue = true;
          break;
        case 7:
          if (n === 'upgrade') info.upgrade = raw[i + 1]!.trim().toLowerCase();
          break;
        case 12:
          if (n === 'content-type' && raw[i + 1]!.startsWith('application/grpc')) info.grpc = true;
          break;
        case 14:
          if (n === 'content-length') info.length = Number(raw[i + 1]);
          break;
        case 17:
          if (n === 'transfer-encoding') info.chunked = true;
          break;
      }
    }
    // RFC 9112 section 3.2: exactly one Host in HTTP/1.1, and a valid one.
    const http10 = maj === 1 && min === 0;
    if (hosts > 1) return this.#refuseHead(headError('HOST_DUPLICATE', 'more than one Host header'), method);
    if (hosts === 0 && !http10) return this.#refuseHead(headError('HOST_MISSING', 'an HTTP/1.1 request needs a Host header'), method);
    if (!validAuthority(info.host)) return this.#refuseHead(headError('HOST_INVALID', 'the Host header is not a valid host[:port]'), method);
    const m = METHODS[method] ?? 'GET';
    if (upgrade) {
      if (m === 'CONNECT') return this.#refuseHead(headError('CONNECT', 'CONNECT is not supported', 405), method);
      if (this.#queue.length) return this.#refuseHead(headError('HPE_UPGRADE', 'an Upgrade behind pipelined requests'), method);
    }
    let h2c = false;
    if (upgrade && !isH2c(info.upgrade) && (info.chunked || info.length > 0)) return this.#refuseHead(headError('UPGRADE_BODY', 'an Upgrade request with a body is not supported'), method);
    if (upgrade && isH2c(info.upgrade)) {
      // `Upgrade: h2c` is never forwarded (as Envoy): the request is served as a plain one, without
      // its upgrade headers, and the connection closes after it (the parser stops at an Upgrade).
      h2c = true;
      info.upgrade = '';
      for (let i = raw.length - 2; i >= 0; i -= 2) if (H2C_HEADERS.has(raw[i]!)) raw.splice(i, 2);
    }
    const d = new H1Downstream(this, this.socket, m, url, raw, http10, keepAlive && !upgrade && !this.#hooks.draining(), upgrade && !h2c ? info : { ...info, upgrade: '' });
    if (upgrade) {
      this.#upgrade = d;
      this.#upgradeDone = false;
    }
    this.#reading = d.hasBody ? d : undefined;
    if (!d.hasBody) d.bodyDone = true;
    this.#queue.push(d);
    if (this.#queue.length === 1) this.#start(d);
    // A pipelined request waits its turn; read nothing more until it is routed.
    else this.#pauseReading();
    return 0;
  }

  /** A head refused before routing: the parser stops here (-1), the refusal is answered in order. */
  #refuseHead(err: HeadError, method: number): number {
    // The answer to a HEAD carries no body, even a refusal.
    if (METHODS[method] === 'HEAD') err.head = true;
    this.#error = err;
    return -1;
  }

  #start(d: H1Downstream): void {
    if (d.expectContinue && !d.bodyDone) this.socket.write(CONTINUE, 'latin1');
    this.#hooks.request(d);
  }

  /**
   * The upstream said 101: the socket becomes a tunnel owned by the caller, with the bytes the
   * client sent after its Upgrade request. Only for the Upgrade request being served.
   */
  tunnel(d: H1Downstream): { socket: Socket; head: Buffer } | undefined {
    if (this.#dead || this.#queue[0] !== d || d.upgrade === undefined || this.#tunnelHead === undefined) return undefined;
    const head = this.#tunnelHead;
    this.#tunnelHead = undefined;
    this.#dead = true;
    this.#queue.length = 0;
    const s = this.socket;
    s.off('data', this.#onDataFn);
    s.off('end', this.#onEndFn);
    s.off('error', this.#onEndFn);
    s.off('close', this.#onEndFn);
    this.#free();
    return { socket: s, head };
  }

  /** The tunnel of `d` closed: the request is over (status 101). */
  tunnelClosed(d: H1Downstream): void {
    this.#hooks.end(d, 101, -1);
  }

  #onBody(chunk: Buffer): void {
    const d = this.#reading;
    if (!d || this.#dead) return;
    d.info.bytesReceived += chunk.length;
    const b = d.bodyStream;
    if (d.discard || !b || b.destroyed) return;
    if (!b.push(chunk)) {
      this.#pausedForBody = true;
      this.#pauseReading();
    }
  }

  #onComplete(): void {
    if (this.#upgrade) this.#upgradeDone = true;
    const d = this.#reading;
    this.#reading = undefined;
    if (!d) return; // the end of a request without a body
    d.bodyDone = true;
    const b = d.bodyStream;
    if (b && !d.discard && !b.destroyed) b.push(null);
    // A pause for this body's full buffer is over: its end is in, the next request may be read.
    if (this.#pausedForBody) {
      this.#pausedForBody = false;
      this.#resume();
    }
  }

  /** The body stream wants more: resume reading if it was what paused it. */
  bodyWanted(): void {
    if (!this.#pausedForBody) return;
    this.#pausedForBody = false;
    this.#resume();
  }

  /** Reads on unless a body buffer is full or a pipelined request is waiting. */
  #resume(): void {
    if (this.#dead || this.#pausedForBody || this.#queue.length > 1 || this.#error) return;
    resumeConsumed(this.socket, this.#handle);
  }

  /** Reads nothing more for now; what is left of the current read is still parsed, as with a 'data' chunk. */
  #pauseReading(): void {
    pauseConsumed(this.socket, this.#handle);
  }

  /** Reads go back to the socket's JS side (for an Upgrade's tunnel, or to drop what comes). */
  #unconsume(): void {
    const h = this.#handle;
    if (h === undefined) return;
    this.#handle = undefined;
    this.#parser.unconsume();
    // Reading was stopped for a pause: start it again, into the (paused) socket, as net would.
    startReading(this.socket, h);
  }

  /** The response to `d` ended (always the first in the queue). */
  responded(d: H1Downstream): void {
    if (this.#queue[0] !== d) return;
    this.#queue.shift();
    this.#hooks.end(d, d.status, d.grpcStatus);
    if (this.#dead) return;
    if (!d.keepAlive) {
      this.#closeAfter();
      return;
    }
    if (!d.bodyDone) {
      // The response came before the whole request body: read the rest and drop it.
      d.discard = true;
      const b = d.bodyStream;
      if (b && !b.destroyed) b.destroy();
      this.#pausedForBody = false;
    }
    const next = this.#queue[0];
    if (next) {
      this.#resume();
      this.#start(next);
      return;
    }
    this.#idleSince = Date.now();
    if (this.#error) this.#reject();
    else if (this.#closing) this.#closeAfter();
    else this.#resume();
  }

  #parseError(err: HeadError): void {
    this.#error = err;
    this.#detach();
    this.#hooks.rejected();
    const d = this.#reading;
    this.#reading = undefined;
    if (d && this.#failBody(d, err)) return;
    if (this.#queue.length === 0) this.#reject();
  }

  /**
   * A request whose body turned out malformed. True when that request itself answers (or has
   * answered) and the connection closes after it; false when the refusal is still to be written.
   */
  #failBody(d: H1Downstream, err: HeadError): boolean {
    const at = this.#queue.indexOf(d);
    if (at > 0) {
      // Pipelined behind others and never started: it is dropped, the 400 comes in its turn.
      this.#queue.splice(at, 1);
      d.gone();
      return false;
    }
    if (at < 0) {
      // Its response is out; the rest of its body was being read and dropped.
      this.#closeAfter();
      return true;
    }
    this.#error = undefined;
    d.failBody(err);
    return true;
  }

  /** Answers the parser's refusal (once nothing is in flight) and closes. */
  #reject(): void {
    const err = this.#error!;
    this.#dead = true;
    const code = err.code;
    if (code === 'ECONNRESET' || !this.socket.writable) {
      this.socket.destroy();
      return;
    }
    if (err.status !== undefined) respondErrorRaw(this.socket, 'BAD_REQUEST', err.message, err.status, err.head ? 'HEAD' : 'other');
    else if (code === 'HPE_HEADER_OVERFLOW') {
      this.#hooks.limit('maxRequestHeaderBytes', this.socket);
      respondErrorRaw(this.socket, 'HEADERS_TOO_LARGE', 'request headers are too large', 431);
    } else if (code === 'HEADERS_TIMEOUT') {
      this.#hooks.limit('requestHeaderTimeout', this.socket);
      respondErrorRaw(this.socket, 'HEADERS_TIMEOUT', 'the request head did not arrive in time', 408);
    }
    else {
      // The parser stopped inside the request: a HEAD gets no body; when we cannot tell (a
      // request after the first on this connection), the answer has an empty body, right for both.
      const p = this.#headSeen ? undefined : this.#firstBytes?.toString('latin1', 0, 5);
      const known = p !== undefined && p.length >= 5;
      respondErrorRaw(this.socket, 'BAD_REQUEST', `malformed request (${code ?? 'parse error'})`, 400, known ? (p === 'HEAD ' ? 'HEAD' : 'other') : 'unknown');
    }
    // Read and drop whatever else comes, so the client's close is seen.
    this.socket.resume();
  }

  /** Stop parsing: the socket goes to an Upgrade, or the rest of the input is refused. */
  #detach(): void {
    this.socket.off('data', this.#onDataFn);
    this.#unconsume();
    this.socket.pause();
  }

  /** The parser is freed outside its own callbacks only (socket close, after an Upgrade). */
  #free(): void {
    if (this.#freed) return;
    this.#freed = true;
    this.#unconsume();
    this.#parser.free();
  }

  /** Ends the connection once written (no more requests are read). */
  #closeAfter(): void {
    this.#dead = true;
    for (const d of this.#queue.splice(0)) d.gone();
    this.#detach();
    this.socket.end();
    this.socket.resume();
  }

  /** The socket closed or failed: every request still here is gone. */
  #close(): void {
    if (this.socket.destroyed) this.#free();
    if (this.#dead) {
      if (!this.socket.destroyed) this.socket.destroy();
      return;
    }
    this.#dead = true;
    const q = this.#queue.splice(0);
    for (const d of q) {
      d.gone();
      if (d === q[0]) this.#hooks.end(d, d.status, d.grpcStatus);
    }
    this.socket.destroy();
  }

  /** Draining: close now if idle, else after the response in flight. */
  drain(): void {
    this.#closing = true;
    if (this.#queue.length === 0 && this.#reading === undefined && !this.#dead) this.#closeAfter();
  }

  /** The listener's periodic check: a head that takes too long, a keep-alive connection left idle. */
  sweep(now: number, o: H1Options): void {
    if (this.#dead || this.#error !== undefined) return;
    if (this.#headStart !== 0 && now - this.#headStart > o.headersTimeoutMs) {
      this.#headStart = 0;
      this.#error = Object.assign(new Error('headers timeout'), { code: 'HEADERS_TIMEOUT' });
      this.#detach();
      this.#hooks.rejected();
      if (this.#queue.length === 0) this.#reject();
      return;
    }
    if (this.#queue.length === 0 && this.#headStart === 0 && this.#reading === undefined && now - this.#idleSince > o.keepAliveTimeoutMs) {
      this.#hooks.limit('idleTimeout', this.socket);
      this.#close();
    }
  }
}

/**
 * The sidecar's HTTP/1.1 server side: one H1Connection per accepted socket (plaintext or TLS),
 * parsing requests with Node's native llhttp binding (`_http_common.HTTPParser`, the parser and
 * strictness `node:http` uses; llhttp.ts) straight from the socket; each request and its response
 * is an H1Downstream (h1-response.ts): one latin1 head plus the body framed by content-length or
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
 * - malformed requests and oversized heads are answered 400 / 431 (after the responses in
 *   flight) and the connection closed; the sidecar keeps serving;
 * - a head not complete within `headersTimeoutMs` is answered 408; a keep-alive connection idle
 *   for `keepAliveTimeoutMs` is closed (both checked by the listener's one-second sweep).
 */
import type { Socket } from 'node:net';
import { H1Downstream, type HeadInfo } from './h1-response.js';
import { respondErrorRaw } from './respond.js';
import { HTTPParser, K_BODY, K_COMPLETE, K_HEADERS, K_HEADERS_COMPLETE, METHODS, PARSER_RESOURCE, type NativeParser } from './llhttp.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** What the listener does with requests; the connection does the HTTP/1.1 part. */
export interface H1Hooks {
  /** A request to route (one at a time per connection, in order). */
  request(d: H1Downstream): void;
  /** The response ended or the request was given up; status 0: no response head was sent. */
  end(d: H1Downstream, status: number, grpcStatus: number): void;
  /** An Upgrade request: from now on the socket is the caller's. */
  upgrade(d: H1Downstream, socket: Socket, head: Buffer): void;
  /** The parser refused a request (malformed, head too large, head too slow). */
  rejected(): void;
  /** Draining: every new request is answered with `connection: close`. */
  draining(): boolean;
}

export interface H1Options {
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/** One accepted HTTP/1.1 connection. */
export class H1Connection {
  readonly socket: Socket;
  readonly #hooks: H1Hooks;
  readonly #parser: NativeParser;
  /** Requests parsed and not yet answered; the first one is routed, the rest wait their turn. */
  readonly #queue: H1Downstream[] = [];
  /** The request whose body the parser is reading (head parsed, end not yet). */
  #reading: H1Downstream | undefined;
  #raw: string[] = [];
  #url = '';
  #upgrade: H1Downstream | undefined;
  #error: (Error & { code?: string }) | undefined;
  #dead = false;
  #closing = false;
  /** Why reading is paused: a full request body buffer, waiting requests. */
  #pausedForBody = false;
  /** Date.now() when the current head started arriving (0: not inside a head). */
  #headStart = 0;
  #idleSince = Date.now();
  #freed = false;
  readonly #onDataFn = (data: Buffer): void => this.#onData(data);
  readonly #onEndFn = (): void => this.#close();

  constructor(socket: Socket, hooks: H1Hooks, o: H1Options) {
    this.socket = socket;
    this.#hooks = hooks;
    socket.setNoDelay(true);
    const p = (this.#parser = new HTTPParser());
    p.initialize(HTTPParser.REQUEST, PARSER_RESOURCE, o.maxHeaderBytes, HTTPParser.kLenientNone);
    p[K_HEADERS] = (raw: string[], url: string) => {
      for (let i = 0; i < raw.length; i++) this.#raw.push(raw[i]!);
      this.#url += url;
    };
    p[K_HEADERS_COMPLETE] = (maj: number, min: number, raw: string[] | undefined, method: number, url: string | undefined, _s: unknown, _m: unknown, upgrade: boolean, keepAlive: boolean) =>
      this.#onHead(maj, min, raw, method, url, upgrade, keepAlive);
    p[K_BODY] = (chunk: Buffer) => this.#onBody(chunk);
    p[K_COMPLETE] = () => this.#onComplete();
    socket.on('data', this.#onDataFn);
    socket.on('end', this.#onEndFn);
    socket.on('error', this.#onEndFn);
    socket.on('close', this.#onEndFn);
  }

  /** True once the connection will close after the current response. */
  get closing(): boolean {
    return this.#closing;
  }

  #onData(data: Buffer): void {
    if (this.#headStart === 0 && this.#reading === undefined) this.#headStart = Date.now();
    const r = this.#parser.execute(data);
    if (this.#dead) return;
    if (typeof r !== 'number') return this.#parseError(r);
    if (this.#error) return this.#parseError(this.#error); // a CONNECT, or an Upgrade behind pipelined requests
    const up = this.#upgrade;
    if (up) {
      // The socket is the Upgrade's now: this connection lets go of it.
      this.#upgrade = undefined;
      this.#dead = true;
      this.#detach();
      const s = this.socket;
      s.off('end', this.#onEndFn);
      s.off('error', this.#onEndFn);
      s.off('close', this.#onEndFn);
      this.#free();
      this.#hooks.upgrade(up, s, data.subarray(r));
    }
  }

  #onHead(maj: number, min: number, raw: string[] | undefined, method: number, url: string | undefined, upgrade: boolean, keepAlive: boolean): number {
    this.#headStart = 0;
    if (this.#dead) return 0;
    if (raw === undefined) {
      raw = this.#raw;
      this.#raw = [];
    }
    if (url === undefined) {
      url = this.#url;
      this.#url = '';
    }
    const info: HeadInfo = { host: '', length: 0, chunked: false, grpc: false, expectContinue: false };
    for (let i = 0; i < raw.length; i += 2) {
      const n = raw[i]!.toLowerCase();
      raw[i] = n;
      switch (n.length) {
        case 4:
          if (n === 'host' && info.host === '') info.host = raw[i + 1]!;
          break;
        case 6:
          if (n === 'expect' && raw[i + 1]!.toLowerCase() === '100-continue') info.expectContinue = true;
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
    const m = METHODS[method] ?? 'GET';
    const http10 = maj === 1 && min === 0;
    const d = new H1Downstream(this, this.socket, m, url, raw, http10, keepAlive && !this.#hooks.draining(), info);
    if (upgrade) {
      if (m === 'CONNECT' || this.#queue.length) {
        this.#error = Object.assign(new Error(m === 'CONNECT' ? 'CONNECT is not supported' : 'an Upgrade behind pipelined requests'), { code: m === 'CONNECT' ? 'CONNECT' : 'HPE_UPGRADE' });
      } else this.#upgrade = d;
      return 0;
    }
    this.#reading = d.hasBody ? d : undefined;
    if (!d.hasBody) d.bodyDone = true;
    this.#queue.push(d);
    if (this.#queue.length === 1) this.#start(d);
    // A pipelined request waits its turn; read nothing more until it is routed.
    else this.socket.pause();
    return 0;
  }

  #start(d: H1Downstream): void {
    if (d.expectContinue && !d.bodyDone) this.socket.write(CONTINUE, 'latin1');
    this.#hooks.request(d);
  }

  #onBody(chunk: Buffer): void {
    const d = this.#reading;
    if (!d || this.#dead) return;
    d.bytesReceived += chunk.length;
    const b = d.bodyStream;
    if (d.discard || !b || b.destroyed) return;
    if (!b.push(chunk)) {
      this.#pausedForBody = true;
      this.socket.pause();
    }
  }

  #onComplete(): void {
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
    if (this.socket.isPaused()) this.socket.resume();
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

  #parseError(err: Error & { code?: string }): void {
    this.#error = err;
    this.#detach();
    const d = this.#reading;
    if (d) {
      const b = d.bodyStream;
      if (b && !b.destroyed) b.destroy(Object.assign(new Error(`malformed request body (${err.code ?? 'parse error'})`), { code: err.code }));
    }
    if (this.#queue.length === 0) this.#reject();
  }

  /** Answers the parser's refusal (once nothing is in flight) and closes. */
  #reject(): void {
    const err = this.#error!;
    this.#hooks.rejected();
    this.#dead = true;
    const code = err.code;
    if (code === 'ECONNRESET' || !this.socket.writable) {
      this.socket.destroy();
      return;
    }
    if (code === 'HPE_HEADER_OVERFLOW') respondErrorRaw(this.socket, 'REQUEST_TOO_LARGE', 'request headers are too large', 431);
    else if (code === 'CONNECT') respondErrorRaw(this.socket, 'BAD_REQUEST', 'CONNECT is not supported', 405);
    else if (code === 'HEADERS_TIMEOUT') respondErrorRaw(this.socket, 'BAD_REQUEST', 'the request head did not arrive in time', 408);
    else respondErrorRaw(this.socket, 'BAD_REQUEST', `malformed request (${code ?? 'parse error'})`);
    // Read and drop whatever else comes, so the client's close is seen.
    this.socket.resume();
  }

  /** Stop parsing: the socket goes to an Upgrade, or the rest of the input is refused. */
  #detach(): void {
    this.socket.off('data', this.#onDataFn);
    this.socket.pause();
  }

  /** The parser is freed outside its own callbacks only (socket close, after an Upgrade). */
  #free(): void {
    if (this.#freed) return;
    this.#freed = true;
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
    if (this.#dead) return;
    if (this.#headStart !== 0 && now - this.#headStart > o.headersTimeoutMs) {
      this.#headStart = 0;
      this.#error = Object.assign(new Error('headers timeout'), { code: 'HEADERS_TIMEOUT' });
      this.#detach();
      if (this.#queue.length === 0) this.#reject();
      return;
    }
    if (this.#queue.length === 0 && this.#headStart === 0 && this.#reading === undefined && now - this.#idleSince > o.keepAliveTimeoutMs) this.#close();
  }
}

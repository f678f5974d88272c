/**
 * HTTP/1.1 connections to one upstream host: keep-alive, no pipelining, at most `maxConnections`
 * open, requests beyond that queued in order. Responses are parsed by Node's own llhttp binding
 * (the native parser `node:http` uses, exposed as `_http_common.HTTPParser`), which consumes the
 * socket's native handle (reads land in node's shared parser buffer and are parsed in C++, plain
 * and TLS alike; JS hears of each read once, kOnExecute): no 'data' events, no IncomingMessage,
 * no per-request streams, no header objects until the forwarder asks. This replaced undici's Pool on the proxy's hot path: undici parses with llhttp compiled to
 * WebAssembly and wraps each request in several objects; the native parser with a thin pool costs
 * about a third as much CPU per request (bench/weft-single-hop.sh).
 *
 * The pool is deliberately small. What Envoy's HTTP/1.1 connection pool does that matters here:
 * - a request head is written in one `write` (latin1 string); bodies stream with backpressure,
 *   framed by the request's content-length or else chunked (a chunk's size line, data and CRLF
 *   in one write);
 * - a connection goes back to the pool only when the response said keep-alive, the request body
 *   was fully sent and the response fully read; an idle connection closes after the cluster's
 *   idle timeout, or sooner if the server's `Keep-Alive: timeout=N` asks (minus a second);
 * - a connection the server closed while idle is dropped at once, never reused;
 * - 1xx interim responses are skipped; responses to HEAD have no body; trailers are passed on.
 */
import type { Socket } from 'node:net';
import type { Host } from './host.js';
import { dial, type HostTls } from './dial.js';
import { HTTPParser, K_BODY, K_COMPLETE, K_EXECUTE, K_HEADERS, K_HEADERS_COMPLETE, CallbackGuard, newParser, pauseConsumed, resumeConsumed, streamHandle, type NativeParser, type StreamHandle } from '../http/llhttp.js';
import { holdToTurnEnd, holdWrites, writeChunk } from '../http/write-batch.js';
import { lowerName } from '../http/header-names.js';
import { head, requestHead } from './h1-request-head.js';

export interface H1PoolOptions {
  maxConnections: number;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

export type H1FailureKind = 'connect' | 'reset' | 'protocol';

/** What the pool reports to the one who sent a request. Called at most once each, in order. */
export interface H1Handler {
  /** Final (non-1xx) response head; raw is [name, value, ...] as received. */
  onHeaders(status: number, raw: string[]): void;
  /** Return false to stop reading until `resume()`. */
  onData(chunk: Buffer): boolean;
  onComplete(trailers: string[] | undefined): void;
  /** The exchange failed; nothing more will be called. */
  onError(err: Error, kind: H1FailureKind): void;
  /**
   * One read of the response was parsed (what it held was reported above) and the response is
   * not over: a forwarder sends what it held back for the rest of the read (the exchange's
   * pending response head).
   */
  onReadEnd?(): void;
}

export interface H1Request {
  method: string;
  path: string;
  /** [name, value, ...], lowercase names, no hop-by-hop headers. */
  headers: readonly string[];
  body: AsyncIterable<Buffer> | undefined;
}

const EXPECTS_BODY = new Set(['POST', 'PUT', 'PATCH']);
const KEEP_ALIVE_TIMEOUT = /timeout\s*=\s*(\d+)/i;
// Flags that a rare path sets (an abort, a close) share a field with flags the common path sets
// (an answer, a connect): V8 treats a field written once as constant and deoptimizes every
// function compiled on that assumption when it first changes. A separate `aborted` or `dead`
// field first changed when the first clients went away under load, and recompiling the pool's
// hot path then stalled the event loop for ~1.5 s (docs/benchmarks.md, "Fixed-rate tail").
const FINISHED = 1;
const ABORTED = 2;
const CONNECTED = 1;
const DEAD = 2;

/** One request's place in the pool: queued, then on a connection. */
export class H1Call {
  conn: H1Conn | undefined;
  /** FINISHED (answered, or failed and told) | ABORTED (given up by the caller). */
  #flags = 0;
  constructor(
    readonly req: H1Request,
    readonly handler: H1Handler,
  ) {}

  get finished(): boolean {
    return (this.#flags & FINISHED) !== 0;
  }
  get aborted(): boolean {
    return (this.#flags & ABORTED) !== 0;
  }
  /** The exchange is over (answered, or failed with the handler told). */
  finish(): void {
    this.#flags |= FINISHED;
  }

  pause(): void {
    this.conn?.pauseReading();
  }
  resume(): void {
    if (this.conn && !this.finished) this.conn.resumeReading();
  }
  /** Gives the request up: a queued one is skipped, one on a connection closes it. */
  abort(): void {
    if (this.#flags !== 0) return;
    this.#flags |= ABORTED;
    this.conn?.destroy();
  }
}

class H1Conn {
  readonly socket: Socket;
  readonly #pool: H1Pool;
  readonly #parser: NativeParser;
  /** The socket's handle, which the parser consumes (undefined: reads come as 'data'). */
  readonly #handle: StreamHandle | undefined;
  /** Our own code threw inside a parser callback: handled once the parser has returned. */
  readonly #guard = new CallbackGuard();
  /** CONNECTED | DEAD (see FINISHED above for why one field). */
  #flags = 0;
  #call: H1Call | undefined;
  #raw: string[] = [];
  #status = 0;
  #keepAlive = false;
  /** The last `Keep-Alive` value seen and the idle limit it asks for (NaN: none). */
  #kaValue = '';
  #kaHintMs = NaN;
  #skipBody = false;
  #bodySent = false;
  #connectTimer: NodeJS.Timeout | undefined;
  idleSince = 0;
  /** Idle limit for this connection (the server may shorten the cluster's). */
  idleLimitMs: number;

  constructor(pool: H1Pool, host: Host, tls: HostTls | undefined, o: H1PoolOptions) {
    this.#pool = pool;
    this.idleLimitMs = o.idleTimeoutMs;
    const { socket, ready } = dial(host, tls, 'http/1.1');
    this.socket = socket;
    this.#connectTimer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), o.connectTimeoutMs);
    socket.once(ready, () => {
      clearTimeout(this.#connectTimer);
      this.#flags |= CONNECTED;
      if (this.#call) this.#write(this.#call);
    });
    const p = (this.#parser = newParser(HTTPParser.RESPONSE));
    p[K_HEADERS] = (raw: string[]) => {
      for (let i = 0; i < raw.length; i++) this.#raw.push(raw[i]!);
    };
    // A throw inside a callback (forwarding the response) is kept and handled after the parser
    // returns (CallbackGuard).
    const g = this.#guard;
    p[K_HEADERS_COMPLETE] = (_maj: number, _min: number, raw: string[] | undefined, _m: unknown, _u: unknown, status: number, _msg: unknown, _upgrade: boolean, keepAlive: boolean) => {
      if (g.failed) return -1;
      try {
        return this.#onHead(raw, status, keepAlive);
      } catch (e) {
        g.keep(e);
        return -1;
      }
    };
    p[K_BODY] = g.wrap1((chunk: Buffer) => {
      const c = this.#call;
      if (c && !c.aborted && !c.handler.onData(chunk)) this.pauseReading();
    });
    p[K_COMPLETE] = g.wrap0(() => this.#onComplete());
    p[K_EXECUTE] = (r: number | Error) => this.#afterExecute(r);
    // The parser reads the socket itself; 'data' serves a socket without a native handle.
    socket.on('data', (d: Buffer) => this.#onRead(d));
    this.#handle = streamHandle(socket);
    if (this.#handle) p.consume(this.#handle);
    socket.on('end', () => {
      // Read-until-close bodies end here; anything else in flight was cut short.
      // (finish() completes a read-until-close body; an error from it means the body was cut.)
      if (this.#call) this.#parser.finish();
      this.#fail(Object.assign(new Error('upstream closed the connection'), { code: 'UND_ERR_SOCKET' }), 'reset');
    });
    socket.on('error', (e: Error) => this.#fail(e, this.#connected() ? 'reset' : 'connect'));
    socket.on('close', () => {
      this.#fail(Object.assign(new Error('upstream closed the connection'), { code: 'UND_ERR_SOCKET' }), this.#connected() ? 'reset' : 'connect');
      this.#parser.close();
    });
  }

  #connected(): boolean {
    return (this.#flags & CONNECTED) !== 0;
  }

  get dead(): boolean {
    return (this.#flags & DEAD) !== 0;
  }

  assign(call: H1Call): void {
    this.#call = call;
    call.conn = this;
    this.#status = 0;
    this.#skipBody = call.req.method === 'HEAD';
    this.#bodySent = false;
    if (this.#connected()) this.#write(call);
  }

  #write(call: H1Call): void {
    const { method, path, headers, body } = call.req;
    const bytes = requestHead(method, path, headers, body !== undefined, EXPECTS_BODY.has(method));
    if (bytes === undefined) {
      this.#fail(Object.assign(new Error(head.error), { code: head.code }), 'protocol');
      return;
    }
    // A body's first chunks (all of a body already read) join the head: held to the turn's end.
    if (body) holdToTurnEnd(this.socket);
    else holdWrites(this.socket);
    this.socket.write(bytes);
    if (!body) {
      this.#bodySent = true;
      return;
    }
    void this.#pump(call, body, head.chunked);
  }

  async #pump(call: H1Call, body: AsyncIterable<Buffer>, chunked: boolean): Promise<void> {
    const s = this.socket;
    try {
      for await (const chunk of body) {
        if (call.aborted || this.dead || this.#call !== call) return;
        if (chunk.length === 0) continue;
        const ok = chunked ? writeChunk(s, chunk) : s.write(chunk);
        if (!ok) await new Promise<void>((res) => (s.once('drain', res), s.once('close', res)));
      }
      if (call.aborted || this.dead || this.#call !== call) return;
      if (chunked) s.write('0\r\n\r\n', 'latin1');
      this.#bodySent = true;
      if (call.finished) this.#pool.release(this, this.#keepAlive);
    } catch (e) {
      // The downstream body failed (client went away): this connection cannot be reused.
      if (this.#call === call && !call.finished) this.#fail(e instanceof Error ? e : new Error(String(e)), 'reset');
      else this.destroy();
    }
  }

  #onRead(d: Buffer): void {
    let r: ReturnType<NativeParser['execute']>;
    try {
      r = this.#parser.execute(d);
    } catch (e) {
      this.#guard.keep(e);
      r = 0;
    }
    this.#afterExecute(r);
  }

  #afterExecute(r: number | Error): void {
    const thrown = this.#guard.take();
    if (thrown) {
      // Our code threw while handling the response (in a parser callback): this connection and
      // its call fail; the process and every other connection go on.
      this.#fail(thrown.error instanceof Error ? thrown.error : new Error(String(thrown.error)), 'protocol');
      return;
    }
    if (r instanceof Error) this.#fail(r, 'protocol');
    else this.#call?.handler.onReadEnd?.();
  }

  /** Reads nothing more until resumeReading() (the downstream is full). */
  pauseReading(): void {
    pauseConsumed(this.socket, this.#handle);
  }

  resumeReading(): void {
    resumeConsumed(this.socket, this.#handle);
  }

  #onHead(raw: string[] | undefined, status: number, keepAlive: boolean): number {
    if (!raw) {
      raw = this.#raw;
      this.#raw = [];
    }
    const c = this.#call;
    if (!c) {
      this.destroy(); // a response nobody asked for: the connection is not trustworthy
      return 1;
    }
    if (c.aborted) return 1;
    if (status < 200) return 0; // 100 Continue, 103: the final head follows
    this.#status = status;
    this.#keepAlive = keepAlive;
    if (keepAlive) {
      for (let i = 0; i < raw.length; i += 2) {
        const n = raw[i]!;
        if (n.length === 10 && lowerName(n) === 'keep-alive') {
          // A server sends the same value every time: it is read once per connection, not per response.
          const v = raw[i + 1]!;
          if (v !== this.#kaValue) {
            this.#kaValue = v;
            const m = KEEP_ALIVE_TIMEOUT.exec(v);
            this.#kaHintMs = m ? Number(m[1]) * 1000 - 1000 : NaN;
          }
          const hint = this.#kaHintMs;
          if (hint <= 0) this.#keepAlive = false;
          else if (hint > 0) this.idleLimitMs = Math.min(this.idleLimitMs, hint);
        }
      }
    }
    c.handler.onHeaders(status, raw);
    return this.#skipBody ? 1 : 0;
  }

  #onComplete(): void {
    const c = this.#call;
    if (this.#status < 200) {
      this.#raw = [];
      return; // the end of an interim response
    }
    const trailers = this.#raw.length ? this.#raw : undefined;
    this.#raw = [];
    if (!c) return;
    c.finish();
    if (!c.aborted) c.handler.onComplete(trailers);
    if (this.#bodySent) this.#pool.release(this, this.#keepAlive);
    // else: #pump releases (or closes) it once the body is out.
  }

  /** Back to the pool: forget the finished call. */
  reset(): void {
    if (this.#call) this.#call.conn = undefined;
    this.#call = undefined;
    this.#status = 0;
    this.resumeReading();
  }

  /** The connection failed: close it and tell the call in flight, if any. */
  #fail(err: Error, kind: H1FailureKind): void {
    const c = this.#call;
    if (!this.#close(!this.#connected())) return;
    if (c && !c.finished && !c.aborted) {
      c.finish();
      c.handler.onError(err, kind);
    }
  }

  /** Closes the connection without telling the call (it was given up, or is done). */
  destroy(): void {
    this.#close(false);
  }

  /** False when it was already closed. */
  #close(connectFailed: boolean): boolean {
    if (this.dead) return false;
    this.#flags |= DEAD;
    clearTimeout(this.#connectTimer);
    this.#call = undefined;
    this.socket.destroy();
    this.#pool.dropped(this, connectFailed);
    return true;
  }
}

export class H1Pool {
  readonly #host: Host;
  readonly #tls: HostTls | undefined;
  readonly #o: H1PoolOptions;
  readonly #onConnectError: () => void;
  readonly #all = new Set<H1Conn>();
  #idle: H1Conn[] = [];
  #queue: H1Call[] = [];
  #qHead = 0;
  #sweep: NodeJS.Timeout | undefined;
  #closing = false;

  constructor(host: Host, o: H1PoolOptions, tls: HostTls | undefined, onConnectError: () => void) {
    this.#host = host;
    this.#o = o;
    this.#tls = tls;
    this.#onConnectError = onConnectError;
  }

  /** Open connections (busy, idle or connecting). */
  get connections(): number {
    return this.#all.size;
  }

  request(req: H1Request, handler: H1Handler): H1Call {
    const call = new H1Call(req, handler);
    const now = Date.now();
    let c = this.#idle.pop();
    while (c && (c.dead || now - c.idleSince > c.idleLimitMs)) {
      if (!c.dead) c.destroy();
      c = this.#idle.pop();
    }
    if (c) c.assign(call);
    else if (this.#all.size < this.#o.maxConnections) this.#open().assign(call);
    else this.#queue.push(call);
    return call;
  }

  #open(): H1Conn {
    const c = new H1Conn(this, this.#host, this.#tls, this.#o);
    this.#all.add(c);
    return c;
  }

  #nextQueued(): H1Call | undefined {
    while (this.#qHead < this.#queue.length) {
      const call = this.#queue[this.#qHead]!;
      this.#queue[this.#qHead++] = undefined as unknown as H1Call;
      if (this.#qHead > 1024 && this.#qHead * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#qHead);
        this.#qHead = 0;
      }
      if (!call.aborted) return call;
    }
    if (this.#qHead) {
      this.#queue = [];
      this.#qHead = 0;
    }
    return undefined;
  }

  /** A connection finished its exchange; reuse it if it may be kept. */
  release(c: H1Conn, keepAlive: boolean): void {
    c.reset();
    if (!keepAlive || c.dead) {
      c.destroy();
      return;
    }
    const next = this.#nextQueued();
    if (next) {
      c.assign(next);
      return;
    }
    if (this.#closing) {
      c.destroy();
      return;
    }
    c.idleSince = Date.now();
    this.#idle.push(c);
    this.#sweep ??= setInterval(() => this.#sweepIdle(), 1000).unref();
  }

  /** A connection is gone (closed, failed, or given up). */
  dropped(c: H1Conn, connectFailed: boolean): void {
    if (!this.#all.delete(c)) return;
    if (connectFailed) this.#onConnectError();
    const i = this.#idle.indexOf(c);
    if (i >= 0) this.#idle.splice(i, 1);
    // A freed slot serves the queue.
    if (this.#all.size < this.#o.maxConnections) {
      const next = this.#nextQueued();
      if (next) this.#open().assign(next);
    }
  }

  #sweepIdle(): void {
    const now = Date.now();
    for (const c of [...this.#idle]) if (now - c.idleSince > c.idleLimitMs) c.destroy();
    if (this.#idle.length === 0 && this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  /** Closes idle connections now and busy ones after their exchange; queued requests still run. */
  close(): void {
    this.#closing = true;
    for (const c of [...this.#idle]) c.destroy();
    this.#idle = [];
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}

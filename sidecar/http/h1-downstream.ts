/**
 * One request on a sidecar HTTP/1.1 connection (h1-server.ts) and its response: the request as
 * parsed (authority, path, raw header pairs, a body stream only when there is a body) and the
 * response written as one latin1 head plus the body framed by content-length, chunked (with
 * trailers) or close-delimited for HTTP/1.0. Small body chunks are joined to the head, so a small
 * response is one write.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { SocketDownstream, splitTarget, type Downstream, type ResponseHeaders } from './downstream.js';

/** What a request needs of its connection (h1-server.ts's H1Connection). */
export interface H1ConnectionView {
  readonly socket: Socket;
  /** The connection will close after the current response (draining, an error, HTTP/1.0). */
  readonly closing: boolean;
  /** More request body is wanted (the reader pulled). */
  bodyWanted(): void;
  /** This request's response ended. */
  responded(d: H1Downstream): void;
  /** An Upgrade switched: the socket (and bytes after the request) become the tunnel's. */
  tunnel(d: H1Downstream): { socket: Socket; head: Buffer } | undefined;
  /** The tunnel of `d` closed. */
  tunnelClosed(d: H1Downstream): void;
}
import { respondError } from './respond.js';
import { holdWrites, sendHeld, writeChunk } from './write-batch.js';
import { putLatin1 } from './head-bytes.js';
import { copyInto, dateLine, headerLines, lines, rawHeaderLines, statusLine } from './h1-response-lines.js';

const BAD_VALUE = /[\r\n\0]/;

/** Body chunks up to this size are joined to a pending response head. */
const SMALL_CHUNK = 2048;

/** What the connection picks out of a request head in its one pass over the headers. */
export interface HeadInfo {
  host: string;
  length: number;
  chunked: boolean;
  grpc: boolean;
  expectContinue: boolean;
  /** The Upgrade header's value, lowercase ('' when none or when it is not an upgrade). */
  upgrade: string;
}

/** Errors on a request body reach its reader through the stream; this listener keeps them from being uncaught. */
function bodyErrorSeen(): void {}

class RequestBody extends Readable {
  constructor(readonly conn: H1ConnectionView) {
    super();
    // Every stream has an owner from the moment it exists: a malformed body can fail this stream
    // before any reader attached (the error in the same read as the head).
    this.on('error', bodyErrorSeen);
  }
  override _read(): void {
    this.conn.bodyWanted();
  }
}

const EMPTY_BODY = (): Readable => Readable.from([]);

const enum Framing {
  None,
  Length,
  Chunked,
  Close,
}

/** One request on an HTTP/1.1 connection and its response. */
export class H1Downstream extends SocketDownstream implements Downstream {
  readonly h2 = false;
  readonly grpc: boolean;
  readonly authority: string;
  /** The normalized path once the router ran (uri.ts), the target's path before. */
  path: string;
  readonly search: string;
  readonly hasBody: boolean;
  /** An Upgrade request: the Upgrade header's value, lowercase; undefined otherwise. */
  readonly upgrade: string | undefined;
  /** The request's end was parsed. */
  bodyDone = false;
  /** Set when the rest of the request body is read and dropped (the response ended first). */
  discard = false;
  /** The client sent `Expect: 100-continue`. */
  readonly expectContinue: boolean;
  keepAlive: boolean;
  #body: RequestBody | Readable | undefined;
  #sent = false;
  #ended = false;
  #framing = Framing.None;
  /**
   * The response head (and small body chunks after it) not yet written, `#pendingSize` bytes of
   * it: one write per tick. A small body of known length has its room reserved after the head.
   */
  #pending: Buffer | undefined;
  #pendingSize = 0;
  #status = 0;
  #grpcStatus = -1;
  #gone: (() => void) | undefined;

  constructor(
    readonly conn: H1ConnectionView,
    socket: Socket,
    readonly method: string,
    url: string,
    /** [name, value, ...], names lowercase. */
    readonly raw: string[],
    readonly http10: boolean,
    keepAlive: boolean,
    info: HeadInfo,
  ) {
    super(socket);
    this.keepAlive = keepAlive;
    let target = url;
    let authority = info.host;
    // Absolute form (the app uses the sidecar as HTTP_PROXY): http://authority/path?query
    if (url.charCodeAt(0) !== 47 && /^http:\/\//i.test(url)) {
      const slash = url.indexOf('/', 7);
      authority = slash < 0 ? url.slice(7) : url.slice(7, slash);
      target = slash < 0 ? '/' : url.slice(slash);
    }
    this.authority = authority.toLowerCase();
    [this.path, this.search] = splitTarget(target);
    this.hasBody = info.chunked || info.length > 0;
    this.upgrade = info.upgrade || undefined;
    this.grpc = info.grpc;
    this.expectContinue = info.expectContinue && !http10;
    if (this.hasBody) this.#body = new RequestBody(conn);
  }

  /** The body stream the parser pushes into (undefined without a body). */
  get bodyStream(): RequestBody | undefined {
    return this.#body instanceof RequestBody ? this.#body : undefined;
  }
  get body(): Readable {
    return (this.#body ??= EMPTY_BODY());
  }
  get headersSent(): boolean {
    return this.#sent;
  }
  get ended(): boolean {
    return this.#ended;
  }
  get status(): number {
    return this.#sent ? this.#status : 0;
  }
  get grpcStatus(): number {
    return this.#grpcStatus;
  }

  header(name: string): string | undefined {
    if (name.charCodeAt(0) === 58) {
      if (name === ':method') return this.method;
      if (name === ':path') return this.path + this.search;
      if (name === ':authority') return this.authority;
      if (name === ':scheme') return this.secure ? 'https' : 'http';
      return undefined;
    }
    const raw = this.raw;
    let v: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i] === name) v = v === undefined ? raw[i + 1]! : `${v}, ${raw[i + 1]!}`;
    }
    return v;
  }

  rawPairs(): string[] {
    return this.raw;
  }

  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    if (this.#sent || this.#ended || this.conn.socket.destroyed) return;
    headerLines(headers);
    this.#head(status, endStream, true);
  }

  /**
   * The response head from an HTTP/1.1 upstream's header lines as received ([name, value, ...]):
   * written without a header object in between, for an exchange that edits no response header
   * (Exchange decides). The body follows with write/end. The head waits for the body and end of
   * the same read (one write for a small response) and goes out at the end of that read at the
   * latest: the caller calls flush() then (Exchange, on the pool's onReadEnd). Without that
   * promise (writeHead), a pending head is flushed by a nextTick, which costs each response an
   * object, a run of Node's tick queue and its promise-rejection check (a Map each run).
   */
  writeHeadRaw(status: number, raw: readonly string[]): void {
    if (this.#sent || this.#ended || this.conn.socket.destroyed) return;
    rawHeaderLines(raw);
    this.#head(status, false, false);
  }

  /**
   * Writes (or holds) the status line, `lines` and the framing headers; a held head is flushed by
   * a nextTick when `tick`, else by the caller.
   */
  #head(status: number, endStream: boolean, tick: boolean): void {
    const sock = this.conn.socket;
    this.#sent = true;
    this.#status = status;
    if (lines.grpcStatus !== undefined) this.#grpcStatus = lines.grpcStatus;
    let framing = '';
    if (this.method === 'HEAD' || status === 204 || status === 304 || status < 200) this.#framing = Framing.None;
    else if (lines.length) this.#framing = Framing.Length;
    else if (endStream) {
      framing = 'content-length: 0\r\n';
      this.#framing = Framing.Length;
    } else if (this.http10) {
      this.#framing = Framing.Close;
      this.keepAlive = false;
    } else {
      framing = 'transfer-encoding: chunked\r\n';
      this.#framing = Framing.Chunked;
    }
    let last: string;
    if (!this.keepAlive || this.conn.closing) {
      this.keepAlive = false;
      last = 'connection: close\r\n\r\n';
    } else last = this.http10 ? 'connection: keep-alive\r\n\r\n' : '\r\n';
    const first = statusLine(status);
    const date = lines.date ? '' : dateLine(Date.now());
    const size = first.length + lines.size + date.length + framing.length + last.length;
    // Room for a small body of known length: it joins the head as it comes (write()).
    const room = !endStream && this.#framing === Framing.Length && lines.bodySize <= SMALL_CHUNK && lines.bodySize > 0 ? lines.bodySize : 0;
    const b = Buffer.allocUnsafe(size + room);
    let o = putLatin1(b, 0, first);
    o = copyInto(b, o, lines.bytes, lines.size);
    o = putLatin1(b, o, date);
    o = putLatin1(b, o, framing);
    o = putLatin1(b, o, last);
    lines.size = 0;
    if (endStream) {
      holdWrites(sock);
      sock.write(b); // no room is made for a body when the head ends the response
      this.#finish();
      return;
    }
    // The head waits for the rest of this tick (or read): small body chunks and the end join it,
    // so a small response is one write.
    this.#pending = b;
    this.#pendingSize = o;
    if (tick) process.nextTick(flushPending, this);
  }

  /** What the pending Buffer holds (all of it, or its first #pendingSize bytes). */
  #pendingBytes(p: Buffer): Buffer {
    return this.#pendingSize === p.length ? p : p.subarray(0, this.#pendingSize);
  }

  /** The pending head with room for `n` more bytes (a new Buffer when it has not). */
  #room(n: number): Buffer {
    const p = this.#pending!;
    if (this.#pendingSize + n <= p.length) return p;
    const b = Buffer.allocUnsafe(Math.max(this.#pendingSize + n, p.length * 2));
    b.set(this.#pendingBytes(p));
    return (this.#pending = b);
  }

  write(chunk: Buffer): boolean {
    if (this.#ended || chunk.length === 0) return true;
    const sock = this.conn.socket;
    if (sock.destroyed) return true;
    this.info.bytesSent += chunk.length;
    if (this.#framing === Framing.None) return true;
    // The head not written yet goes out with this chunk: joined to it when small, else in one writev.
    const head = this.#pending !== undefined;
    if (head && chunk.length <= SMALL_CHUNK) {
      if (this.#framing === Framing.Chunked) {
        const line = chunk.length.toString(16);
        const p = this.#room(line.length + chunk.length + 4);
        let o = putLatin1(p, this.#pendingSize, line);
        p[o++] = 13;
        p[o++] = 10;
        p.set(chunk, o);
        o += chunk.length;
        p[o++] = 13;
        p[o++] = 10;
        this.#pendingSize = o;
      } else {
        this.#room(chunk.length).set(chunk, this.#pendingSize);
        this.#pendingSize += chunk.length;
      }
      return true;
    }
    holdWrites(sock);
    if (head) {
      sock.cork();
      this.flush();
    }
    const more = this.#framing === Framing.Chunked ? writeChunk(sock, chunk) : sock.write(chunk);
    if (head) sock.uncork();
    return more;
  }

  onceDrain(fn: () => void): void {
    this.conn.socket.once('drain', fn);
  }

  end(trailers: ResponseHeaders | undefined): void {
    if (this.#ended) return;
    if (!this.#sent) {
      this.writeHead(200, {}, true);
      return;
    }
    const sock = this.conn.socket;
    if (this.#framing === Framing.Chunked && !sock.destroyed) {
      let tail = '0\r\n';
      if (trailers) {
        for (const n in trailers) {
          const v = trailers[n]!;
          const s = typeof v === 'object' ? v.join(', ') : String(v);
          if (BAD_VALUE.test(s) || BAD_VALUE.test(n)) continue;
          tail += `${n}: ${s}\r\n`;
          if (n === 'grpc-status') this.#grpcStatus = Number(s);
        }
      }
      if (this.#pending !== undefined) {
        tail += '\r\n';
        this.#pendingSize = putLatin1(this.#room(tail.length), this.#pendingSize, tail);
      } else {
        holdWrites(sock);
        sock.write(`${tail}\r\n`, 'latin1');
      }
    }
    this.#finish();
  }

  respondTrailersOnly(headers: ResponseHeaders): void {
    const { ':status': status, ...rest } = headers;
    this.writeHead(Number(status), rest, true);
  }

  respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    if (this.#sent || this.#ended) return;
    headers['content-length'] = Buffer.byteLength(body);
    this.writeHead(status, headers, false);
    if (body.length) this.write(Buffer.from(body, 'utf8'));
    this.#finish();
  }

  abort(): void {
    if (this.#ended) return;
    this.#ended = true;
    // What was written before the abort leaves first (the pending head, the turn's held writes),
    // as it would have without the hold; then the connection closes at once.
    this.flush();
    sendHeld(this.conn.socket);
    this.conn.socket.destroy();
  }

  onClientGone(fn: () => void): void {
    this.#gone = fn;
  }

  /**
   * The request body turned out malformed after the head was routed: whatever is in flight for it
   * is cancelled (an upstream attempt is reset, so the app never sees the request completed),
   * the client gets 400 if nothing was sent yet, else the connection is cut; it closes after.
   */
  failBody(err: Error & { code?: string }): void {
    this.keepAlive = false;
    const cancel = this.#gone;
    this.#gone = undefined;
    cancel?.();
    const b = this.#body;
    if (b && !b.destroyed) b.destroy(err);
    if (!this.#sent) respondError(this, this, this.info, 'BAD_REQUEST', `malformed request body (${err.code ?? 'parse error'})`);
    else this.abort();
  }

  /** The connection closed under this request. */
  gone(): void {
    if (this.#ended) return;
    this.#ended = true;
    const b = this.#body;
    if (b && !this.bodyDone && !b.destroyed) b.destroy(new Error('the client closed the connection'));
    this.#gone?.();
  }

  closeAfterResponse(): void {
    this.keepAlive = false;
  }

  /** Writes the head and what joined it. */
  flush(): void {
    const p = this.#pending;
    if (p === undefined) return;
    this.#pending = undefined;
    const sock = this.conn.socket;
    if (sock.destroyed) return;
    holdWrites(sock);
    sock.write(this.#pendingBytes(p));
  }

  #finish(): void {
    this.#ended = true;
    this.flush();
    if (this.#framing === Framing.Close) this.keepAlive = false;
    this.conn.responded(this);
  }
}

function flushPending(d: H1Downstream): void {
  d.flush();
}

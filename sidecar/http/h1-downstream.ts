/**
 * One request on a sidecar HTTP/1.1 connection (h1-server.ts) and its response: the request as
 * parsed (authority, path, raw header pairs, a body stream only when there is a body) and the
 * response written as one latin1 head plus the body framed by content-length, chunked (with
 * trailers) or close-delimited for HTTP/1.0. Small body chunks are joined to the head, so a small
 * response is one write.
 */
import { STATUS_CODES } from 'node:http';
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
import { lowerName, setTest } from './header-names.js';
import { RESPONSE_HOP } from '../h2/frames.js';

const BAD_VALUE = /[\r\n\0]/;
const isResponseHop = setTest(RESPONSE_HOP);
/** What headerLines / rawHeaderLines made (one at a time: the head is written at once). */
const lines = { text: '', all: '', length: false, date: false, grpcStatus: undefined as number | undefined };

function startLines(): void {
  lines.text = '';
  lines.all = '';
  lines.length = false;
  lines.date = false;
  lines.grpcStatus = undefined;
}

/**
 * One header line into `lines`. A line whose name or value holds CR, LF or NUL is never written:
 * with `each` false, names and values are only joined here and checked in one test by linesOk (a
 * join holds one of them if and only if a part does); with `each` true, each is checked on its
 * own and the bad ones are left out.
 */
function addLine(n: string, s: string, each: boolean): void {
  if (each) {
    if (BAD_VALUE.test(s) || BAD_VALUE.test(n)) return;
  } else lines.all += n + s;
  lines.text += `${n}: ${s}\r\n`;
  if (n.length === 14 && n === 'content-length') lines.length = true;
  else if (n.length === 4 && n === 'date') lines.date = true;
  else if (n.length === 11 && n === 'grpc-status') lines.grpcStatus = Number(s);
}

function linesOk(each: boolean): boolean {
  return each || lines.all.length === 0 || !BAD_VALUE.test(lines.all);
}

/** A response's header object as lines (false: a bad line was seen with `each` false; call again with true). */
function headerLines(headers: ResponseHeaders, each: boolean): boolean {
  startLines();
  for (const n in headers) {
    const v = headers[n]!;
    if (typeof v === 'object') {
      for (let i = 0; i < v.length; i++) addLine(n, v[i]!, each);
      continue;
    }
    addLine(n, typeof v === 'number' ? String(v) : v, each);
  }
  return linesOk(each);
}

/**
 * An HTTP/1.1 upstream's response head as received ([name, value, ...], names in the sender's
 * case) as lines: names lowercased, hop-by-hop headers dropped (as fromRaw does for the header
 * object), order and repeats kept.
 */
function rawHeaderLines(raw: readonly string[], each: boolean): boolean {
  startLines();
  for (let i = 0; i < raw.length; i += 2) {
    const n = lowerName(raw[i]!);
    if (!isResponseHop(n)) addLine(n, raw[i + 1]!, each);
  }
  return linesOk(each);
}

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

let dateSecond = 0;
let dateValue = '';
/** The Date header, computed once a second. */
function httpDate(now: number): string {
  const s = (now / 1000) | 0;
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
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
  /** The response head (and small body chunks after it) not yet written: one write per tick. */
  #pending: string | undefined;
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
    // The header lines, checked joined (one test per response); the bad ones are dropped one by
    // one only when that test fails.
    if (!headerLines(headers, false)) headerLines(headers, true);
    this.#head(status, endStream);
  }

  /**
   * The response head from an HTTP/1.1 upstream's header lines as received ([name, value, ...]):
   * written without a header object in between, for an exchange that edits no response header
   * (Exchange decides). The body follows with write/end.
   */
  writeHeadRaw(status: number, raw: readonly string[]): void {
    if (this.#sent || this.#ended || this.conn.socket.destroyed) return;
    if (!rawHeaderLines(raw, false)) rawHeaderLines(raw, true);
    this.#head(status, false);
  }

  /** Writes (or holds for this tick) the status line, `lines` and the framing headers. */
  #head(status: number, endStream: boolean): void {
    const sock = this.conn.socket;
    this.#sent = true;
    this.#status = status;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    head += lines.text;
    const length = lines.length;
    const date = lines.date;
    if (lines.grpcStatus !== undefined) this.#grpcStatus = lines.grpcStatus;
    lines.text = '';
    lines.all = '';
    if (!date) head += `date: ${httpDate(Date.now())}\r\n`;
    const noBody = this.method === 'HEAD' || status === 204 || status === 304 || status < 200;
    if (noBody) this.#framing = Framing.None;
    else if (length) this.#framing = Framing.Length;
    else if (endStream) {
      head += 'content-length: 0\r\n';
      this.#framing = Framing.Length;
    } else if (this.http10) {
      this.#framing = Framing.Close;
      this.keepAlive = false;
    } else {
      head += 'transfer-encoding: chunked\r\n';
      this.#framing = Framing.Chunked;
    }
    if (!this.keepAlive || this.conn.closing) {
      this.keepAlive = false;
      head += 'connection: close\r\n\r\n';
    } else head += this.http10 ? 'connection: keep-alive\r\n\r\n' : '\r\n';
    if (endStream) {
      holdWrites(sock);
      sock.write(head, 'latin1');
      this.#finish();
      return;
    }
    // The head waits for the rest of this tick: small body chunks and the end join it (as latin1,
    // byte for byte) so a small response is one write.
    this.#pending = head;
    process.nextTick(flushPending, this);
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
      this.#pending += this.#framing === Framing.Chunked ? `${chunk.length.toString(16)}\r\n${chunk.toString('latin1')}\r\n` : chunk.toString('latin1');
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
      if (this.#pending !== undefined) this.#pending += `${tail}\r\n`;
      else {
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
    sock.write(p, 'latin1');
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

/**
 * The sidecar's gRPC client for its control plane (xDS, load reports, certificate requests), on
 * its own HTTP/2 client (sidecar/h2/client.ts). Before, this was grpc-js: about 2.5 MB of heap in
 * every sidecar (with node:http2 under it) for three streams to one address (issue 24 item 4).
 *
 * What it does, as the gRPC over HTTP/2 protocol asks of a client
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
 * - one connection per channel, h2c or TLS (ALPN h2) made with the TLS options of the moment
 *   (`tls()` is asked at each connect, so a rotated workload certificate is used by the next
 *   connection), a new one once the old can take no streams;
 * - requests: POST, `content-type: application/grpc`, `te: trailers`, `grpc-timeout` for a
 *   deadline; messages length-prefixed, uncompressed (no `grpc-accept-encoding` is sent, so a
 *   compressed message is a protocol error);
 * - the status from the trailers (or a trailers-only head), `grpc-message` percent-decoded; a
 *   non-200 head mapped as the spec's HTTP-to-gRPC table; stream and connection failures mapped
 *   as grpc-js maps them (refused or lost: UNAVAILABLE, CANCEL: CANCELLED, ...);
 * - keepalive PINGs, so a control plane cut off without a RST is noticed (CONTROL_PLANE_KEEPALIVE).
 * Every call ends exactly once, in `onClose`.
 */
import net from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';
import { H2ClientSession, type H2ClientStream, type H2FailureKind } from '../h2/client.js';
import { H2Error } from '../h2/frames.js';
import { requireHostPort } from '../identity/control-planes.js';

/** gRPC status codes (the ones this client produces or callers test). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

const NAMES = ['OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED'];

/** A call that ended without OK: `code`, and `details` as the server (or this client) said it. */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${NAMES[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

/** TLS for a channel; asked again for each connection. */
export interface ChannelTls {
  /** Trusted roots (PEM). */
  readonly ca: string;
  /** Client certificate chain and key (PEM), when the channel presents one. */
  readonly cert?: string;
  readonly key?: string;
  /** SNI (and the name checkServerIdentity is given); default: the address's host unless it is an IP. */
  readonly servername?: string;
  readonly checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
}

export interface ChannelOptions {
  /** Undefined: plaintext (h2c). */
  readonly tls?: () => ChannelTls;
  readonly keepalive?: { intervalMs: number; timeoutMs: number };
  readonly connectTimeoutMs?: number;
  /** Largest response message accepted (RESOURCE_EXHAUSTED past it); default 64 MiB. */
  readonly maxMessageBytes?: number;
}

export interface CallHandler<Res> {
  onMessage(m: Res): void;
  /** The call is over: undefined for OK, else why. Called once; nothing after it. */
  onClose(err: GrpcError | undefined): void;
}

/** One call: requests are written with `write`, the request stream closed with `end`. */
export interface GrpcCall<Req> {
  write(m: Req): void;
  end(): void;
  /** Ends the call from this side (RST_STREAM CANCEL); onClose is not called for it. */
  cancel(): void;
  /** Settles once the call is over (closed either way, or cancelled). */
  readonly ended: Promise<void>;
}

const HTTP_TO_GRPC: Record<number, number> = { 400: GrpcStatus.INTERNAL, 401: GrpcStatus.UNAUTHENTICATED, 403: GrpcStatus.PERMISSION_DENIED, 404: GrpcStatus.UNIMPLEMENTED, 429: GrpcStatus.UNAVAILABLE, 502: GrpcStatus.UNAVAILABLE, 503: GrpcStatus.UNAVAILABLE, 504: GrpcStatus.UNAVAILABLE };

/** An HTTP/2 failure of the stream as a gRPC status (grpc-js's mapping). */
function failureStatus(kind: H2FailureKind, code: number): number {
  if (kind === 'connect' || kind === 'refused') return GrpcStatus.UNAVAILABLE;
  if (kind === 'protocol') return GrpcStatus.INTERNAL;
  switch (code) {
    case 0: // the connection was lost
    case H2Error.REFUSED_STREAM:
      return GrpcStatus.UNAVAILABLE;
    case H2Error.CANCEL:
      return GrpcStatus.CANCELLED;
    case H2Error.ENHANCE_YOUR_CALM:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case H2Error.INADEQUATE_SECURITY:
      return GrpcStatus.PERMISSION_DENIED;
    default:
      return GrpcStatus.INTERNAL;
  }
}

function header(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

function decodeMessage(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}

/** `grpc-timeout` for `ms` (at most 8 digits, as the spec allows). */
function grpcTimeout(ms: number): string {
  const m = Math.max(1, Math.ceil(ms));
  return m < 1e8 ? `${m}m` : `${Math.ceil(m / 1000)}S`;
}

export class GrpcChannel {
  readonly address: string;
  readonly #o: ChannelOptions;
  readonly #host: string;
  readonly #port: number;
  #session: H2ClientSession | undefined;
  #closed = false;
  /** Calls not over yet: while there are any, the connection keeps the process alive (as grpc-js's does). */
  #active = 0;

  constructor(address: string, o: ChannelOptions = {}) {
    this.address = address;
    this.#o = o;
    const { host, port } = requireHostPort(address);
    this.#host = host;
    this.#port = port;
  }

  #connect(): H2ClientSession {
    const s = this.#session;
    if (s && s.usable) return s;
    const t = this.#o.tls?.();
    let socket: net.Socket;
    if (t) {
      const servername = t.servername ?? (net.isIP(this.#host) ? undefined : this.#host);
      socket = tls.connect({
        host: this.#host,
        port: this.#port,
        ca: t.ca,
        ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
        ...(servername ? { servername } : {}),
        ALPNProtocols: ['h2'],
        checkServerIdentity: t.checkServerIdentity,
      });
    } else socket = net.connect({ host: this.#host, port: this.#port });
    socket.setNoDelay(true);
    const next = new H2ClientSession(socket, t ? 'secureConnect' : 'connect', {
      connectTimeoutMs: this.#o.connectTimeoutMs ?? 20_000,
      idleTimeoutMs: 0,
      ...(this.#o.keepalive ? { keepalive: this.#o.keepalive } : {}),
    });
    next.onUnusable = () => {
      if (this.#session === next) this.#session = undefined;
    };
    this.#session = next;
    if (this.#active > 0) socket.ref();
    return next;
  }

  /**
   * Starts a call to `path` (`/package.Service/Method`). Streaming both ways; a unary call is one
   * write and end (see `unary`). `timeoutMs`: a deadline (DEADLINE_EXCEEDED past it).
   */
  call<Req, Res>(path: string, serialize: (m: Req) => Uint8Array, deserialize: (b: Buffer) => Res, h: CallHandler<Res>, timeoutMs?: number): GrpcCall<Req> {
    const c = new Call<Req, Res>(serialize, deserialize, h, this.#o.maxMessageBytes ?? 64 << 20);
    if (this.#closed) {
      queueMicrotask(() => c.close(new GrpcError(GrpcStatus.UNAVAILABLE, 'the channel is closed')));
      return c;
    }
    const tls = this.#o.tls !== undefined;
    const head = [':method', 'POST', ':scheme', tls ? 'https' : 'http', ':path', path, ':authority', this.address, 'content-type', 'application/grpc', 'te', 'trailers', 'user-agent', 'weft-sidecar'];
    if (timeoutMs !== undefined) head.push('grpc-timeout', grpcTimeout(timeoutMs));
    let session: H2ClientSession;
    try {
      session = this.#connect();
    } catch (e) {
      queueMicrotask(() => c.close(new GrpcError(GrpcStatus.UNAVAILABLE, (e as Error).message)));
      return c;
    }
    if (this.#active++ === 0) session.socket.ref();
    void c.ended.then(() => {
      // The session's socket is unref'd by default (an upstream pool's idle connection must not hold the process).
      if (--this.#active === 0) this.#session?.socket.unref();
    });
    c.start(session.request(head, false, c), timeoutMs);
    return c;
  }

  /** One request, one response. Rejects with a GrpcError. */
  unary<Req, Res>(path: string, serialize: (m: Req) => Uint8Array, deserialize: (b: Buffer) => Res, req: Req, timeoutMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      let res: Res | undefined;
      let got = 0;
      const call = this.call(path, serialize, deserialize, {
        onMessage: (m) => {
          res = m;
          got++;
        },
        onClose: (err) => {
          if (err) reject(err);
          else if (got !== 1) reject(new GrpcError(GrpcStatus.INTERNAL, `a unary call got ${got} responses`));
          else resolve(res!);
        },
      }, timeoutMs);
      call.write(req);
      call.end();
    });
  }

  /** No new calls; the connection ends (with GOAWAY) once its calls are over. */
  close(): void {
    this.#closed = true;
    this.#session?.close();
    this.#session = undefined;
  }
}

/**
 * Length-prefixed gRPC messages out of the DATA of one response. Reads are kept as they come and
 * joined once a whole message is in (a large xDS response arrives in hundreds of DATA frames:
 * joining at every frame would copy it hundreds of times). Each message is returned in a buffer
 * of its own: decoded messages keep views of it (bytes fields), which must not hold a larger read.
 */
export class MessageReader {
  /** Received bytes not yet made into messages, and how many. */
  #parts: Buffer[] = [];
  #have = 0;
  /** The length of the message being received (its 5-byte prefix read), or -1. */
  #need = -1;

  constructor(private readonly maxMessage: number) {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.#parts.push(chunk);
    this.#have += chunk.length;
  }

  /** Bytes of a message not complete yet. */
  get pending(): boolean {
    return this.#have > 0 || this.#need >= 0;
  }

  /** The next whole message, undefined until one is in, or the error that ends the call. */
  next(): Buffer | GrpcError | undefined {
    if (this.#need < 0) {
      if (this.#have < 5) return undefined;
      const h = this.#take(5, false);
      if (h[0] !== 0) return new GrpcError(GrpcStatus.INTERNAL, h[0] === 1 ? 'a compressed message, though none was asked for' : `a message with flags ${h[0]}`);
      const len = h.readUInt32BE(1);
      if (len > this.maxMessage) return new GrpcError(GrpcStatus.RESOURCE_EXHAUSTED, `a message of ${len} bytes, over the limit of ${this.maxMessage}`);
      this.#need = len;
    }
    if (this.#have < this.#need) return undefined;
    const body = this.#take(this.#need, true);
    this.#need = -1;
    return body;
  }

  /** The next `n` received bytes (n <= #have); `own`: in a buffer of their own. */
  #take(n: number, own: boolean): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const first = this.#parts[0]!;
    let out: Buffer;
    if (first.length >= n) {
      if (own) first.copy((out = Buffer.allocUnsafeSlow(n)), 0, 0, n); // (not from the shared pool either)
      else out = first.subarray(0, n);
      if (first.length === n) this.#parts.shift();
      else this.#parts[0] = first.subarray(n);
    } else {
      out = own ? Buffer.allocUnsafeSlow(n) : Buffer.allocUnsafe(n);
      let at = 0;
      while (at < n) {
        const p = this.#parts[0]!;
        const k = Math.min(p.length, n - at);
        p.copy(out, at, 0, k);
        at += k;
        if (k === p.length) this.#parts.shift();
        else this.#parts[0] = p.subarray(k);
      }
    }
    this.#have -= n;
    return out;
  }
}

/** One call over an H2ClientStream. */
class Call<Req, Res> implements GrpcCall<Req> {
  #stream: H2ClientStream | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done = false;
  readonly #in: MessageReader;
  #over!: () => void;
  readonly ended = new Promise<void>((r) => (this.#over = r));

  constructor(
    private readonly serialize: (m: Req) => Uint8Array,
    private readonly deserialize: (b: Buffer) => Res,
    private readonly h: CallHandler<Res>,
    maxMessage: number,
  ) {
    this.#in = new MessageReader(maxMessage);
  }

  start(stream: H2ClientStream, timeoutMs: number | undefined): void {
    this.#stream = stream;
    if (timeoutMs === undefined) return;
    this.#timer = setTimeout(() => {
      this.#stream?.cancel();
      this.close(new GrpcError(GrpcStatus.DEADLINE_EXCEEDED, `deadline of ${timeoutMs} ms exceeded`));
    }, timeoutMs);
    this.#timer.unref();
  }

  write(m: Req): void {
    if (this.#done || !this.#stream) return;
    const body = this.serialize(m);
    const b = Buffer.allocUnsafe(5 + body.length);
    b[0] = 0;
    b.writeUInt32BE(body.length, 1);
    b.set(body, 5);
    this.#stream.write(b);
  }

  end(): void {
    if (!this.#done) this.#stream?.end();
  }

  cancel(): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#stream?.cancel();
    this.#over();
  }

  close(err: GrpcError | undefined): void {
    if (this.#done) return;
    this.#done = true;
    clearTimeout(this.#timer);
    this.#over();
    this.h.onClose(err);
  }

  /** The call failed inside: reset the stream, report why. */
  #abort(err: GrpcError): void {
    this.#stream?.cancel();
    this.close(err);
  }

  // --- H2StreamHandler ---

  onHead(status: number, headers: string[], end: boolean): void {
    if (this.#done) return;
    const gs = header(headers, 'grpc-status');
    if (end && gs !== undefined) return this.#trailers(headers); // trailers-only
    if (status !== 200) return this.#abort(new GrpcError(HTTP_TO_GRPC[status] ?? GrpcStatus.UNKNOWN, `the server answered HTTP ${status}`));
    const ct = header(headers, 'content-type') ?? '';
    if (!ct.startsWith('application/grpc')) return this.#abort(new GrpcError(GrpcStatus.UNKNOWN, `the server answered content-type '${ct}'`));
    if (end) this.close(new GrpcError(GrpcStatus.INTERNAL, 'the response ended without a status'));
  }

  onData(chunk: Buffer): boolean {
    if (this.#done) return true;
    this.#in.push(chunk);
    for (;;) {
      if (this.#done) return true;
      const body = this.#in.next();
      if (body === undefined) return true;
      if (body instanceof GrpcError) return this.#abort(body), true;
      let m: Res;
      try {
        m = this.deserialize(body);
      } catch (e) {
        this.#abort(new GrpcError(GrpcStatus.INTERNAL, `a response that does not decode: ${(e as Error).message}`));
        return true;
      }
      this.h.onMessage(m);
    }
  }

  onEnd(trailers: string[] | undefined): void {
    if (this.#done) return;
    if (this.#in.pending) return this.#abort(new GrpcError(GrpcStatus.INTERNAL, 'the response ended inside a message'));
    this.#trailers(trailers ?? []);
  }

  #trailers(t: readonly string[]): void {
    const gs = header(t, 'grpc-status');
    const code = gs !== undefined && /^\d+$/.test(gs) ? Number(gs) : -1;
    if (code === GrpcStatus.OK) return this.close(undefined);
    if (code < 0) return this.close(new GrpcError(GrpcStatus.UNKNOWN, 'the response ended without a grpc-status'));
    this.close(new GrpcError(code, decodeMessage(header(t, 'grpc-message') ?? '')));
  }

  onFailure(kind: H2FailureKind, err: Error, code: number): void {
    this.close(new GrpcError(failureStatus(kind, code), err.message));
  }

  onDrain(): void {}
}

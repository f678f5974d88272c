/**
 * One try of a request on one upstream host, for the Exchange (exchange.ts) that owns the retry
 * loop: HTTP/1.1 on the host's connection pool (upstream/h1-pool.ts) or a stream on its h2
 * session. An attempt reports what happens to the Exchange and nothing else; the Exchange
 * decides what a response or failure means.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders as H2Headers } from 'node:http2';
import { constants as h2c } from 'node:http2';
import type { Host } from '../upstream/host.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import type { H1Call, H1FailureKind, H1Handler } from '../upstream/h1-pool.js';
import type { ReplayableBody } from './body.js';
import type { ResponseHeaders } from './downstream.js';
import { fromH2, fromRaw, toH2Request } from './headers.js';

/** Why an attempt failed before a response was committed. */
export const enum Failure {
  /** Never reached the host: always safe to retry. */
  Connect,
  /** h2 REFUSED_STREAM / GOAWAY before processing: safe to retry. */
  Refused,
  /** Connection reset or closed after the request may have been seen. */
  Reset,
  /** Per-try timeout. */
  Timeout,
  /** The upstream sent something that is not HTTP. */
  Protocol,
}

/** What an attempt can be asked to do by its Exchange. */
export interface Attempt {
  readonly host: Host;
  pause(): void;
  resume(): void;
  abort(): void;
}

/** Where an attempt reports (the Exchange). Returns false when the attempt is no longer wanted. */
export interface AttemptSink {
  onHead(a: Attempt, status: number, headers: ResponseHeaders, endStream: boolean): boolean;
  onData(a: Attempt, chunk: Buffer): boolean;
  onEnd(a: Attempt, trailers: ResponseHeaders | undefined): void;
  onFailure(a: Attempt, kind: Failure, err: unknown): void;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);

export function errorCode(e: unknown): string | undefined {
  const err = e as { code?: string; cause?: { code?: string } } | undefined;
  return err?.cause?.code ?? err?.code;
}

/** One HTTP/1.1 attempt on the host's connection pool (sidecar/upstream/h1-pool.ts). */
export class H1Attempt implements Attempt, H1Handler {
  readonly #call: H1Call;

  constructor(
    private readonly ex: AttemptSink,
    readonly host: Host,
    cluster: UpstreamCluster,
    path: string,
    headers: string[],
    method: string,
    body: ReplayableBody | undefined,
  ) {
    this.#call = cluster.h1(host).request({ method, path, headers, body: body?.attempt() }, this);
  }

  onHeaders(status: number, raw: string[]): void {
    this.ex.onHead(this, status, fromRaw(raw), false);
  }

  onData(chunk: Buffer): boolean {
    return this.ex.onData(this, chunk);
  }

  onComplete(trailers: string[] | undefined): void {
    this.ex.onEnd(this, trailers ? fromRaw(trailers) : undefined);
  }

  onError(err: Error, kind: H1FailureKind): void {
    this.ex.onFailure(this, kind === 'connect' ? Failure.Connect : kind === 'protocol' ? Failure.Protocol : Failure.Reset, err);
  }

  pause(): void {
    this.#call.pause();
  }
  resume(): void {
    this.#call.resume();
  }
  abort(): void {
    this.#call.abort();
  }
}

/** One h2 attempt: a stream on the host's shared session. */
export class H2Attempt implements Attempt {
  #stream: ClientHttp2Stream | undefined;
  #aborted = false;
  #ended = false;
  #headed = false;
  #connected: boolean;
  /**
   * DATA that arrived before the 'response' event. Node emits 'response' on the next tick but
   * pushes DATA from the same read synchronously, so when HEADERS and DATA come in one packet the
   * body is seen first. It is held here and forwarded once the head has been.
   */
  #early: Buffer[] | undefined;
  #earlyEnd = false;

  constructor(
    private readonly ex: AttemptSink,
    readonly host: Host,
    cluster: UpstreamCluster,
    path: string,
    headers: string[],
    method: string,
    body: ReplayableBody | undefined,
  ) {
    const session = cluster.h2(host).session();
    this.#connected = !session.connecting;
    if (!this.#connected) session.once('connect', () => (this.#connected = true));
    let s: ClientHttp2Stream;
    try {
      s = session.request(toH2Request(headers, method, path), { endStream: !body });
    } catch (e) {
      queueMicrotask(() => this.#failed(e));
      return;
    }
    this.#stream = s;
    s.on('response', (h: H2Headers, flags: number) => this.#onResponse(h, flags));
    s.on('data', (chunk: Buffer) => {
      if (!this.#headed) (this.#early ??= []).push(chunk);
      else if (!this.ex.onData(this, chunk)) s.pause();
    });
    s.on('trailers', (t: H2Headers) => {
      this.#ended = true;
      this.ex.onEnd(this, fromH2(t));
    });
    s.on('end', () => {
      if (this.#ended) return;
      if (!this.#headed) {
        this.#earlyEnd = true;
        return;
      }
      this.#ended = true;
      this.ex.onEnd(this, undefined);
    });
    s.on('error', (e: Error) => this.#failed(e));
    s.on('close', () => {
      if (this.#ended || this.#aborted) return;
      if (s.rstCode === h2c.NGHTTP2_REFUSED_STREAM) this.ex.onFailure(this, Failure.Refused, undefined);
      else if (!this.#headed || s.rstCode !== h2c.NGHTTP2_NO_ERROR) this.ex.onFailure(this, Failure.Reset, undefined);
    });
    if (body) {
      // The body is pushed as it comes (no iterator or promise per chunk); a full stream pauses
      // it until 'drain'.
      const pipe = body.pipe({
        write: (chunk) => !this.#aborted && !s.destroyed && s.write(chunk),
        end: () => {
          if (!this.#aborted && !s.destroyed) s.end();
        },
        fail: (e) => this.#failed(e),
      });
      s.on('drain', () => pipe.resume());
    }
  }

  #onResponse(h: H2Headers, flags: number): void {
    const status = Number(h[':status']);
    if (status < 200) return;
    this.#headed = true;
    const end = (flags & h2c.NGHTTP2_FLAG_END_STREAM) !== 0;
    if (end) this.#ended = true;
    if (!this.ex.onHead(this, status, fromH2(h), end) || end) return;
    const early = this.#early;
    if (early) {
      this.#early = undefined;
      let flowing = true;
      for (const chunk of early) flowing = this.ex.onData(this, chunk);
      if (!flowing) this.#stream?.pause();
    }
    if (this.#earlyEnd && !this.#ended) {
      this.#ended = true;
      this.ex.onEnd(this, undefined);
    }
  }

  #failed(e: unknown): void {
    if (this.#aborted || this.#ended) return;
    const code = errorCode(e);
    if ((code && CONNECT_CODES.has(code)) || !this.#connected) this.ex.onFailure(this, Failure.Connect, e);
    else if (code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_STREAM_CANCEL') this.ex.onFailure(this, this.#headed ? Failure.Reset : Failure.Refused, e);
    else this.ex.onFailure(this, Failure.Reset, e);
  }

  pause(): void {
    this.#stream?.pause();
  }
  resume(): void {
    this.#stream?.resume();
  }
  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const s = this.#stream;
    if (s && !s.destroyed && !this.#ended) s.close(h2c.NGHTTP2_CANCEL);
  }
}

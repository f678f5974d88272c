/**
 * One try of a request on one upstream host, for the Exchange (exchange.ts) that owns the retry
 * loop: HTTP/1.1 on the host's connection pool (upstream/h1-pool.ts) or a stream on its h2
 * session. An attempt reports what happens to the Exchange and nothing else; the Exchange
 * decides what a response or failure means.
 */
import type { H2ClientStream, H2FailureKind, H2StreamHandler } from '../h2/client.js';
import type { Host } from '../upstream/host.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import type { H1Call, H1FailureKind, H1Handler } from '../upstream/h1-pool.js';
import type { ReplayableBody } from './body.js';
import type { ResponseHeaders } from './downstream.js';
import { fromRaw, h2RequestHeaders } from './headers.js';

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
  /** An HTTP/1.1 response head as received ([name, value, ...]): the sink makes what it needs of it. */
  onRawHead(a: Attempt, status: number, raw: string[]): void;
  onData(a: Attempt, chunk: Buffer): boolean;
  onEnd(a: Attempt, trailers: ResponseHeaders | undefined): void;
  onFailure(a: Attempt, kind: Failure, err: unknown): void;
  /** An HTTP/1.1 attempt's read was parsed and its response goes on: what waits for more of it is sent. */
  onReadEnd(a: Attempt): void;
}

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
    this.ex.onRawHead(this, status, raw);
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

  onReadEnd(): void {
    this.ex.onReadEnd(this);
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

/** One h2 attempt: a stream on the host's shared connection (sidecar/h2/client.ts). */
export class H2Attempt implements Attempt, H2StreamHandler {
  #stream: H2ClientStream | undefined;
  #aborted = false;
  #pipe: { resume(): void } | undefined;

  constructor(
    private readonly ex: AttemptSink,
    readonly host: Host,
    cluster: UpstreamCluster,
    path: string,
    headers: string[],
    method: string,
    body: ReplayableBody | undefined,
  ) {
    const list = h2RequestHeaders(headers, method, path, host.key);
    if (typeof list === 'string') {
      queueMicrotask(() => this.ex.onFailure(this, Failure.Protocol, Object.assign(new Error(list), { code: 'ERR_HTTP2_INVALID_HEADER_VALUE' })));
      return;
    }
    const s = (this.#stream = cluster.h2(host).session().request(list, !body, this, method === 'HEAD'));
    if (body) {
      // The body is pushed as it comes (no iterator or promise per chunk); a full stream pauses
      // it until onDrain.
      this.#pipe = body.pipe({
        write: (chunk) => !this.#aborted && s.write(chunk),
        end: () => {
          if (!this.#aborted) s.end();
        },
        fail: (e) => {
          if (this.#aborted) return;
          s.cancel();
          this.ex.onFailure(this, Failure.Reset, e);
        },
      });
    }
  }

  onHead(status: number, headers: string[], end: boolean): void {
    this.ex.onHead(this, status, fromRaw(headers), end);
  }

  onData(chunk: Buffer): boolean {
    return this.ex.onData(this, chunk);
  }

  onEnd(trailers: string[] | undefined): void {
    this.ex.onEnd(this, trailers ? fromRaw(trailers) : undefined);
  }

  onFailure(kind: H2FailureKind, err: Error): void {
    if (this.#aborted) return;
    this.ex.onFailure(this, kind === 'connect' ? Failure.Connect : kind === 'refused' ? Failure.Refused : kind === 'protocol' ? Failure.Protocol : Failure.Reset, err);
  }

  onDrain(): void {
    this.#pipe?.resume();
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
    this.#stream?.cancel();
  }
}

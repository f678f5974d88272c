/**
 * Requests a filter makes of its own listener (the aggregation filter's calls): a RequestHead the
 * filter builds (no body; the listener's path normalization applies to it in hcm.ts `dispatch`)
 * and a ResponseSink that collects the answer in memory up to a byte bound. A sub-request goes
 * through the route table, the route's filters and the router like any request, so it gets its
 * route's policies, balancing, retries, mTLS and tracing; only its client is a filter.
 */
import { Readable } from 'node:stream';
import type { RequestHead, ResponseHeaders, ResponseSink } from './filter.js';

/** A sub-request's head. `path` is set to the normalized path by dispatch (like a Downstream's). */
export class SubRequest implements RequestHead {
  readonly h2 = false;
  readonly grpc = false;
  readonly upgrade = undefined;
  readonly hasBody = false;
  #body: Readable | undefined;

  constructor(
    readonly method: string,
    readonly authority: string,
    public path: string,
    readonly search: string,
    /** Flat [name, value, ...], names lowercase, no pseudo-headers. */
    private readonly pairs: string[],
    /** The request that made this one: its peer, TLS and identity are this one's. */
    private readonly parent: RequestHead,
  ) {}

  get remoteAddress(): string {
    return this.parent.remoteAddress;
  }
  get principal(): string | undefined {
    return this.parent.principal;
  }
  get secure(): boolean {
    return this.parent.secure;
  }
  /** Empty and ended: a sub-request has no body (made only if some stage asks for it). */
  get body(): Readable {
    if (!this.#body) {
      this.#body = Readable.from([]);
      this.#body.on('error', () => undefined);
    }
    return this.#body;
  }
  header(name: string): string | undefined {
    if (name.charCodeAt(0) === 58) {
      if (name === ':method') return this.method;
      if (name === ':path') return this.path + this.search;
      if (name === ':authority') return this.authority;
      return undefined;
    }
    const p = this.pairs;
    for (let i = 0; i < p.length; i += 2) if (p[i] === name) return p[i + 1];
    return undefined;
  }
  rawPairs(): string[] {
    return this.pairs;
  }
}

/** How a collected sub-request ended. */
export type CollectOutcome =
  | { readonly ok: true; readonly status: number; readonly headers: ResponseHeaders; readonly body: Buffer }
  | { readonly ok: false; readonly reason: 'reset' | 'too-large' | 'cancelled' };

/**
 * A sink that keeps the response in memory, up to `maxBytes` of body: past that (or when the
 * stage writing it resets), the exchange behind it is told the client went away, so it stops
 * reading from the upstream. `done` is called exactly once.
 */
export class CollectSink implements ResponseSink {
  #status = 0;
  #headers: ResponseHeaders = {};
  #chunks: Buffer[] = [];
  #bytes = 0;
  #finished = false;
  #gone: (() => void)[] = [];

  constructor(
    private readonly maxBytes: number,
    private readonly done: (o: CollectOutcome) => void,
  ) {}

  get headersSent(): boolean {
    return this.#status !== 0;
  }
  writeHead(status: number, headers: ResponseHeaders, endStream: boolean): void {
    if (this.#finished) return;
    this.#status = status;
    this.#headers = headers;
    if (endStream) this.#finish();
  }
  write(chunk: Buffer): boolean {
    if (this.#finished) return true;
    this.#bytes += chunk.length;
    if (this.#bytes > this.maxBytes) {
      this.cancel('too-large');
      return true;
    }
    this.#chunks.push(chunk);
    return true;
  }
  onceDrain(fn: () => void): void {
    // write() never asks to wait: the bound, not back-pressure, limits what is held.
    queueMicrotask(fn);
  }
  end(): void {
    this.#finish();
  }
  respondTrailersOnly(headers: ResponseHeaders): void {
    this.writeHead(Number(headers[':status'] ?? 200), headers, true);
  }
  respondSimple(status: number, headers: ResponseHeaders, body: string): void {
    if (this.#finished) return;
    this.#status = status;
    this.#headers = headers;
    if (body) this.write(Buffer.from(body));
    this.#finish();
  }
  abort(): void {
    this.cancel('reset');
  }
  onClientGone(fn: () => void): void {
    if (this.#finished) return;
    this.#gone.push(fn);
  }
  closeAfterResponse(): void {}

  /** Ends the sub-request without a response (its timeout, the caller gone, a bound passed). */
  cancel(reason: 'reset' | 'too-large' | 'cancelled'): void {
    if (this.#finished) return;
    this.#finished = true;
    const gone = this.#gone;
    this.#gone = [];
    this.#chunks = [];
    for (const fn of gone) fn();
    this.done({ ok: false, reason });
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#gone = [];
    const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.done({ ok: true, status: this.#status || 200, headers: this.#headers, body });
  }
}

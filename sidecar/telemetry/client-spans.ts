/**
 * The CLIENT spans of one sampled outbound exchange: one per attempt, children of the context the
 * app sent, named by the gRPC method or `METHOD authority`, ended with the attempt's status or
 * failure. The exchange reports; this file owns the span's shape (docs/observability.md).
 */
import type { Context, Span } from '@opentelemetry/api';
import type { RequestHead, RequestInfo } from '../http/filter.js';
import type { Host } from '../upstream/host.js';
import type { UpstreamCluster } from '../upstream/cluster.js';
import { endSpan, grpcSpanName, withSpan, type ListenerKind, type Tracing } from './tracing.js';

export class ClientSpans {
  readonly #t: Tracing;
  readonly #listener: ListenerKind;
  readonly #parent: Context;
  #span: Span | undefined;
  #status: number | undefined;
  #error: string | undefined;

  /** `parent`: the app's context (outbound) or the gateway's SERVER span's. */
  constructor(t: Tracing, listener: ListenerKind, parent: Context) {
    this.#t = t;
    this.#listener = listener;
    this.#parent = parent;
  }

  /** Starts the attempt's span; returns the request headers with its context injected. */
  start(d: RequestHead, info: RequestInfo, path: string, cluster: UpstreamCluster, host: Host, attempt: number, headers: string[]): string[] {
    const attrs: Record<string, string | number | boolean> = {
      'http.request.method': d.method,
      'url.path': path,
      'server.address': host.address,
      'server.port': host.port,
      'weft.cluster': cluster.name,
      'weft.upstream_host': host.key,
      'weft.attempt': attempt,
    };
    // The API consumer (API-key filter), known before the first attempt.
    if (info.consumer) attrs['weft.consumer'] = info.consumer;
    const name = (d.grpc ? grpcSpanName(d.path, attrs) : undefined) ?? `${d.method} ${cluster.authority}`;
    const span = this.#t.start(this.#listener, 'client', name, this.#parent, attrs);
    this.#span = span;
    if (span) info.traceId = span.spanContext().traceId;
    this.#status = undefined;
    this.#error = undefined;
    return span ? this.#t.inject(this.#listener, withSpan(this.#parent, span), headers) : headers;
  }

  /** The attempt's response status. */
  status(s: number): void {
    this.#status = s;
  }

  /** The attempt failed this way (connect_failure, reset, ...). */
  error(e: string): void {
    this.#error = e;
  }

  /** Ends the attempt's span (fallbackError when it ended with neither status nor failure). */
  end(fallbackError?: string): void {
    if (!this.#span) return;
    endSpan(this.#span, this.#status, this.#error ?? (this.#status === undefined ? fallbackError : undefined));
    this.#span = undefined;
  }
}

/**
 * OpenTelemetry tracing in the sidecar, configured by the control plane (each listener's
 * HttpConnectionManager `tracing`: sampling percent, OTLP/HTTP endpoint, service name; the header
 * format from listener metadata) and changed live.
 *
 * - Inbound listener: one SERVER span per request, its context propagated to the local app.
 * - Outbound listener: one CLIENT span per upstream attempt (retries show as their own spans),
 *   child of the context the app sent.
 * - Gateway listeners: both, a SERVER span per request (child of what the client sent) and a
 *   CLIENT span per upstream attempt, child of that SERVER span (sub-requests of an aggregation
 *   included: their attempts are children of the composed request's SERVER span).
 * - Sampling: a parent's decision is honoured; requests without one are head-sampled by trace id.
 * - Export: OTLP/HTTP protobuf, batched, from a bounded queue. When the collector is slow or down,
 *   spans are dropped and counted (`stats`); a request never waits for export.
 * With no tracing configured, nothing is created and headers pass through untouched.
 * The OpenTelemetry SDK and OTLP exporter (tracing-sdk.ts) are loaded only by a sidecar whose
 * listeners export spans, and with them the propagators (propagators.ts: a listener without an
 * endpoint traces nothing, so it never reads or writes propagation headers). The xDS client holds
 * such a Listener update until tracingToLoad()'s promise has settled (see `prepare` in main.ts),
 * so no request is served by that listener before its tracer exists.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { Context, Span, SpanContext, TextMapGetter, TextMapPropagator, Tracer } from '@opentelemetry/api';
import type { Logger } from '../../common/log.js';
import type { TracerProviderHandle } from './tracing-sdk.js';
import { hash32 } from '../upstream/lb/ring-hash.js';

/** Where spans are made: a sidecar's inbound or outbound listener, or any listener of a gateway. */
export type ListenerKind = 'inbound' | 'outbound' | 'gateway';

/** The HCM's tracing settings, as the sidecar runs them. */
export interface TracingConfig {
  /** 0..100: head sampling for requests that arrive without a sampling decision. */
  samplingPercent: number;
  /** OTLP/HTTP traces URL; undefined: spans are not recorded (propagation still happens). */
  endpoint: string | undefined;
  serviceName: string;
  propagation: 'w3c' | 'b3';
}

/**
 * A gRPC call's span name (`service/method`), with its `rpc.*` attributes added to `attrs`;
 * undefined when the path is not a gRPC method path.
 */
export function grpcSpanName(path: string, attrs: Record<string, string | number | boolean>): string | undefined {
  const m = /^\/([^/]+)\/([^/?]+)/.exec(path);
  if (!m) return undefined;
  attrs['rpc.system'] = 'grpc';
  attrs['rpc.service'] = m[1]!;
  attrs['rpc.method'] = m[2]!;
  return `${m[1]}/${m[2]}`;
}

/** A listener's tracing, as the listener hands it to its chain: the tracer and which side it is. */
export interface RouterTracing {
  t: Tracing;
  listener: ListenerKind;
}

export interface HeaderSource {
  header(name: string): string | undefined;
}

/** The sampling flag the caller's propagation headers carry: true, false, or undefined (none). */
export function parentSampled(propagation: 'w3c' | 'b3', h: HeaderSource): boolean | undefined {
  if (propagation === 'w3c') {
    const tp = h.header('traceparent');
    // version "00": 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
    if (tp === undefined || tp.length < 55 || tp.charCodeAt(2) !== 45 || tp.charCodeAt(35) !== 45 || tp.charCodeAt(52) !== 45) return undefined;
    const flags = parseInt(tp.slice(53, 55), 16);
    return Number.isNaN(flags) ? undefined : (flags & 1) === 1;
  }
  const single = h.header('b3');
  if (single !== undefined) {
    const d = single.length === 1 ? single : single.split('-')[2];
    return d === '1' || d === 'd' ? true : d === '0' ? false : undefined;
  }
  if (h.header('x-b3-flags') === '1') return true;
  const m = h.header('x-b3-sampled');
  return m === '1' || m === 'true' ? true : m === '0' || m === 'false' ? false : undefined;
}

export interface TracingStats {
  spansStarted: number;
  spansExported: number;
  spansDropped: number;
  exportFailures: number;
}

const GETTER: TextMapGetter<(name: string) => string | undefined> = {
  get: (carrier, key) => carrier(key),
  keys: () => [],
};

const PROPAGATION_HEADERS = new Set(['traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags']);

interface ListenerState {
  config: TracingConfig;
  tracer: Tracer | undefined;
  /** Set with the tracer (both come with the SDK). */
  propagator: TextMapPropagator | undefined;
}

let api: typeof OtelApi | undefined;
let sdk: typeof import('./tracing-sdk.js') | undefined;
let sdkLoading: Promise<void> | undefined;
let propagators: typeof import('./propagators.js') | undefined;

/**
 * Loads the OpenTelemetry API, SDK, exporter and propagators (once). `Tracing.configure` with an
 * endpoint needs them; a listener without one records nothing and so never reads or writes
 * propagation headers (they pass through untouched), and a sidecar that traces nothing never
 * loads even the API (about 0.5 MiB of heap).
 */
export function loadTracingSdk(): Promise<void> {
  return (sdkLoading ??= Promise.all([import('@opentelemetry/api'), import('./tracing-sdk.js'), import('./propagators.js')]).then(([a, m, p]) => {
    api = a;
    sdk = m;
    propagators = p;
  }));
}

/**
 * The context a listener that reads no propagation headers hands on: the API's root context once
 * it is loaded, else an empty one of our own (nothing is traced then, so nothing reads it).
 */
const EMPTY_CONTEXT: Context = {
  getValue: () => undefined,
  setValue: () => EMPTY_CONTEXT,
  deleteValue: () => EMPTY_CONTEXT,
};
const rootContext = (): Context => api?.ROOT_CONTEXT ?? EMPTY_CONTEXT;

/** What applying `configs` has to wait for (the SDK, when one exports spans); undefined when nothing. */
export function tracingToLoad(configs: Iterable<TracingConfig | undefined>): Promise<void> | undefined {
  if (sdk) return undefined;
  for (const c of configs) if (c?.endpoint) return loadTracingSdk();
  return undefined;
}

export class Tracing {
  readonly stats: TracingStats = { spansStarted: 0, spansExported: 0, spansDropped: 0, exportFailures: 0 };
  readonly #listeners = new Map<ListenerKind, ListenerState>();
  /** Head-sampling ratio for roots (0..1), as the last configured listener set it. */
  #ratio = 0;
  #provider: TracerProviderHandle | undefined;
  #providerKey = '';
  /** A listener's config that waits for the SDK (only when a caller skipped loadTracingSdk). */
  readonly #deferred = new Map<ListenerKind, TracingConfig>();

  constructor(private readonly o: { namespace: string; nodeId: string; logger: Logger }) {}

  /** Applies a listener's tracing settings (undefined: no tracing on it). */
  configure(listener: ListenerKind, cfg: TracingConfig | undefined): void {
    this.#deferred.delete(listener);
    if (!cfg) {
      this.#listeners.delete(listener);
      return;
    }
    this.#ratio = cfg.samplingPercent / 100;
    const wait = tracingToLoad([cfg]);
    if (wait) {
      // The xDS client loads the SDK before applying a Listener that exports spans; anything
      // else that gets here (a caller that skipped it) gets its spans once the SDK is in.
      this.o.logger.warn({ listener }, 'tracing: the OpenTelemetry SDK was not loaded before the config; loading it now');
      this.#deferred.set(listener, cfg);
      void wait.then(() => {
        // Only if no later configure() replaced this one meanwhile.
        if (this.#deferred.get(listener) === cfg) this.configure(listener, cfg);
      });
      return;
    }
    let tracer: Tracer | undefined;
    if (cfg.endpoint) {
      const key = `${cfg.endpoint}|${cfg.serviceName}`;
      if (key !== this.#providerKey) {
        const old = this.#provider;
        this.#provider = sdk!.newTracerProvider({
          endpoint: cfg.endpoint,
          resource: { 'service.name': cfg.serviceName || 'weft-proxy', 'service.namespace': this.o.namespace, 'service.instance.id': this.o.nodeId, 'weft.proxy': 'sidecar' },
          ratio: () => this.#ratio,
          stats: this.stats,
        });
        this.#providerKey = key;
        void old?.shutdown().catch(() => undefined);
        this.o.logger.info({ endpoint: cfg.endpoint, service: cfg.serviceName, samplingPercent: cfg.samplingPercent }, 'tracing configured');
      }
      tracer = this.#provider!.getTracer('weft-sidecar');
    }
    // Propagation headers are read and written only for requests this listener traces (a tracer).
    this.#listeners.set(listener, { config: cfg, tracer, propagator: tracer && propagators ? (cfg.propagation === 'b3' ? propagators.B3 : propagators.W3C) : undefined });
  }

  /**
   * The head-sampling decision, made before any span work so an unsampled request costs a header
   * read: the caller's flag when its propagation headers carry one (an unsampled parent's headers
   * pass through untouched); otherwise the ratio, keyed on x-request-id as Envoy does, so every
   * sidecar on the request's path agrees without any extra header.
   */
  sampled(listener: ListenerKind, h: HeaderSource, requestId: string | undefined): boolean {
    const st = this.#listeners.get(listener);
    if (!st?.tracer) return false;
    const p = parentSampled(st.config.propagation === 'b3' ? 'b3' : 'w3c', h);
    if (p !== undefined) return p;
    const r = this.#ratio;
    if (r <= 0) return false;
    if (r >= 1) return true;
    return (requestId ? (hash32(requestId, 0x5eed) >>> 0) / 4294967296 : Math.random()) < r;
  }

  /** Whether `listener` records spans at all (the request path checks this first). */
  active(listener: ListenerKind): boolean {
    return this.#listeners.get(listener)?.tracer !== undefined;
  }

  /** The context the caller sent (traceparent or B3). */
  extract(listener: ListenerKind, header: (name: string) => string | undefined): Context {
    const st = this.#listeners.get(listener);
    return st?.propagator ? st.propagator.extract(rootContext(), header, GETTER) : rootContext();
  }

  start(listener: ListenerKind, kind: 'server' | 'client', name: string, parent: Context, attributes: Record<string, string | number | boolean>): Span | undefined {
    const tr = this.#listeners.get(listener)?.tracer;
    if (!tr) return undefined;
    // A tracer comes from the SDK, loaded with the API.
    const { SpanKind } = api!;
    const span = tr.startSpan(name, { kind: kind === 'server' ? SpanKind.SERVER : SpanKind.CLIENT, attributes }, parent);
    if (span.isRecording()) this.stats.spansStarted++;
    return span;
  }

  /** A copy of flat header pairs whose propagation headers carry `ctx` (the span's own context). */
  inject(listener: ListenerKind, ctx: Context, flat: readonly string[]): string[] {
    const st = this.#listeners.get(listener);
    if (!st?.propagator) return flat as string[];
    const out: string[] = [];
    for (let i = 0; i < flat.length; i += 2) if (!PROPAGATION_HEADERS.has(flat[i]!)) out.push(flat[i]!, flat[i + 1]!);
    const carrier: Record<string, string> = {};
    st.propagator.inject(ctx, carrier, { set: (c, k, v) => (c[k] = v) });
    for (const [k, v] of Object.entries(carrier)) out.push(k, v);
    return out;
  }

  async close(): Promise<void> {
    await this.#provider?.shutdown().catch(() => undefined);
  }
}

/** End a span with the HTTP status (5xx: ERROR) or an error code of the sidecar's own. */
export function endSpan(span: Span | undefined, status: number | undefined, error?: string): void {
  if (!span) return;
  // A span comes from the SDK, loaded with the API.
  const ERROR = api!.SpanStatusCode.ERROR;
  if (status !== undefined) span.setAttribute('http.response.status_code', status);
  if (error) {
    span.setAttribute('error.type', error);
    span.setStatus({ code: ERROR, message: error });
  } else if (status !== undefined && status >= 500) span.setStatus({ code: ERROR });
  span.end();
}

/** `ctx` with `span` as its active span (the API's trace.setSpan; spans exist only once the API is loaded). */
export function withSpan(ctx: Context, span: Span): Context {
  return api!.trace.setSpan(ctx, span);
}

/** The span context active in `ctx`, if any (undefined while nothing has loaded the API). */
export function spanContextOf(ctx: Context): SpanContext | undefined {
  return api?.trace.getSpanContext(ctx);
}

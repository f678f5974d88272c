/**
 * The OpenTelemetry SDK side of tracing.ts: a tracer provider with Weft's sampler and a bounded
 * batch processor exporting OTLP/HTTP protobuf. Its own module so that a sidecar whose listeners
 * do not export spans never loads the SDK and the exporter (loadTracingSdk in tracing.ts).
 */
import { trace, TraceFlags, type Context, type Tracer } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SamplingDecision, type ReadableSpan, type Sampler, type SamplingResult, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { TracingStats } from './tracing.js';

/** What tracing.ts holds of a provider. */
export interface TracerProviderHandle {
  getTracer(name: string): Tracer;
  shutdown(): Promise<void>;
}

/** A provider exporting to `endpoint`, sampling roots at `ratio()` (read per decision: it changes live). */
export function newTracerProvider(o: { endpoint: string; resource: Record<string, string>; ratio: () => number; stats: TracingStats }): TracerProviderHandle {
  return new BasicTracerProvider({
    resource: resourceFromAttributes(o.resource),
    sampler: new LiveSampler(o.ratio),
    spanProcessors: [new BoundedBatchProcessor(new OTLPTraceExporter({ url: o.endpoint, timeoutMillis: 5000 }), o.stats)],
  });
}

/**
 * Parent-based sampling. The ratio for roots is applied before a span is started (see
 * Tracing.sampled), so a root that gets here is sampled.
 */
class LiveSampler implements Sampler {
  constructor(private readonly ratio: () => number) {}
  shouldSample(ctx: Context): SamplingResult {
    const parent = trace.getSpanContext(ctx);
    if (parent && trace.isSpanContextValid(parent)) {
      return { decision: parent.traceFlags & TraceFlags.SAMPLED ? SamplingDecision.RECORD_AND_SAMPLED : SamplingDecision.NOT_RECORD };
    }
    return { decision: SamplingDecision.RECORD_AND_SAMPLED };
  }
  toString(): string {
    return `WeftParentBased{ratio=${this.ratio()}}`;
  }
}

/** A bounded queue exported in batches; never blocks, drops (and counts) when full or failing. */
class BoundedBatchProcessor implements SpanProcessor {
  #queue: ReadableSpan[] = [];
  #inFlight = false;
  readonly #timer: NodeJS.Timeout;
  constructor(
    private readonly exporter: SpanExporter,
    private readonly stats: TracingStats,
    private readonly maxQueue = 2048,
    private readonly batch = 512,
  ) {
    this.#timer = setInterval(() => this.#flush(), 1000);
    this.#timer.unref();
  }
  onStart(): void {}
  onEnd(span: ReadableSpan): void {
    if (!(span.spanContext().traceFlags & TraceFlags.SAMPLED)) return;
    if (this.#queue.length >= this.maxQueue) {
      this.stats.spansDropped++;
      return;
    }
    this.#queue.push(span);
    if (this.#queue.length >= this.batch) this.#flush();
  }
  #flush(): Promise<void> {
    if (this.#inFlight || this.#queue.length === 0) return Promise.resolve();
    const spans = this.#queue.splice(0, this.batch);
    this.#inFlight = true;
    return new Promise((resolve) => {
      this.exporter.export(spans, (r) => {
        this.#inFlight = false;
        if (r.code === ExportResultCode.SUCCESS) this.stats.spansExported += spans.length;
        else {
          this.stats.spansDropped += spans.length;
          this.stats.exportFailures++;
        }
        resolve();
      });
    });
  }
  async forceFlush(): Promise<void> {
    for (let i = 0; i < 10 && (this.#queue.length || this.#inFlight); i++) {
      if (this.#inFlight) await new Promise((r) => setTimeout(r, 20));
      else await this.#flush();
    }
  }
  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    await this.forceFlush();
    await this.exporter.shutdown();
  }
}

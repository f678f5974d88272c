/**
 * The trace-context propagators (W3C traceparent, B3 multi-header), loaded by tracing.ts with the
 * SDK: only a listener that records spans reads or writes propagation headers, and
 * @opentelemetry/core is about 1 MB of heap that a sidecar exporting no spans never needs (it
 * passes the headers through untouched).
 */
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';

export const W3C = new W3CTraceContextPropagator();
export const B3 = new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER });

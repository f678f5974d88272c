// A process instrumented with the standard OpenTelemetry JS SDK (no Weft code): two services'
// tracer providers export over OTLP/HTTP protobuf to OTLP_URL. It records one trace across them
// (frontend SERVER -> frontend CLIENT -> orders SERVER -> orders INTERNAL, which fails), prints
// "trace <id>" and exits after flushing.
import { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';

const url = process.env.OTLP_URL;
const provider = (service) =>
  new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 50 })],
  });
const fp = provider('frontend');
const op = provider('orders');
const ft = fp.getTracer('otel-app');
const ot = op.getTracer('otel-app');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const root = ft.startSpan('GET /checkout', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'url.path': '/checkout' } });
const rootCtx = trace.setSpan(context.active(), root);
await sleep(5);
const client = ft.startSpan('GET orders', { kind: SpanKind.CLIENT }, rootCtx);
const clientCtx = trace.setSpan(rootCtx, client);
await sleep(3);
const server = ot.startSpan('GET /orders/7', { kind: SpanKind.SERVER, attributes: { 'http.response.status_code': 500 } }, clientCtx);
const inner = ot.startSpan('load order', {}, trace.setSpan(clientCtx, server));
await sleep(10);
inner.setStatus({ code: SpanStatusCode.ERROR, message: 'order 7 not found' });
inner.end();
server.setStatus({ code: SpanStatusCode.ERROR });
server.end();
client.end();
await sleep(2);
root.end();
await Promise.all([fp.forceFlush(), op.forceFlush()]);
console.log(`trace ${root.spanContext().traceId}`);
await Promise.all([fp.shutdown(), op.shutdown()]);

// An app instrumented the standard way: the OpenTelemetry Node SDK (NodeTracerProvider) with the
// http and @grpc/grpc-js auto-instrumentations, exporting OTLP/HTTP protobuf to OTLP_URL. No Weft
// code. CommonJS, so the instrumentations' require hooks see http and @grpc/grpc-js load.
//   node traced-app.cjs ROLE [PORT]      prints "listening PORT"
// Its sidecar's outbound URL arrives on stdin as "sidecar http://127.0.0.1:N" (the sidecar starts
// after the app, since it needs the app's port); the app answers "sidecar set".
// frontend (HTTP)  GET /checkout?order=N -> GET orders /orders/N through SIDECAR (its sidecar's
//                  outbound listener); answers {traceId, orders: <orders' answer>}
// orders   (HTTP)  GET /orders/N: the first request for each N answers 503 (so the caller's sidecar
//                  retries); later ones call payments' Charge (gRPC, through SIDECAR) and answer
//                  {order, payment}
// payments (gRPC)  /weft.test.Payments/Charge: answers "charged:<request>"
'use strict';
const { NodeTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { registerInstrumentations } = require('@opentelemetry/instrumentation');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { GrpcInstrumentation } = require('@opentelemetry/instrumentation-grpc');
const { trace, context } = require('@opentelemetry/api');

const [role = 'frontend', port = '0'] = process.argv.slice(2);
const provider = new NodeTracerProvider({
  resource: resourceFromAttributes({ 'service.name': role }),
  spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: process.env.OTLP_URL }), { scheduledDelayMillis: 100 })],
});
provider.register();
registerInstrumentations({
  instrumentations: [new HttpInstrumentation({ ignoreOutgoingRequestHook: (o) => String(o.path ?? '').startsWith('/v1/traces') }), new GrpcInstrumentation()],
});

const http = require('node:http');
const grpc = require('@grpc/grpc-js');
let sidecar = new URL('http://127.0.0.1:1');
let onSidecar = () => undefined;
require('node:readline')
  .createInterface({ input: process.stdin })
  .on('line', (line) => {
    const m = /^sidecar (\S+)$/.exec(line.trim());
    if (!m) return;
    sidecar = new URL(m[1]);
    onSidecar();
    process.stdout.write('sidecar set\n');
  });
const id = (b) => b;
const paymentsService = {
  charge: { path: '/weft.test.Payments/Charge', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
};

function get(hostHeader, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: sidecar.hostname, port: sidecar.port, path, headers: { host: hostHeader } }, (r) => {
        let body = '';
        r.on('data', (c) => (body += c));
        r.on('end', () => resolve({ status: r.statusCode, body }));
      })
      .on('error', reject);
  });
}

function json(res, status, o) {
  const s = JSON.stringify(o);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(s);
}

function listening(p) {
  process.stdout.write(`listening ${p}\n`);
}

if (role === 'payments') {
  const server = new grpc.Server();
  server.addService(paymentsService, {
    charge(call, cb) {
      setTimeout(() => cb(null, Buffer.concat([Buffer.from('charged:'), call.request])), 2);
    },
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
    if (err) throw err;
    listening(p);
  });
} else if (role === 'orders') {
  const Payments = grpc.makeGenericClientConstructor(paymentsService, 'Payments');
  let payments;
  onSidecar = () => {
    payments?.close();
    payments = new Payments(`${sidecar.hostname}:${sidecar.port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'payments' });
  };
  const seen = new Set();
  const server = http.createServer((req, res) => {
    const m = /^\/orders\/(\w+)/.exec(req.url ?? '');
    if (!m) return json(res, 404, { error: 'no such path' });
    const order = m[1];
    if (!seen.has(order)) {
      seen.add(order);
      return json(res, 503, { error: 'warming up, try again' });
    }
    payments.charge(Buffer.from(order), (err, reply) => {
      if (err) return json(res, 502, { error: err.message });
      json(res, 200, { order, payment: reply.toString() });
    });
  });
  server.listen(Number(port), '127.0.0.1', () => listening(server.address().port));
} else {
  const server = http.createServer(async (req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/checkout') return json(res, 404, { error: 'no such path' });
    const traceId = trace.getSpan(context.active())?.spanContext().traceId ?? '';
    try {
      const r = await get('orders', `/orders/${u.searchParams.get('order') ?? '1'}`);
      json(res, r.status === 200 ? 200 : 502, { traceId, orders: JSON.parse(r.body) });
    } catch (e) {
      json(res, 502, { traceId, error: e.message });
    }
  });
  server.listen(Number(port), '127.0.0.1', () => listening(server.address().port));
}

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => provider.shutdown().finally(() => process.exit(0)));

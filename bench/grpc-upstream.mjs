// The gRPC upstream of bench/weft-grpc.sh: a grpc-js server with one generic service whose
// messages are raw bytes (identity serializers, no protobuf work on either side), so the
// benchmark measures the proxies, not message encoding.
//   /weft.bench.Echo/Unary   answers one fixed 64-byte message
//   /weft.bench.Echo/Stream  server streaming: answers STREAM_MESSAGES (100) fixed 64-byte messages per call
//   node bench/grpc-upstream.mjs [PORT]    (0 or none: any free port)
// Prints "listening PORT" once it accepts calls. Plain grpc-js from node_modules.
// Also a one-shot client: node bench/grpc-upstream.mjs --call HOST:PORT Unary|Stream
// makes one call and prints "grpc-status N messages M" (exit 0 only when N is 0).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');

const identity = { path: '', requestStream: false, responseStream: false,
  requestSerialize: (b) => b, requestDeserialize: (b) => b, responseSerialize: (b) => b, responseDeserialize: (b) => b };
const service = {
  Unary: { ...identity, path: '/weft.bench.Echo/Unary' },
  Stream: { ...identity, path: '/weft.bench.Echo/Stream', responseStream: true },
};
const PAYLOAD = Buffer.alloc(64, 'w');
const STREAM_MESSAGES = Number(process.env.STREAM_MESSAGES ?? 100);

const args = process.argv.slice(2);
if (args[0] === '--call') {
  const [, target, method = 'Unary'] = args;
  const Client = grpc.makeGenericClientConstructor(service, 'Echo');
  const client = new Client(target, grpc.credentials.createInsecure());
  const deadline = new Date(Date.now() + 5000);
  const done = (code, n, detail = '') => {
    console.log(`grpc-status ${code} messages ${n}${detail ? ` ${detail}` : ''}`);
    client.close();
    process.exit(code === 0 ? 0 : 1);
  };
  if (method === 'Stream') {
    let n = 0;
    const call = client.Stream(Buffer.alloc(0), { deadline });
    call.on('data', () => { n += 1; });
    call.on('error', (e) => done(e.code, n, JSON.stringify(e.details)));
    call.on('status', (s) => { if (s.code === 0) done(n === STREAM_MESSAGES ? 0 : -1, n, n === STREAM_MESSAGES ? '' : `want ${STREAM_MESSAGES} messages`); });
  } else {
    client.Unary(Buffer.alloc(0), { deadline }, (err, res) => {
      if (err) return done(err.code, 0, JSON.stringify(err.details));
      done(res.length === PAYLOAD.length ? 0 : -1, 1, res.length === PAYLOAD.length ? '' : `answer of ${res.length} bytes, want ${PAYLOAD.length}`);
    });
  }
} else {
  const server = new grpc.Server();
  server.addService(service, {
    Unary: (_call, cb) => cb(null, PAYLOAD),
    Stream: (call) => {
      for (let i = 0; i < STREAM_MESSAGES; i++) call.write(PAYLOAD);
      call.end();
    },
  });
  server.bindAsync(`127.0.0.1:${Number(args[0] ?? 0)}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
    console.log(`listening ${port}`);
  });
  const stop = () => server.tryShutdown(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

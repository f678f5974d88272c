// A real @grpc/grpc-js server for tests and the demo. Prints "listening PORT" once bound.
//   node grpc-backend.mjs NAME [PORT]
// /weft.test.Echo/Echo     unary: answers NAME:<request bytes>; request metadata `fail: CODE`
//                          answers that gRPC status instead; trailer `x-served-by: NAME`
// /weft.test.Echo/Chat     bidi: answers each message with NAME:<bytes>, trailer x-count
// /weft.test.Echo/Count    server streaming: N (request as decimal) messages
// /weft.test.Echo/Sum      client streaming: total bytes received
import * as grpc from '@grpc/grpc-js';

const [name = 'backend', port = '0'] = process.argv.slice(2);
const id = (b) => b;
const m = (path, requestStream, responseStream) => ({ path, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
const service = {
  echo: m('/weft.test.Echo/Echo', false, false),
  chat: m('/weft.test.Echo/Chat', true, true),
  count: m('/weft.test.Echo/Count', false, true),
  sum: m('/weft.test.Echo/Sum', true, false),
};
const trailer = (extra = {}) => {
  const md = new grpc.Metadata();
  md.set('x-served-by', name);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
};
const server = new grpc.Server();
server.addService(service, {
  echo(call, cb) {
    const fail = call.metadata.get('fail')[0];
    if (fail) return cb({ code: Number(fail), message: `asked to fail with ${fail}`, metadata: trailer() });
    const delay = Number(call.metadata.get('delay-ms')[0] ?? 0);
    setTimeout(() => cb(null, Buffer.concat([Buffer.from(`${name}:`), call.request]), trailer()), delay);
  },
  chat(call) {
    let n = 0;
    call.on('data', (b) => {
      n++;
      call.write(Buffer.concat([Buffer.from(`${name}:`), b]));
    });
    call.on('end', () => call.end(trailer({ 'x-count': String(n) })));
  },
  count(call) {
    const n = Number(call.request.toString());
    for (let i = 0; i < n; i++) call.write(Buffer.from(`${name}:${i}`));
    call.end(trailer());
  },
  sum(call, cb) {
    let total = 0;
    call.on('data', (b) => (total += b.length));
    call.on('end', () => cb(null, Buffer.from(`${name}:${total}`), trailer()));
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
  console.log(`listening ${p}`);
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => server.tryShutdown(() => process.exit(0)));

// A real @grpc/grpc-js server for tests and the demo: `Echo` answers with this backend's name and
// the request bytes. Prints "listening PORT" once bound.  node grpc-backend.mjs NAME [PORT]
import * as grpc from '@grpc/grpc-js';

const [name = 'backend', port = '0'] = process.argv.slice(2);
const id = (b) => b;
const service = {
  echo: { path: '/weft.test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
};
const server = new grpc.Server();
server.addService(service, {
  echo(call, cb) {
    cb(null, Buffer.concat([Buffer.from(`${name}:`), call.request]));
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

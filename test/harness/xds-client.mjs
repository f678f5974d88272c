// A proxyless gRPC client that nobody at Weft wrote: @grpc/grpc-js-xds resolving xds:///TARGET
// through the control plane. Reads commands on stdin, one per line:
//   run N      -> makes N unary calls, prints {"counts": {backend: n}, "errors": n}
// Env: XDS_SERVER (host:port of the control plane's plaintext xDS), TARGET, NODE_ID, ZONE.
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { createInterface } from 'node:readline';

const bootstrap = {
  xds_servers: [{ server_uri: process.env.XDS_SERVER, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
  node: { id: process.env.NODE_ID ?? `xds-client-${process.pid}`, locality: { zone: process.env.ZONE ?? 'zone-a' } },
};
process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify(bootstrap);
xds.register();

const id = (b) => b;
const Client = grpc.makeGenericClientConstructor({
  echo: { path: '/weft.test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
}, 'Echo');
const client = new Client(`xds:///${process.env.TARGET}`, grpc.credentials.createInsecure());

function call() {
  return new Promise((resolve) => {
    client.echo(Buffer.from('x'), { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? { err: err.message } : { name: res.toString().split(':')[0] }));
  });
}

async function run(n) {
  const counts = {};
  let errors = 0;
  let lastError;
  for (let i = 0; i < n; i++) {
    const r = await call();
    if (r.err) {
      errors++;
      lastError = r.err;
    } else counts[r.name] = (counts[r.name] ?? 0) + 1;
  }
  return { counts, errors, lastError };
}

console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/);
  if (cmd === 'run') console.log(JSON.stringify(await run(Math.min(Number(arg) || 1, 100_000))));
  else if (cmd === 'quit') break;
}
client.close();
process.exit(0);

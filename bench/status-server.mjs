// A stand-in upstream that answers every request with one fixed status, for checking that the
// benchmarks report FAILED rather than a number for a broken target (docs/benchmarks.md).
//   node bench/status-server.mjs PORT [STATUS=503]   (PORT 0: any free port; prints "listening PORT")
import { createServer } from 'node:http';

const [port = '0', status = '503'] = process.argv.slice(2);
const body = `status ${status}\n`;
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(Number(status), { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.listen(Number(port), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));

// Upstream of the edge benchmark (bench/weft-edge.sh): one static keep-alive HTTP/1.1 server that
// both edges (weft gateway and nginx) proxy to, so they do the same job on the same bytes.
//   node bench/edge-upstream.mjs [port=0] [host=127.0.0.1]     prints "listening PORT"
// GET /        200, 64-byte text/plain (the handshake and keep-alive rows)
// GET /json    200, a 32 KiB application/json document with realistic redundancy (the compression
//              row: gzip takes it to about a sixth; never compressed here, the edge does it)
// GET /cached  200, 4 KiB text/plain with Cache-Control: public, max-age=3600 (the cache row)
// GET /stats   200, {"path": requests served} since start: shows that cache hits never reached us
// Fixed Content-Length, no chunking, no Content-Encoding. Any request body is drained first.
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';

/** A JSON catalogue page of exactly `size` bytes: varied values, repeated keys (as an API answers). */
function jsonBody(size) {
  const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima'];
  const items = [];
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; ; i++) {
    items.push({
      id: 100000 + i,
      sku: `SKU-${Math.floor(rnd() * 1e8).toString(36).toUpperCase()}`,
      name: `${words[i % words.length]} ${words[Math.floor(rnd() * words.length)]} ${Math.floor(rnd() * 1000)}`,
      price: Math.round(rnd() * 100000) / 100,
      inStock: rnd() > 0.3,
      tags: [words[Math.floor(rnd() * words.length)], words[Math.floor(rnd() * words.length)]],
    });
    const s = JSON.stringify({ page: 1, items });
    if (s.length >= size) {
      items.pop();
      const base = JSON.stringify({ page: 1, items, pad: '' });
      return Buffer.from(JSON.stringify({ page: 1, items, pad: 'p'.repeat(size - base.length) }));
    }
  }
}

const bodies = {
  '/': { body: Buffer.from('x'.repeat(63) + '\n'), type: 'text/plain' },
  '/json': { body: jsonBody(32 * 1024), type: 'application/json' },
  '/cached': { body: Buffer.alloc(4096, 'c'), type: 'text/plain', extra: { 'cache-control': 'public, max-age=3600' } },
};
for (const b of Object.values(bodies)) b.headers = { 'content-type': b.type, 'content-length': String(b.body.length), ...b.extra };
const served = {};

function answer(req, res) {
  const path = req.url.split('?')[0];
  served[path] = (served[path] ?? 0) + 1;
  if (path === '/stats') {
    const s = Buffer.from(JSON.stringify(served));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(s.length), 'cache-control': 'no-store' });
    return res.end(s);
  }
  const b = bodies[path];
  if (!b) {
    res.writeHead(404, { 'content-length': '0' });
    return res.end();
  }
  res.writeHead(200, b.headers);
  res.end(req.method === 'HEAD' ? undefined : b.body);
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' || req.method === 'HEAD') return answer(req, res);
  req.resume();
  req.on('end', () => answer(req, res));
});
// Idle upstream connections outlive every edge's pool timeout: no close races (spurious 502s).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;
server.maxRequestsPerSocket = 0;
server.listen(port, host, () => process.stdout.write(`listening ${server.address().port}\n`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));

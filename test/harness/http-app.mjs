// A real HTTP/1.1 app for sidecar tests and the demo. Prints "listening PORT" once bound.
//   node http-app.mjs NAME [PORT]
// GET  /            JSON: name, method, url, selected request headers, body (after DELAY_MS);
//                   with ECHO_RAW=1 also raw: every request header as received
// any  /echo        echoes the request body back (streamed)
// GET  /slow?ms=N   answers after N ms
// GET  /status/N    answers with status N
// any  /flaky?key=K&fail=N   the first N requests with key K answer 503, later ones 200
// GET  /stream?chunks=N&ms=M  N chunks, M ms apart (chunked); &sse=1: text/event-stream events `data: chunk i`
// GET  /trailers    chunked response with a trailer
// GET  /_seen       JSON list of the requests this app received: { method, url, done, closed } (done: the
//                   whole request, body included, arrived), for tests that check what got through
// Upgrade: websocket-like echo: answers 101 (x-app, x-url) and echoes bytes; under /no-upgrade it
//   answers 200 and goes on reading the connection as HTTP/1.1, as an app that ignores Upgrade does
import http from 'node:http';

const [name = 'app', port = '0'] = process.argv.slice(2);
// DELAY_MS: every answer of GET / waits this long (a slow instance).
const delayMs = Number(process.env.DELAY_MS ?? 0);
// ECHO_RAW=1: GET / also returns `raw`, every request header as received ([name, value, ...]),
// so route tests can assert exactly what a header edit left (duplicates included).
const echoRaw = process.env.ECHO_RAW === '1';
const flaky = new Map();
let inflight = 0;

const seen = [];
const server = http.createServer((req, res) => {
  if (req.url === '/_seen') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify(seen));
  }
  const entry = { method: req.method, url: req.url, done: false };
  if (seen.push(entry) > 10_000) seen.shift();
  req.on('end', () => (entry.done = true));
  // closed: the exchange is over for the app (answered, or its connection went away).
  res.on('close', () => (entry.closed = true));
  inflight++;
  res.on('close', () => inflight--);
  const u = new URL(req.url, 'http://x');
  const chunks = [];
  if (u.pathname === '/echo') {
    res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/octet-stream', 'x-app': name });
    req.pipe(res);
    return;
  }
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const json = (status, o) => {
      const s = JSON.stringify(o);
      res.writeHead(status, { 'content-type': 'application/json', 'x-app': name });
      res.end(s);
    };
    if (u.pathname === '/slow') return setTimeout(() => json(200, { name, slow: true }), Number(u.searchParams.get('ms') ?? 100));
    if (u.pathname.startsWith('/status/')) return json(Number(u.pathname.slice(8)), { name });
    if (u.pathname === '/flaky') {
      const k = u.searchParams.get('key') ?? '';
      const n = (flaky.get(k) ?? 0) + 1;
      flaky.set(k, n);
      return json(n <= Number(u.searchParams.get('fail') ?? 1) ? 503 : 200, { name, attempt: n, body });
    }
    if (u.pathname === '/stream') {
      const n = Number(u.searchParams.get('chunks') ?? 3);
      const ms = Number(u.searchParams.get('ms') ?? 10);
      const sse = u.searchParams.get('sse') === '1';
      res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'text/plain', 'cache-control': 'no-cache', 'x-app': name });
      let i = 0;
      const t = setInterval(() => {
        res.write(sse ? `data: chunk ${i}\n\n` : `chunk ${i}\n`);
        if (++i >= n) {
          clearInterval(t);
          res.end();
        }
      }, ms);
      return;
    }
    if (u.pathname === '/trailers') {
      // Trailers need a chunked body: node:http throws (and the app would die) for a HEAD or an
      // HTTP/1.0 request, which the fuzz sends. Those get the body without trailers.
      if (req.method === 'HEAD' || req.httpVersion === '1.0') {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-app': name });
        return res.end('hello');
      }
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum', 'x-app': name });
      res.write('hello');
      res.addTrailers({ 'x-checksum': 'abc123' });
      return res.end();
    }
    const h = req.headers;
    setTimeout(() => json(200, {
      name, method: req.method, url: req.url, body, inflight,
      headers: { upgrade: h.upgrade, 'http2-settings': h['http2-settings'], host: h.host, 'x-forwarded-for': h['x-forwarded-for'], 'x-forwarded-proto': h['x-forwarded-proto'], 'x-request-id': h['x-request-id'], connection: h.connection, 'keep-alive': h['keep-alive'], 'x-custom': h['x-custom'], te: h.te, 'x-added': h['x-added'], traceparent: h.traceparent },
      ...(echoRaw ? { raw: req.rawHeaders } : {}),
    }), delayMs);
  });
});
server.on('upgrade', (req, socket, head) => {
  seen.push({ method: req.method, url: req.url, done: true, upgrade: req.headers.upgrade });
  if (req.url.startsWith('/no-upgrade')) {
    // Declines the switch and keeps parsing whatever the client sends next as HTTP/1.1.
    socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-app: ${name}\r\n\r\nno`);
    if (head.length) socket.unshift(head);
    server.emit('connection', socket);
    return;
  }
  // node:http hands the upgraded socket over without its error handler: a peer's reset of the
  // tunnel must not crash the app.
  socket.on('error', () => socket.destroy());
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: ${req.headers.upgrade}\r\nconnection: upgrade\r\nx-app: ${name}\r\nx-url: ${req.url}\r\n\r\n`);
  if (head.length) socket.write(head);
  socket.pipe(socket);
});
server.keepAliveTimeout = 30_000;
server.listen(Number(port), '127.0.0.1', () => console.log(`listening ${server.address().port}`));
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});

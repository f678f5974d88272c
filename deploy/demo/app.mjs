#!/usr/bin/env node
// A demo service for `make demo`: plain node:http, no mesh code at all. It knows other services
// only by name and reaches them through its own sidecar's outbound listener (Host: <service>),
// which it is told about on stdin ("outbound PORT") once the sidecar is up.
//
//   NAME=orders-v1-a VERSION=v1 CALLS=payments node app.mjs
//   GET /<anything>  -> {"service":..., "instance":..., "version":..., "downstream": <CALLS' answer>}
//
// Prints "listening PORT" when ready.
import http from 'node:http';
import { createInterface } from 'node:readline';

const name = process.env.NAME ?? 'app';
const version = process.env.VERSION ?? 'v1';
const calls = process.env.CALLS || '';
let outbound = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

createInterface({ input: process.stdin }).on('line', (line) => {
  const m = /^outbound (\d+)$/.exec(line.trim());
  if (m) outbound = Number(m[1]);
});

function callDownstream(path, requestId) {
  return new Promise((resolve) => {
    const req = http.request(
      { host: '127.0.0.1', port: outbound, path, agent, headers: { host: calls, 'x-request-id': requestId ?? '' }, timeout: 10_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          let parsed;
          try {
            parsed = JSON.parse(body);
          } catch {
            parsed = body;
          }
          resolve({ status: res.statusCode, weftError: res.headers['x-weft-error'], body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 502, weftError: e.message }));
    req.end();
  });
}

const server = http.createServer(async (req, res) => {
  req.resume();
  const reply = { instance: name, version };
  let status = 200;
  if (calls) {
    if (!outbound) {
      res.writeHead(503).end('no sidecar yet\n');
      return;
    }
    const down = await callDownstream(req.url ?? '/', req.headers['x-request-id']);
    reply.downstream = down.body;
    if (down.status !== 200) {
      status = 502;
      reply.downstreamStatus = down.status;
      reply.downstreamError = down.weftError;
    }
  }
  const body = JSON.stringify(reply);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));

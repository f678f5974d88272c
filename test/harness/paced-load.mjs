// A paced HTTP load generator in its own process (so the test runner's event loop does not skew
// its timings): TOTAL requests at RATE per second to 127.0.0.1:PORT with `Host: HOST`; request i
// goes to `/status/500` when i % 10 === 9, else to `/slow?ms=100` when i % 12 === 5 (about 8%, so
// p95 and p99 fall among these, in the middle of a dense group, and not at the edge of the 10..40
// band where a few requests CPU contention delayed decide them), else to
// `/slow?ms=<10 + (i*7) % 31>`. Prints "started",
// then one JSON line: {sent, ok, seconds, rps, successRate, p50, p95, p99} (latencies in ms).
//   node paced-load.mjs PORT HOST RATE TOTAL
import http from 'node:http';

const [port, host, rate, total] = process.argv.slice(2);
const N = Number(total);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const lat = [];
let ok = 0;
const one = (path) =>
  new Promise((resolve) => {
    const t = performance.now();
    http
      .get({ host: '127.0.0.1', port: Number(port), path, headers: { host }, agent }, (r) => {
        r.resume();
        r.on('end', () => {
          lat.push(performance.now() - t);
          if (r.statusCode === 200) ok++;
          resolve();
        });
      })
      .on('error', () => {
        lat.push(performance.now() - t);
        resolve();
      });
  });
process.stdout.write('started\n');
const t0 = performance.now();
const inflight = [];
for (let i = 0; i < N; i++) {
  const wait = t0 + (i * 1000) / Number(rate) - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  inflight.push(one(i % 10 === 9 ? '/status/500' : i % 12 === 5 ? '/slow?ms=100' : `/slow?ms=${10 + ((i * 7) % 31)}`));
}
await Promise.all(inflight);
const seconds = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.max(0, Math.ceil(p * lat.length) - 1)];
process.stdout.write(`${JSON.stringify({ sent: N, ok, seconds, rps: N / seconds, successRate: ok / N, p50: q(0.5), p95: q(0.95), p99: q(0.99) })}\n`);
agent.destroy();

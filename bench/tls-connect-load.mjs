// Fixed-rate TLS connection load for bench/weft-edge.sh: every request on its own new TLS
// connection, opened on a fixed schedule (open loop: a slow server does not slow the schedule, so
// its latency is not hidden), with a full handshake each time or resuming the last session the
// server gave (TLS 1.3 tickets / 1.2 session ids). h2load and wrk cannot do both: wrk keeps the
// last session across reconnects (always resumes), h2load never resumes and prints no percentiles.
//   node bench/tls-connect-load.mjs --port P [--host 127.0.0.1] [--servername NAME] [--ca FILE]
//        [--path /] [--rate 200] [--duration 5] [--resume] [--timeout-ms 5000] [--max-inflight 500]
// Latency is from the moment the connection was due (its slot in the schedule) to the last byte
// of the response: TCP connect, handshake, request and response. The request is HTTP/1.1 with
// Connection: close (ALPN http/1.1). Prints one line:
//   RESULT requests=N ok=N errors=N non2xx=N reused=N duration_us=N p50_us=N p90_us=N p99_us=N max_us=N first_error=...
// and exits 0 (the caller judges: bench/wrk-verdict.mjs --tls-connect). Bounded: rate x duration
// connections, each given up after --timeout-ms; at most --max-inflight open at once (a slot
// finding them all busy counts as an error, never a silent skip).
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    servername: { type: 'string', default: 'bench.example.com' },
    ca: { type: 'string' },
    path: { type: 'string', default: '/' },
    rate: { type: 'string', default: '200' },
    duration: { type: 'string', default: '5' },
    resume: { type: 'boolean', default: false },
    'timeout-ms': { type: 'string', default: '5000' },
    'max-inflight': { type: 'string', default: '500' },
  },
});
const rate = Number(a.rate);
const total = Math.round(rate * Number(a.duration));
const timeoutMs = Number(a['timeout-ms']);
const maxInflight = Number(a['max-inflight']);
if (!a.port || !(rate > 0) || !(total > 0)) {
  process.stderr.write('usage: tls-connect-load.mjs --port P [--rate R] [--duration S] [--resume] ...\n');
  process.exit(2);
}
const ca = a.ca ? readFileSync(a.ca) : undefined;
const request = Buffer.from(`GET ${a.path} HTTP/1.1\r\nHost: ${a.servername}\r\nConnection: close\r\n\r\n`);

const lat = [];
let ok = 0, errors = 0, non2xx = 0, reused = 0, inflight = 0, finished = 0, firstError = '';
let session; // the newest session the server gave us (resume mode)

function error(msg) {
  errors++;
  firstError ||= msg;
}

/** One connection: handshake, one request, the whole response; resolves when it is over. */
function one(dueNs) {
  inflight++;
  let done = false;
  let buf = Buffer.alloc(0);
  let need = -1; // total bytes of head + body, once the head is in
  let status = 0;
  const finish = (err) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    inflight--;
    finished++;
    if (err) error(err);
    else {
      lat.push(Number(process.hrtime.bigint() - dueNs) / 1000);
      if (status >= 200 && status < 400) ok++;
      else non2xx++;
      if (s.isSessionReused()) reused++;
    }
    s.destroy();
  };
  const s = tls.connect({ host: a.host, port: Number(a.port), servername: a.servername, ca, rejectUnauthorized: !!ca, ALPNProtocols: ['http/1.1'], session: a.resume ? session : undefined });
  const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms`), timeoutMs);
  s.on('session', (x) => { session = x; });
  s.on('secureConnect', () => s.write(request));
  s.on('error', (e) => finish(e.code ?? e.message));
  s.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    if (need < 0) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      const len = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!len) return finish('response without content-length');
      need = end + 4 + Number(len[1]);
    }
    if (buf.length >= need) finish();
  });
  s.on('end', () => finish(need < 0 || buf.length < need ? 'connection closed before the whole response' : undefined));
}

const start = process.hrtime.bigint();
const periodNs = BigInt(Math.round(1e9 / rate));
let started = 0;
const tick = setInterval(() => {
  const now = process.hrtime.bigint();
  while (started < total && start + BigInt(started) * periodNs <= now) {
    const due = start + BigInt(started) * periodNs;
    started++;
    if (inflight >= maxInflight) {
      finished++;
      error(`more than ${maxInflight} connections open`);
      continue;
    }
    one(due);
  }
  if (started === total) clearInterval(tick);
}, 1);
const wait = setInterval(() => {
  if (finished < total) return;
  clearInterval(wait);
  const durUs = Number(process.hrtime.bigint() - start) / 1000;
  lat.sort((x, y) => x - y);
  const pct = (p) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)]) : -1);
  process.stdout.write(
    `RESULT requests=${total} ok=${ok} errors=${errors} non2xx=${non2xx} reused=${reused} duration_us=${Math.round(durUs)} ` +
      `p50_us=${pct(50)} p90_us=${pct(90)} p99_us=${pct(99)} max_us=${lat.length ? Math.round(lat.at(-1)) : -1} first_error=${JSON.stringify(firstError)}\n`,
  );
}, 20);

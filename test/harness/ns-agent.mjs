// A client that lives inside a lab host's network namespace (test/harness/netns.ts starts it with
// `ip netns exec`): the test process, in the root namespace, cannot open sockets in the lab.
// Protocol: one JSON object a line. In: {id, op, args}. Out: {id, result} or {id, error:
// {message, code}}; the first line out is {"ready":true}. stdin closing ends the agent.
// Ops: http, tcpProbe, load. Node builtins only.
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const MAX_BODY = 1024 * 1024;

process.stdout.on('error', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));

function send(msg) {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

function fail(message, code = 'EAGENT') {
  return Object.assign(new Error(message), { code });
}

function intIn(v, name, lo, hi, dflt) {
  if (v === undefined && dflt !== undefined) return dflt;
  if (!Number.isInteger(v) || v < lo || v > hi) throw fail(`${name} must be an integer in ${lo}..${hi}, got ${JSON.stringify(v)}`, 'EINVAL');
  return v;
}

function parseHttpUrl(s) {
  let u;
  try {
    u = new URL(s);
  } catch {
    throw fail(`url: not a URL: ${JSON.stringify(s)}`, 'EINVAL');
  }
  if (u.protocol !== 'http:') throw fail(`url: only http: URLs, got ${u.protocol}`, 'EINVAL');
  return u;
}

/** One HTTP request bounded by timeoutMs as a whole; resolves {status, headers, body} or rejects. */
function request(u, { method = 'GET', headers = {}, body, timeoutMs = 5000, agent }) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err, val) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(val);
    };
    const req = http.request(
      { host: u.hostname, port: u.port || 80, path: `${u.pathname}${u.search}`, method, headers, agent: agent ?? false, setHost: !Object.keys(headers).some((h) => h.toLowerCase() === 'host') },
      (res) => {
        const chunks = [];
        let size = 0;
        res.on('data', (c) => {
          size += c.length;
          if (size <= MAX_BODY) chunks.push(c);
        });
        res.on('error', (e) => finish(e));
        res.on('end', () => finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    const timer = setTimeout(() => req.destroy(fail(`timeout after ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    req.on('error', (e) => finish(e));
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const ops = {
  async http(a) {
    const u = parseHttpUrl(a.url);
    return request(u, { method: a.method, headers: a.headers ?? {}, body: a.body, timeoutMs: intIn(a.timeoutMs, 'timeoutMs', 1, 600_000, 5000) });
  },

  tcpProbe(a) {
    const port = intIn(a.port, 'port', 1, 65535);
    const timeoutMs = intIn(a.timeoutMs, 'timeoutMs', 1, 600_000, 1000);
    return new Promise((resolve) => {
      const s = net.connect({ host: a.host, port });
      const done = (ok) => {
        clearTimeout(t);
        s.destroy();
        resolve(ok);
      };
      const t = setTimeout(() => done(false), timeoutMs);
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
  },

  /** Up to `total` requests, `concurrency` at a time, none started after durationMs; failures are counted. */
  async load(a) {
    const u = parseHttpUrl(a.url);
    const total = intIn(a.total, 'total', 1, 1_000_000);
    const concurrency = intIn(a.concurrency, 'concurrency', 1, 256);
    const timeoutMs = intIn(a.timeoutMs, 'timeoutMs', 1, 600_000, 5000);
    const durationMs = intIn(a.durationMs, 'durationMs', 1, 3_600_000, 60_000);
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const start = performance.now();
    const deadline = start + durationMs;
    const statuses = {};
    const errors = {};
    const lat = [];
    let issued = 0;
    let ok = 0;
    let failed = 0;
    const worker = async () => {
      while (issued < total && performance.now() < deadline) {
        issued++;
        const t0 = performance.now();
        try {
          const r = await request(u, { method: a.method, headers: a.headers ?? {}, body: a.body, timeoutMs, agent });
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          if (r.status >= 200 && r.status < 300) ok++;
          else failed++;
        } catch (e) {
          failed++;
          const code = e?.code ?? e?.message ?? 'unknown';
          errors[code] = (errors[code] ?? 0) + 1;
        }
        lat.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    agent.destroy();
    lat.sort((x, y) => x - y);
    const r2 = (x) => Math.round(x * 100) / 100;
    return {
      ok,
      failed,
      notSent: total - issued,
      statuses,
      errors,
      p50Ms: lat.length ? r2(lat[Math.floor((lat.length - 1) / 2)]) : 0,
      maxMs: lat.length ? r2(lat[lat.length - 1]) : 0,
      elapsedMs: r2(performance.now() - start),
    };
  },
};

createInterface({ input: process.stdin })
  .on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      process.stderr.write(`ns-agent: not JSON: ${line.slice(0, 200)}\n`);
      return;
    }
    const { id, op, args } = msg ?? {};
    const f = Object.hasOwn(ops, op) ? ops[op] : undefined;
    if (!f) {
      send({ id, error: { message: `unknown op ${JSON.stringify(op)}`, code: 'EINVAL' } });
      return;
    }
    Promise.resolve()
      .then(() => f(args ?? {}))
      .then(
        (result) => send({ id, result }),
        (e) => send({ id, error: { message: e?.message ?? String(e), code: e?.code } }),
      );
  })
  .on('close', () => process.exit(0));

send({ ready: true });

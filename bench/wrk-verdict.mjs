// One place that decides whether a wrk or h2load run measured a working target, so that no
// benchmark publishes a number for a target that answered errors. A run FAILS when the load
// generator exited non-zero or printed no result, completed no request, saw any non-2xx/3xx
// answer, any socket error (connect, read, write, timeout) or any h2load failed/errored/timed-out
// request, or (when percentiles are wanted) printed no latency percentiles.
//   node bench/wrk-verdict.mjs [--percentiles] [--exit CODE] [--h2load | --tls-connect] FILE
// prints "ok REQUESTS REQ_PER_S P50_MS P99_MS" (P50/P99 "-" when not asked for; --tls-connect adds
// RESUMED, the handshakes that resumed a session) and exits 0, or
// prints "FAILED <reason>" and exits 1. Plain Node, no dependencies (the bench scripts call it).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** wrk's duration strings ("812.00us", "1.20ms", "2.01s", "1.00m") in milliseconds; NaN otherwise. */
export function wrkMs(s) {
  const m = /^([0-9.]+)(us|ms|s|m)$/.exec(String(s ?? '').trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return { us: v / 1000, ms: v, s: v * 1000, m: v * 60_000 }[m[2]];
}

/**
 * The verdict on one wrk run from its printed output: {ok: true, requests, rps, p50Ms, p99Ms} or
 * {ok: false, reason}. `exitCode` is wrk's own (a non-zero one fails the run whatever it printed).
 */
export function wrkVerdict(text, { percentiles = false, exitCode = 0 } = {}) {
  const fail = (reason) => ({ ok: false, reason });
  if (exitCode !== 0) return fail(`load generator exited ${exitCode}`);
  const done = /^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)\b/m.exec(text);
  if (!done) return fail('wrk printed no result');
  const requests = Number(done[1]);
  const durationMs = wrkMs(`${done[2]}${done[3]}`);
  if (requests === 0) return fail('no request completed');
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (sock && sock.slice(1).some((n) => Number(n) > 0)) {
    return fail(`socket errors: connect ${sock[1]}, read ${sock[2]}, write ${sock[3]}, timeout ${sock[4]}`);
  }
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (bad && Number(bad[1]) > 0) return fail(`${bad[1]} of ${requests} responses were not 2xx/3xx`);
  const pct = (p) => wrkMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(text)?.[1]);
  const p50Ms = pct(50);
  const p99Ms = pct(99);
  if (percentiles && !(Number.isFinite(p50Ms) && Number.isFinite(p99Ms))) return fail('wrk printed no latency percentiles');
  const rps = Number(/^Requests\/sec:\s+([0-9.]+)/m.exec(text)?.[1] ?? requests / (durationMs / 1000));
  return { ok: true, requests, rps, p50Ms: percentiles ? p50Ms : null, p99Ms: percentiles ? p99Ms : null };
}

/**
 * The verdict on one h2load run. h2load counts any HTTP 200 as success and cannot see gRPC
 * trailers, so the caller must also check grpc-status itself (bench/weft-transcode.sh does).
 */
export function h2loadVerdict(text, { exitCode = 0 } = {}) {
  const fail = (reason) => ({ ok: false, reason });
  if (exitCode !== 0) return fail(`load generator exited ${exitCode}`);
  const r = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(text);
  if (!r) return fail('h2load printed no result');
  const [total, , done, ok, failed, errored, timeout] = r.slice(1).map(Number);
  if (ok === 0) return fail('no request succeeded');
  if (failed + errored + timeout > 0) return fail(`${failed} failed, ${errored} errored, ${timeout} timed out of ${total} requests`);
  const codes = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(text);
  if (codes && Number(codes[3]) + Number(codes[4]) > 0) return fail(`${codes[3]} 4xx and ${codes[4]} 5xx answers of ${done}`);
  const secs = Number(/^finished in ([0-9.]+)s/m.exec(text)?.[1]);
  return { ok: true, requests: ok, rps: Number.isFinite(secs) && secs > 0 ? ok / secs : NaN, p50Ms: null, p99Ms: null };
}

/**
 * The verdict on one bench/tls-connect-load.mjs run (a new TLS connection per request, fixed
 * rate): its RESULT line. Fails on any error (connect, handshake, timeout, short response, too
 * many open), any non-2xx/3xx answer, or no request done. `reused` (resumed handshakes) is the
 * caller's to judge.
 */
export function tlsConnectVerdict(text, { exitCode = 0 } = {}) {
  const fail = (reason) => ({ ok: false, reason });
  if (exitCode !== 0) return fail(`load generator exited ${exitCode}`);
  const line = /^RESULT (.*)$/m.exec(text)?.[1];
  if (!line) return fail('tls-connect-load printed no result');
  const f = Object.fromEntries([...line.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S+)/g)].map((m) => [m[1], m[2]]));
  const n = (k) => Number(f[k]);
  if (n('errors') > 0) return fail(`${n('errors')} of ${n('requests')} connections failed (first: ${JSON.parse(f.first_error ?? '""')})`);
  if (n('non2xx') > 0) return fail(`${n('non2xx')} of ${n('requests')} responses were not 2xx/3xx`);
  if (!(n('ok') > 0)) return fail('no request completed');
  return { ok: true, requests: n('ok'), rps: n('ok') / (n('duration_us') / 1e6), p50Ms: n('p50_us') / 1000, p99Ms: n('p99_us') / 1000, reused: n('reused') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let percentiles = false;
  let h2load = false;
  let tlsConnect = false;
  let exitCode = 0;
  let file;
  while (args.length) {
    const a = args.shift();
    if (a === '--percentiles') percentiles = true;
    else if (a === '--h2load') h2load = true;
    else if (a === '--tls-connect') tlsConnect = true;
    else if (a === '--exit') exitCode = Number(args.shift());
    else file = a;
  }
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    console.log(`FAILED no load generator output (${file ?? 'no file given'})`);
    process.exit(1);
  }
  const v = tlsConnect ? tlsConnectVerdict(text, { exitCode }) : h2load ? h2loadVerdict(text, { exitCode }) : wrkVerdict(text, { percentiles, exitCode });
  const f = (x) => (Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : '-');
  console.log(v.ok ? `ok ${v.requests} ${Math.round(v.rps)} ${f(v.p50Ms)} ${f(v.p99Ms)}${tlsConnect ? ` ${v.reused}` : ''}` : `FAILED ${v.reason}`);
  process.exit(v.ok ? 0 : 1);
}

// Decides whether one `redis-benchmark -q -t ping,set,get -n N` run measured a working target, as
// bench/wrk-verdict.mjs does for wrk: no figure for a target that answered errors. A run FAILS when
// redis-benchmark exited non-zero (redis-benchmark 7 exits at the first error; `timeout` gives 124
// or 137 when it hung, as it does when it cannot connect), printed an error line (an error reply,
// a refused, reset or closed connection), or printed no final figure for one of the tests.
//   node bench/redis-bench-verdict.mjs --exit CODE --tests ping,set,get --requests N FILE
// prints "ok OPERATIONS OPS_PER_S PING_INLINE PING_MBULK SET GET" (requests per second; one
// figure per test name redis-benchmark prints, in that order; OPS_PER_S is all operations over
// the sum of each test's time, N / rps) and exits 0, or "FAILED <reason>" and exits 1.
// Plain Node, no dependencies.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The test names redis-benchmark prints for one -t name. */
export const benchNames = (t) => (t.toLowerCase() === 'ping' ? ['PING_INLINE', 'PING_MBULK'] : [t.toUpperCase()]);

/** {ok: true, operations, opsPerS, rps: {NAME: r}} or {ok: false, reason}. */
export function redisBenchVerdict(text, { exitCode = 0, tests = ['ping', 'set', 'get'], requests }) {
  const fail = (reason) => ({ ok: false, reason });
  const lines = text.split(/[\r\n]+/);
  const errors = lines.filter((l) => /error|could not connect|connection (refused|reset)|closed the connection/i.test(l));
  if (errors.length) return fail(`redis-benchmark: ${errors.slice(0, 2).map((l) => l.trim()).join('; ')}`);
  if (exitCode === 124 || exitCode === 137) return fail('redis-benchmark did not finish within its time bound (TIME_BOUND): a slow or stuck target (it hangs when it cannot connect)');
  if (exitCode !== 0) return fail(`redis-benchmark exited ${exitCode}`);
  const rps = {};
  for (const m of text.matchAll(/(?:^|[\r\n])\s*([A-Z_]+): ([\d.]+) requests per second/g)) rps[m[1]] = Number(m[2]);
  const names = tests.flatMap(benchNames);
  const missing = names.filter((n) => !(rps[n] > 0));
  if (missing.length) return fail(`redis-benchmark printed no result for ${missing.join(', ')}`);
  const seconds = names.reduce((s, n) => s + requests / rps[n], 0);
  return { ok: true, operations: requests * names.length, opsPerS: (requests * names.length) / seconds, rps: Object.fromEntries(names.map((n) => [n, rps[n]])) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name, dflt) => {
    const i = args.indexOf(name);
    if (i < 0) return dflt;
    const v = args[i + 1];
    args.splice(i, 2);
    return v;
  };
  const exitCode = Number(opt('--exit', '0'));
  const tests = opt('--tests', 'ping,set,get').split(',');
  const requests = Number(opt('--requests', 'NaN'));
  if (!(requests > 0) || args.length !== 1) {
    console.error('usage: node bench/redis-bench-verdict.mjs --exit CODE --tests ping,set,get --requests N FILE');
    process.exit(2);
  }
  const v = redisBenchVerdict(readFileSync(args[0], 'utf8'), { exitCode, tests, requests });
  if (!v.ok) {
    console.log(`FAILED ${v.reason}`);
    process.exit(1);
  }
  console.log(`ok ${v.operations} ${v.opsPerS.toFixed(1)} ${Object.values(v.rps).join(' ')}`);
}

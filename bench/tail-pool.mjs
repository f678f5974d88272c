// Pools the fixed-rate runs of bench/weft-tail.sh: every request of every round of a target in one
// latency distribution (wrk's histograms, 1 us buckets, from bench/wrk-paced-hist.lua), so the
// p99 rests on all of them rather than on the median of a few per-round p99s, each set by the
// handful of slowest requests of a 5-second run on a shared machine.
//   node bench/tail-pool.mjs HIST ROUNDS FAILED OUT.txt CONFIG_JSON
// HIST: "TARGET:ROUND LATENCY_US COUNT" lines; ROUNDS: "TARGET ROUND P50_MS P99_MS CPU_US" lines
// (wrk's own percentiles of each run and the target's CPU per request); FAILED: "TARGET<TAB>REASON"
// lines. Writes OUT.txt (the table, also printed) and OUT.json. A FAILED target gets no figures.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Nearest-rank percentiles of a histogram: for each p, the smallest latency whose cumulative count
 * reaches ceil(p/100 * n). `buckets`: [latencyUs, count] pairs, any order.
 */
export function histPercentiles(buckets, ps) {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const n = sorted.reduce((s, [, c]) => s + c, 0);
  return ps.map((p) => {
    if (n === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * n));
    let seen = 0;
    for (const [us, c] of sorted) {
      seen += c;
      if (seen >= rank) return us;
    }
    return sorted[sorted.length - 1][0];
  });
}

/** The true median (the mean of the middle two of an even count), as report.mjs computes it. */
const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Reads the three inputs into per-target rows (see the header). */
export function poolTail({ hist, rounds, failed }) {
  const targets = new Map();
  const row = (key) => {
    if (!targets.has(key)) targets.set(key, { key, buckets: new Map(), rounds: [] });
    return targets.get(key);
  };
  for (const line of rounds.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    row(f[0]).rounds.push({ round: Number(f[1]), p50Ms: Number(f[2]), p99Ms: Number(f[3]), cpuUsPerReq: Number(f[4]) });
  }
  for (const line of hist.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3) continue;
    const key = f[0].slice(0, f[0].lastIndexOf(':'));
    const b = row(key).buckets;
    b.set(Number(f[1]), (b.get(Number(f[1])) ?? 0) + Number(f[2]));
  }
  const why = new Map();
  for (const line of failed.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) why.set(line.slice(0, tab), line.slice(tab + 1));
  }
  for (const k of why.keys()) row(k);
  return [...targets.values()].map((t) => {
    if (why.has(t.key)) return { key: t.key, failed: why.get(t.key) };
    const buckets = [...t.buckets];
    const requests = buckets.reduce((s, [, c]) => s + c, 0);
    if (requests === 0) return { key: t.key, failed: 'no latency histogram was written' };
    const [p50, p90, p99, p999] = histPercentiles(buckets, [50, 90, 99, 99.9]).map((us) => us / 1000);
    return {
      key: t.key, requests, p50Ms: p50, p90Ms: p90, p99Ms: p99, p999Ms: p999,
      roundsP99MedianMs: median(t.rounds.map((r) => r.p99Ms)),
      cpuUsPerReq: median(t.rounds.map((r) => r.cpuUsPerReq)),
      rounds: t.rounds,
    };
  });
}

/** The table's lines; ratios are against `ref` (nginx) when it has figures. */
export function tailTable(rows, config, ref = 'nginx') {
  const r0 = rows.find((r) => r.key === ref && !r.failed);
  const x = (a, b) => (r0 && Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-');
  const f = (v, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');
  const lines = [
    `Fixed-rate tail, pooled: wrk -t1 -c${config.conns} at ${config.latRate} req/s (bench/proxy/wrk/paced.lua), ${config.rounds} round${config.rounds === 1 ? '' : 's'} x ${config.durationS} s per target, order alternating each round,`,
    `${config.saturationS ? `each run after a ${config.saturationS} s saturation run (wrk -c50) as in the proxy table` : 'no saturation run before them'}${config.warmupRounds ? `, after ${config.warmupRounds} warm-up round${config.warmupRounds === 1 ? '' : 's'} of the same shape (not pooled)` : ''}. pooled = every request of every round in one distribution;`,
    `rounds = the median of the per-round p99s (the proxy table's method). CPU = the target's user+sys per request during the fixed-rate runs (median).`,
    `${'target'.padEnd(10)} ${'requests'.padStart(9)} ${'p50_ms'.padStart(7)} ${'p90_ms'.padStart(7)} ${'p99_ms'.padStart(7)} ${'p99.9_ms'.padStart(8)} ${`p99/${ref}`.padStart(10)} ${'rounds_p99'.padStart(10)} ${`/${ref}`.padStart(7)} ${'cpu_us/req'.padStart(10)}`,
  ];
  for (const r of rows) {
    if (r.failed) {
      lines.push(`${r.key.padEnd(10)} FAILED: ${r.failed}`);
      continue;
    }
    lines.push(
      `${r.key.padEnd(10)} ${String(r.requests).padStart(9)} ${f(r.p50Ms, 3).padStart(7)} ${f(r.p90Ms, 3).padStart(7)} ${f(r.p99Ms).padStart(7)} ${f(r.p999Ms).padStart(8)} ` +
        `${x(r.p99Ms, r0?.p99Ms).padStart(10)} ${f(r.roundsP99MedianMs).padStart(10)} ${x(r.roundsP99MedianMs, r0?.roundsP99MedianMs).padStart(7)} ${f(r.cpuUsPerReq, 1).padStart(10)}`,
    );
  }
  return lines;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [histFile, roundsFile, failedFile, out, configJson] = process.argv.slice(2);
  const read = (p) => { try { return readFileSync(p, 'utf8'); } catch { return ''; } };
  const config = JSON.parse(configJson);
  const rows = poolTail({ hist: read(histFile), rounds: read(roundsFile), failed: read(failedFile) });
  const text = tailTable(rows, config).join('\n') + '\n';
  writeFileSync(out, text);
  process.stdout.write(text);
  const ref = rows.find((r) => r.key === 'nginx' && !r.failed);
  writeFileSync(out.replace(/\.txt$/, '.json'), JSON.stringify({
    at: new Date().toISOString(), config,
    rows: rows.map((r) => (r.failed ? { key: r.key, failed: r.failed } : { ...r, p99VsNginx: ref ? r.p99Ms / ref.p99Ms : null, roundsP99VsNginx: ref ? r.roundsP99MedianMs / ref.roundsP99MedianMs : null })),
  }, null, 2) + '\n');
}

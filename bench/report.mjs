// The last step of `make bench`: gathers what the benchmark scripts left in bench/results/ into
// one machine-readable summary.json, and draws latency.svg (p50 and p99 at the fixed request rate,
// per target, for the proxy table and the two-hop mesh). Plain Node, no dependencies.
//   node bench/report.mjs [RESULTS_DIR]     (default: bench/results next to this file)
// Reads, each optional (a missing one is listed under `missing` and left out):
//   <newest stamp>/runs.tsv, rss.tsv, cpu.tsv, table.txt   the proxy table (bench/proxy/run.sh)
//   two-hop.json (or two-hop.txt), transcode.json (or transcode.txt), footprint.json, xds-convergence.json, filter-chain.json,
//   xds-replicas.json (convergence with 3 control-plane replicas on etcd against 1; aim 1 s, 300 MB per replica),
//   workers.json (edge gateway with --workers 1 and 2), edge.json (weft gateway against nginx at the edge),
//   api.json (the API-gateway hop against the plain hop), tcp.json (redis-benchmark direct, through
//   HAProxy in TCP mode and through two Weft sidecars with mTLS), grpc.json (gRPC through one hop:
//   direct, nginx, Caddy and a Weft sidecar in front of the same grpc-js upstream), tail.json (the fixed-rate
//   tail pooled over many interleaved rounds, nginx and a Weft hop), dashboard.json (each dashboard
//   view's load time with 200 services and 2,000 simulated proxies; aim: median under 1 s)
//   run.json, run-status.tsv   written by scripts/bench.sh: when this run started, which scenarios it
//                              skipped, and each scenario script's exit code
// No figure is published for a failing target: a row that saw errors (non-2xx, socket errors,
// gRPC non-OK, no percentiles, a process that died, a target that did not start) is listed under
// `failed` with its reason and carries no figures, a result file older than run.json's start is
// stale (an earlier run's) and is not read, and then this script exits 1 (so does `make bench`).
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'results');
const rel = (p) => relative(process.cwd(), p) || '.';
const read = (name) => readFileSync(join(dir, name), 'utf8');
const has = (name) => existsSync(join(dir, name));
const mtime = (name) => statSync(join(dir, name)).mtime.toISOString();

// --- this run: its start (anything written before it is an earlier run's), skips, exit codes
const run = has('run.json') ? JSON.parse(read('run.json')) : null;
const runStart = run ? Date.parse(run.startedAt) : NaN;
/** Every failure found, as {scenario, row, reason}; a non-empty list makes the exit code 1. */
const failed = [];
const stale = [];
const fail = (scenario, row, reason) => failed.push({ scenario, row, reason });
/** True when NAME (under dir) was written by this run; an older file is recorded as stale. */
function current(scenario, name) {
  if (!Number.isFinite(runStart) || statSync(join(dir, name)).mtimeMs >= runStart - 1000) return true;
  stale.push({ scenario, file: rel(join(dir, name)), at: mtime(name) });
  return false;
}

// --- statistics (true median, as bench/proxy/lib/table.js computes it)
const fin = (x) => typeof x === 'number' && Number.isFinite(x);
const round = (x, d = 3) => (fin(x) ? Math.round(x * 10 ** d) / 10 ** d : null);
function median(xs) {
  const s = xs.filter(fin).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
/** {median, min, max, n}, and spreadPct = (max - min) / median when there are several values. */
function stats(xs, d = 3) {
  const v = xs.filter(fin);
  if (v.length === 0) return null;
  const med = median(v);
  const out = { median: round(med, d), min: round(Math.min(...v), d), max: round(Math.max(...v), d), n: v.length };
  if (v.length > 1 && med > 0) out.spreadPct = round(((Math.max(...v) - Math.min(...v)) / med) * 100, 1);
  return out;
}
const num = (s) => (s === undefined || s === '-' || s === '' ? null : Number(String(s).replace(/x$/, '')));

// --- the proxy table: the newest <stamp>/ folder that holds a runs.tsv
// (base: '' for the 64 B run in bench/results/, '16k' for the 16 KiB run in bench/results/16k/)
function proxyTable(base = '') {
  if (base && !existsSync(join(dir, base))) return null;
  const scenario = base ? `proxy${base}` : 'proxy';
  const stamps = readdirSync(join(dir, base)).filter((d) => /^\d{8}-\d{6}$/.test(d) && has(join(base, d, 'runs.tsv'))).sort();
  if (stamps.length === 0) return null;
  const stamp = stamps.at(-1);
  const file = (f) => join(base, stamp, f);
  if (!current(scenario, file('runs.tsv'))) return null;
  const runs = read(file('runs.tsv')).trim().split('\n').slice(1).filter(Boolean).map((l) => {
    const [r, label, kind, requests, durationUs, p50, p90, p99, max, errors] = l.split('\t');
    return { round: Number(r), label, kind, requests: Number(requests), durationS: Number(durationUs) / 1e6,
      rps: Number(requests) / (Number(durationUs) / 1e6), p50Ms: Number(p50) / 1000, p90Ms: Number(p90) / 1000,
      p99Ms: Number(p99) / 1000, maxMs: Number(max) / 1000, errors: Number(errors) };
  });
  const rss = new Map(has(file('rss.tsv')) ? read(file('rss.tsv')).trim().split('\n').filter(Boolean)
    .map((l) => l.split('\t')).map(([label, kb]) => [label, Number(kb) / 1024]) : []);
  // cpu.tsv: round, label, CPU µs the target's processes used in that saturation run, background CPU %
  const cpu = has(file('cpu.tsv')) ? read(file('cpu.tsv')).trim().split('\n').filter(Boolean).map((l) => l.split('\t'))
    .map(([r, label, us, bg]) => ({ round: Number(r), label, us: Number(us), bg: Math.max(0, Number(bg)) })) : [];
  const table = has(file('table.txt')) ? read(file('table.txt')) : '';
  const rate = Number(/fixed (\d+) req\/s/.exec(table)?.[1]) || round(median(runs.filter((r) => r.kind === 'rate').map((r) => r.rps)), 0);
  const rounds = Math.max(0, ...runs.map((r) => r.round), Number(/median of (\d+) round/.exec(table)?.[1]) || 0);
  // bench/proxy/lib/table.js prints "<label> FAILED (...)" for a target that did not start or did not
  // answer 200; it has no line in runs.tsv, so it is only found here.
  const notStarted = [...table.matchAll(/^(\S+)\s+FAILED (.*)$/gm)].map((m) => [m[1], m[2].replace(/^\((.*)\)$/, '$1')]);
  const labels = [...new Set([...runs.map((r) => r.label), ...notStarted.map(([l]) => l)])];
  const rows = labels.map((label) => {
    const pick = (kind) => runs.filter((r) => r.label === label && r.kind === kind);
    const sat = pick('sat');
    const fixed = pick('rate');
    const all = [...sat, ...fixed];
    const errors = all.reduce((a, r) => a + r.errors, 0);
    const reason = notStarted.find(([l]) => l === label)?.[1]
      ?? (sat.length < rounds || fixed.length < rounds ? `wrk gave a result for ${sat.length} + ${fixed.length} of ${rounds} + ${rounds} runs` : null)
      ?? (errors > 0 ? `${errors} wrk errors (socket errors + non-2xx/3xx)` : null)
      ?? (all.some((r) => !(r.requests > 0)) ? 'a run completed no request' : null)
      ?? (all.some((r) => !(r.p50Ms > 0 && r.p99Ms > 0)) ? 'wrk gave no latency percentiles' : null);
    if (reason) {
      fail(scenario, label, reason);
      return { target: label, failed: reason, errors };
    }
    const cpuPerReq = sat.flatMap((r) => cpu.filter((c) => c.label === label && c.round === r.round).map((c) => c.us / r.requests));
    const bg = cpu.filter((c) => c.label === label).map((c) => c.bg);
    return {
      target: label,
      saturation: { rps: stats(sat.map((r) => r.rps), 0), p50Ms: stats(sat.map((r) => r.p50Ms)), p90Ms: stats(sat.map((r) => r.p90Ms)),
        p99Ms: stats(sat.map((r) => r.p99Ms)), maxMs: stats(sat.map((r) => r.maxMs)) },
      fixedRate: { rps: stats(fixed.map((r) => r.rps), 0), p50Ms: stats(fixed.map((r) => r.p50Ms)), p90Ms: stats(fixed.map((r) => r.p90Ms)),
        p99Ms: stats(fixed.map((r) => r.p99Ms)), maxMs: stats(fixed.map((r) => r.maxMs)) },
      cpuUsPerReq: label === 'direct' ? null : stats(cpuPerReq, 1),
      upstreamCpuUsPerReq: label === 'direct' ? stats(cpuPerReq, 1) : undefined,
      rssMiB: label === 'direct' ? null : round(rss.get(label) ?? NaN, 1),
      errors: [...sat, ...fixed].reduce((a, r) => a + r.errors, 0),
      backgroundCpuPctMax: bg.length ? Math.max(...bg) : null,
      runs: [...sat, ...fixed].map((r) => ({ ...r, rps: round(r.rps, 1) })),
    };
  });
  return {
    source: rel(join(dir, base, stamp)),
    stamp,
    at: mtime(file('runs.tsv')),
    environment: table.split('\n')[0]?.startsWith('#') ? table.split('\n')[0].slice(2) : null,
    fixedRateReqPerS: rate,
    rounds,
    rows,
  };
}

// --- the two-hop mesh: JSON when the script wrote it, the text table otherwise
/** Adds spread: {metric: {min, max, n, spreadPct}} over the rounds; spreadPct is against the row's
 *  own median (the script's: the lower middle round when the count is even). */
function roundStats(rows, keys) {
  return rows.map((r) => {
    if (!Array.isArray(r.rounds) || r.rounds.length < 2) return r;
    const spread = {};
    for (const k of keys) {
      const v = r.rounds.map((x) => x[k]).filter(fin);
      if (v.length < 2) continue;
      const lo = Math.min(...v);
      const hi = Math.max(...v);
      spread[k] = { min: lo, max: hi, n: v.length, spreadPct: fin(r[k]) && r[k] > 0 ? round(((hi - lo) / r[k]) * 100, 1) : null };
    }
    return { ...r, spread };
  });
}
function tableRows(text, header, ncols) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  if (start < 0) return [];
  return lines.slice(start + 1).filter((l) => l.trim()).map((l) => {
    const f = /^(.*?)\s+FAILED: (.*)$/.exec(l);
    if (f) return { name: f[1], values: [], failed: f[2] };
    const t = l.trim().split(/\s+/);
    return { name: t.slice(0, -ncols).join(' '), values: t.slice(-ncols).map(num) };
  });
}
/** Rows a scenario script marked FAILED (the `failed` field: the reason) go to the failure list. */
function failedRows(scenario, rows) {
  for (const r of rows) if (r.failed) fail(scenario, r.name ?? r.key, r.failed);
  return rows;
}
function twoHop() {
  if (has('two-hop.json') && !current('twoHop', 'two-hop.json')) return null;
  if (has('two-hop.json')) {
    const j = JSON.parse(read('two-hop.json'));
    failedRows('twoHop', j.rows);
    return { source: rel(join(dir, 'two-hop.json')), at: j.at, config: j.config,
      rows: roundStats(j.rows, ['p50Ms', 'p99Ms', 'rps', 'cpuAUsPerReq', 'cpuBUsPerReq']) };
  }
  if (!has('two-hop.txt') || !current('twoHop', 'two-hop.txt')) return null;
  const text = read('two-hop.txt');
  const m = /fixed rate: (\d+) req\/s, wrk -t1 -c(\d+) -d(\d+)s; saturation: wrk -t1 -c(\d+) -d(\d+)s/.exec(text);
  return {
    source: rel(join(dir, 'two-hop.txt')),
    at: mtime('two-hop.txt'),
    config: { latRate: m ? Number(m[1]) : null, latDurationS: m ? Number(m[3]) : null, durationS: m ? Number(m[5]) : null,
      rounds: Number(/median of (\d+) round/.exec(text)?.[1]) || null },
    rows: failedRows('twoHop', tableRows(text, 'target', 7).map(({ name, failed: f, values: [p50, p99, , , rps, a, b] }) =>
      (f ? { name, failed: f } : { name, p50Ms: p50, p99Ms: p99, rps, cpuAUsPerReq: a, cpuBUsPerReq: b }))),
  };
}
function transcode() {
  if (has('transcode.json') && !current('transcode', 'transcode.json')) return null;
  if (has('transcode.json')) {
    const j = JSON.parse(read('transcode.json'));
    failedRows('transcode', j.rows);
    return { source: rel(join(dir, 'transcode.json')), at: j.at, config: j.config,
      rows: roundStats(j.rows, ['rps', 'cpuAUsPerReq', 'cpuBUsPerReq', 'cpuAppUsPerReq']) };
  }
  if (!has('transcode.txt') || !current('transcode', 'transcode.txt')) return null;
  const text = read('transcode.txt');
  return {
    source: rel(join(dir, 'transcode.txt')),
    at: mtime('transcode.txt'),
    config: { durationS: Number(/for (\d+)s/.exec(text)?.[1]) || null, rounds: Number(/median of (\d+) round/.exec(text)?.[1]) || null },
    rows: failedRows('transcode', tableRows(text, 'request', 6).map(({ name, failed: f, values: [rps, a, b, app, vs, spread] }) =>
      (f ? { name, failed: f } : { name, rps, cpuAUsPerReq: a, cpuBUsPerReq: b, cpuAppUsPerReq: app, cpuBVsGrpc: vs, cpuBSpreadUs: spread }))),
  };
}
/** bench/weft-workers.sh: req/s and CPU per request with --workers 1 and 2, and the scaling ratio. */
function workers() {
  const j = json('workers.json');
  if (!j) return null;
  for (const r of j.rows) if (r.failed) fail('workers', r.key, r.failed);
  const one = j.rows.find((r) => r.workers === 1 && !r.failed);
  const rr = j.rows.find((r) => r.workers === 2 && r.sched === 'rr' && !r.failed);
  return { ...j, scaling: one && rr ? round(rr.rps / one.rps, 2) : null };
}
/**
 * bench/xds-replicas.bench.ts: convergence with N control-plane replicas on etcd against one (and
 * the file store). A row that FAILED (a change not converged in time, a replica that did not start)
 * carries no figures; the others get pass/miss against the aim (max convergence, peak RSS per replica).
 */
function xdsReplicas() {
  const j = json('xds-replicas.json');
  if (!j) return null;
  for (const r of j.rows) if (r.failed) fail('xdsReplicas', r.key, r.failed);
  const measured = j.rows.filter((r) => !r.failed && r.aim);
  return {
    ...j,
    aim: j.config?.aim ?? null,
    meetingAim: measured.filter((r) => r.aim.latency === 'pass' && r.aim.memory === 'pass').map((r) => r.key),
    missingAim: measured.filter((r) => r.aim.latency !== 'pass' || r.aim.memory !== 'pass').map((r) => ({ key: r.key, latency: r.aim.latency, memory: r.aim.memory })),
  };
}
/**
 * bench/weft-edge.sh: weft gateway and nginx per row (HTTPS handshakes, keep-alive, gzip, cache):
 * each side's figures, the Weft/nginx ratios and whether the row meets the aim. A side that FAILED
 * fails the row; a row not run in this build (its policy kind missing) is listed, not failed.
 */
function edge() {
  const j = json('edge.json');
  if (!j) return null;
  for (const r of j.rows) for (const side of ['weft', 'nginx']) if (r[side]?.failed) fail('edge', `${r.key} (${side})`, r[side].failed);
  const measured = j.rows.filter((r) => r.meetsAim !== undefined && r.meetsAim !== null);
  return {
    ...j,
    aim: j.config?.aim ?? null,
    meetingAim: measured.filter((r) => r.meetsAim).map((r) => r.key),
    missingAim: measured.filter((r) => !r.meetsAim).map((r) => r.key),
    notRun: j.rows.filter((r) => r.notRun).map((r) => ({ key: r.key, reason: r.notRun })),
  };
}
/** bench/weft-api.sh: the API-gateway hop (JWT + API key + global rate limit) against the plain hop. */
function api() {
  const j = json('api.json');
  if (!j) return null;
  for (const side of ['plain', 'api']) if (j[side]?.failed) fail('api', side, j[side].failed);
  const ok = j.plain?.cpuUsPerReq && j.api?.cpuUsPerReq;
  const cpuRatio = ok ? round(j.api.cpuUsPerReq / j.plain.cpuUsPerReq, 2) : null;
  return { ...j, cpuRatio, p99Ratio: ok && j.plain.p99Ms ? round(j.api.p99Ms / j.plain.p99Ms, 2) : null, meetsAim: cpuRatio === null ? null : cpuRatio <= (j.config?.aim ?? 1.3) };
}
/**
 * bench/weft-tcp.sh: redis-benchmark direct, through HAProxy (mode tcp) and through two Weft
 * sidecars with mTLS; ratios of ops/s and proxy CPU per operation, from rows measured in this run.
 */
function tcp() {
  const j = json('tcp.json');
  if (!j) return null;
  for (const r of j.rows) if (r.failed) fail('tcp', r.key, r.failed);
  const row = (k) => j.rows.find((r) => r.key === k && !r.failed && fin(r.opsPerS));
  const [direct, haproxy, weft] = ['direct', 'haproxy', 'weft'].map(row);
  const div = (a, b) => (fin(a) && fin(b) && b > 0 ? round(a / b, 2) : null);
  return {
    ...j,
    ratios: {
      haproxyOpsVsDirect: div(haproxy?.opsPerS, direct?.opsPerS),
      weftOpsVsDirect: div(weft?.opsPerS, direct?.opsPerS),
      weftOpsVsHaproxy: div(weft?.opsPerS, haproxy?.opsPerS),
      weftCpuVsHaproxy: div(weft?.cpuUsPerOp, haproxy?.cpuUsPerOp),
    },
  };
}
/**
 * bench/weft-grpc.sh: gRPC through one hop (direct, nginx, Caddy, a Weft sidecar) in front of the
 * same grpc-js upstream: per row calls/s and proxy CPU per call (unary -m1, multiplexed, and per
 * message for the stream), fixed-rate p50/p99, and the CPU ratios against nginx and direct. A
 * FAILED row carries no figures; a row left out (Caddy without prior-knowledge h2c) is in `notes`.
 */
function grpc() {
  const j = json('grpc.json');
  if (!j) return null;
  failedRows('grpc', j.rows);
  const weft = j.rows.find((r) => r.key === 'weft' && !r.failed);
  return {
    ...j,
    weftCpuVsNginx: weft ? { unaryM1: weft.unaryM1?.cpuVsNginx ?? null, unaryMux: weft.unaryMux?.cpuVsNginx ?? null, stream: weft.stream?.cpuVsNginx ?? null } : null,
  };
}
/**
 * bench/weft-tail.sh: the fixed-rate p99 of nginx, a Weft hop and the Node floor, each target's requests of many
 * interleaved rounds pooled into one distribution; weft's pooled p99 against nginx's (aim 1.5x).
 */
function tail() {
  const j = json('tail.json');
  if (!j) return null;
  failedRows('tail', j.rows);
  const weft = j.rows.find((r) => r.key === 'weft' && !r.failed);
  const floor = j.rows.find((r) => r.key === 'node-floor' && !r.failed);
  const ratio = weft && fin(weft.p99VsNginx) ? round(weft.p99VsNginx, 2) : null;
  // node-floor: the same parser binding and pool with none of Weft's features (bench/node-floor-proxy.mjs).
  const floorRatio = floor && fin(floor.p99VsNginx) ? round(floor.p99VsNginx, 2) : null;
  return { ...j, weftP99VsNginx: ratio, meetsAim: ratio === null ? null : ratio <= 1.5, nodeFloorP99VsNginx: floorRatio };
}
function json(name) {
  if (!has(name) || !current(name.replace(/\.json$/, '').replace(/-(\w)/g, (_, c) => c.toUpperCase()), name)) return null;
  return { source: rel(join(dir, name)), ...JSON.parse(read(name)) };
}

// --- latency.svg: horizontal bars, p50 and p99 per target, one section per scenario
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
function niceStep(max, ticks = 6) {
  const raw = max / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}
function latencySvg(sections) {
  const W = 960;
  const left = 230;
  const right = 70;
  const plotW = W - left - right;
  const barH = 11;
  const rowH = 2 * barH + 12;
  const headH = 30;
  const top = 78;
  const colors = { p50: '#4878a8', p99: '#e0893a' };
  const all = sections.flatMap((s) => s.rows.flatMap((r) => [r.p50Ms, r.p99Ms])).filter(fin);
  const step = niceStep(Math.max(...all, 0.001));
  const axisMax = Math.ceil(Math.max(...all, 0.001) / step) * step;
  const x = (v) => left + (v / axisMax) * plotW;
  const fmt = (v) => (v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(2) : v.toFixed(1));
  const plotH = sections.reduce((h, s) => h + headH + s.rows.length * rowH, 0);
  const H = top + plotH + 50;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="8" y="24" font-size="16" font-weight="bold">Latency at a fixed request rate: p50 and p99 (ms, lower is better)</text>`);
  out.push(`<text x="8" y="42" fill="#555">wrk -t1 -c10 paced by bench/proxy/wrk/paced.lua; bars are medians over rounds; each section names its rate and run</text>`);
  // legend
  out.push(`<rect x="${left}" y="52" width="14" height="10" fill="${colors.p50}"/><text x="${left + 20}" y="61">p50</text>`);
  out.push(`<rect x="${left + 70}" y="52" width="14" height="10" fill="${colors.p99}"/><text x="${left + 90}" y="61">p99</text>`);
  // x axis with its ticks; grid lines are drawn per section, so section titles stay clear
  const ticks = [];
  for (let v = 0; v <= axisMax + step / 1e6; v += step) ticks.push(v);
  for (const v of ticks) out.push(`<text x="${x(v).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle" fill="#333">${esc(round(v, 3))}</text>`);
  out.push(`<line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" stroke="#333"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${top + plotH + 36}" text-anchor="middle" fill="#333">latency (ms)</text>`);
  let y = top;
  for (const s of sections) {
    out.push(`<text x="8" y="${y + 20}" font-weight="bold">${esc(s.title)}</text>`);
    y += headH;
    const y2 = y + s.rows.length * rowH;
    for (const v of ticks) out.push(`<line x1="${x(v).toFixed(1)}" y1="${y - 4}" x2="${x(v).toFixed(1)}" y2="${y2}" stroke="${v === 0 ? '#333' : '#e2e2e2'}"/>`);
    for (const r of s.rows) {
      out.push(`<text x="${left - 8}" y="${y + barH + 5}" text-anchor="end">${esc(r.label)}</text>`);
      if (r.failed) {
        out.push(`<text x="${left + 4}" y="${y + barH + 5}" fill="#b00020" font-weight="bold">FAILED: ${esc(r.failed)}</text>`);
        y += rowH;
        continue;
      }
      for (const [i, k] of ['p50', 'p99'].entries()) {
        const v = r[`${k}Ms`];
        const by = y + i * barH + 1;
        if (!fin(v)) {
          out.push(`<text x="${left + 4}" y="${by + barH - 2}" fill="#999">${k}: not measured</text>`);
          continue;
        }
        out.push(`<rect x="${left}" y="${by}" width="${Math.max(1, x(v) - left).toFixed(1)}" height="${barH - 1}" fill="${colors[k]}"><title>${esc(`${r.label} ${k}: ${fmt(v)} ms`)}</title></rect>`);
        out.push(`<text x="${(x(v) + 4).toFixed(1)}" y="${by + barH - 2}" font-size="11" fill="#333">${fmt(v)}</text>`);
      }
      y += rowH;
    }
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

// --- main
const scenarios = {
  xdsConvergence: json('xds-convergence.json'),
  xdsReplicas: xdsReplicas(),
  filterChain: json('filter-chain.json'),
  proxy: proxyTable(),
  proxy16k: proxyTable('16k'),
  twoHop: twoHop(),
  transcode: transcode(),
  footprint: json('footprint.json'),
  workers: workers(),
  edge: edge(),
  api: api(),
  tcp: tcp(),
  grpc: grpc(),
  tail: tail(),
  dashboard: json('dashboard.json'),
};
const skipped = new Set(run?.skipped ?? []);
const missing = Object.entries(scenarios).filter(([k, v]) => !v && !skipped.has(k)).map(([k]) => k);
// Within a `make bench` run (run.json present) a scenario that left no current results failed to
// start or crashed: that is a failure, not a gap. So is a scenario script that exited non-zero.
if (run) for (const k of missing) fail(k, null, stale.some((s) => s.scenario === k) ? 'only stale results from an earlier run' : 'no results from this run');
const status = has('run-status.tsv') ? read('run-status.tsv').trim().split('\n').filter(Boolean).map((l) => l.split('\t')) : [];
for (const [k, code] of status) if (code !== '0' && !failed.some((f) => f.scenario === k)) fail(k, null, `its script exited ${code}`);
if (missing.length === Object.keys(scenarios).length && !run) {
  process.stderr.write(`report.mjs: no benchmark results in ${rel(dir)}\n`);
  process.exit(1);
}
const sections = [];
const p = scenarios.proxy;
if (p) {
  sections.push({
    title: `One proxy hop, ${p.fixedRateReqPerS ?? '?'} req/s (proxy table ${p.stamp}, ${p.rounds} round${p.rounds > 1 ? 's' : ''})`,
    rows: p.rows.map((r) => ({ label: r.target, failed: r.failed, p50Ms: r.fixedRate?.p50Ms?.median, p99Ms: r.fixedRate?.p99Ms?.median })),
  });
}
const p16 = scenarios.proxy16k;
if (p16) {
  sections.push({
    title: `One proxy hop, 16 KiB body, ${p16.fixedRateReqPerS ?? '?'} req/s (proxy table 16k/${p16.stamp}, ${p16.rounds} round${p16.rounds > 1 ? 's' : ''})`,
    rows: p16.rows.map((r) => ({ label: r.target, failed: r.failed, p50Ms: r.fixedRate?.p50Ms?.median, p99Ms: r.fixedRate?.p99Ms?.median })),
  });
}
const t = scenarios.twoHop;
if (t) {
  sections.push({
    title: `Two-hop mesh, ${t.config?.latRate ?? '?'} req/s (app -> sidecar -> sidecar -> app, ${t.config?.rounds ?? '?'} round${t.config?.rounds > 1 ? 's' : ''})`,
    rows: t.rows.map((r) => ({ label: r.name, failed: r.failed, p50Ms: r.p50Ms, p99Ms: r.p99Ms })),
  });
}
const tl = scenarios.tail;
if (tl) {
  sections.push({
    title: `Fixed-rate tail, pooled: ${tl.config?.latRate ?? '?'} req/s, ${tl.config?.rounds ?? '?'} interleaved rounds x ${tl.config?.durationS ?? '?'} s per target`,
    rows: tl.rows.map((r) => ({ label: r.key, failed: r.failed, p50Ms: r.p50Ms, p99Ms: r.p99Ms })),
  });
}
const e = scenarios.edge;
if (e) {
  const rows = e.rows.filter((r) => !r.notRun && r.key !== 'h2').flatMap((r) => ['weft', 'nginx'].map((side) =>
    ({ label: `${r.key} ${side}`, failed: r[side]?.failed, p50Ms: r[side]?.p50Ms, p99Ms: r[side]?.p99Ms })));
  if (rows.length) {
    sections.push({
      title: `Edge: weft gateway vs nginx over HTTPS, ${e.config?.latRate ?? '?'} req/s (new/resumed: ${e.config?.connRate ?? '?'} conn/s; gzip: ${e.config?.gzipRate ?? '?'} req/s)`,
      rows,
    });
  }
}
const summary = {
  generatedAt: new Date().toISOString(),
  resultsDir: rel(dir),
  run,
  failed,
  stale,
  missing,
  latency: sections.map((s) => ({ section: s.title, rows: s.rows })),
  scenarios,
};
writeFileSync(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
if (sections.length) writeFileSync(join(dir, 'latency.svg'), latencySvg(sections));
console.log(`summary: ${rel(join(dir, 'summary.json'))}${missing.length ? ` (no results for: ${missing.join(', ')})` : ''}`);
console.log(sections.length ? `chart:   ${rel(join(dir, 'latency.svg'))}` : 'chart:   none (no proxy table or two-hop results)');
const xr = scenarios.xdsReplicas;
if (xr) {
  for (const r of xr.rows.filter((r) => !r.failed && r.aim)) {
    console.log(`xds replicas ${r.key}: p50 ${Math.round(r.p50Ms)} ms, max ${Math.round(r.maxMs)} ms (aim < ${xr.aim?.maxMs ?? 1000} ms: ${r.aim.latency}), peak RSS ${Math.round(Math.max(...r.memory.map((m) => m.peakMiB)))} MiB (aim < ${xr.aim?.rssMB ?? 300} MB per replica: ${r.aim.memory})`);
  }
  if (xr.ratioP50 !== null && xr.ratioP50 !== undefined) console.log(`xds replicas: p50 ${xr.config?.replicas ?? 3} replicas / 1 replica = ${xr.ratioP50}x`);
}
if (tl?.weftP99VsNginx !== null && tl?.weftP99VsNginx !== undefined) {
  const floor = tl.nodeFloorP99VsNginx === null || tl.nodeFloorP99VsNginx === undefined ? '' : `; a featureless Node proxy on the same parser: ${tl.nodeFloorP99VsNginx}x`;
  console.log(`fixed-rate tail: weft's pooled p99 ${tl.weftP99VsNginx}x nginx's (aim <= 1.5x: ${tl.meetsAim ? 'met' : 'missed'})${floor}`);
}
for (const f of failed) console.log(`FAILED  ${f.scenario}${f.row ? ` / ${f.row}` : ''}: ${f.reason}`);
for (const s of stale) console.log(`stale   ${s.scenario}: ${s.file} (${s.at}) is from an earlier run; not read`);
if (failed.length) {
  console.log(`make bench: ${failed.length} FAILED (no figures published for them; see above and summary.json "failed")`);
  process.exit(1);
}

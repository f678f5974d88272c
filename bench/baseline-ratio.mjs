// The cost of a change on the single hop, from one proxy-table run with a "weft-base" row
// (scripts/bench.sh with BASELINE_REF): CPU per request of the current sidecar and of the
// baseline build, per round (rounds are interleaved, so each pair saw the same machine) and as
// medians, plus p99 at the fixed rate. Writes baseline.json beside the run's table.
//   node bench/baseline-ratio.mjs <results dir>   (its newest run is read)
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'bench/results';
const runs = readdirSync(dir).map((d) => join(dir, d)).filter((d) => statSync(d).isDirectory() && /\d{8}-\d{6}$/.test(d)).sort();
const run = runs.at(-1);
if (!run) {
  console.log('baseline: FAILED (no proxy-table run found)');
  process.exit(1);
}
const tsv = (f) => readFileSync(join(run, f), 'utf8').trim().split('\n').map((l) => l.split('\t'));
const [, ...runRows] = tsv('runs.tsv');
const cpuRows = tsv('cpu.tsv');
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const per = (label) => {
  const out = new Map();
  for (const [round, l, kind, requests, , , , p99, , errors] of runRows) {
    if (l !== label) continue;
    const o = out.get(round) ?? {};
    if (kind === 'sat') Object.assign(o, { requests: Number(requests), errors: Number(errors) });
    else Object.assign(o, { p99: Number(p99) / 1000, rateErrors: Number(errors) });
    out.set(round, o);
  }
  for (const [round, l, us] of cpuRows) if (l === label && out.has(round)) out.get(round).cpuUs = Number(us);
  return out;
};
const now = per('weft');
const base = per('weft-base');
const failed = (m) => m.size === 0 || [...m.values()].some((o) => o.errors > 0 || o.rateErrors > 0 || !o.requests || !o.cpuUs);
if (failed(now) || failed(base)) {
  console.log(`baseline: FAILED (${failed(now) ? 'weft' : 'weft-base'} had errors or no measurement; see ${run})`);
  process.exit(1);
}
const usPerReq = (o) => o.cpuUs / o.requests;
const rounds = [...now.keys()].filter((r) => base.has(r)).sort();
const pairs = rounds.map((r) => ({ round: Number(r), now: usPerReq(now.get(r)), base: usPerReq(base.get(r)) }));
const res = {
  run,
  cpuUsPerRequest: { weft: median(pairs.map((p) => p.now)), base: median(pairs.map((p) => p.base)) },
  perRound: pairs.map((p) => ({ ...p, ratio: p.now / p.base })),
  p99MsAtFixedRate: { weft: median([...now.values()].map((o) => o.p99)), base: median([...base.values()].map((o) => o.p99)) },
};
res.ratio = res.cpuUsPerRequest.weft / res.cpuUsPerRequest.base;
writeFileSync(join(run, 'baseline.json'), JSON.stringify(res, null, 2));
console.log(`single hop, CPU per request: weft ${res.cpuUsPerRequest.weft.toFixed(1)} us, weft-base ${res.cpuUsPerRequest.base.toFixed(1)} us, ratio ${res.ratio.toFixed(3)} (per round: ${res.perRound.map((p) => p.ratio.toFixed(3)).join(', ')})`);
console.log(`p99 at the fixed rate: weft ${res.p99MsAtFixedRate.weft.toFixed(2)} ms, weft-base ${res.p99MsAtFixedRate.base.toFixed(2)} ms`);

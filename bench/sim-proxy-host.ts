/**
 * A process holding SIM_COUNT simulated proxies (bench/sim-proxy.ts) connected to one control
 * plane, for bench/xds-replicas.bench.ts: one such process per replica, so 3,000 proxies are not
 * decoded by one event loop (which would make the 3-replica row slower for the benchmark's own
 * sake). Run with vite-node (the TypeScript sources as they are). Driven over stdin/stdout, one JSON
 * line each way:
 *   out {"ev":"synced","ms"}                  every proxy has CDS, EDS and RDS
 *   out {"ev":"pending","synced","total","errors","error"}  every 5 s until then (errors: streams
 *                                             that ended with an error, which are not reopened)
 *   in  settle  -> out {"ev":"settled","quietMs"}  no response arrived for 1 s (at most 30 s)
 *   in  mark    -> out {"ev":"marked"}        records each proxy's current CDS version
 *   out {"ev":"converged","at","edsPushes"}   every proxy ACKed a CDS version other than the marked
 *                                             one; `at` = the last of those ACKs (performance.timeOrigin
 *                                             + performance.now(): comparable across processes);
 *                                             edsPushes: EDS versions ACKed since the mark (churn)
 *   out {"ev":"pending","changed","total"}    every 2 s while not converged after a mark
 *   in  close   -> closes every stream, exits
 * Env: SIM_ADDRESS (host:port, plaintext xDS), SIM_COUNT, SIM_FIRST (first id number),
 * SIM_SERVICES (services the proxies are spread over), SIM_PROTOCOL (delta|sotw), SIM_PREFIX.
 */
import { createInterface } from 'node:readline';
import { TYPE_URL } from '../common/xds-types.js';
import { SimProxy } from './sim-proxy.js';

const address = process.env.SIM_ADDRESS!;
const count = Number(process.env.SIM_COUNT ?? 1000);
const first = Number(process.env.SIM_FIRST ?? 0);
const services = Number(process.env.SIM_SERVICES ?? 100);
const protocol = (process.env.SIM_PROTOCOL ?? 'delta') as 'delta' | 'sotw';
const prefix = process.env.SIM_PREFIX ?? 'sim';

const send = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const abs = (t: number) => performance.timeOrigin + t;

const proxies = Array.from({ length: count }, (_, k) => {
  const i = first + k;
  return new SimProxy({ address, id: `${prefix}-${i}`, service: `svc-${i % services}`, instancePort: 20000 + (i % 40000), protocol });
});
const synced = () => proxies.every((p) => p.versions.has(TYPE_URL.cluster) && p.versions.has(TYPE_URL.endpoint) && p.versions.has(TYPE_URL.route));
/** The newest ACK over every proxy and type (performance.now()). */
const lastAck = () => {
  let t = 0;
  for (const p of proxies) for (const m of p.acked.values()) for (const v of m.values()) if (v > t) t = v;
  return t;
};

let marked: Array<string | undefined> | undefined;
/** EDS versions each proxy had ACKed at the mark: the EDS pushes a change rode along with. */
let edsAtMark: number[] = [];
const edsCount = (p: SimProxy) => p.acked.get(TYPE_URL.endpoint)?.size ?? 0;
let markedAt = 0;
let lastPending = 0;
const tick = setInterval(() => {
  if (!marked) return;
  let changed = 0;
  let at = 0;
  proxies.forEach((p, i) => {
    const v = p.versions.get(TYPE_URL.cluster);
    if (v === marked![i]) return;
    changed++;
    const t = p.acked.get(TYPE_URL.cluster)!.get(v!)!;
    if (t > at) at = t;
  });
  if (changed === proxies.length) {
    marked = undefined;
    send({ ev: 'converged', at: abs(at), edsPushes: proxies.reduce((n, p, i) => n + edsCount(p) - edsAtMark[i]!, 0) });
  } else if (performance.now() - Math.max(markedAt, lastPending) > 2000) {
    lastPending = performance.now();
    send({ ev: 'pending', changed, total: proxies.length, errors: proxies.filter((p) => p.error).length });
  }
}, 5);

const syncStart = performance.now();
let syncReported = syncStart;
const syncWait = setInterval(() => {
  if (!synced()) {
    if (performance.now() - syncReported < 5000) return;
    syncReported = performance.now();
    const n = proxies.filter((p) => p.versions.has(TYPE_URL.cluster) && p.versions.has(TYPE_URL.endpoint) && p.versions.has(TYPE_URL.route)).length;
    send({ ev: 'pending', synced: n, total: proxies.length, errors: proxies.filter((p) => p.error).length, error: proxies.find((p) => p.error)?.error });
    return;
  }
  clearInterval(syncWait);
  send({ ev: 'synced', ms: Math.round(performance.now() - syncStart) });
}, 20);

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'settle') {
    const start = performance.now();
    const wait = setInterval(() => {
      const quiet = performance.now() - lastAck();
      if (quiet < 1000 && performance.now() - start < 30_000) return;
      clearInterval(wait);
      send({ ev: 'settled', quietMs: Math.round(quiet) });
    }, 50);
  } else if (cmd === 'mark') {
    marked = proxies.map((p) => p.versions.get(TYPE_URL.cluster));
    edsAtMark = proxies.map(edsCount);
    markedAt = performance.now();
    lastPending = 0;
    send({ ev: 'marked' });
  } else if (cmd === 'close') {
    clearInterval(tick);
    clearInterval(syncWait);
    for (const p of proxies) p.close();
    setTimeout(() => process.exit(0), 100).unref();
  }
});
process.stdin.on('end', () => process.exit(0));

/**
 * What the sidecars' load reports (LRS) say, kept for `weft stat`: per node, the reports of the
 * last `retentionMs` (each: when it arrived, the time it covers, and per (cluster, route) its
 * successes, errors and latency histogram). Bounded by time, by reports per node and by nodes.
 *
 * A query aggregates a window: per row (a destination service, or a route of one), success rate =
 * successes / finished; rate = sum over nodes of (requests / time covered by that node's reports in
 * the window), so a steady load reads the same whatever the window; percentiles are read from the
 * merged histograms (a bucket's value is the mean latency of its requests; buckets are 5% wide).
 *
 * Per-consumer entries (`weft-consumer/...`, common/lrs-service.ts) are kept apart from the route
 * entries (they count the same requests again) and aggregated per consumer by queryConsumers.
 */
import { LATENCY_METRIC_PREFIX, parseConsumerService, parseRouteService, RATE_LIMITED_METRIC } from '../../common/lrs-service.js';
import type { LoadStatsRequest } from '../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import type { EdgeRow, StatRow, Totals } from './stat-types.js';
// The rows' JSON lives in a module without imports, so the dashboard (a browser program) reads the same types.
export type { EdgeRow, StatRow, Totals } from './stat-types.js';

interface Entry {
  direction: string;
  /** Destination service (`<name>.<namespace>`) from the cluster name. */
  service: string;
  route: string;
  cluster: string;
  success: number;
  error: number;
  issued: number;
  /** bucket index → [count, sum ms] */
  lat: Map<number, [number, number]>;
}

/** One (direction, cluster, consumer) of a report. */
interface ConsumerEntry {
  direction: string;
  service: string;
  consumer: string;
  success: number;
  error: number;
  issued: number;
  rateLimited: number;
  lat: Map<number, [number, number]>;
}

interface Report {
  at: number;
  coveredMs: number;
  entries: Entry[];
  consumers: ConsumerEntry[];
}

type Exported<T> = Omit<T, 'lat'> & { lat: Array<[number, [number, number]]> };

/** LoadStore.exportWindow's JSON. */
export interface ExportedLoad {
  nodes: Array<{ id: string; service: string; namespace: string; last: number; reports: Array<Omit<Report, 'entries' | 'consumers'> & { entries: Array<Exported<Entry>>; consumers: Array<Exported<ConsumerEntry>> }> }>;
}

interface NodeLoad {
  service: string;
  namespace: string;
  reports: Report[];
  last: number;
}

/** One consumer's row of `weft stat --by consumer`. */
export interface ConsumerStatRow {
  /** The consumer label: a Consumer's name, `anonymous`, or `other` (past the proxies' bound). */
  consumer: string;
  direction: string;
  requests: number;
  /** No response, 5xx, server-side gRPC errors and the proxy's own refusals. */
  errors: number;
  /** errors / requests, 0..1; null when nothing finished. */
  errorRate: number | null;
  /** Refused RATE_LIMITED or QUOTA_EXCEEDED (also in errors). */
  rateLimited: number;
  rps: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  sidecars: number;
}

export interface ConsumerQuery {
  windowMs: number;
  direction: 'inbound' | 'outbound' | 'gateway';
  /** Only requests to this destination service (`name.namespace`). */
  service?: string;
  now?: number;
}

export interface StatQuery {
  windowMs: number;
  /** Only this destination service (`name.namespace`); rows are then per route. */
  service?: string;
  direction?: 'inbound' | 'outbound' | 'gateway';
  now?: number;
}

function serviceOf(cluster: string): string {
  return cluster.slice(cluster.lastIndexOf('|') + 1);
}

export class LoadStore {
  readonly #nodes = new Map<string, NodeLoad>();
  readonly #retentionMs: number;
  readonly #maxReportsPerNode: number;
  readonly #maxNodes: number;
  /** Reports received (a metric). */
  received = 0;

  constructor(o: { retentionMs?: number; maxReportsPerNode?: number; maxNodes?: number } = {}) {
    this.#retentionMs = o.retentionMs ?? 15 * 60_000;
    this.#maxReportsPerNode = o.maxReportsPerNode ?? 1000;
    this.#maxNodes = o.maxNodes ?? 20_000;
  }

  /** Records one report of node `nodeId`; `fallbackMs` is the time covered when the report does not say. */
  record(nodeId: string, node: { service?: string; namespace: string }, req: LoadStatsRequest, fallbackMs: number, now = Date.now()): void {
    this.received++;
    let n = this.#nodes.get(nodeId);
    if (!n) {
      if (this.#nodes.size >= this.#maxNodes) this.#evictOldest();
      this.#nodes.set(nodeId, (n = { service: node.service ?? '', namespace: node.namespace, reports: [], last: now }));
    }
    n.last = now;
    let covered = 0;
    const entries: Entry[] = [];
    const consumers: ConsumerEntry[] = [];
    for (const cs of req.clusterStats) {
      const i = cs.loadReportInterval;
      if (i) covered = Math.max(covered, Number(i.seconds) * 1000 + i.nanos / 1e6);
      const cons = parseConsumerService(cs.clusterServiceName);
      if (cons) {
        const c: ConsumerEntry = { direction: cons.direction, service: cs.clusterName ? serviceOf(cs.clusterName) : '', consumer: cons.consumer, success: 0, error: 0, issued: 0, rateLimited: 0, lat: new Map() };
        for (const l of cs.upstreamLocalityStats) {
          c.success += Number(l.totalSuccessfulRequests);
          c.error += Number(l.totalErrorRequests);
          c.issued += Number(l.totalIssuedRequests);
          for (const m of l.loadMetricStats) {
            if (m.metricName === RATE_LIMITED_METRIC) c.rateLimited += Number(m.numRequestsFinishedWithMetric);
            else addLatency(c.lat, m);
          }
        }
        consumers.push(c);
        continue;
      }
      const rs = parseRouteService(cs.clusterServiceName);
      const e: Entry = {
        direction: rs?.direction ?? 'outbound',
        service: cs.clusterName ? serviceOf(cs.clusterName) : '',
        route: rs?.route ?? '',
        cluster: cs.clusterName,
        success: 0,
        error: 0,
        issued: 0,
        lat: new Map(),
      };
      for (const l of cs.upstreamLocalityStats) {
        e.success += Number(l.totalSuccessfulRequests);
        e.error += Number(l.totalErrorRequests);
        e.issued += Number(l.totalIssuedRequests);
        for (const m of l.loadMetricStats) addLatency(e.lat, m);
      }
      entries.push(e);
    }
    n.reports.push({ at: now, coveredMs: covered || fallbackMs, entries, consumers });
    this.#prune(n, now);
  }

  /**
   * The reports of the last `windowMs` as JSON (replicas: another replica merges them into its
   * own with `absorb`, so `weft stat` answers the same on every replica).
   */
  exportWindow(windowMs: number, now = Date.now()): ExportedLoad {
    const from = now - windowMs;
    const lat = (m: Map<number, [number, number]>) => [...m.entries()];
    const nodes: ExportedLoad['nodes'] = [];
    for (const [id, n] of this.#nodes) {
      const reports = n.reports.filter((r) => r.at + r.coveredMs > from);
      if (!reports.length) continue;
      nodes.push({
        id,
        service: n.service,
        namespace: n.namespace,
        last: n.last,
        reports: reports.map((r) => ({ ...r, entries: r.entries.map((e) => ({ ...e, lat: lat(e.lat) })), consumers: r.consumers.map((c) => ({ ...c, lat: lat(c.lat) })) })),
      });
    }
    return { nodes };
  }

  /**
   * Adds another replica's exported reports. A node that reported to several replicas (it moved
   * between them) keeps the reports of each, once: the same report seen twice counts once.
   */
  absorb(data: ExportedLoad): void {
    for (const n of data.nodes ?? []) {
      if (!Array.isArray(n.reports)) continue;
      const lat = (pairs: Array<[number, [number, number]]>) => new Map(Array.isArray(pairs) ? pairs : []);
      const incoming = n.reports.map((r) => ({ ...r, entries: r.entries.map((e) => ({ ...e, lat: lat(e.lat) })), consumers: r.consumers.map((c) => ({ ...c, lat: lat(c.lat) })) }));
      const mine = this.#nodes.get(n.id);
      if (!mine) {
        this.#nodes.set(n.id, { service: n.service, namespace: n.namespace, last: n.last, reports: incoming });
        continue;
      }
      const seen = new Set(mine.reports.map((r) => `${r.at}/${r.coveredMs}`));
      for (const r of incoming) if (!seen.has(`${r.at}/${r.coveredMs}`)) mine.reports.push(r);
      mine.reports.sort((a, b) => a.at - b.at);
      mine.last = Math.max(mine.last, n.last);
    }
  }

  /** Forget a node (its stream ended long ago; called by pruning). */
  #evictOldest(): void {
    let oldest: string | undefined;
    let t = Infinity;
    for (const [id, n] of this.#nodes) if (n.last < t) [oldest, t] = [id, n.last];
    if (oldest) this.#nodes.delete(oldest);
  }

  #prune(n: NodeLoad, now: number): void {
    const cut = now - this.#retentionMs;
    let drop = 0;
    while (drop < n.reports.length && n.reports[drop]!.at < cut) drop++;
    if (n.reports.length - drop > this.#maxReportsPerNode) drop = n.reports.length - this.#maxReportsPerNode;
    if (drop) n.reports.splice(0, drop);
  }

  query(q: StatQuery): StatRow[] {
    const direction = q.direction ?? 'inbound';
    const rows = this.#aggregate(q.windowMs, q.now ?? Date.now(), (_n, e) => {
      if (e.direction !== direction || !e.service) return undefined;
      if (q.service && e.service !== q.service) return undefined;
      return q.service ? { key: `${e.service}\u0000${e.route}`, service: e.service, route: e.route } : { key: e.service, service: e.service };
    });
    return rows.map(({ key: _key, service, route, ...t }: { key: string; service: string; route?: string } & Totals) => ({ service, ...(route !== undefined ? { route } : {}), direction, ...t })).sort((x, y) => (x.service === y.service ? (x.route ?? '').localeCompare(y.route ?? '') : x.service.localeCompare(y.service)));
  }

  /**
   * The service graph's edges over the window: per (source service, destination service), from the
   * sidecars' OUTBOUND reports (the source is the reporting sidecar's own service). A sidecar that
   * registers no service reports under source ''. Same rates and percentiles as query().
   */
  queryEdges(q: { windowMs: number; now?: number }): EdgeRow[] {
    const rows = this.#aggregate(q.windowMs, q.now ?? Date.now(), (n, e) => {
      if (e.direction !== 'outbound' || !e.service) return undefined;
      const source = n.service ? `${n.service}.${n.namespace}` : '';
      return { key: `${source}\u0000${e.service}`, source, service: e.service };
    });
    return rows.map(({ key: _key, service, ...r }) => ({ ...r, destination: service })).sort((x, y) => x.source.localeCompare(y.source) || x.destination.localeCompare(y.destination));
  }

  /**
   * Sums the route entries of the window into rows: `keyOf` names an entry's row (and its label
   * fields), or skips it. Rates are per node over the time its reports in the window cover.
   */
  #aggregate<L extends { key: string }>(windowMs: number, now: number, keyOf: (n: NodeLoad, e: Entry) => L | undefined): Array<L & Totals> {
    const from = now - windowMs;
    interface Acc {
      label: L;
      success: number;
      error: number;
      issued: number;
      lat: Map<number, [number, number]>;
      /** node → [requests, covered ms] */
      perNode: Map<string, [number, number]>;
    }
    const rows = new Map<string, Acc>();
    for (const [id, n] of this.#nodes) {
      if (n.last < now - this.#retentionMs) {
        this.#nodes.delete(id);
        continue;
      }
      const inWindow = n.reports.filter((r) => r.at > from && r.at <= now);
      if (!inWindow.length) continue;
      const covered = inWindow.reduce((s, r) => s + r.coveredMs, 0);
      for (const r of inWindow) {
        for (const e of r.entries) {
          const label = keyOf(n, e);
          if (!label) continue;
          let a = rows.get(label.key);
          if (!a) rows.set(label.key, (a = { label, success: 0, error: 0, issued: 0, lat: new Map(), perNode: new Map() }));
          a.success += e.success;
          a.error += e.error;
          a.issued += e.issued;
          for (const [b, [c, s]] of e.lat) {
            const cur = a.lat.get(b) ?? [0, 0];
            cur[0] += c;
            cur[1] += s;
            a.lat.set(b, cur);
          }
          const pn = a.perNode.get(id) ?? [0, covered];
          pn[0] += e.issued;
          a.perNode.set(id, pn);
        }
      }
    }
    const out: Array<L & Totals> = [];
    for (const a of rows.values()) {
      const finished = a.success + a.error;
      let rps = 0;
      for (const [reqs, ms] of a.perNode.values()) if (ms > 0) rps += reqs / (ms / 1000);
      const pct = percentiles(a.lat);
      out.push({
        ...a.label,
        requests: a.issued,
        success: a.success,
        errors: a.error,
        successRate: finished ? a.success / finished : null,
        rps: Math.round(rps * 100) / 100,
        p50Ms: pct(0.5),
        p95Ms: pct(0.95),
        p99Ms: pct(0.99),
        sidecars: a.perNode.size,
      });
    }
    return out;
  }

  /** Rows per consumer over the window (one direction; optionally one destination service). */
  queryConsumers(q: ConsumerQuery): ConsumerStatRow[] {
    const now = q.now ?? Date.now();
    const from = now - q.windowMs;
    interface Acc {
      issued: number;
      error: number;
      rateLimited: number;
      lat: Map<number, [number, number]>;
      perNode: Map<string, [number, number]>;
    }
    const rows = new Map<string, Acc>();
    for (const [id, n] of this.#nodes) {
      if (n.last < now - this.#retentionMs) continue;
      const inWindow = n.reports.filter((r) => r.at > from && r.at <= now);
      if (!inWindow.length) continue;
      const covered = inWindow.reduce((s, r) => s + r.coveredMs, 0);
      for (const r of inWindow) {
        for (const c of r.consumers) {
          if (c.direction !== q.direction) continue;
          if (q.service && c.service !== q.service) continue;
          let a = rows.get(c.consumer);
          if (!a) rows.set(c.consumer, (a = { issued: 0, error: 0, rateLimited: 0, lat: new Map(), perNode: new Map() }));
          a.issued += c.issued;
          a.error += c.error;
          a.rateLimited += c.rateLimited;
          for (const [b, [k, s]] of c.lat) {
            const cur = a.lat.get(b) ?? [0, 0];
            cur[0] += k;
            cur[1] += s;
            a.lat.set(b, cur);
          }
          const pn = a.perNode.get(id) ?? [0, covered];
          pn[0] += c.issued;
          a.perNode.set(id, pn);
        }
      }
    }
    const out: ConsumerStatRow[] = [];
    for (const [consumer, a] of rows) {
      let rps = 0;
      for (const [reqs, ms] of a.perNode.values()) if (ms > 0) rps += reqs / (ms / 1000);
      const pct = percentiles(a.lat);
      out.push({
        consumer,
        direction: q.direction,
        requests: a.issued,
        errors: a.error,
        errorRate: a.issued ? a.error / a.issued : null,
        rateLimited: a.rateLimited,
        rps: Math.round(rps * 100) / 100,
        p50Ms: pct(0.5),
        p95Ms: pct(0.95),
        p99Ms: pct(0.99),
        sidecars: a.perNode.size,
      });
    }
    return out.sort((x, y) => y.requests - x.requests || x.consumer.localeCompare(y.consumer));
  }
}

/** Adds one `weft.latency_ms.<bucket>` load metric to a histogram (other names are skipped). */
function addLatency(lat: Map<number, [number, number]>, m: { metricName: string; numRequestsFinishedWithMetric: bigint; totalMetricValue: number }): void {
  if (!m.metricName.startsWith(LATENCY_METRIC_PREFIX)) return;
  const b = Number(m.metricName.slice(LATENCY_METRIC_PREFIX.length));
  if (!Number.isInteger(b) || b < 0) return;
  const cur = lat.get(b) ?? [0, 0];
  cur[0] += Number(m.numRequestsFinishedWithMetric);
  cur[1] += m.totalMetricValue;
  lat.set(b, cur);
}

/** Percentile reader over a merged histogram (a bucket's value: the mean latency of its requests). */
function percentiles(lat: Map<number, [number, number]>): (p: number) => number | null {
  const buckets = [...lat.entries()].sort((x, y) => x[0] - y[0]);
  const total = buckets.reduce((s, [, [c]]) => s + c, 0);
  return (p) => {
    if (!total) return null;
    const rank = Math.max(1, Math.ceil(p * total));
    let acc = 0;
    for (const [, [c, s]] of buckets) {
      acc += c;
      if (acc >= rank) return Math.round((s / c) * 1000) / 1000;
    }
    return null;
  };
}

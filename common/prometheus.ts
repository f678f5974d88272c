/**
 * Prometheus exposition for the sidecar and the control plane, on prom-client: the de-facto Prometheus
 * client for Node (maintained under siimon/prom-client, pure JS, one small dependency), which gives us
 * a correct text format (escaping, histogram layout, HELP/TYPE) and the standard process and Node.js
 * runtime metrics (CPU, RSS, heap, event-loop lag, GC) under their usual names, so stock dashboards work.
 *
 * Values Weft already counts in plain fields are read at scrape time (`pull`), so the request path
 * pays nothing for them; request histograms are bucketed by request-stats.ts and rendered by
 * `BucketedHistogram`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, type Aggregator, Gauge, Histogram, Registry, type LabelValues, type MetricType, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';

export type Rows = ReadonlyArray<readonly [Readonly<Record<string, string>>, number]>;

export interface PrebucketedSeries {
  readonly labels: Readonly<Record<string, string>>;
  /** Non-cumulative counts per bound, then +Inf. */
  readonly counts: ArrayLike<number>;
  readonly sum: number;
  readonly count: number;
}

// prom-client's typings declare MetricType as a numeric enum that its JS does not export; the
// registry prints `type` as is, so the value must be the string.
const HISTOGRAM = 'histogram' as unknown as MetricType;

/** A histogram whose buckets are filled elsewhere (no per-observation hashing). */
class BucketedHistogram extends Histogram<string> {
  constructor(
    private readonly metricName: string,
    private readonly metricHelp: string,
    private readonly bounds: readonly number[],
    private readonly source: () => Iterable<PrebucketedSeries>,
    registry: Registry,
  ) {
    super({ name: metricName, help: metricHelp, buckets: [...bounds], registers: [registry] });
  }

  /** The registry renders from this one (prom-client's Histogram.get() calls it too). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    return this.get();
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: Array<MetricValueWithName<string>> = [];
    for (const s of this.source()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i]!;
        values.push({ metricName: `${this.metricName}_bucket`, labels: { ...s.labels, le: this.bounds[i]! }, value: acc });
      }
      acc += s.counts[this.bounds.length]!;
      values.push({ metricName: `${this.metricName}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: acc });
      values.push({ metricName: `${this.metricName}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${this.metricName}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name: this.metricName, help: this.metricHelp, type: HISTOGRAM, aggregator: 'sum', collect: () => undefined, values };
  }
}

/** The event-loop delay sampling interval (ms): ~150 samples per 15 s scrape, 10 wake-ups a second. */
const LAG_RESOLUTION_MS = 100;
const LAG = 'nodejs_eventloop_lag';

/**
 * prom-client's event-loop delay gauges, under the same names, with one difference: a scrape that
 * finds no sample since the last scrape (two scrapes within the sampling interval: two Prometheus
 * replicas, a dashboard beside Prometheus) keeps the values the last one set. prom-client reports
 * the empty histogram as is: mean and stddev NaN, min 2^63 ns (292 years).
 */
function eventLoopDelayGauges(registry: Registry): void {
  const h = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  h.enable();
  registry.removeSingleMetric(`${LAG}_seconds`);
  new Gauge({
    name: `${LAG}_seconds`,
    help: 'Lag of event loop in seconds.',
    registers: [registry],
    aggregator: 'average',
    // As prom-client: the time to the next check phase, seen by the next scrape. Registered first:
    // its collect sets the others before they are written.
    collect() {
      const start = process.hrtime.bigint();
      setImmediate(() => this.set(Number(process.hrtime.bigint() - start) / 1e9));
      if (h.count === 0) return;
      min.set(h.min / 1e9);
      max.set(h.max / 1e9);
      mean.set(h.mean / 1e9);
      stddev.set(h.stddev / 1e9);
      p50.set(h.percentile(50) / 1e9);
      p90.set(h.percentile(90) / 1e9);
      p99.set(h.percentile(99) / 1e9);
      h.reset();
    },
  });
  const gauge = (what: string, help: string, aggregator: Aggregator) => {
    registry.removeSingleMetric(`${LAG}_${what}_seconds`);
    return new Gauge({ name: `${LAG}_${what}_seconds`, help, registers: [registry], aggregator });
  };
  const min = gauge('min', 'The minimum recorded event loop delay.', 'min');
  const max = gauge('max', 'The maximum recorded event loop delay.', 'max');
  const mean = gauge('mean', 'The mean of the recorded event loop delays.', 'average');
  const stddev = gauge('stddev', 'The standard deviation of the recorded event loop delays.', 'average');
  const p50 = gauge('p50', 'The 50th percentile of the recorded event loop delays.', 'average');
  const p90 = gauge('p90', 'The 90th percentile of the recorded event loop delays.', 'average');
  const p99 = gauge('p99', 'The 99th percentile of the recorded event loop delays.', 'average');
}

export class Metrics {
  readonly registry = new Registry();

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics === false) return;
    // prom-client's own lag histogram cannot be left out, only replaced: its sampling timer is set
    // to the longest interval there is (2^31-1 ms, ~25 days), so it never wakes the process.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 2 ** 31 - 1 });
    eventLoopDelayGauges(this.registry);
  }

  /**
   * A counter or gauge whose rows are read from the process's own fields at scrape time.
   * `aggregator`: how a primary merges this metric across worker processes (default sum).
   */
  pull(type: 'counter' | 'gauge', name: string, help: string, labelNames: readonly string[], rows: () => Rows, aggregator?: Aggregator): void {
    const fill = (m: Counter<string> | Gauge<string>) => {
      m.reset();
      for (const [labels, v] of rows()) {
        if (m instanceof Counter) m.inc(labels as LabelValues<string>, v);
        else m.set(labels as LabelValues<string>, v);
      }
    };
    const cfg = { name, help, labelNames: [...labelNames], registers: [this.registry], ...(aggregator ? { aggregator } : {}) };
    if (type === 'counter') new Counter({ ...cfg, collect() { fill(this); } });
    else new Gauge({ ...cfg, collect() { fill(this); } });
  }

  histogram(name: string, help: string, bounds: readonly number[], source: () => Iterable<PrebucketedSeries>): void {
    new BucketedHistogram(name, help, bounds, source, this.registry);
  }

  /** An ordinary prom-client histogram (for low-rate events such as xDS pushes). */
  observed(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): Histogram<string> {
    return new Histogram({ name, help, labelNames: [...labelNames], buckets: [...buckets], registers: [this.registry] });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

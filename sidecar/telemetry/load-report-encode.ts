/**
 * The wire form of a LoadStatsRequest (envoy.service.load_stats.v3) as the load reporter sends it,
 * written field by field with protobuf-es's BinaryWriter. The generic encoder walks the schema by
 * reflection for every field of every report; a report runs every few seconds, so that code stays
 * cold, and on this 2-core machine a report took 2-8 ms of the sidecar's one CPU while it warmed
 * up (a stall of every request behind it, every interval). The node is encoded once per stream.
 * A window's latency histogram is written straight from its arrays (below, writeLatency).
 * test/unit/sidecar/load-report-encode.test.ts decodes what this writes with the generated schema.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { LATENCY_METRIC_PREFIX } from '../../common/lrs-service.js';

/** One EndpointLoadMetricStats. */
export interface MetricStatInit {
  metricName: string;
  numRequestsFinishedWithMetric: bigint;
  totalMetricValue: number;
}

/** Requests and the sum of their latencies (ms) per bucket (request-stats.ts's LoadWindow). */
export interface LatencyHistogram {
  readonly latCount: Uint32Array;
  readonly latSum: Float64Array;
}

/** One ClusterStats with one UpstreamLocalityStats (no locality), what the reporter sends. */
export interface ClusterStatsInit {
  clusterName: string;
  clusterServiceName: string;
  upstreamLocalityStats: Array<{
    totalSuccessfulRequests: bigint;
    totalErrorRequests: bigint;
    totalIssuedRequests: bigint;
    totalRequestsInProgress?: bigint;
    /** A latency histogram, sent as one `weft.latency_ms.<bucket>` metric per bucket that counted requests, before loadMetricStats. */
    latency?: LatencyHistogram;
    loadMetricStats: MetricStatInit[];
  }>;
  loadReportInterval: { seconds: bigint; nanos: number };
}

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;
const FIXED64 = WireType.Bit64;

/** LoadStatsRequest { node = 1 (already encoded: a Node message's bytes), cluster_stats = 2 }. */
export function encodeLoadStatsRequest(node: Uint8Array, clusterStats: readonly ClusterStatsInit[]): Uint8Array {
  const w = new BinaryWriter();
  w.tag(1, LEN).bytes(node);
  for (const c of clusterStats) {
    w.tag(2, LEN).fork();
    if (c.clusterName !== '') w.tag(1, LEN).string(c.clusterName);
    for (const u of c.upstreamLocalityStats) {
      w.tag(2, LEN).fork();
      if (u.totalSuccessfulRequests !== 0n) w.tag(2, VARINT).uint64(u.totalSuccessfulRequests);
      if (u.totalRequestsInProgress !== undefined && u.totalRequestsInProgress !== 0n) w.tag(3, VARINT).uint64(u.totalRequestsInProgress);
      if (u.totalErrorRequests !== 0n) w.tag(4, VARINT).uint64(u.totalErrorRequests);
      if (u.latency) writeLatency(w, u.latency);
      for (const m of u.loadMetricStats) {
        w.tag(5, LEN).fork();
        if (m.metricName !== '') w.tag(1, LEN).string(m.metricName);
        if (m.numRequestsFinishedWithMetric !== 0n) w.tag(2, VARINT).uint64(m.numRequestsFinishedWithMetric);
        // -0 is not the default (+0) and goes out, as protobuf-es writes it.
        if (!Object.is(m.totalMetricValue, 0)) w.tag(3, FIXED64).double(m.totalMetricValue);
        w.join();
      }
      if (u.totalIssuedRequests !== 0n) w.tag(8, VARINT).uint64(u.totalIssuedRequests);
      w.join();
    }
    const d = c.loadReportInterval;
    w.tag(4, LEN).fork();
    if (d.seconds !== 0n) w.tag(1, VARINT).int64(d.seconds);
    if (d.nanos !== 0) w.tag(2, VARINT).int32(d.nanos);
    w.join();
    if (c.clusterServiceName !== '') w.tag(6, LEN).string(c.clusterServiceName);
    w.join();
  }
  return w.finish();
}

/** Per latency bucket, the bytes of its metric's name field (key, length, name), made once. */
const nameFields: Uint8Array[] = [];
function nameField(i: number): Uint8Array {
  let f = nameFields[i];
  if (f === undefined) {
    const name = Buffer.from(`${LATENCY_METRIC_PREFIX}${i}`, 'latin1');
    f = nameFields[i] = Buffer.concat([Buffer.from([0x0a, name.length]), name]);
  }
  return f;
}

function varint32Len(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** Bucket i's EndpointLoadMetricStats length: name field, count (key and varint), sum (key and double) when not +0. */
function metricLength(i: number, n: number, sum: number): number {
  return nameField(i).length + 1 + varint32Len(n) + (Object.is(sum, 0) ? 0 : 9);
}

/**
 * One EndpointLoadMetricStats per bucket that counted requests: { metric_name = 1, num_requests_
 * finished_with_metric = 2, total_metric_value = 3 }, all of them measured and then written into
 * one byte array handed to the writer whole: no object, bigint or nested-message fork per bucket,
 * and no byte-by-byte pushes into the writer's buffer. A report holds 100-250 of them per route
 * under load; built as metric objects and written field by field they were most of a report's time
 * (measured in a sidecar with one busy route on this machine: 0.9-3.4 ms per report, every 5 s).
 */
function writeLatency(w: BinaryWriter, h: LatencyHistogram): void {
  const counts = h.latCount;
  const sums = h.latSum;
  let size = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n === 0) continue;
    size += 2 + metricLength(i, n, sums[i]!); // key 0x2a and a one-byte length: a metric is under 128 bytes
  }
  if (size === 0) return;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    let n = counts[i]!;
    if (n === 0) continue;
    const name = nameField(i);
    const sum = sums[i]!;
    const hasSum = !Object.is(sum, 0);
    out[p++] = 0x2a;
    out[p++] = metricLength(i, n, sum);
    out.set(name, p);
    p += name.length;
    out[p++] = 0x10;
    while (n >= 0x80) {
      out[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    out[p++] = n;
    if (hasSum) {
      out[p++] = 0x19;
      view.setFloat64(p, sum, true);
      p += 8;
    }
  }
  w.raw(out);
}

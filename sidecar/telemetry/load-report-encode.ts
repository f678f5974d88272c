/**
 * The wire form of a LoadStatsRequest (envoy.service.load_stats.v3) as the load reporter sends it,
 * written field by field with protobuf-es's BinaryWriter. The generic encoder walks the schema by
 * reflection for every field of every report; a report runs every few seconds, so that code stays
 * cold, and on this 2-core machine a report took 2-8 ms of the sidecar's one CPU while it warmed
 * up (a stall of every request behind it, every interval). The node is encoded once per stream.
 * test/unit/sidecar/load-report-encode.test.ts decodes what this writes with the generated schema.
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';

/** One EndpointLoadMetricStats. */
export interface MetricStatInit {
  metricName: string;
  numRequestsFinishedWithMetric: bigint;
  totalMetricValue: number;
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

/**
 * The control plane's /metrics (Prometheus text, via prom-client; see common/prometheus.ts):
 * configuration, connected proxies, pushes / ACKs / NACKs per resource kind, push → ACK latency,
 * registry size, certificates issued, traces and load reports received, plus the standard
 * process and Node.js runtime metrics. Labels are bounded (resource kinds, results).
 */
import type { Histogram } from 'prom-client';
import { Metrics } from '../../common/prometheus.js';
import type { ControlPlane } from '../control-plane.js';
import type { XdsServer } from '../xds/server.js';
import type { LoadStore } from '../telemetry/load-store.js';
import type { TraceStore } from '../telemetry/trace-store.js';

export interface ControlPlaneMetricSources {
  cp: ControlPlane;
  xds: () => XdsServer;
  loads?: LoadStore;
  traces?: TraceStore;
  lrsStreams?: () => number;
  certificatesIssued?: () => number;
  /** Replicas on etcd: the live replicas as this one sees them. */
  replicas?: () => ReadonlyArray<{ self: boolean; leader: boolean; healthy: boolean; revision: number }>;
}

export class ControlPlaneMetrics {
  readonly metrics = new Metrics();
  /** Seconds from a push to its ACK or NACK, by kind and result. */
  readonly pushLatency: Histogram<string>;

  constructor(src: ControlPlaneMetricSources) {
    const m = this.metrics;
    const { cp } = src;
    this.pushLatency = m.observed('weft_xds_push_ack_seconds', 'Time from sending an xDS response to its ACK or NACK, by resource kind and result.', ['kind', 'result'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
    m.pull('gauge', 'weft_config_revision', 'Revision of the stored configuration.', [], () => [[{}, cp.model.revision]]);
    m.pull('gauge', 'weft_config_resources', 'Stored configuration resources.', [], () => [[{}, cp.model.resources.size]]);
    m.pull('gauge', 'weft_xds_connected_proxies', 'Open xDS streams (proxies and proxyless clients).', [], () => [[{}, src.xds().counters().connectedStreams]]);
    m.pull('counter', 'weft_xds_pushes_total', 'xDS responses sent, by resource kind.', ['kind'], () => [...src.xds().counters().byKind].map(([kind, v]) => [{ kind }, v.pushes] as const));
    m.pull('counter', 'weft_xds_acks_total', 'xDS ACKs received, by resource kind.', ['kind'], () => [...src.xds().counters().byKind].map(([kind, v]) => [{ kind }, v.acks] as const));
    m.pull('counter', 'weft_xds_nacks_total', 'xDS NACKs received (once per nonce), by resource kind.', ['kind'], () => [...src.xds().counters().byKind].map(([kind, v]) => [{ kind }, v.nacks] as const));
    m.pull('gauge', 'weft_registry_instances', 'Instances registered through xDS.', [], () => [[{}, cp.registry.list().length]]);
    if (src.replicas) {
      const r = src.replicas;
      m.pull('gauge', 'weft_control_plane_replicas', 'Live control-plane replicas seen through etcd (this one included).', [], () => [[{}, r().length]]);
      m.pull('gauge', 'weft_control_plane_leader', '1 while this replica leads (runs the single-writer jobs).', [], () => [[{}, r().find((x) => x.self)?.leader ? 1 : 0]]);
      m.pull('gauge', 'weft_control_plane_lagging_replicas', 'Live replicas serving an older configuration revision than the newest one.', [], () => [[{}, r().filter((x) => !x.healthy).length]]);
    }
    if (src.certificatesIssued) {
      const f = src.certificatesIssued;
      m.pull('counter', 'weft_ca_certificates_issued_total', 'Workload certificates issued.', [], () => [[{}, f()]]);
    }
    if (src.traces) {
      const t = src.traces;
      m.pull('gauge', 'weft_trace_store_traces', 'Traces held by the embedded trace store.', [], () => [[{}, t.size]]);
      m.pull('gauge', 'weft_trace_store_bytes', 'Approximate bytes held by the embedded trace store.', [], () => [[{}, t.bytes]]);
      m.pull('counter', 'weft_trace_spans_total', 'OTLP spans received, by result: stored, or rejected (no valid trace or span id).', ['result'], () => [
        [{ result: 'stored' }, t.stats.spansReceived],
        [{ result: 'rejected' }, t.stats.spansRejected],
      ]);
      m.pull('counter', 'weft_trace_store_evicted_total', 'Traces evicted from the embedded trace store to stay within its limits.', [], () => [[{}, t.stats.tracesEvicted]]);
    }
    if (src.loads) {
      const l = src.loads;
      m.pull('counter', 'weft_load_reports_received_total', 'LRS load reports received from sidecars.', [], () => [[{}, l.received]]);
    }
    if (src.lrsStreams) {
      const f = src.lrsStreams;
      m.pull('gauge', 'weft_lrs_streams', 'Open load-report (LRS) streams.', [], () => [[{}, f()]]);
    }
  }

  text(): Promise<string> {
    return this.metrics.text();
  }
}

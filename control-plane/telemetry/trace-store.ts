/**
 * The embedded trace store behind the control plane's OTLP receiver: the most recent traces, in
 * memory, bounded by trace count and by (estimated) bytes; the oldest trace goes first. Enough
 * for `weft trace list|show` out of the box; any external collector is one setting away.
 */
import type { AnyValue, KeyValue } from '../../proto/gen/opentelemetry/proto/common/v1/common_pb.js';
import type { ExportTraceServiceRequest } from '../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.js';
import { Span_SpanKind, Status_StatusCode } from '../../proto/gen/opentelemetry/proto/trace/v1/trace_pb.js';
import type { AttrValue, StoredSpan, TraceSummary } from './trace-types.js';
// The JSON shapes live in a module without Node or protobuf imports, so the dashboard (a browser
// program) reads the same types.
export type { AttrValue, StoredSpan, TraceSummary } from './trace-types.js';

export interface TraceQuery {
  service?: string;
  minDurationMs?: number;
  errors?: boolean;
  limit?: number;
}

interface Entry {
  spans: StoredSpan[];
  bytes: number;
}

const KIND: Record<number, StoredSpan['kind']> = {
  [Span_SpanKind.INTERNAL]: 'internal',
  [Span_SpanKind.SERVER]: 'server',
  [Span_SpanKind.CLIENT]: 'client',
  [Span_SpanKind.PRODUCER]: 'producer',
  [Span_SpanKind.CONSUMER]: 'consumer',
};
const STATUS: Record<number, StoredSpan['status']> = { [Status_StatusCode.OK]: 'OK', [Status_StatusCode.ERROR]: 'ERROR' };

function scalar(v: AnyValue | undefined): AttrValue | undefined {
  const x = v?.value;
  switch (x?.case) {
    case 'stringValue':
    case 'boolValue':
    case 'doubleValue':
      return x.value;
    case 'intValue':
      return Number(x.value);
    case 'bytesValue':
      return Buffer.from(x.value).toString('hex');
    case 'arrayValue':
      return JSON.stringify(x.value.values.map(scalar));
    case 'kvlistValue':
      return JSON.stringify(Object.fromEntries(x.value.values.map((kv) => [kv.key, scalar(kv.value)])));
    default:
      return undefined;
  }
}

function attrs(list: readonly KeyValue[], max = 64): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list.slice(0, max)) {
    const v = scalar(kv.value);
    if (v !== undefined) out[kv.key] = typeof v === 'string' && v.length > 1024 ? `${v.slice(0, 1024)}…` : v;
  }
  return out;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** OTLP request -> stored spans; spans without valid ids are counted as rejected. */
export function spansOf(req: ExportTraceServiceRequest): { spans: StoredSpan[]; rejected: number } {
  const spans: StoredSpan[] = [];
  let rejected = 0;
  for (const rs of req.resourceSpans) {
    const res = attrs(rs.resource?.attributes ?? []);
    const service = typeof res['service.name'] === 'string' ? res['service.name'] : 'unknown_service';
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        if (s.traceId.length !== 16 || s.spanId.length !== 8 || s.traceId.every((b) => b === 0)) {
          rejected++;
          continue;
        }
        spans.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: s.parentSpanId.length === 8 ? hex(s.parentSpanId) : '',
          name: s.name.slice(0, 256),
          kind: KIND[s.kind] ?? 'unspecified',
          service,
          startNs: s.startTimeUnixNano.toString(),
          endNs: s.endTimeUnixNano.toString(),
          status: STATUS[s.status?.code ?? 0] ?? 'UNSET',
          statusMessage: (s.status?.message ?? '').slice(0, 512),
          attributes: attrs(s.attributes),
        });
      }
    }
  }
  return { spans, rejected };
}

function sizeOf(s: StoredSpan): number {
  let n = 200 + s.name.length + s.service.length + s.statusMessage.length;
  for (const [k, v] of Object.entries(s.attributes)) n += k.length + String(v).length + 16;
  return n;
}

export class TraceStore {
  readonly #traces = new Map<string, Entry>();
  readonly #maxTraces: number;
  readonly #maxBytes: number;
  #bytes = 0;
  /** Counters for /metrics. */
  readonly stats = { spansReceived: 0, spansRejected: 0, tracesEvicted: 0 };

  constructor(o: { maxTraces?: number; maxBytes?: number } = {}) {
    this.#maxTraces = o.maxTraces ?? 10_000;
    this.#maxBytes = o.maxBytes ?? 64 * 1024 * 1024;
  }

  get size(): number {
    return this.#traces.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(spans: readonly StoredSpan[]): void {
    for (const s of spans) {
      let e = this.#traces.get(s.traceId);
      if (e) this.#traces.delete(s.traceId); // re-insert: most recently updated last
      else e = { spans: [], bytes: 0 };
      const b = sizeOf(s);
      e.spans.push(s);
      e.bytes += b;
      this.#bytes += b;
      this.#traces.set(s.traceId, e);
      this.stats.spansReceived++;
    }
    // Evict the least recently updated traces until within both bounds (never the only trace).
    for (const [id, e] of this.#traces) {
      if (this.#traces.size <= 1 || (this.#traces.size <= this.#maxTraces && this.#bytes <= this.#maxBytes)) break;
      this.#traces.delete(id);
      this.#bytes -= e.bytes;
      this.stats.tracesEvicted++;
    }
  }

  /** Spans of one trace, by start time. */
  get(traceId: string): StoredSpan[] | undefined {
    const e = this.#traces.get(traceId.toLowerCase());
    return e ? [...e.spans].sort((a, b) => (BigInt(a.startNs) < BigInt(b.startNs) ? -1 : 1)) : undefined;
  }

  summary(traceId: string): TraceSummary | undefined {
    const spans = this.get(traceId);
    if (!spans?.length) return undefined;
    const ids = new Set(spans.map((s) => s.spanId));
    const root = spans.find((s) => !s.parentSpanId) ?? spans.find((s) => !ids.has(s.parentSpanId)) ?? spans[0]!;
    let start = BigInt(spans[0]!.startNs);
    let end = 0n;
    for (const s of spans) {
      const a = BigInt(s.startNs);
      const b = BigInt(s.endNs);
      if (a < start) start = a;
      if (b > end) end = b;
    }
    return {
      traceId,
      service: root.service,
      name: root.name,
      start: new Date(Number(start / 1_000_000n)).toISOString(),
      durationMs: Number(end - start) / 1e6,
      spans: spans.length,
      services: [...new Set(spans.map((s) => s.service))].sort(),
      errors: spans.filter((s) => s.status === 'ERROR').length,
    };
  }

  /** Most recent first. */
  list(q: TraceQuery = {}): TraceSummary[] {
    const out: TraceSummary[] = [];
    const ids = [...this.#traces.keys()].reverse();
    for (const id of ids) {
      const s = this.summary(id)!;
      if (q.service && !s.services.includes(q.service)) continue;
      if (q.minDurationMs !== undefined && s.durationMs < q.minDurationMs) continue;
      if (q.errors && s.errors === 0) continue;
      out.push(s);
      if (out.length >= (q.limit ?? 20)) break;
    }
    return out;
  }
}

/** `weft trace list|show`: traces kept by the control plane's embedded OTLP receiver. */
import { parseArgs } from 'node:util';
import { AdminClient, CLIENT_OPTIONS, CLIENT_USAGE, table, usageError, type Verb } from '../context.js';
import { warnUnreachable } from '../replicas-warn.js';
import { parseDurationFlag } from '../flags.js';
import type { StoredSpan } from '../../telemetry/trace-store.js';
import type { TraceSummary as Summary } from '../../telemetry/trace-types.js';
import { OUTPUT_OPTION, outputFormat, printData } from '../output.js';

const usage = `Usage:
  weft trace list [--service S] [--min-duration D] [--errors] [--limit N] [-o table|yaml|json]
  weft trace show TRACE_ID [-o waterfall|yaml|json]

Traces come from the control plane's embedded OTLP/HTTP receiver (--otlp-address, default
127.0.0.1:4318, POST /v1/traces), which keeps the most recent traces in memory. Sidecars and apps
instrumented with any OpenTelemetry SDK export there.

list: most recent first: trace id, start, duration, span count, services, errors, root span.
show: a waterfall: one line per span (service, span name indented under its parent, offset and
duration in ms, status) with a bar on the trace's time axis.

${CLIENT_USAGE}

Example:
  weft trace list --service orders --min-duration 50ms --errors
  weft trace show 4bf92f3577b34da6a3ce929d0e0e4736`;

/** A span as the admin API returns it (the trace store's record, without its trace id). */
export type WaterfallSpan = Omit<StoredSpan, 'traceId'>;

const ms = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

/** Renders spans as an indented waterfall (children under parents, siblings by start time). */
export function waterfall(spans: readonly WaterfallSpan[], width = 40): string {
  if (!spans.length) return 'no spans';
  const start = spans.reduce((m, s) => (BigInt(s.startNs) < m ? BigInt(s.startNs) : m), BigInt(spans[0]!.startNs));
  const end = spans.reduce((m, s) => (BigInt(s.endNs) > m ? BigInt(s.endNs) : m), 0n);
  const total = Math.max(Number(end - start) / 1e6, 1e-6);
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, WaterfallSpan[]>();
  const roots: WaterfallSpan[] = [];
  for (const s of spans) {
    if (s.parentSpanId && ids.has(s.parentSpanId)) {
      const list = children.get(s.parentSpanId) ?? [];
      list.push(s);
      children.set(s.parentSpanId, list);
    } else roots.push(s);
  }
  const rows: string[][] = [];
  const seen = new Set<string>();
  const visit = (s: WaterfallSpan, depth: number) => {
    if (seen.has(s.spanId)) return;
    seen.add(s.spanId);
    const off = Number(BigInt(s.startNs) - start) / 1e6;
    const dur = Number(BigInt(s.endNs) - BigInt(s.startNs)) / 1e6;
    const a = Math.min(width - 1, Math.floor((off / total) * width));
    const b = Math.max(a + 1, Math.min(width, Math.round(((off + dur) / total) * width)));
    const bar = `${' '.repeat(a)}${'█'.repeat(b - a)}${' '.repeat(width - b)}`;
    const status = s.status === 'ERROR' ? `ERROR${s.statusMessage ? ` ${s.statusMessage}` : ''}` : s.status;
    rows.push([s.service, `${'  '.repeat(depth)}${s.name}${s.kind && s.kind !== 'internal' && s.kind !== 'unspecified' ? ` (${s.kind})` : ''}`, ms(off), ms(dur), status, `|${bar}|`]);
    const kids = (children.get(s.spanId) ?? []).sort((x, y) => (BigInt(x.startNs) < BigInt(y.startNs) ? -1 : 1));
    for (const k of kids) visit(k, depth + 1);
  };
  for (const r of roots.sort((x, y) => (BigInt(x.startNs) < BigInt(y.startNs) ? -1 : 1))) visit(r, 0);
  return table(['SERVICE', 'SPAN', 'OFFSET MS', 'DURATION MS', 'STATUS', `0 .. ${ms(total)} ms`], rows);
}

export const trace: Verb = {
  name: 'trace',
  summary: 'list traces, or show one as a waterfall',
  usage,
  async run(args, io) {
    const { values, positionals } = parseArgs({
      args,
      options: { ...CLIENT_OPTIONS, service: { type: 'string' }, 'min-duration': { type: 'string' }, errors: { type: 'boolean' }, limit: { type: 'string' }, ...OUTPUT_OPTION },
      allowPositionals: true,
    });
    const client = new AdminClient(values);
    const sub = positionals[0];
    if (sub === 'list') {
      const format = outputFormat(values.output, ['table', 'yaml', 'json']);
      const q = new URLSearchParams();
      if (values.service) q.set('service', values.service);
      if (values['min-duration']) {
        try {
          q.set('minDurationMs', String(parseDurationFlag(values['min-duration'])));
        } catch (e) {
          throw usageError(`--min-duration: ${(e as Error).message}`);
        }
      }
      if (values.errors) q.set('errors', '1');
      if (values.limit) q.set('limit', values.limit);
      const r = await client.request<{ unreachable?: Record<string, string>; items: Summary[]; stored: { traces: number } }>('GET', `/v1/traces${q.size ? `?${q}` : ''}`);
      warnUnreachable(r.unreachable, io);
      if (format === 'json' || format === 'yaml') await printData(io, format, r.items);
      else if (!r.items.length) io.out(`no traces match (${r.stored.traces} stored)`);
      else io.out(table(['TRACE ID', 'START', 'DURATION MS', 'SPANS', 'ERRORS', 'SERVICES', 'ROOT'], r.items.map((t) => [t.traceId, t.start, ms(t.durationMs), String(t.spans), String(t.errors), t.services.join(','), `${t.service}: ${t.name}`])));
      return 0;
    }
    if (sub === 'show') {
      if (positionals.length !== 2) throw usageError('trace show needs one TRACE_ID (see `weft trace list`)');
      const format = outputFormat(values.output, ['waterfall', 'yaml', 'json']);
      const r = await client.request<{ summary: Summary; spans: WaterfallSpan[] }>('GET', `/v1/traces/${encodeURIComponent(positionals[1]!)}`);
      if (format === 'json' || format === 'yaml') await printData(io, format, r);
      else {
        const s = r.summary;
        io.out(`trace ${s.traceId}  ${s.start}  ${ms(s.durationMs)} ms  ${s.spans} spans  ${s.errors} errors  services: ${s.services.join(', ')}`);
        io.out(waterfall(r.spans));
      }
      return 0;
    }
    throw usageError(sub ? `unknown trace command '${sub}'` : 'trace needs a command: list or show');
  },
};

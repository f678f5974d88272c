/**
 * Traces from the control plane's embedded store: a search (service, minimum duration, errors
 * only) and, for #/traces/<id>, the trace as a waterfall (spans in parent/child order, bars on a
 * common time axis); clicking a span shows its attributes.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from './api.js';
import { ago, ms } from './format.js';
import type { StoredSpan, TraceSummary } from './types.js';

export function TracesView({ traceId }: { traceId: string | undefined }) {
  return traceId ? <Waterfall traceId={traceId} /> : <TraceSearch />;
}

function TraceSearch() {
  const [service, setService] = useState('');
  const [minMs, setMinMs] = useState('');
  const [errors, setErrors] = useState(false);
  const [items, setItems] = useState<TraceSummary[]>();
  const [error, setError] = useState('');
  // The query the table shows (data-query), and the latest search started: an older answer that
  // arrives after a newer search began (the page's first load, a double submit) is dropped.
  const [shown, setShown] = useState('');
  const latest = useRef(0);
  const search = async (e?: Event) => {
    e?.preventDefault();
    setError('');
    const query = qs({ service: service.trim(), minDurationMs: minMs.trim(), errors: errors ? 1 : undefined, limit: 100 });
    const n = ++latest.current;
    try {
      const r = await api<{ items: TraceSummary[] }>(`/v1/traces${query}`);
      if (n !== latest.current) return;
      setItems(r.items);
      setShown(query);
    } catch (err) {
      if (n === latest.current) setError((err as Error).message);
    }
  };
  useEffect(() => void search(), []);
  return (
    <section class="page">
      <form class="search" onSubmit={search}>
        <label>
          Service <input name="service" value={service} placeholder="any" onInput={(e) => setService((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Min duration (ms) <input name="minDurationMs" type="number" min="0" value={minMs} onInput={(e) => setMinMs((e.target as HTMLInputElement).value)} />
        </label>
        <label class="check">
          <input name="errors" type="checkbox" checked={errors} onChange={(e) => setErrors((e.target as HTMLInputElement).checked)} /> errors only
        </label>
        <button type="submit">Search</button>
      </form>
      {error && <p class="error">{error}</p>}
      {items && items.length === 0 && <p class="muted" data-query={shown}>No traces match.</p>}
      {items && items.length > 0 && (
        <table class="grid" data-query={shown}>
          <thead>
            <tr>
              <th>Trace</th>
              <th>Root</th>
              <th>Services</th>
              <th class="num">Spans</th>
              <th class="num">Errors</th>
              <th class="num">Duration</th>
              <th>Started</th>
            </tr>
          </thead>
          <tbody>
            {items.map((t) => (
              <tr key={t.traceId}>
                <td>
                  <a href={`#/traces/${t.traceId}`} class="mono">
                    {t.traceId.slice(0, 12)}…
                  </a>
                </td>
                <td>
                  {t.service}: {t.name}
                </td>
                <td>{t.services.join(', ')}</td>
                <td class="num">{t.spans}</td>
                <td class={`num ${t.errors ? 'h-bad' : ''}`}>{t.errors}</td>
                <td class="num">{ms(t.durationMs)}</td>
                <td>{ago(t.start)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** Spans depth-first from the roots, children by start time; a span whose parent is missing is a root. */
function ordered(spans: StoredSpan[]): Array<{ span: StoredSpan; depth: number }> {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, StoredSpan[]>();
  for (const s of spans) {
    const p = s.parentSpanId && ids.has(s.parentSpanId) ? s.parentSpanId : '';
    children.set(p, [...(children.get(p) ?? []), s]);
  }
  const out: Array<{ span: StoredSpan; depth: number }> = [];
  const visit = (parent: string, depth: number) => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => (BigInt(a.startNs) < BigInt(b.startNs) ? -1 : 1))) {
      out.push({ span: s, depth });
      visit(s.spanId, depth + 1);
    }
  };
  visit('', 0);
  return out;
}

function Waterfall({ traceId }: { traceId: string }) {
  const [trace, setTrace] = useState<{ summary: TraceSummary; spans: StoredSpan[] }>();
  const [error, setError] = useState('');
  const [open, setOpen] = useState<string>();
  useEffect(() => {
    // Another trace opened before this one's answer came: that answer is dropped.
    let live = true;
    setTrace(undefined);
    setError('');
    api<{ summary: TraceSummary; spans: StoredSpan[] }>(`/v1/traces/${encodeURIComponent(traceId)}`).then((t) => live && setTrace(t), (e: unknown) => live && setError((e as Error).message));
    return () => {
      live = false;
    };
  }, [traceId]);
  if (error) return <section class="page"><a href="#/traces">← Traces</a><p class="error">{error}</p></section>;
  if (!trace) return <section class="page"><p class="muted">Loading…</p></section>;
  const start = trace.spans.reduce((m, s) => (BigInt(s.startNs) < m ? BigInt(s.startNs) : m), BigInt(trace.spans[0]!.startNs));
  const end = trace.spans.reduce((m, s) => (BigInt(s.endNs) > m ? BigInt(s.endNs) : m), 0n);
  const total = Number(end - start) || 1;
  const at = (ns: string) => (Number(BigInt(ns) - start) / total) * 100;
  const rows = ordered(trace.spans);
  const selected = trace.spans.find((s) => s.spanId === open);
  return (
    <section class="page">
      <a href="#/traces">← Traces</a>
      <h2 class="mono">{trace.summary.traceId}</h2>
      <p>
        {trace.summary.service}: {trace.summary.name} · {ms(trace.summary.durationMs)} · {trace.summary.spans} spans · services {trace.summary.services.join(', ')}
        {trace.summary.errors > 0 && <span class="badge bad">{trace.summary.errors} errors</span>}
      </p>
      <div class="waterfall" data-testid="waterfall">
        {rows.map(({ span, depth }) => {
          const left = at(span.startNs);
          const width = Math.max(0.4, at(span.endNs) - left);
          const dur = Number(BigInt(span.endNs) - BigInt(span.startNs)) / 1e6;
          return (
            <div key={span.spanId} class={`span-row ${span.spanId === open ? 'open' : ''}`} data-span={span.spanId} onClick={() => setOpen(span.spanId === open ? undefined : span.spanId)}>
              <div class="span-name" style={{ paddingLeft: `${depth * 14 + 6}px` }}>
                <span class={`kind k-${span.kind}`}>{span.kind}</span> {span.service}: {span.name}
              </div>
              <div class="span-track">
                <div class={`span-bar ${span.status === 'ERROR' ? 'err' : ''}`} style={{ left: `${left}%`, width: `${width}%` }} />
              </div>
              <div class="span-dur">{ms(dur)}</div>
            </div>
          );
        })}
      </div>
      {selected && (
        <div class="attrs" data-testid="span-attributes">
          <h3>
            {selected.service}: {selected.name} <span class="muted mono">{selected.spanId}</span>
          </h3>
          <table class="grid kv">
            <tbody>
              <tr>
                <th>status</th>
                <td class={selected.status === 'ERROR' ? 'h-bad' : ''}>
                  {selected.status}
                  {selected.statusMessage && ` — ${selected.statusMessage}`}
                </td>
              </tr>
              {Object.entries(selected.attributes)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([k, v]) => (
                  <tr key={k}>
                    <th class="mono">{k}</th>
                    <td class="mono">{String(v)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

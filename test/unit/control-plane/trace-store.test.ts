// The embedded trace store's bounds and queries (pure, no I/O).
import { describe, expect, it } from 'vitest';
import { TraceStore, type StoredSpan } from '../../../control-plane/telemetry/trace-store.js';

const span = (trace: number, id: number, o: Partial<StoredSpan> = {}): StoredSpan => ({
  traceId: trace.toString(16).padStart(32, '0'),
  spanId: id.toString(16).padStart(16, '0'),
  parentSpanId: '',
  name: `span-${id}`,
  kind: 'server',
  service: 'svc',
  startNs: String(1_700_000_000_000_000_000n + BigInt(id) * 1_000_000n),
  endNs: String(1_700_000_000_000_000_000n + BigInt(id) * 1_000_000n + 5_000_000n),
  status: 'UNSET',
  statusMessage: '',
  attributes: {},
  ...o,
});

describe('TraceStore', () => {
  it('keeps at most maxTraces, evicting the least recently updated', () => {
    const s = new TraceStore({ maxTraces: 3 });
    for (let t = 1; t <= 4; t++) s.add([span(t, t)]);
    expect(s.size).toBe(3);
    expect(s.get(span(1, 1).traceId)).toBeUndefined();
    s.add([span(2, 20, { parentSpanId: span(2, 2).spanId })]); // trace 2 becomes the most recent
    s.add([span(5, 5)]);
    expect(s.get(span(3, 3).traceId)).toBeUndefined();
    expect(s.get(span(2, 2).traceId)).toHaveLength(2);
    expect(s.stats.tracesEvicted).toBe(2);
  });

  it('keeps within maxBytes', () => {
    const s = new TraceStore({ maxBytes: 10_000 });
    for (let t = 1; t <= 200; t++) s.add([span(t, t, { attributes: { big: 'x'.repeat(400) } })]);
    expect(s.bytes).toBeLessThanOrEqual(10_000);
    expect(s.size).toBeGreaterThan(5);
  });

  it('summarizes from the root span and filters by service, duration and errors', () => {
    const s = new TraceStore();
    s.add([span(1, 1, { service: 'web', name: 'GET /' }), span(1, 2, { parentSpanId: span(1, 1).spanId, service: 'db', status: 'ERROR' })]);
    s.add([span(2, 3, { service: 'web' })]);
    const sum = s.summary(span(1, 1).traceId)!;
    expect(sum).toMatchObject({ service: 'web', name: 'GET /', spans: 2, errors: 1, services: ['db', 'web'], durationMs: 6 });
    expect(s.list({ service: 'db' }).map((x) => x.traceId)).toEqual([span(1, 1).traceId]);
    expect(s.list({ errors: true })).toHaveLength(1);
    expect(s.list({ minDurationMs: 5.5 })).toHaveLength(1);
    expect(s.list().map((x) => x.traceId)).toEqual([span(2, 3).traceId, span(1, 1).traceId]);
  });
});

import { describe, expect, it } from 'vitest';
import { parentSampled } from '../../../sidecar/telemetry/tracing.js';

const h = (o: Record<string, string>) => ({ header: (n: string) => o[n] });
const TID = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('parentSampled (the decision read from the caller before any span work)', () => {
  it('reads the W3C traceparent flags', () => {
    expect(parentSampled('w3c', h({ traceparent: `00-${TID}-00f067aa0ba902b7-01` }))).toBe(true);
    expect(parentSampled('w3c', h({ traceparent: `00-${TID}-00f067aa0ba902b7-00` }))).toBe(false);
    expect(parentSampled('w3c', h({ traceparent: `00-${TID}-00f067aa0ba902b7-03` }))).toBe(true);
    expect(parentSampled('w3c', h({}))).toBeUndefined();
    expect(parentSampled('w3c', h({ traceparent: 'garbage' }))).toBeUndefined();
    expect(parentSampled('w3c', h({ traceparent: `00-${TID}-00f067aa0ba902b7-zz` }))).toBeUndefined();
  });
  it('reads B3 single and multi headers', () => {
    expect(parentSampled('b3', h({ b3: `${TID}-00f067aa0ba902b7-1` }))).toBe(true);
    expect(parentSampled('b3', h({ b3: `${TID}-00f067aa0ba902b7-0` }))).toBe(false);
    expect(parentSampled('b3', h({ b3: '0' }))).toBe(false);
    expect(parentSampled('b3', h({ b3: `${TID}-00f067aa0ba902b7` }))).toBeUndefined();
    expect(parentSampled('b3', h({ 'x-b3-sampled': '1' }))).toBe(true);
    expect(parentSampled('b3', h({ 'x-b3-sampled': '0' }))).toBe(false);
    expect(parentSampled('b3', h({ 'x-b3-flags': '1' }))).toBe(true);
    expect(parentSampled('b3', h({ traceparent: `00-${TID}-00f067aa0ba902b7-01` }))).toBeUndefined();
  });
});

describe('Tracing.sampled (head sampling keyed on x-request-id)', async () => {
  const { Tracing, loadTracingSdk } = await import('../../../sidecar/telemetry/tracing.js');
  await loadTracingSdk(); // as the sidecar's xDS client does before applying a Listener that exports spans
  const { silentLogger } = await import('../../../common/log.js');
  const t = new Tracing({ namespace: 'default', nodeId: 'n1', logger: silentLogger });
  const cfg = { samplingPercent: 20, endpoint: 'http://127.0.0.1:9/v1/traces', serviceName: 'web', propagation: 'w3c' as const };
  t.configure('outbound', cfg);
  t.configure('inbound', cfg);

  it('samples about the ratio, and every hop of one request decides the same', () => {
    let n = 0;
    for (let i = 0; i < 10_000; i++) {
      const id = `0f5c3e0a-7d2b-4c1e-9a8f-${i.toString(16).padStart(12, '0')}`;
      const out = t.sampled('outbound', h({}), id);
      expect(t.sampled('inbound', h({}), id)).toBe(out);
      if (out) n++;
    }
    expect(n).toBeGreaterThan(1800);
    expect(n).toBeLessThan(2200);
  });

  it("follows the caller's flag whatever the ratio, and records nothing without an endpoint", () => {
    expect(t.sampled('outbound', h({ traceparent: `00-${TID}-00f067aa0ba902b7-01` }), 'x')).toBe(true);
    expect(t.sampled('outbound', h({ traceparent: `00-${TID}-00f067aa0ba902b7-00` }), 'x')).toBe(false);
    t.configure('outbound', { ...cfg, samplingPercent: 100 });
    expect(t.sampled('outbound', h({}), 'x')).toBe(true);
    t.configure('outbound', { ...cfg, samplingPercent: 0 });
    expect(t.sampled('outbound', h({}), 'x')).toBe(false);
    t.configure('outbound', { ...cfg, endpoint: undefined });
    expect(t.sampled('outbound', h({ traceparent: `00-${TID}-00f067aa0ba902b7-01` }), 'x')).toBe(false);
  });
});

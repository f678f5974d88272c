// The event-loop delay gauges of every Weft process (common/prometheus.ts): prom-client's names and
// help, and a scrape right after another (no delay sampled in between: two Prometheus replicas, a
// dashboard beside Prometheus) keeps the last values instead of NaN and a 292-year minimum.
import { describe, expect, it } from 'vitest';
import { Metrics } from '../../../common/prometheus.js';

const LAG = ['min', 'max', 'mean', 'stddev', 'p50', 'p90', 'p99'].map((w) => `nodejs_eventloop_lag_${w}_seconds`);

/** name -> value of the lag gauges in one scrape. */
async function lag(m: Metrics): Promise<Map<string, number>> {
  const text = await m.registry.metrics();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [name, value] = line.split(' ');
    if (name !== undefined && name.startsWith('nodejs_eventloop_lag_')) out.set(name, Number(value));
  }
  return out;
}

describe('event-loop delay gauges', () => {
  it('are there once each, under prom-client\'s names, and give finite values in back-to-back scrapes', async () => {
    const m = new Metrics();
    await new Promise((r) => setTimeout(r, 350)); // a few 100 ms samples
    const first = await lag(m);
    expect([...first.keys()].sort()).toEqual([...LAG, 'nodejs_eventloop_lag_seconds'].sort());
    const second = await lag(m); // at once: nothing sampled since the first
    for (const n of LAG) {
      expect(Number.isFinite(second.get(n)), n).toBe(true);
      expect(second.get(n)!, n).toBeLessThan(60);
      expect(second.get(n), n).toBe(first.get(n));
    }
    expect(first.get('nodejs_eventloop_lag_p99_seconds')!).toBeGreaterThan(0);
    const text = await m.registry.metrics();
    for (const n of LAG) expect(text.split('\n').filter((l) => l.startsWith(`# TYPE ${n} `))).toHaveLength(1);
  });
});

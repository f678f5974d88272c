import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Publisher, type Change } from '../../../control-plane/xds/publisher.js';

describe('Publisher (debounced pushes)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('coalesces a burst into one publish with the union of changed services', () => {
    const got: Change[] = [];
    const p = new Publisher((c) => got.push(c), { quietMs: 30, maxDelayMs: 300 });
    p.schedule({ all: false, services: new Set(['default/a']) });
    vi.advanceTimersByTime(10);
    p.schedule({ all: false, services: new Set(['default/b']) });
    vi.advanceTimersByTime(29);
    expect(got).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(got).toHaveLength(1);
    expect(got[0]).toEqual({ all: false, services: new Set(['default/a', 'default/b']) });
  });

  it('a full change wins over service changes', () => {
    const got: Change[] = [];
    const p = new Publisher((c) => got.push(c), { quietMs: 30, maxDelayMs: 300 });
    p.schedule({ all: false, services: new Set(['default/a']) });
    p.schedule({ all: true });
    vi.advanceTimersByTime(30);
    expect(got).toEqual([{ all: true }]);
  });

  it('never delays a steady trickle past maxDelayMs', () => {
    const at: number[] = [];
    const p = new Publisher(() => at.push(Date.now()), { quietMs: 30, maxDelayMs: 100 });
    const start = Date.now();
    for (let i = 0; i < 20; i++) {
      p.schedule({ all: true });
      vi.advanceTimersByTime(20);
    }
    expect(at.length).toBeGreaterThanOrEqual(3);
    expect(at[0]! - start).toBeLessThanOrEqual(100);
  });
});

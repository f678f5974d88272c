import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PushThrottle } from '../../../control-plane/xds/push-throttle.js';

describe('PushThrottle (bounded queued xDS bytes)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs pushes at once while under budget, then one by one as writes are taken, in order', () => {
    const t = new PushThrottle({ maxQueuedBytes: 100 });
    const ran: string[] = [];
    const releases: Array<() => void> = [];
    const push = (name: string, bytes: number) => () => {
      ran.push(name);
      releases.push(t.charge(bytes));
    };
    t.schedule(push('a', 60));
    t.schedule(push('b', 60)); // 60 < 100: still runs; now 120 queued
    t.schedule(push('c', 10));
    t.schedule(push('d', 10));
    expect(ran).toEqual(['a', 'b']);
    expect(t.waiting).toBe(2);
    releases[0]!(); // 60 queued: c runs (70), then d (80)
    expect(ran).toEqual(['a', 'b', 'c', 'd']);
    expect(t.queuedBytes).toBe(80);
    releases[0]!(); // a second release of the same write is a no-op
    expect(t.queuedBytes).toBe(80);
  });

  it('gives the bytes of a write nobody reads back after stallMs, so one stuck peer cannot block the rest', () => {
    const t = new PushThrottle({ maxQueuedBytes: 10, stallMs: 1000 });
    t.charge(50);
    const ran: string[] = [];
    t.schedule(() => ran.push('next'));
    expect(ran).toEqual([]);
    vi.advanceTimersByTime(1000);
    expect(ran).toEqual(['next']);
    expect(t.queuedBytes).toBe(0);
  });

  it('forgets a cancelled push (its stream closed)', () => {
    const t = new PushThrottle({ maxQueuedBytes: 10 });
    const release = t.charge(10);
    const ran: string[] = [];
    const p = () => ran.push('closed');
    t.schedule(p);
    t.cancel(p);
    release();
    expect(ran).toEqual([]);
  });

  it('refuses a budget that is not a positive number', () => {
    expect(() => new PushThrottle({ maxQueuedBytes: 0 })).toThrow(/maxQueuedBytes/);
  });
});

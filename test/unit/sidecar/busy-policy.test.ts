import { describe, expect, it, vi } from 'vitest';
import { HELD_BACK } from '../../../common/v8-flags.js';
import { BusyPolicy, CHECKS } from '../../../sidecar/telemetry/busy-policy.js';

/** What bin/weft.js passes when nothing of the operator's own overrides it: every part's busy flags, and the ready flags. */
const BUSY = HELD_BACK.map((h) => h.busy);
const READY = HELD_BACK.flatMap((h) => (h.ready ? [h.ready] : []));

function policy(o: { requestsPerSecond?: number; scavengesPerSecond?: number; cpuPercent?: number; sustainSeconds?: number } = {}) {
  let requests = 0;
  let cpuMs = 0;
  const flags: string[] = [];
  const reasons: string[] = [];
  // CPU time is the test's own: each tick stands for one second (ticks run back to back here).
  const p = new BusyPolicy({ flags: BUSY, requests: () => requests, cpuMs: () => cpuMs, setFlags: (f) => flags.push(f), onBusy: (r) => reasons.push(r), ...o });
  return { p, flags, reasons, serve: (n: number) => (requests += n), work: (ms: number) => (cpuMs += ms) };
}

describe('busy policy: V8 defaults back when traffic comes', () => {
  it('stays small while the sidecar is idle or lightly used', () => {
    const { p, flags, serve } = policy();
    for (let s = 0; s < 120; s++) {
      serve(20);
      p.scavenged(2);
      expect(p.tick()).toBe(false);
    }
    expect(flags).toEqual([]);
  });

  it('sets the busy flags in the first busy second, once; requests before it started do not count', () => {
    let requests = 5000;
    const flags: string[] = [];
    const reasons: string[] = [];
    const p = new BusyPolicy({ flags: BUSY, requests: () => requests, setFlags: (f) => flags.push(f), onBusy: (r) => reasons.push(r) });
    expect(p.tick()).toBe(false);
    requests += 100;
    expect(p.tick()).toBe(true);
    expect(p.busy).toBe(true);
    expect(flags).toEqual(BUSY);
    expect(reasons).toEqual(['100 requests in a second']);
    requests += 10_000;
    expect(p.tick()).toBe(true);
    expect(flags).toEqual(BUSY);
  });

  it('counts requests per tick, not in total', () => {
    const { p, flags, serve } = policy({ requestsPerSecond: 100 });
    for (let s = 0; s < 10; s++) {
      serve(99);
      expect(p.tick()).toBe(false);
    }
    serve(100);
    expect(p.tick()).toBe(true);
    expect(flags).toEqual(BUSY);
  });

  it('notices a load at the first request check, a fifth of a second in, not at the next whole-second tick', () => {
    const { p, flags, reasons, serve } = policy({ requestsPerSecond: 100 });
    expect(CHECKS).toBe(5);
    expect(p.checkRequests()).toBe(false);
    serve(100);
    expect(p.checkRequests()).toBe(true);
    expect(flags).toEqual(BUSY);
    expect(reasons).toEqual(['100 requests within a second']);
  });

  it('checks a sliding second: the last five checks count, older ones do not', () => {
    // 60 + 60 within five checks: busy.
    const a = policy({ requestsPerSecond: 100 });
    a.serve(60);
    expect(a.p.checkRequests()).toBe(false);
    for (let i = 0; i < CHECKS - 2; i++) expect(a.p.checkRequests()).toBe(false);
    a.serve(60);
    expect(a.p.checkRequests()).toBe(true);
    // 60, then 60 six checks later: the first has left the window.
    const b = policy({ requestsPerSecond: 100 });
    b.serve(60);
    expect(b.p.checkRequests()).toBe(false);
    for (let i = 0; i < CHECKS - 1; i++) expect(b.p.checkRequests()).toBe(false);
    b.serve(60);
    expect(b.p.checkRequests()).toBe(false);
    expect(b.flags).toEqual([]);
    // A steady 95 a second, in fifths: never.
    const c = policy({ requestsPerSecond: 100 });
    for (let i = 0; i < 50; i++) {
      c.serve(19);
      expect(c.p.checkRequests()).toBe(false);
    }
  });

  it('once started, checks requests five times a second and ticks every fifth check', () => {
    vi.useFakeTimers();
    try {
      const { p, flags, reasons, serve } = policy({ requestsPerSecond: 100 });
      p.start();
      serve(100);
      vi.advanceTimersByTime(1000 / CHECKS);
      expect(flags).toEqual(BUSY);
      expect(reasons).toEqual(['100 requests within a second']);
      // The tick (CPU, scavenges) still runs once a second: a quarter of a core for a second.
      const q = policy({ requestsPerSecond: 100, cpuPercent: 25, sustainSeconds: 1 });
      q.p.start();
      q.work(300);
      vi.advanceTimersByTime((1000 / CHECKS) * (CHECKS - 1));
      expect(q.flags).toEqual([]);
      vi.advanceTimersByTime(1000 / CHECKS);
      expect(q.reasons).toEqual([expect.stringMatching(/% of a core for 1 s$/)]);
      q.p.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('is busy on sustained scavenging (long streams), not on a config push burst', () => {
    const { p, flags, reasons } = policy({ scavengesPerSecond: 10, sustainSeconds: 5 });
    // A config push: 3 s of heavy scavenging, then quiet.
    for (let s = 0; s < 3; s++) {
      p.scavenged(50);
      expect(p.tick()).toBe(false);
    }
    p.scavenged(1);
    expect(p.tick()).toBe(false);
    // Streaming traffic: scavenging every second for 5 s.
    for (let s = 0; s < 4; s++) {
      p.scavenged(12);
      expect(p.tick()).toBe(false);
    }
    p.scavenged(12);
    expect(p.tick()).toBe(true);
    expect(flags).toEqual(BUSY);
    expect(reasons[0]).toMatch(/12 scavenges a second for 5 s/);
  });

  it('is busy on sustained CPU (TCP and TLS proxying: few connections, no requests), not on a burst', () => {
    const { p, flags, reasons, work } = policy({ cpuPercent: 25, sustainSeconds: 5 });
    // A config push: two seconds of a full core, then quiet.
    work(1000);
    expect(p.tick()).toBe(false);
    work(1000);
    expect(p.tick()).toBe(false);
    work(50);
    expect(p.tick()).toBe(false);
    // Light steady work never counts.
    for (let s = 0; s < 30; s++) {
      work(200);
      expect(p.tick()).toBe(false);
    }
    // A quarter of a core or more, five seconds running.
    for (let s = 0; s < 4; s++) {
      work(400);
      expect(p.tick()).toBe(false);
    }
    work(400);
    expect(p.tick()).toBe(true);
    expect(flags).toEqual(BUSY);
    expect(reasons).toEqual(['40 % of a core for 5 s']);
  });

  it('sets the ready flags when it starts, and the busy flags (which undo them) when busy', () => {
    let requests = 0;
    const flags: string[] = [];
    const p = new BusyPolicy({ flags: BUSY, readyFlags: READY, requests: () => requests, setFlags: (f) => flags.push(f) });
    expect(READY).toEqual(['--optimize-for-size']);
    expect(flags).toEqual([]);
    p.start();
    try {
      expect(flags).toEqual(READY);
      requests += 100;
      expect(p.tick()).toBe(true);
      expect(flags).toEqual([...READY, ...BUSY]);
      // V8's defaults back: every ready flag has its opposite among the busy flags.
      expect(BUSY.join(' ')).toContain('--no-optimize-for-size');
    } finally {
      p.close();
    }
  });

  it('counts real minor GCs once started', async () => {
    const { p } = policy({ scavengesPerSecond: 1, sustainSeconds: 1, requestsPerSecond: 1e9 });
    p.start();
    try {
      let keep: object[] = [];
      for (let i = 0; i < 2_000_000; i++) {
        keep.push({ i });
        if (keep.length > 1000) keep = [];
      }
      await new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
      expect(p.tick()).toBe(true);
    } finally {
      p.close();
    }
  });
});

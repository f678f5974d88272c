// Balancing policies and the priority layer, on hand-built host sets (no I/O).
import { describe, expect, it } from 'vitest';
import { Host } from '../../../sidecar/upstream/host.js';
import { buildPicker } from '../../../sidecar/upstream/lb/index.js';
import { leastRequest } from '../../../sidecar/upstream/lb/least-request.js';
import { random } from '../../../sidecar/upstream/lb/random.js';
import { hash32, ringHash } from '../../../sidecar/upstream/lb/ring-hash.js';
import { roundRobin, weightedSchedule } from '../../../sidecar/upstream/lb/round-robin.js';

const hosts = (n: number, o: { weight?: number[]; priority?: number[] } = {}) => Array.from({ length: n }, (_, i) => new Host('10.0.0.' + (i + 1), 8080, o.weight?.[i] ?? 1, '', o.priority?.[i] ?? 0));
function counts(pick: () => Host | undefined, n: number): Map<string, number> {
  const c = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h = pick()!;
    c.set(h.address, (c.get(h.address) ?? 0) + 1);
  }
  return c;
}

describe('load balancing policies', () => {
  it('round robin cycles exactly; weights interleave smoothly', () => {
    const hs = hosts(3);
    const p = roundRobin.build(hs);
    expect([...counts(() => p.pick({ hash: undefined }), 300).values()]).toEqual([100, 100, 100]);
    const sched = weightedSchedule(hosts(2, { weight: [3, 1] }));
    expect(sched.map((h) => h.address)).toEqual(['10.0.0.1', '10.0.0.1', '10.0.0.2', '10.0.0.1']);
  });

  it('random follows weights', () => {
    const p = random.build(hosts(2, { weight: [1, 3] }));
    const c = counts(() => p.pick({ hash: undefined }), 20_000);
    expect(c.get('10.0.0.2')! / 20_000).toBeGreaterThan(0.72);
    expect(c.get('10.0.0.2')! / 20_000).toBeLessThan(0.78);
  });

  it('least request prefers hosts with fewer requests in flight', () => {
    const hs = hosts(3);
    hs[0]!.active = 50;
    const p = leastRequest(2).build(hs);
    const c = counts(() => p.pick({ hash: undefined }), 3000);
    // The busy host only wins when both samples are it: about 1/9 of picks.
    expect(c.get('10.0.0.1') ?? 0).toBeLessThan(450);
  });

  it('ring hash: same key, same host; removing a host moves only its keys', () => {
    const hs = hosts(4);
    const p = ringHash(1024, 8_388_608).build(hs);
    const owner = new Map<string, string>();
    for (let k = 0; k < 1000; k++) {
      const h = p.pick({ hash: hash32(`user-${k}`) })!;
      expect(p.pick({ hash: hash32(`user-${k}`) })).toBe(h);
      owner.set(`user-${k}`, h.address);
    }
    const shares = counts(() => p.pick({ hash: Math.floor(Math.random() * 2 ** 32) }), 20_000);
    for (const v of shares.values()) expect(v / 20_000).toBeGreaterThan(0.15);
    const p2 = ringHash(1024, 8_388_608).build(hs.filter((h) => h.address !== '10.0.0.2'));
    for (const [k, was] of owner) {
      const now = p2.pick({ hash: hash32(k) })!.address;
      if (was !== '10.0.0.2') expect(now).toBe(was);
    }
  });

  it('priorities: level 0 while healthy, gradual spill-over, then panic', () => {
    const hs = hosts(6, { priority: [0, 0, 0, 0, 0, 1] });
    const pick = () => buildPicker(hs, roundRobin, 50);
    expect(counts(() => pick().pick({ hash: undefined }), 600).get('10.0.0.6')).toBeUndefined();
    // 3 of 5 healthy at priority 0: health 3/5 x 1.4 = 84% stays there, 16% spills.
    hs[0]!.hcFailed = hs[1]!.hcFailed = true;
    const p = pick();
    const spilled = (counts(() => p.pick({ hash: undefined }), 20_000).get('10.0.0.6') ?? 0) / 20_000;
    expect(spilled).toBeGreaterThan(0.13);
    expect(spilled).toBeLessThan(0.19);
    expect(counts(() => p.pick({ hash: undefined }), 1000).get('10.0.0.1')).toBeUndefined();
    // Everything unhealthy but one of six: below the 50% panic threshold, every host is used.
    for (const h of hs.slice(0, 5)) h.ejectedUntil = 1;
    hs[5]!.hcFailed = true;
    const c = counts(() => buildPicker(hs, roundRobin, 50).pick({ hash: undefined }), 600);
    expect(c.size).toBe(6);
  });

  it('an empty cluster picks nothing', () => {
    expect(buildPicker([], roundRobin, 50).pick({ hash: undefined })).toBeUndefined();
  });
});

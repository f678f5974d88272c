import { describe, expect, it } from 'vitest';
import { ControlPlanes } from '../../../../sidecar/identity/control-planes.js';

describe('ControlPlanes (--control-plane a,b,c)', () => {
  it('parses a list and refuses what is not host:port, with the reason', () => {
    expect(new ControlPlanes('10.0.0.1:15010, cp-b.example:15010 ,[::1]:15010', () => 0).addresses).toEqual(['10.0.0.1:15010', 'cp-b.example:15010', '[::1]:15010']);
    for (const [bad, why] of [
      ['', /got nothing/],
      ['a:15010,,', /^(?!.*got nothing)/],
      ['a', /'a' is not HOST:PORT/],
      ['a:0', /'a:0' is not HOST:PORT/],
      ['a:70000', /is not HOST:PORT/],
      ['a b:1', /is not HOST:PORT/],
      ['a:1,a:1', /names a replica twice/],
    ] as const) {
      if (bad === 'a:15010,,') expect(new ControlPlanes(bad).addresses).toEqual(['a:15010']);
      else expect(() => new ControlPlanes(bad), bad).toThrow(why);
    }
  });

  it('starts at a random replica, so proxies spread over them', () => {
    const starts = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const c = new ControlPlanes('a:1,b:1,c:1');
      starts.set(c.current, (starts.get(c.current) ?? 0) + 1);
    }
    expect([...starts.keys()].sort()).toEqual(['a:1', 'b:1', 'c:1']);
    expect(Math.min(...starts.values())).toBeGreaterThan(50);
  });

  it('moves on from a failed replica once, however many clients report it, and comes round again', () => {
    const c = new ControlPlanes('a:1,b:1,c:1', () => 0);
    expect(c.current).toBe('a:1');
    expect(c.next('a:1')).toBe('b:1');
    // The identity client and the ADS client both saw a:1 fail: one move, not two.
    expect(c.next('a:1')).toBe('b:1');
    expect(c.next()).toBe('c:1');
    expect(c.next('c:1')).toBe('a:1');
    expect(ControlPlanes.of('x:1').current).toBe('x:1');
    expect(ControlPlanes.of(c)).toBe(c);
  });
});

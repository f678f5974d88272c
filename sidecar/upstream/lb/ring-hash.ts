/**
 * Ring hash (consistent hashing, Ketama-style): each host owns points on a 32-bit ring in
 * proportion to its weight; a request's key hash walks clockwise to the next point. Removing a
 * host moves only the keys it owned (each host's points depend on its own weight only). Without a
 * key (no hash policy matched) it picks at random.
 */
import type { Host } from '../host.js';
import type { LbPolicy, Picker } from './picker.js';

/** 32-bit MurmurHash3 of a string's UTF-16 code units (fast, well mixed, stable across runs). */
export function hash32(s: string, seed = 0): number {
  let h = seed >>> 0;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = (s.charCodeAt(i) & 0xffff) | ((s.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = s.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

class RingPicker implements Picker {
  constructor(
    private readonly points: Uint32Array,
    private readonly owners: readonly Host[],
  ) {}
  pick(ctx: { hash: number | undefined }): Host {
    if (ctx.hash === undefined) return this.owners[Math.floor(Math.random() * this.owners.length)]!;
    const p = this.points;
    let lo = 0;
    let hi = p.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p[mid]! < ctx.hash) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === p.length ? 0 : lo]!;
  }
}

export function ringHash(minRingSize: number, maxRingSize: number): LbPolicy {
  const min = Math.max(1, minRingSize || 1024);
  const max = Math.max(min, Math.min(maxRingSize || 8_388_608, 8_388_608));
  return {
    name: 'RING_HASH',
    build(hosts) {
      // Points per unit of weight are fixed (not derived from the host count, as Envoy's
      // min_ring_size scaling is) so that adding or removing a host moves only that host's keys;
      // max_ring_size still bounds the ring.
      const total = hosts.reduce((s, h) => s + Math.max(1, h.weight), 0);
      const perWeight = Math.max(1, Math.min(Math.max(64, Math.ceil(min / 8)), Math.floor(max / total)));
      const entries: Array<{ point: number; host: Host }> = [];
      for (const h of hosts) {
        const n = Math.max(1, h.weight) * perWeight;
        for (let i = 0; i < n; i++) entries.push({ point: hash32(`${h.key}_${i}`), host: h });
      }
      entries.sort((a, b) => a.point - b.point || (a.host.key < b.host.key ? -1 : 1));
      return new RingPicker(Uint32Array.from(entries, (e) => e.point), entries.map((e) => e.host));
    },
  };
}

// sidecar/h2/stream-table.ts: a connection's streams by id. It must behave as the Map it replaced
// (checked against one on random operations), and churn through it must not make the young
// generation promote dead streams, which is why it replaced the Map (checked in a node process of
// its own, where V8's GC trace says what each scavenge promoted).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StreamSet, StreamTable } from '../../../../sidecar/h2/stream-table.js';
import { ROOT } from '../../../harness/processes.js';

type Op = { op: 'set' | 'delete' | 'get'; id: number };
// Ids as a connection sees them (odd and increasing, a few open at once), some far apart, some
// reused after delete, and the largest a stream can have.
const id = fc.oneof(
  fc.integer({ min: 0, max: 40 }).map((n) => 2 * n + 1),
  fc.integer({ min: 1, max: 0x7fffffff }),
  fc.constant(0x7fffffff),
);
const op: fc.Arbitrary<Op> = fc.record({ op: fc.constantFrom('set' as const, 'set' as const, 'delete' as const, 'get' as const), id });

describe('StreamTable', () => {
  it('answers as a Map does, on random operations (growing past its first size too)', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const t = new StreamTable<{ id: number; n: number }>();
        const m = new Map<number, { id: number; n: number }>();
        ops.forEach((o, n) => {
          if (o.op === 'set') {
            const v = { id: o.id, n };
            t.set(o.id, v);
            m.set(o.id, v);
          } else if (o.op === 'delete') expect(t.delete(o.id)).toBe(m.delete(o.id));
          else expect(t.get(o.id)).toBe(m.get(o.id));
          expect(t.size).toBe(m.size);
        });
        for (const o of ops) {
          expect(t.get(o.id)).toBe(m.get(o.id));
          expect(t.has(o.id)).toBe(m.has(o.id));
        }
        expect(new Set(t.values())).toEqual(new Set(m.values()));
        expect(t.values()).toHaveLength(m.size);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps every stream through growth and deletes in any order', () => {
    const t = new StreamTable<number>();
    const ids = Array.from({ length: 3000 }, (_, i) => 2 * i + 1);
    for (const i of ids) t.set(i, i);
    expect(t.size).toBe(3000);
    for (const i of ids) expect(t.get(i)).toBe(i);
    // A fixed shuffle: delete in an order unlike the insertion one.
    const order = ids.map((i) => [i, (i * 2654435761) % 4093] as const).sort((a, b) => a[1] - b[1]).map(([i]) => i);
    order.forEach((i, n) => {
      expect(t.delete(i)).toBe(true);
      expect(t.delete(i)).toBe(false);
      if (n % 97 === 0) for (const j of order.slice(n + 1, n + 40)) expect(t.get(j)).toBe(j);
    });
    expect(t.size).toBe(0);
    expect(t.values()).toEqual([]);
  });

  it('refuses an id that is not a stream id, and finds none under one', () => {
    const t = new StreamTable<number>();
    for (const bad of [0, -1, 1.5, 0x80000000, Number.NaN]) expect(() => t.set(bad, 1), String(bad)).toThrow(RangeError);
    expect(t.size).toBe(0);
    t.set(3, 3);
    for (const bad of [0, -1, 1.5, 0x80000000, Number.NaN]) {
      expect(t.has(bad), String(bad)).toBe(false);
      expect(t.get(bad), String(bad)).toBeUndefined();
      expect(t.delete(bad), String(bad)).toBe(false);
    }
    expect(t.size).toBe(1);
    expect(t.get(3)).toBe(3);
  });

  it('values() is a copy: the table may change while a caller goes through it', () => {
    const t = new StreamTable<number>();
    for (let i = 1; i < 40; i += 2) t.set(i, i);
    const seen: number[] = [];
    for (const v of t.values()) {
      seen.push(v);
      t.delete(v);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 2 * i + 1));
    expect(t.size).toBe(0);
  });

  it('clear() empties it', () => {
    const t = new StreamTable<number>();
    for (let i = 1; i < 100; i += 2) t.set(i, i);
    t.clear();
    expect(t.size).toBe(0);
    expect(t.get(1)).toBeUndefined();
    t.set(3, 3);
    expect(t.values()).toEqual([3]);
  });
});

describe('StreamSet', () => {
  it('adds and removes streams by identity', () => {
    const s = new StreamSet<{ id: number }>();
    const a = { id: 1 };
    const b = { id: 3 };
    s.add(a);
    s.add(b);
    s.add(a);
    expect(s.size).toBe(2);
    expect(s.delete({ id: 1 })).toBe(false); // another stream with the same id
    expect(s.delete(a)).toBe(true);
    expect(s.delete(a)).toBe(false);
    expect(s.values()).toEqual([b]);
    s.clear();
    expect(s.size).toBe(0);
  });
});

describe('StreamTable and the young generation', () => {
  it('streams that come and go through a long-lived table are not promoted (V8 GC trace)', () => {
    // The table lives long enough to be in the old generation, then streams come and go, 1 to 10
    // open at a time (as calls on one upstream connection), each holding 2 KB. What the
    // scavenges promoted after that is summed from --trace-gc-nvp. AS_MAP=1 in the environment runs
    // the same with a Map in its place: it fails, about 70 MB promoted (V8 11, Node 20).
    const script = `
      import { StreamTable } from ${JSON.stringify(join(ROOT, 'dist/sidecar/h2/stream-table.js'))};
      const t = process.env.AS_MAP ? new Map() : new StreamTable();
      t.set(1, { first: true });
      for (let i = 0; i < 3; i++) { let junk = []; for (let j = 0; j < 3e5; j++) junk.push({ j }); }
      console.log('CHURN');
      let id = 3; const open = [];
      for (let round = 0; round < 12000; round++) {
        for (let b = 0; b <= round % 10; b++) { t.set(id, { id, data: new Array(250).fill(id) }); open.push(id); id += 2; if (id > 0x7ffffff0) id = 3; }
        while (open.length) t.delete(open.shift());
      }
      console.log('DONE', t.size);
    `;
    const r = spawnSync(process.execPath, ['--trace-gc-nvp', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const after = r.stdout.slice(r.stdout.indexOf('CHURN'));
    expect(after).toMatch(/DONE 1/);
    // The first two scavenges of the churn still carry the set-up's survivors.
    const scavenges = [...after.matchAll(/gc=s .*? promoted=(\d+)/g)].map((m) => Number(m[1])).slice(2);
    expect(scavenges.length, 'the churn ran too few scavenges: nothing was measured').toBeGreaterThan(3);
    const promoted = scavenges.reduce((a, b) => a + b, 0);
    expect(promoted, `promoted per scavenge: ${scavenges.join(' ')}`).toBeLessThan(512 * 1024);
  });
});

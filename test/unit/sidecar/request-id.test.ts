// newRequestId: a version 4 UUID as crypto.randomUUID() writes one (lowercase, dashes, version and
// variant bits), never the same twice, every random digit taking all 16 values, across pool refills.
import { describe, expect, it } from 'vitest';
import { newRequestId } from '../../../sidecar/http/request-id.js';

const V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newRequestId', () => {
  it('makes distinct v4 UUIDs, 2,000 of them (past several refills of the random pool)', () => {
    const ids = Array.from({ length: 2000 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(V4);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('draws every random hex digit from all 16 values and the variant digit from 8, 9, a, b', () => {
    const seen = Array.from({ length: 36 }, () => new Set<string>());
    for (let k = 0; k < 2000; k++) {
      const id = newRequestId();
      for (let i = 0; i < 36; i++) seen[i]!.add(id[i]!);
    }
    for (let i = 0; i < 36; i++) {
      if ([8, 13, 18, 23].includes(i)) expect(seen[i]).toEqual(new Set(['-']));
      else if (i === 14) expect(seen[i]).toEqual(new Set(['4']));
      else if (i === 19) expect(seen[i]).toEqual(new Set(['8', '9', 'a', 'b']));
      else expect([i, seen[i]!.size]).toEqual([i, 16]);
    }
  });

  it('returns a string of its own, not a view that the next id overwrites', () => {
    const a = newRequestId();
    const copy = `${a}`;
    newRequestId();
    expect(a).toBe(copy);
  });
});

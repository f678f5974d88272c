// The verified-token cache of jwt_authn (sidecar/http/jwt/verified-tokens.ts): a hit only while the
// key set that verified the token is still current and its exp / nbf hold with the skew; bounded,
// oldest out first.
import { describe, expect, it } from 'vitest';
import { KeySet } from '../../../sidecar/http/jwt/jwks.js';
import { VerifiedTokens } from '../../../sidecar/http/jwt/verified-tokens.js';

const keysA = new KeySet({ keys: [] });
const keysB = new KeySet({ keys: [] });
const now = 1_800_000_000;

describe('verified JWT cache', () => {
  it('hits while the key set and the time claims hold', () => {
    const c = new VerifiedTokens();
    c.add('t', { sub: 'a', exp: now + 100, nbf: now - 10 }, 'k1', keysA);
    expect(c.get('t', now, 0, () => keysA)).toEqual({ sub: 'a', exp: now + 100, nbf: now - 10 });
    expect(c.get('other', now, 0, () => keysA)).toBeUndefined();
  });

  it('misses (and forgets) once the provider verifies with another key set', () => {
    const c = new VerifiedTokens();
    c.add('t', { sub: 'a' }, 'k1', keysA);
    const seen: (string | undefined)[] = [];
    expect(c.get('t', now, 0, (kid) => (seen.push(kid), keysB))).toBeUndefined();
    expect(seen).toEqual(['k1']);
    expect(c.size).toBe(0);
    expect(c.get('t', now, 0, () => keysA)).toBeUndefined();
  });

  it('misses when the kid has no key now', () => {
    const c = new VerifiedTokens();
    c.add('t', { sub: 'a' }, 'gone', keysA);
    expect(c.get('t', now, 0, () => undefined)).toBeUndefined();
  });

  it.each([
    ['expired', { exp: now }, 0, false],
    ['expired, within the skew', { exp: now - 30 }, 60, true],
    ['expired past the skew', { exp: now - 60 }, 60, false],
    ['not yet valid', { nbf: now + 1 }, 0, false],
    ['not yet valid, within the skew', { nbf: now + 30 }, 60, true],
    ['valid', { exp: now + 1, nbf: now }, 0, true],
  ])('checks the time claims on every hit: %s', (_what, payload, skew, hit) => {
    const c = new VerifiedTokens();
    c.add('t', payload, undefined, keysA);
    expect(c.get('t', now, skew, () => keysA) !== undefined).toBe(hit);
  });

  it('keeps at most max tokens, the oldest out first', () => {
    const c = new VerifiedTokens(3);
    for (const t of ['a', 'b', 'c', 'd']) c.add(t, { sub: t }, undefined, keysA);
    expect(c.size).toBe(3);
    expect(c.get('a', now, 0, () => keysA)).toBeUndefined();
    expect(c.get('d', now, 0, () => keysA)).toEqual({ sub: 'd' });
  });
});

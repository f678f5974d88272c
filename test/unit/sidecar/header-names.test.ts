// header-names.ts: lowerName(s) is s.toLowerCase() and setTest(set)(s) is set.has(s), for the
// names it knows in every casing, for their near misses, and for arbitrary strings.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lowerName, setTest } from '../../../sidecar/http/header-names.js';
import { RESPONSE_HOP } from '../../../sidecar/h2/frames.js';

const known = ['content-type', 'Content-Type', 'CONTENT-TYPE', 'content-Type', 'Date', 'date', 'DATE', 'Host', 'hOST', 'Keep-Alive', 'keep-alive', 'Connection', 'X-Request-Id', 'X-Request-ID', 'x-request-id', 'te', 'TE', 'Te', 'Transfer-Encoding', 'Strict-Transport-Security', 'Access-Control-Allow-Origin'];
/** Same length and first letter as a known name, different elsewhere. */
const nearMisses = ['content-typf', 'Content-Typx', 'dati', 'Datf', 'hosu', 'keep_alive', 'Connectiom', 'tf', 'x-request-ie', 'Content\u0130Type', 'da\u0131e'];
const names = fc.constantFrom(...known, ...nearMisses);
const letters = fc.constantFrom(...'aAcCdDeEhHkKtTxX-_\u0130\u0131\u212a'.split(''));

describe('lowerName', () => {
  it('is toLowerCase for known names in any case and their near misses', () => {
    for (const s of [...known, ...nearMisses, '', 'x', '-']) expect([s, lowerName(s)]).toEqual([s, s.toLowerCase()]);
  });

  it('is toLowerCase for random strings', () => {
    fc.assert(
      fc.property(fc.oneof(names, fc.string({ maxLength: 30 }), fc.string({ unit: letters, maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 })), (s) => lowerName(s) === s.toLowerCase()),
      { numRuns: 5000 },
    );
  });

  it('answers a known name in lowercase or Title-Case with the interned literal (the same string every time)', () => {
    // Two strings made at run time: equal content, and lowerName maps both to one literal.
    const a = lowerName(['Content', 'Type'].join('-'));
    const b = lowerName(['content', 'type'].join('-'));
    expect(a).toBe('content-type');
    expect(b).toBe(a);
  });
});

describe('setTest', () => {
  const isHop = setTest(RESPONSE_HOP);
  it('is set.has for every member, near misses and random strings', () => {
    for (const n of RESPONSE_HOP) {
      expect(isHop(n)).toBe(true);
      expect(isHop(n.toUpperCase())).toBe(false);
      expect(isHop(`${n}x`)).toBe(false);
      expect(isHop(n.slice(1))).toBe(RESPONSE_HOP.has(n.slice(1)));
      // a string equal to a member but not the same object
      expect(isHop([...n].join(''))).toBe(true);
    }
    fc.assert(
      fc.property(fc.oneof(fc.constantFrom(...RESPONSE_HOP, 'connectioN', 'tee', 'upgrad'), fc.string({ maxLength: 20 })), (s) => isHop(s) === RESPONSE_HOP.has(s)),
      { numRuns: 3000 },
    );
  });
});

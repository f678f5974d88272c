// requestHead: the request line and header lines the pool writes, and the refusals (table); the
// joined checks refuse exactly what the per-header checks would (random header lists).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { head, requestHead } from '../../../sidecar/upstream/h1-request-head.js';

const BAD_VALUE = /[\r\n\0]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

describe('requestHead', () => {
  it('writes the request line and one line per header, and notes a content-length', () => {
    expect(requestHead('POST', '/a?b=1', ['host', 'up', 'content-length', '3'])).toBe(true);
    expect([head.text, head.length, head.error]).toEqual(['POST /a?b=1 HTTP/1.1\r\nhost: up\r\ncontent-length: 3\r\n', true, '']);
    expect(requestHead('GET', '/', [])).toBe(true);
    expect([head.text, head.length]).toEqual(['GET / HTTP/1.1\r\n', false]);
  });

  it.each([
    ['GET /x', '/', [], 'HPE_INVALID_URL'],
    ['GET', '/a b', [], 'HPE_INVALID_URL'],
    ['GET', '', [], 'HPE_INVALID_URL'],
    ['GET', '/', ['host', 'up', 'x-a', 'v\r\nx-injected: 1'], 'HPE_INVALID_HEADER_TOKEN'],
    ['GET', '/', ['host', 'up', '', 'v'], 'HPE_INVALID_HEADER_TOKEN'],
    ['GET', '/', ['x a', 'v'], 'HPE_INVALID_HEADER_TOKEN'],
  ] as const)('refuses %s %j %j (%s) and leaves no head', (method, path, headers, code) => {
    expect(requestHead(method, path, headers)).toBe(false);
    expect([head.code, head.text]).toEqual([code, '']);
  });

  it('refuses a header list exactly when one name is not a token or one value holds CR, LF or NUL', () => {
    const name = fc.string({ unit: fc.constantFrom(...'ab-_~ :\r\n\0\u0100'.split('')), maxLength: 6 });
    const value = fc.string({ unit: fc.constantFrom(...'ab \t:\r\n\0\x7f\u0100'.split('')), maxLength: 8 });
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 5 }), (pairs) => {
        const flat = pairs.flat();
        const bad = pairs.some(([n, v]) => !TOKEN.test(n) || BAD_VALUE.test(v));
        expect(requestHead('GET', '/', flat)).toBe(!bad);
        if (bad) expect(head.error).toMatch(/^invalid character in header /);
      }),
      { numRuns: 2000 },
    );
  });
});

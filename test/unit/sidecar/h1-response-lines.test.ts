// The header lines of an HTTP/1.1 response head as bytes (h1-response-lines.ts): from an
// upstream's raw lines (names lowercased, hop-by-hop dropped, CR/LF/NUL lines left out, order and
// repeats kept) and from a header object, byte for byte the latin1 text of the same lines, also
// past the scratch buffer's first 4 KiB; what the head needs to know of them (content-length and
// its value, date, grpc-status); the status line.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { headerLines, lines, rawHeaderLines, statusLine } from '../../../sidecar/http/h1-response-lines.js';
import { RESPONSE_HOP } from '../../../sidecar/h2/frames.js';

const BAD = /[\r\n\0]/;
const text = () => lines.bytes.toString('latin1', 0, lines.size);

describe('response header lines', () => {
  it('writes raw lines as the latin1 text of the kept ones, in order, however long', () => {
    const unit = (chars: string) => fc.constantFrom(...chars.split(''));
    const name = fc.oneof(fc.constantFrom('Content-Type', 'connection', 'Keep-Alive', 'X-A', 'set-cookie', 'Transfer-Encoding', 'date'), fc.string({ unit: unit('aB-\r\n\0'), minLength: 1, maxLength: 5 }));
    const value = fc.oneof(fc.string({ unit: unit('v \t:\r\n\0\xe9\u0100'), maxLength: 8 }), fc.string({ unit: unit('xyz'), minLength: 1000, maxLength: 3000 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 12 }), (pairs) => {
        rawHeaderLines(pairs.flat());
        const want = pairs
          .map(([n, v]) => [n.toLowerCase(), v] as const)
          .filter(([n, v]) => !RESPONSE_HOP.has(n) && !BAD.test(n) && !BAD.test(v))
          .map(([n, v]) => `${n}: ${v}\r\n`)
          .join('');
        expect(text()).toBe(Buffer.from(want, 'latin1').toString('latin1'));
      }),
      { numRuns: 400 },
    );
  });

  it('writes a header object with repeated values as one line each', () => {
    headerLines({ 'set-cookie': ['a=1', 'b=2'], 'content-length': 12, 'x-bad': 'v\r\nx-injected: 1', vary: 'accept' });
    expect(text()).toBe('set-cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 12\r\nvary: accept\r\n');
  });

  it.each([
    [['content-length', '42'], true, 42],
    [['content-length', '0'], true, 0],
    [['content-length', '4x'], true, -1],
    [['content-length', '3', 'content-length', '3'], true, -1],
    [['x', 'y'], false, -1],
  ])('notes content-length in %j: %s, body size %i', (raw, length, size) => {
    rawHeaderLines(raw);
    expect([lines.length, lines.bodySize]).toEqual([length, size]);
  });

  it('notes a date and a grpc-status', () => {
    rawHeaderLines(['Date', 'Sun, 06 Dec 2026 10:00:00 GMT', 'grpc-status', '14']);
    expect([lines.date, lines.grpcStatus]).toEqual([true, 14]);
    rawHeaderLines([]);
    expect([lines.date, lines.grpcStatus, lines.size]).toEqual([false, undefined, 0]);
  });

  it('makes status lines', () => {
    expect(statusLine(200)).toBe('HTTP/1.1 200 OK\r\n');
    expect(statusLine(200)).toBe(statusLine(200));
    expect(statusLine(599)).toBe('HTTP/1.1 599 Unknown\r\n');
    expect(statusLine(1000)).toBe('HTTP/1.1 1000 Unknown\r\n');
  });
});

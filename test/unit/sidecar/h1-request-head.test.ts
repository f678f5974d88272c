// requestHead: the request head the pool writes, as bytes (request line, header lines, the framing
// it adds, the blank line), and the refusals (table); random header lists are refused exactly when
// one name is not a token or one value holds CR, LF or NUL, and written byte for byte as
// `write(text, 'latin1')` wrote the same head as a string.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { head, requestHead } from '../../../sidecar/upstream/h1-request-head.js';

const BAD_VALUE = /[\r\n\0]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_TARGET = /[\x00-\x20\x7f]/;

const text = (b: Buffer | undefined): string | undefined => b?.toString('latin1');

describe('requestHead', () => {
  it('writes the request line, one line per header and the blank line', () => {
    expect(text(requestHead('POST', '/a?b=1', ['host', 'up', 'content-length', '3'], true, true))).toBe('POST /a?b=1 HTTP/1.1\r\nhost: up\r\ncontent-length: 3\r\n\r\n');
    expect([head.chunked, head.error]).toEqual([false, '']);
    expect(text(requestHead('GET', '/', [], false, false))).toBe('GET / HTTP/1.1\r\n\r\n');
  });

  it.each([
    ['a body without content-length goes chunked', 'POST', ['host', 'up'], true, true, 'POST / HTTP/1.1\r\nhost: up\r\ntransfer-encoding: chunked\r\n\r\n', true],
    ['a body with content-length keeps it', 'PUT', ['content-length', '2'], true, true, 'PUT / HTTP/1.1\r\ncontent-length: 2\r\n\r\n', false],
    ['no body where one is expected: content-length 0', 'POST', ['host', 'up'], false, true, 'POST / HTTP/1.1\r\nhost: up\r\ncontent-length: 0\r\n\r\n', false],
    ['no body, given content-length 0 stays alone', 'PATCH', ['content-length', '0'], false, true, 'PATCH / HTTP/1.1\r\ncontent-length: 0\r\n\r\n', false],
    ['no body where none is expected: nothing added', 'DELETE', ['host', 'up'], false, false, 'DELETE / HTTP/1.1\r\nhost: up\r\n\r\n', false],
    ['a GET with a body (chunked)', 'GET', [], true, false, 'GET / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n', true],
  ] as const)('%s', (_name, method, headers, hasBody, expectsBody, want, chunked) => {
    expect(text(requestHead(method, '/', headers, hasBody, expectsBody))).toBe(want);
    expect(head.chunked).toBe(chunked);
  });

  it.each([
    ['GET /x', '/', [], 'HPE_INVALID_URL'],
    ['GET', '/a b', [], 'HPE_INVALID_URL'],
    ['GET', '/a\x7f', [], 'HPE_INVALID_URL'],
    ['GET', '', [], 'HPE_INVALID_URL'],
    ['', '/', [], 'HPE_INVALID_URL'],
    ['GÉT', '/', [], 'HPE_INVALID_URL'],
    ['GET', '/', ['host', 'up', 'x-a', 'v\r\nx-injected: 1'], 'HPE_INVALID_HEADER_TOKEN'],
    ['GET', '/', ['host', 'up', 'x-a', 'v\0'], 'HPE_INVALID_HEADER_TOKEN'],
    ['GET', '/', ['host', 'up', '', 'v'], 'HPE_INVALID_HEADER_TOKEN'],
    ['GET', '/', ['x a', 'v'], 'HPE_INVALID_HEADER_TOKEN'],
    ['GET', '/', ['x:a', 'v'], 'HPE_INVALID_HEADER_TOKEN'],
  ] as const)('refuses %j %j %j (%s)', (method, path, headers, code) => {
    expect(requestHead(method, path, headers, false, false)).toBeUndefined();
    expect(head.code).toBe(code);
  });

  it('names the first bad header', () => {
    expect(requestHead('GET', '/', ['a', 'ok', 'b c', 'x', 'd', '\n'], false, false)).toBeUndefined();
    expect(head.error).toBe('invalid character in header "b c"');
  });

  it('refuses exactly the bad lists and writes the others byte for byte as the latin1 string', () => {
    const unit = (chars: string) => fc.constantFrom(...chars.split(''));
    const name = fc.string({ unit: unit('ab-_~ :\r\n\0\u0100'), maxLength: 6 });
    const value = fc.string({ unit: unit('ab \t:\r\n\0\x7f\xe9\u0100\u20ac'), maxLength: 8 });
    const target = fc.string({ unit: unit('/a?=%\x7f \t\xe9\u0100'), maxLength: 6 });
    const method = fc.constantFrom('GET', 'POST', 'M-1', 'G T', '');
    fc.assert(
      fc.property(method, target, fc.array(fc.tuple(name, value), { maxLength: 5 }), fc.boolean(), fc.boolean(), (m, path, pairs, hasBody, expectsBody) => {
        const flat = pairs.flat();
        const badLine = !TOKEN.test(m) || path.length === 0 || BAD_TARGET.test(path);
        const badHeader = pairs.some(([n, v]) => !TOKEN.test(n) || BAD_VALUE.test(v));
        const got = requestHead(m, path, flat, hasBody, expectsBody);
        if (badLine || badHeader) {
          expect(got).toBeUndefined();
          expect(head.error).toMatch(badLine ? /^invalid request line / : /^invalid character in header /);
          return;
        }
        const length = pairs.some(([n]) => n === 'content-length');
        const extra = hasBody ? (length ? '' : 'transfer-encoding: chunked\r\n') : !length && expectsBody ? 'content-length: 0\r\n' : '';
        const want = `${m} ${path} HTTP/1.1\r\n${pairs.map(([n, v]) => `${n}: ${v}\r\n`).join('')}${extra}\r\n`;
        expect(got).toEqual(Buffer.from(want, 'latin1'));
      }),
      { numRuns: 3000 },
    );
  });
});

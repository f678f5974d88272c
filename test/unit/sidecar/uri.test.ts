// Path normalization and authority checks (sidecar/http/uri.ts): a table of what Envoy's
// normalize_path / merge_slashes / path_with_escaped_slashes_action do, and properties that must
// hold for every path: the result is normalized (idempotent), has no dot segments and no empty
// segments when slashes are merged, and means the same resource as the input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH_OPTIONS, EscapedSlashes, normalizePath, removeDotSegments, validAuthority, type PathOptions } from '../../../sidecar/http/uri.js';

const D = DEFAULT_PATH_OPTIONS;
const opts = (o: Partial<PathOptions>): PathOptions => ({ ...D, ...o });
const ok = (path: string, o: PathOptions = D) => {
  const r = normalizePath(path, o);
  return typeof r === 'string' ? r : `${r.kind}`;
};

describe('normalizePath', () => {
  it.each([
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/./admin', '/admin'],
    ['//admin', '/admin'],
    ['/a//b///c', '/a/b/c'],
    ['/public/../admin', '/admin'],
    ['/../admin', '/admin'],
    ['/../../..', '/'],
    ['/a/b/../../admin/x', '/admin/x'],
    ['/a/./b/.', '/a/b/'],
    ['/a/b/..', '/a/'],
    ['/%61dmin', '/admin'],
    ['/%2e%2e/admin', '/admin'],
    ['/%2E%2E/admin', '/admin'],
    ['/.%2e/admin', '/admin'],
    ['/%2e/admin', '/admin'],
    ['/%7e%2D%5F%30', '/~-_0'],
    ['/%c3%a9', '/%C3%A9'],
    ['/a%20b', '/a%20b'],
    ['/a%3fb', '/a%3Fb'],
    ['/.hidden/..x', '/.hidden/..x'],
    ['/a.b/c..', '/a.b/c..'],
  ])('%s -> %s', (path, want) => expect(ok(path)).toBe(want));

  it.each([
    ['/admin%2Fx', 'reject'],
    ['/%2fadmin', 'reject'],
    ['/a%5Cb', 'reject'],
    ['/a%5cb', 'reject'],
    ['/%zz', 'reject'],
    ['/%4', 'reject'],
    ['/a%', 'reject'],
    ['/a#b', 'reject'],
    ['/a\\b', 'reject'],
    ['admin', 'reject'],
    ['*', 'reject'],
    ['http://x/a', 'reject'],
  ])('%s -> %s', (path, want) => expect(ok(path)).toBe(want));

  it('applies the chosen action to escaped slashes', () => {
    expect(ok('/a%2Fb/../c', opts({ escapedSlashes: EscapedSlashes.KeepUnchanged }))).toBe('/c');
    expect(ok('/a%2fb', opts({ escapedSlashes: EscapedSlashes.KeepUnchanged }))).toBe('/a%2Fb');
    expect(ok('/a%2Fb/../c', opts({ escapedSlashes: EscapedSlashes.UnescapeAndForward }))).toBe('/a/c');
    expect(ok('/%2F%2Fadmin', opts({ escapedSlashes: EscapedSlashes.UnescapeAndForward }))).toBe('/admin');
    expect(normalizePath('/a%5Cb', opts({ escapedSlashes: EscapedSlashes.UnescapeAndRedirect }))).toEqual({ kind: 'redirect', path: '/a/b' });
  });

  it('does only what is switched on', () => {
    const none = opts({ normalize: false, mergeSlashes: false, escapedSlashes: EscapedSlashes.KeepUnchanged });
    for (const p of ['/./a', '//a', '/%61', '/a/../b', '/a%2fb']) expect(ok(p, none)).toBe(p);
    expect(ok('//a/./b', opts({ normalize: false }))).toBe('/a/./b');
    expect(ok('//a/./b', opts({ mergeSlashes: false }))).toBe('//a/b');
  });

  it('returns the very same string when nothing needs doing (no allocation on the common path)', () => {
    const p = '/api/v1/orders/123';
    expect(normalizePath(p, D)).toBe(p);
  });

  // Properties over generated paths built from the characters that matter.
  const seg = fc.oneof(
    fc.constantFrom('', '.', '..', '%2e', '%2E%2e', 'admin', 'a', '%61', '%7E', '%C3%A9', '%20', '~', 'x.y', '...'),
    fc.stringMatching(/^[a-z0-9._~-]{0,6}$/),
  );
  const path = fc.array(seg, { maxLength: 8 }).map((s) => `/${s.join('/')}`);

  it('is idempotent, leaves no dot or empty segments, and means the same path (property)', () => {
    fc.assert(
      fc.property(path, (p) => {
        const r = normalizePath(p, D);
        expect(typeof r).toBe('string');
        const n = r as string;
        expect(ok(n)).toBe(n);
        const segs = n.split('/').slice(1, -1);
        expect(segs.some((s) => s === '.' || s === '..' || s === '')).toBe(false);
        // Same resource: decoding the unreserved escapes then resolving dot segments by hand gives the same path.
        const decoded = p.replace(/%([0-9a-f]{2})/gi, (m, h: string) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(parseInt(h, 16))) ? String.fromCharCode(parseInt(h, 16)) : m.toUpperCase()));
        expect(n).toBe(removeDotSegments(decoded).replace(/\/{2,}/g, '/'));
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 40 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.boolean(), (p, s, n, m) => {
        const r = normalizePath(p, { normalize: n, mergeSlashes: m, escapedSlashes: s as EscapedSlashes });
        expect(typeof r === 'string' || r.kind === 'reject' || r.kind === 'redirect').toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('validAuthority (RFC 9110 section 7.2)', () => {
  it.each(['orders', 'orders:8080', 'a.b.c', '10.0.0.1:80', '[::1]', '[::1]:8080', 'xn--bcher-kva.example', 'a_b', ''])('accepts %j', (v) => expect(validAuthority(v)).toBe(true));
  it.each(['a b', 'a\tb', 'user@host', 'a/b', 'a?b', 'a#b', 'a:b:c', 'a:', ':80', '[::1', '::1]', 'a:8o', 'a"b', 'a\\b', 'a{b}', '[::1]x', '[]', '[::1]:', 'a\u00e9', '[a b]'])('refuses %j', (v) => expect(validAuthority(v)).toBe(false));
});

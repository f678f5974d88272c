// The in-memory cache store: variants by Vary, LRU eviction bounded in bytes (a lookup refreshes
// recency), expiry by keepMs on a fake clock, purge by tag and by URL, resize.
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../../../sidecar/http/cache/memory-store.js';
import { entrySize, primaryKey, primaryKeysOfUrl, type StoredResponse } from '../../../../sidecar/http/cache/store.js';
import { variantKey } from '../../../../sidecar/http/cache/policy.js';

const entry = (body: string, o: Partial<StoredResponse> = {}): StoredResponse => ({ status: 200, headers: { 'cache-control': 'max-age=60' }, body: Buffer.from(body), responseTime: 0, initialAge: 0, lifetime: 60, vary: [], tags: [], ...o });
const none = () => undefined;

describe('MemoryStore', () => {
  it('evicts least recently used entries to stay within maxBytes', async () => {
    const one = entrySize('a', '', entry('x'.repeat(1000)));
    const s = new MemoryStore(one * 3 + 10);
    for (const k of ['a', 'b', 'c']) await s.insert(k, '', entry('x'.repeat(1000)), 60_000);
    expect(s.stats).toMatchObject({ entries: 3, bytes: one * 3, evictions: 0 });
    s.get('a', none); // a is now the most recently used: b goes first
    await s.insert('d', '', entry('x'.repeat(1000)), 60_000);
    expect(['a', 'b', 'c', 'd'].map((k) => s.get(k, none) !== undefined)).toEqual([true, false, true, true]);
    expect(s.stats).toMatchObject({ entries: 3, evictions: 1 });
    expect(s.stats.bytes).toBeLessThanOrEqual(s.maxBytes);
  });

  it('does not store an entry bigger than the whole store', async () => {
    const s = new MemoryStore(500);
    await s.insert('a', '', entry('x'.repeat(1000)), 60_000);
    expect([s.get('a', none), s.stats.entries]).toEqual([undefined, 0]);
  });

  it('shrinks at once when resized', async () => {
    const s = new MemoryStore(100_000);
    for (const k of ['a', 'b', 'c']) await s.insert(k, '', entry('x'.repeat(1000)), 60_000);
    s.resize(entrySize('a', '', entry('x'.repeat(1000))) + 1);
    expect(['a', 'b', 'c'].map((k) => s.get(k, none) !== undefined)).toEqual([false, false, true]);
  });

  it('keeps one variant per Vary value, and a new Vary replaces every variant', async () => {
    const s = new MemoryStore(100_000);
    const gz = (n: string) => (n === 'accept-encoding' ? 'gzip' : undefined);
    const br = (n: string) => (n === 'accept-encoding' ? 'br' : undefined);
    await s.insert('u', variantKey(['accept-encoding'], gz), entry('gz', { vary: ['accept-encoding'] }), 60_000);
    await s.insert('u', variantKey(['accept-encoding'], br), entry('br', { vary: ['accept-encoding'] }), 60_000);
    expect([s.get('u', gz)?.body.toString(), s.get('u', br)?.body.toString(), s.get('u', none)]).toEqual(['gz', 'br', undefined]);
    await s.insert('u', '', entry('plain'), 60_000);
    expect([s.get('u', gz)?.body.toString(), s.stats.entries]).toEqual(['plain', 1]);
  });

  it('forgets an entry once keepMs has passed', async () => {
    let now = 1000;
    const s = new MemoryStore(100_000, () => now);
    await s.insert('a', '', entry('a'), 500);
    now = 1499;
    expect(s.get('a', none)).toBeDefined();
    now = 1500;
    expect([s.get('a', none), s.stats.entries, s.stats.bytes]).toEqual([undefined, 0, 0]);
  });

  it('purges by tag and by URL', async () => {
    const s = new MemoryStore(100_000);
    await s.insert('a', '', entry('a', { tags: ['t1', 'both'] }), 60_000);
    await s.insert('b', '', entry('b', { tags: ['t2', 'both'] }), 60_000);
    await s.insert('c', '', entry('c'), 60_000);
    expect(await s.purgeTag('t1')).toBe(1);
    expect(await s.purgeTag('t1')).toBe(0);
    expect(['a', 'b', 'c'].map((k) => s.get(k, none) !== undefined)).toEqual([false, true, true]);
    expect(await s.purgeTag('both')).toBe(1);
    expect(await s.purgeKey('c')).toBe(1);
    expect(s.stats).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('keys purges by URL as requests are keyed (scheme, host, path, query; both schemes without one)', () => {
    expect(primaryKeysOfUrl('http://Shop.Example/a/b?x=1')).toEqual([primaryKey(false, 'shop.example', '/a/b', '?x=1')]);
    expect(primaryKeysOfUrl('https://shop.example/p')).toEqual(['https://shop.example/p']);
    expect(primaryKeysOfUrl('shop.example:8000/p')).toEqual(['http://shop.example:8000/p', 'https://shop.example:8000/p']);
    expect(primaryKeysOfUrl('ftp://shop.example/p')).toBeUndefined();
    expect(primaryKeysOfUrl('http://[bad')).toBeUndefined();
  });
});

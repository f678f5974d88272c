import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HpackDecoder, HpackEncoder, HpackError, blockBound, huffmanCode, huffmanDecode, huffmanEncode, huffmanLength } from '../../../../sidecar/h2/hpack.js';
import { block } from '../../../harness/h2-frames.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(d: HpackDecoder, block: Buffer, max = 1 << 20): string[] {
  const out: string[] = [];
  d.decode(block, 0, block.length, out, max);
  return out;
}

/** The stateless encoder (encodeField): static indexes and plain literals. */
const encode = block;

describe('HPACK Huffman code (RFC 7541 Appendix B)', () => {
  it('derives the canonical code: spot values from the table', () => {
    expect(huffmanCode(0)).toEqual([0x1ff8, 13]);
    expect(huffmanCode(1)).toEqual([0x7fffd8, 23]);
    expect(huffmanCode(10)).toEqual([0x3ffffffc, 30]);
    expect(huffmanCode(32)).toEqual([0x14, 6]);
    expect(huffmanCode(48)).toEqual([0x0, 5]);
    expect(huffmanCode(92)).toEqual([0x7fff0, 19]);
    expect(huffmanCode(97)).toEqual([0x3, 5]);
    expect(huffmanCode(126)).toEqual([0x1ffd, 13]);
    expect(huffmanCode(128)).toEqual([0xfffe6, 20]);
    expect(huffmanCode(255)).toEqual([0x3ffffee, 26]);
    expect(huffmanCode(256)).toEqual([0x3fffffff, 30]);
  });

  it('encodes and decodes RFC 7541 C.4 strings', () => {
    for (const [s, h] of [
      ['www.example.com', 'f1e3c2e5f23a6ba0ab90f4ff'],
      ['no-cache', 'a8eb10649cbf'],
      ['custom-key', '25a849e95ba97d7f'],
      ['custom-value', '25a849e95bb8e8b4bf'],
    ] as const) {
      const b = Buffer.alloc(huffmanLength(s));
      expect(huffmanEncode(s, b, 0)).toBe(b.length);
      expect(b.toString('hex')).toBe(h);
      expect(huffmanDecode(hex(h), 0, h.length / 2)).toBe(s);
    }
  });

  it('round-trips any octet string', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const s = Buffer.from(bytes).toString('latin1');
        const b = Buffer.alloc(huffmanLength(s));
        huffmanEncode(s, b, 0);
        expect(huffmanDecode(b, 0, b.length)).toBe(s);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses padding longer than 7 bits, padding that is not ones, and EOS', () => {
    expect(() => huffmanDecode(hex('ff'), 0, 1)).toThrow(HpackError); // 8 bits of padding
    expect(() => huffmanDecode(hex('00'), 0, 1)).toThrow(HpackError); // '0' (5 bits) then 000 padding
    expect(() => huffmanDecode(hex('ffffffff'), 0, 4)).toThrow(HpackError); // EOS (30 ones)
    expect(huffmanDecode(hex('07'), 0, 1)).toBe('0'); // '0' then 111 padding
  });
});

describe('HPACK decoder', () => {
  it('decodes RFC 7541 C.3 (no Huffman) and C.4 (Huffman) request sequences with the dynamic table', () => {
    const plain = new HpackDecoder();
    expect(decode(plain, hex('828684410f7777772e6578616d706c652e636f6d'))).toEqual([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com']);
    expect(decode(plain, hex('828684be58086e6f2d6361636865'))).toEqual([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache']);
    expect(plain.tableLength).toBe(2);
    const huff = new HpackDecoder();
    expect(decode(huff, hex('828684418cf1e3c2e5f23a6ba0ab90f4ff'))).toEqual([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com']);
    expect(decode(huff, hex('828684be5886a8eb10649cbf'))).toEqual([':method', 'GET', ':scheme', 'http', ':path', '/', ':authority', 'www.example.com', 'cache-control', 'no-cache']);
    expect(decode(huff, hex('828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf'))).toEqual([':method', 'GET', ':scheme', 'https', ':path', '/index.html', ':authority', 'www.example.com', 'custom-key', 'custom-value']);
    expect(huff.tableLength).toBe(3);
  });

  it('evicts the oldest entries past the table size, and a size update shrinks the table', () => {
    const d = new HpackDecoder(4096);
    // size update to 64, then two literals with indexing: each entry is 32 + name + value octets.
    const block = Buffer.concat([hex('3f21'), encode2('aaaa', 'bbbb'), encode2('cccc', 'dddd')]);
    expect(decode(d, block)).toEqual(['aaaa', 'bbbb', 'cccc', 'dddd']);
    expect(d.tableLength).toBe(1); // 40 + 40 > 64: the first was evicted
    expect(decode(d, hex('be'))).toEqual(['cccc', 'dddd']); // index 62: the newest
    expect(() => decode(d, hex('bf'))).toThrow(HpackError); // 63: beyond the table
  });

  it('refuses malformed blocks with HpackError', () => {
    for (const bad of ['80', 'ff', '7f', '7fffffffffff01', '3fe21f', '82 3f21', '40 05 61', '0f2f0161']) {
      expect(() => decode(new HpackDecoder(), hex(bad)), bad).toThrow(HpackError);
    }
  });

  it('decodes what the encoder writes, for any header list', () => {
    const name = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
    const value = fc.uint8Array({ maxLength: 60 }).map((b) => Buffer.from(b).toString('latin1'));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.oneof(name, fc.constantFrom(':method', ':path', 'content-type', 'authorization', 'accept-encoding')), value), { maxLength: 20 }), (pairs) => {
        const list = pairs.flat();
        expect(decode(new HpackDecoder(), encode(list))).toEqual(list);
      }),
      { numRuns: 300 },
    );
  });

  it('stops collecting past the header list limit but decodes the whole block', () => {
    const d = new HpackDecoder();
    const block = Buffer.concat([encode2('a', 'x'.repeat(100)), encode2('b', 'y')]);
    const out: string[] = [];
    expect(d.decode(block, 0, block.length, out, 100)).toBe(false);
    expect(d.tableLength).toBe(2);
  });
});

/** A literal with incremental indexing, new name, plain strings. */
function encode2(n: string, v: string): Buffer {
  return Buffer.concat([Buffer.from([0x40, n.length]), Buffer.from(n, 'latin1'), Buffer.from([v.length]), Buffer.from(v, 'latin1')]);
}

describe('HPACK encoder with the dynamic table', () => {
  const enc = (e: HpackEncoder, list: string[]): Buffer => {
    const b = Buffer.alloc(blockBound(list));
    return b.subarray(0, e.encode(b, 0, list));
  };

  it('sends a repeated field as one octet, and never indexes per-request values or credentials', () => {
    const e = new HpackEncoder();
    const d = new HpackDecoder();
    const call = (id: string) => [':method', 'POST', ':path', '/pkg.Svc/Method', 'content-type', 'application/grpc', 'user-agent', 'grpc-node-js/1.14', 'x-request-id', id, 'authorization', 'Bearer t'];
    const first = enc(e, call('a'));
    expect(decode(d, first)).toEqual(call('a'));
    const second = enc(e, call('b'));
    expect(decode(d, second)).toEqual(call('b'));
    // :method POST static (1), :path literal, content-type and user-agent indexed (1 each), x-request-id and authorization literals.
    expect(second.length).toBeLessThan(first.length - 25);
    expect(d.tableLength).toBe(2);
  });

  it('keeps a decoder in step over any sequence of blocks and table-size changes', () => {
    const name = fc.constantFrom('a', 'content-type', 'x-long', 'user-agent', 'grpc-status', 'x-request-id', 'accept-encoding');
    const value = fc.oneof(fc.constantFrom('1', 'application/grpc', 'gzip, deflate', ''), fc.string({ maxLength: 300 }).map((v) => Buffer.from(v, 'utf8').toString('latin1')));
    const step = fc.oneof(fc.array(fc.tuple(name, value), { maxLength: 12 }).map((p) => ({ list: p.flat() })), fc.integer({ min: 0, max: 8192 }).map((size) => ({ size })));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const e = new HpackEncoder();
        const d = new HpackDecoder();
        for (const st of steps) {
          if ('size' in st) e.setMaxTableSize(st.size);
          else expect(decode(d, enc(e, st.list))).toEqual(st.list);
        }
      }),
      { numRuns: 300 },
    );
  });
});

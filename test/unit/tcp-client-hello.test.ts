// The TLS ClientHello reader for TLS passthrough (sidecar/tcp/client-hello.ts): real ClientHellos
// sent by Node's TLS client (SNI or none, ALPN or none, TLS 1.2-only and 1.3-only), the same bytes
// arriving one at a time and re-fragmented into several records, hand-built edge cases, the size
// limit, and fast-check properties over random and mutated input (never throws, always one of the
// four answers, a `tls` answer's server name is always lower-case visible ASCII).
import fc from 'fast-check';
import net from 'node:net';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_CLIENT_HELLO_BYTES, readClientHello, type HelloResult } from '../../sidecar/tcp/client-hello.js';

// --- building ClientHellos by hand ---------------------------------------------------------------
const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
const u16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer): Buffer => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
const bytes = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'latin1') : s);

const ext = (type: number, data: Buffer): Buffer => Buffer.concat([u16(type), vec16(data)]);
/** server_name with host_name entries (or [nameType, name] entries). */
const sniExt = (...names: Array<string | Buffer | [number, string]>): Buffer =>
  ext(0, vec16(Buffer.concat(names.map((n) => (Array.isArray(n) ? Buffer.concat([u8(n[0]), vec16(bytes(n[1]))]) : Buffer.concat([u8(0), vec16(bytes(n))]))))));
const alpnExt = (...protocols: string[]): Buffer => ext(16, vec16(Buffer.concat(protocols.map((p) => vec8(bytes(p))))));

interface BodyParts {
  version?: Buffer;
  sessionId?: Buffer;
  suites?: Buffer;
  compression?: Buffer;
  /** The extensions, each already framed; null: no extensions block at all. */
  extensions?: Buffer[] | null;
  /** Replaces the extensions block's length field. */
  extensionsLength?: number;
}
function helloBody(p: BodyParts = {}): Buffer {
  const parts = [
    p.version ?? Buffer.from([3, 3]),
    Buffer.alloc(32, 0xab),
    vec8(p.sessionId ?? Buffer.alloc(32, 0x11)),
    vec16(p.suites ?? Buffer.from([0x13, 0x01, 0xc0, 0x2f])),
    vec8(p.compression ?? Buffer.from([0])),
  ];
  if (p.extensions !== null) {
    const exts = Buffer.concat(p.extensions ?? [sniExt('example.com'), alpnExt('h2', 'http/1.1')]);
    parts.push(u16(p.extensionsLength ?? exts.length), exts);
  }
  return Buffer.concat(parts);
}
const handshake = (body: Buffer, type = 1): Buffer => Buffer.concat([u8(type), u24(body.length), body]);
/** The message in TLS records of the given payload sizes (the last record takes the rest). */
function records(message: Buffer, sizes: number[] = [], type = 22): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (const size of sizes) {
    if (pos >= message.length) break;
    const chunk = message.subarray(pos, pos + size);
    out.push(Buffer.from([type, 3, 1]), u16(chunk.length), chunk);
    pos += chunk.length;
  }
  if (pos < message.length) out.push(Buffer.from([22, 3, 1]), u16(message.length - pos), message.subarray(pos));
  return Buffer.concat(out);
}
const hello = (p: BodyParts = {}, sizes: number[] = []): Buffer => records(handshake(helloBody(p)), sizes);
/** The handshake message inside a record stream of ours or Node's (all records type 22). */
function unframe(stream: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let pos = 0; pos + 5 <= stream.length; pos += 5 + stream.readUInt16BE(pos + 3)) out.push(stream.subarray(pos + 5, pos + 5 + stream.readUInt16BE(pos + 3)));
  return Buffer.concat(out);
}

// --- real ClientHellos, as a server sees them ------------------------------------------------------
/** The bytes a raw TCP server on loopback receives from tls.connect(options), up to the end of the first record. */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  let client: tls.TLSSocket | undefined;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ClientHello within 10 s')), 10_000);
      server.once('connection', (socket) => {
        let got = Buffer.alloc(0);
        socket.on('error', () => {});
        socket.on('data', (chunk: Buffer) => {
          got = Buffer.concat([got, chunk]);
          // Framed independently of the code under test: Node sends its ClientHello in one record.
          if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
            clearTimeout(timer);
            socket.destroy();
            resolve(got);
          }
        });
      });
      client = tls.connect({ host: '127.0.0.1', port, ...options });
      client.on('error', () => {}); // the server hangs up without answering
    });
  } finally {
    client?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

const LONG_NAME = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.example`;
const MANY_ALPN = Array.from({ length: 20 }, (_, i) => `proto-${i}`);
const REAL_CASES: Record<string, { options: tls.ConnectionOptions; expected: HelloResult }> = {
  'SNI (mixed case) and ALPN': {
    options: { servername: 'API.Example.com', ALPNProtocols: ['h2', 'http/1.1'] },
    expected: { kind: 'tls', serverName: 'api.example.com', alpn: ['h2', 'http/1.1'] },
  },
  'no SNI (IP address host, servername omitted), no ALPN': {
    options: {},
    expected: { kind: 'tls', serverName: undefined, alpn: [] },
  },
  'no SNI, with ALPN': {
    options: { ALPNProtocols: ['http/1.1'] },
    expected: { kind: 'tls', serverName: undefined, alpn: ['http/1.1'] },
  },
  'SNI, no ALPN': {
    options: { servername: 'orders.mesh.local' },
    expected: { kind: 'tls', serverName: 'orders.mesh.local', alpn: [] },
  },
  'TLS 1.2 only': {
    options: { servername: 'legacy.example.com', ALPNProtocols: ['http/1.1'], minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' },
    expected: { kind: 'tls', serverName: 'legacy.example.com', alpn: ['http/1.1'] },
  },
  'TLS 1.3 only': {
    options: { servername: 'modern.example.com', ALPNProtocols: ['h2'], minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' },
    expected: { kind: 'tls', serverName: 'modern.example.com', alpn: ['h2'] },
  },
  'a 253-character name and 20 ALPN protocols': {
    options: { servername: LONG_NAME, ALPNProtocols: MANY_ALPN },
    expected: { kind: 'tls', serverName: LONG_NAME, alpn: MANY_ALPN },
  },
};
const real = new Map<string, Buffer>();
const KINDS = ['need-more', 'not-tls', 'tls', 'malformed'];

/** Whatever the input: one of the four answers, and a `tls` answer's fields hold what the reader promises. */
function checkShape(r: HelloResult): void {
  expect(KINDS).toContain(r.kind);
  if (r.kind === 'malformed') expect(r.reason.length).toBeGreaterThan(0);
  if (r.kind === 'tls') {
    if (r.serverName !== undefined) expect(r.serverName).toMatch(/^[\x21-\x40\x5b-\x7e]+$/); // visible ASCII, no A-Z
    for (const p of r.alpn) expect(p.length).toBeGreaterThan(0);
  }
}

beforeAll(async () => {
  for (const [name, c] of Object.entries(REAL_CASES)) real.set(name, await captureHello(c.options));
});

describe('real ClientHellos from Node', () => {
  it.each(Object.keys(REAL_CASES))('%s', (name) => {
    const buf = real.get(name)!;
    expect(buf[0]).toBe(22);
    expect(readClientHello(buf)).toEqual(REAL_CASES[name]!.expected);
  });

  it('the version options took effect: supported_versions offers only TLS 1.3 in one, is absent from the other', () => {
    const onlyTls13 = Buffer.from('002b0003020304', 'hex'); // type 43, 3 bytes: a 2-byte list of 0x0304
    expect(real.get('TLS 1.3 only')!.includes(onlyTls13)).toBe(true);
    expect(real.get('TLS 1.2 only')!.includes(Buffer.from('002b00', 'hex'))).toBe(false);
  });

  it.each(Object.keys(REAL_CASES))('%s: fed one byte at a time, need-more until the last byte', (name) => {
    const buf = real.get(name)!;
    for (let n = 0; n < buf.length; n++) expect(readClientHello(buf.subarray(0, n))).toEqual({ kind: 'need-more' });
    expect(readClientHello(buf)).toEqual(REAL_CASES[name]!.expected);
  });

  it('with bytes after the ClientHello (early data, the next flight), the answer is the same', () => {
    const buf = real.get('SNI (mixed case) and ALPN')!;
    expect(readClientHello(Buffer.concat([buf, Buffer.from([23, 3, 3, 0, 5, 1, 2, 3, 4, 5])]))).toEqual(REAL_CASES['SNI (mixed case) and ALPN']!.expected);
  });

  it('re-fragmented into records of 1, 2, 3, 7 and 100 bytes: the same answer, and need-more before the last byte', () => {
    for (const [name, c] of Object.entries(REAL_CASES)) {
      const message = unframe(real.get(name)!);
      for (const size of [1, 2, 3, 7, 100]) {
        const stream = records(message, Array.from({ length: Math.ceil(message.length / size) }, () => size));
        expect(readClientHello(stream), `${name}, ${size}-byte records`).toEqual(c.expected);
        // The answer comes with the last byte of the ClientHello, not before.
        for (let n = 0; n < stream.length; n += 1 + (n % 13)) expect(readClientHello(stream.subarray(0, n))).toEqual({ kind: 'need-more' });
      }
    }
  });
});

describe('hand-built ClientHellos', () => {
  it('one record, SNI and ALPN', () => {
    expect(readClientHello(hello())).toEqual({ kind: 'tls', serverName: 'example.com', alpn: ['h2', 'http/1.1'] });
  });

  it('split over two records, in the body and in the 4-byte handshake header', () => {
    const expected = { kind: 'tls', serverName: 'example.com', alpn: ['h2', 'http/1.1'] };
    expect(readClientHello(hello({}, [40]))).toEqual(expected);
    expect(readClientHello(hello({}, [2]))).toEqual(expected);
    expect(readClientHello(hello({}, [1, 1, 1, 1]))).toEqual(expected);
    // The first record alone is not enough.
    const two = hello({}, [40]);
    expect(readClientHello(two.subarray(0, 45))).toEqual({ kind: 'need-more' });
    expect(readClientHello(two.subarray(0, 50))).toEqual({ kind: 'need-more' });
  });

  it('no extensions at all (a TLS 1.0-style hello): no SNI, no ALPN', () => {
    expect(readClientHello(hello({ extensions: null }))).toEqual({ kind: 'tls', serverName: undefined, alpn: [] });
    expect(readClientHello(hello({ extensions: [] }))).toEqual({ kind: 'tls', serverName: undefined, alpn: [] });
  });

  it('upper-case SNI is lower-cased; unknown extensions and unknown name types are skipped', () => {
    const exts = [ext(0x0a0a, Buffer.alloc(0)), ext(21, Buffer.alloc(100)), sniExt([7, 'ignored'], 'WWW.Example.COM'), ext(43, Buffer.from([2, 3, 4]))];
    expect(readClientHello(hello({ extensions: exts }))).toEqual({ kind: 'tls', serverName: 'www.example.com', alpn: [] });
  });

  it('a server_name list with no host_name: no SNI', () => {
    expect(readClientHello(hello({ extensions: [sniExt([1, 'x'])] }))).toEqual({ kind: 'tls', serverName: undefined, alpn: [] });
  });

  it('an empty session id and one compression method are fine', () => {
    expect(readClientHello(hello({ sessionId: Buffer.alloc(0) })).kind).toBe('tls');
  });

  const MALFORMED: Array<[string, Buffer, RegExp]> = [
    ['zero-length SNI host_name', hello({ extensions: [sniExt('')] }), /empty host_name/],
    ['server_name extension with no data', hello({ extensions: [ext(0, Buffer.alloc(0))] }), /server_name extension is empty/],
    ['server_name with an empty list', hello({ extensions: [ext(0, u16(0))] }), /server_name list is empty/],
    ['server_name list length past its data', hello({ extensions: [ext(0, Buffer.concat([u16(50), u8(0), vec16(bytes('a.b'))]))] }), /list length 50/],
    ['host_name length past the list', hello({ extensions: [ext(0, vec16(Buffer.concat([u8(0), u16(40), bytes('a.b')])))] }), /runs past/],
    ['host_name with a NUL', hello({ extensions: [sniExt('a\0b.example')] }), /byte 0x00/],
    ['host_name with a space', hello({ extensions: [sniExt('a b.example')] }), /byte 0x20/],
    ['host_name with a DEL', hello({ extensions: [sniExt('ab\x7f.example')] }), /byte 0x7f/],
    ['host_name with non-ASCII (UTF-8)', hello({ extensions: [sniExt(Buffer.from('bücher.example', 'utf8'))] }), /byte 0xc3/],
    ['two host_names', hello({ extensions: [sniExt('a.example', 'b.example')] }), /two host_name/],
    ['the server_name extension twice', hello({ extensions: [sniExt('a.example'), sniExt('a.example')] }), /appears twice/],
    ['an extension length past the end', hello({ extensions: [Buffer.concat([u16(0), u16(500), bytes('xx')])] }), /runs past the end/],
    ['an extension header cut short', hello({ extensions: [Buffer.from([0, 0, 0])] }), /extension header/],
    ['extensions block length past the end', hello({ extensionsLength: 999 }), /extensions length 999/],
    ['extensions block length short of the end', hello({ extensionsLength: 4 }), /extensions length 4/],
    ['one stray byte after the compression methods', records(handshake(Buffer.concat([helloBody({ extensions: null }), u8(0)]))), /one byte after/],
    ['empty ALPN list', hello({ extensions: [ext(16, u16(0))] }), /ALPN list is empty/],
    ['empty ALPN protocol name', hello({ extensions: [alpnExt('h2', '')] }), /empty ALPN protocol/],
    ['ALPN name length past the list', hello({ extensions: [ext(16, vec16(Buffer.concat([u8(9), bytes('h2')])))] }), /runs past/],
    ['session id over 32 bytes', hello({ sessionId: Buffer.alloc(33) }), /session id of 33/],
    ['odd cipher suites length', hello({ suites: Buffer.from([0x13, 0x01, 0x00]) }), /cipher suites length 3/],
    ['no cipher suites', hello({ suites: Buffer.alloc(0) }), /cipher suites length 0/],
    ['no compression methods', hello({ compression: Buffer.alloc(0) }), /no compression/],
    ['ClientHello version 2.x', hello({ version: Buffer.from([2, 0]) }), /version 2/],
    ['a body cut short in the random', records(handshake(Buffer.from([3, 3, 1, 2, 3]))), /random/],
    ['an empty body', records(handshake(Buffer.alloc(0))), /legacy_version/],
    ['a handshake that is not a ClientHello (ServerHello)', records(handshake(helloBody(), 2)), /type 2/],
    ['an empty record', Buffer.from([22, 3, 1, 0, 0, 1, 0, 0, 10]), /empty handshake record/],
    ['a record over 2^14 bytes', Buffer.from([22, 3, 1, 0x40, 0x01, 1]), /over 2\^14/],
    ['an alert record between fragments', Buffer.concat([hello({}, [10]).subarray(0, 15), Buffer.from([21, 3, 3, 0, 2, 2, 40])]), /record of type 21/],
    ['a second record of version 2.x', Buffer.concat([hello({}, [10]).subarray(0, 15), Buffer.from([22, 2, 0, 0, 2, 2, 40])]), /version 2\.0/],
  ];
  it.each(MALFORMED)('malformed: %s', (_name, buf, reason) => {
    const r = readClientHello(buf);
    expect(r.kind).toBe('malformed');
    expect(r.kind === 'malformed' ? r.reason : '').toMatch(reason);
  });

  it('a bad handshake type or an oversized ClientHello is malformed from the first bytes that show it', () => {
    expect(readClientHello(Buffer.from([22, 3, 1, 0, 100, 2]))).toMatchObject({ kind: 'malformed' });
    expect(readClientHello(Buffer.from([22, 3, 1, 0, 100, 1, 0, 0x40, 0x00]))).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/over 16384/) });
    expect(readClientHello(Buffer.from([22, 3, 1, 0, 100, 1, 0xff, 0xff, 0xff]))).toMatchObject({ kind: 'malformed' });
    // A header declaring 16380 body bytes is within the limit: wait for them.
    expect(readClientHello(Buffer.from([22, 3, 1, 0x40, 0x00, 1, 0, 0x3f, 0xfc]))).toEqual({ kind: 'need-more' });
  });

  it.each([
    ['an HTTP/1.1 request', Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')],
    ['one byte of HTTP', Buffer.from('G')],
    ['an HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['an SSLv2-compatible ClientHello', Buffer.from('802e0103010015000000100100800300800700c0060040020080040080000039000038', 'hex')],
    ['a handshake type byte then a non-3.x version', Buffer.from([22, 2, 0, 0, 10])],
    ['a TLS alert record', Buffer.from([21, 3, 3, 0, 2, 2, 40])],
    ['a PROXY protocol v1 header', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ])('not-tls: %s', (_name, buf) => {
    expect(readClientHello(buf)).toEqual({ kind: 'not-tls' });
  });

  it('need-more for nothing, one byte 0x16, and a record header alone', () => {
    expect(readClientHello(Buffer.alloc(0))).toEqual({ kind: 'need-more' });
    expect(readClientHello(Buffer.from([22]))).toEqual({ kind: 'need-more' });
    expect(readClientHello(Buffer.from([22, 3]))).toEqual({ kind: 'need-more' });
    expect(readClientHello(Buffer.from([22, 3, 1, 0, 200]))).toEqual({ kind: 'need-more' });
  });
});

describe('the size limit', () => {
  /** A ClientHello message of exactly `size` bytes (header included), padded with a padding extension. */
  function messageOf(size: number): Buffer {
    const base = helloBody({ extensions: [sniExt('big.example'), ext(21, Buffer.alloc(0))] }).length + 4;
    return handshake(helloBody({ extensions: [sniExt('big.example'), ext(21, Buffer.alloc(size - base))] }));
  }

  it('a 16 KiB ClientHello in two records is read; one byte more is malformed before it arrives', () => {
    const message = messageOf(16 * 1024);
    expect(message.length).toBe(16 * 1024);
    expect(readClientHello(records(message, [10_000]))).toMatchObject({ kind: 'tls', serverName: 'big.example' });
    const over = messageOf(16 * 1024 + 1);
    expect(readClientHello(records(over, [10_000]).subarray(0, 20))).toMatchObject({ kind: 'malformed' });
  });

  it('a 16 KiB ClientHello in 64 records fits MAX_CLIENT_HELLO_BYTES exactly; in 65 it does not, and the answer comes at the limit', () => {
    const message = messageOf(16 * 1024);
    const in64 = records(message, Array.from({ length: 63 }, () => 256));
    expect(in64.length).toBe(MAX_CLIENT_HELLO_BYTES);
    expect(readClientHello(in64)).toMatchObject({ kind: 'tls', serverName: 'big.example' });
    const in65 = records(message, Array.from({ length: 64 }, () => 252));
    expect(in65.length).toBe(MAX_CLIENT_HELLO_BYTES + 5);
    expect(readClientHello(in65.subarray(0, MAX_CLIENT_HELLO_BYTES - 1))).toEqual({ kind: 'need-more' });
    expect(readClientHello(in65.subarray(0, MAX_CLIENT_HELLO_BYTES))).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/no complete ClientHello/) });
    expect(readClientHello(in65)).toMatchObject({ kind: 'malformed' });
  });

  it('a huge buffer of 1-byte records is answered from its first MAX_CLIENT_HELLO_BYTES', () => {
    const message = handshake(Buffer.alloc(16000, 0));
    const stream = records(message, Array.from({ length: message.length }, () => 1)); // 6 bytes a record
    expect(stream.length).toBeGreaterThan(90_000);
    expect(readClientHello(stream)).toMatchObject({ kind: 'malformed', reason: expect.stringMatching(/no complete ClientHello/) });
  });
});

describe('properties (fast-check)', () => {
  const realHello = (): fc.Arbitrary<Buffer> => fc.constantFrom(...real.values());

  it('random buffers never throw and get one of the four answers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (a) => {
        checkShape(readClientHello(Buffer.from(a)));
      }),
      { numRuns: 2000 },
    );
  });

  it('random bodies in a well-framed ClientHello record never throw', () => {
    // Framing right, content random: this gets past the record layer into the body parser.
    const extensions = fc
      .array(fc.tuple(fc.constantFrom(0, 16, 21, 43, 0x0a0a), fc.uint8Array({ maxLength: 40 })), { maxLength: 6 })
      .map((list) => list.map(([type, data]) => ext(type, Buffer.from(data))));
    const body = fc.oneof(
      // All random.
      fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
      // Fixed fields right, extensions of known types with random contents.
      extensions.map((exts) => helloBody({ extensions: exts })),
      // The same with a few random bytes inserted anywhere.
      fc.tuple(extensions, fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.nat()).map(([exts, junk, at]) => {
        const b = helloBody({ extensions: exts });
        const i = at % (b.length + 1);
        return Buffer.concat([b.subarray(0, i), Buffer.from(junk), b.subarray(i)]);
      }),
    );
    fc.assert(
      fc.property(body, fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 8 }), (b, sizes) => {
        checkShape(readClientHello(records(handshake(b), sizes)));
      }),
      { numRuns: 2000 },
    );
  });

  it('any host_name bytes: tls with the name lower-cased exactly when it is non-empty visible ASCII; ALPN names come back as sent', () => {
    const nameBytes = fc.oneof(
      fc.stringMatching(/^[\x21-\x7e]{0,80}$/).map((s) => Buffer.from(s, 'latin1')),
      fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
    );
    const alpnName = fc.stringMatching(/^[\x21-\x7e]{1,20}$/);
    fc.assert(
      fc.property(nameBytes, fc.array(alpnName, { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 4 }), (name, protocols, sizes) => {
        const r = readClientHello(hello({ extensions: [alpnExt(...protocols), sniExt(name)] }, sizes));
        const visible = name.length > 0 && name.every((b) => b >= 0x21 && b <= 0x7e);
        if (visible) expect(r).toEqual({ kind: 'tls', serverName: name.toString('latin1').toLowerCase(), alpn: protocols });
        else expect(r).toMatchObject({ kind: 'malformed' });
      }),
      { numRuns: 1000 },
    );
  });

  it('every truncation of a real ClientHello, in any record split, is need-more; the whole is the unsplit answer', () => {
    fc.assert(
      fc.property(realHello(), fc.array(fc.integer({ min: 1, max: 300 }), { maxLength: 10 }), fc.nat(), (buf, sizes, cut) => {
        const stream = records(unframe(buf), sizes);
        expect(readClientHello(stream)).toEqual(readClientHello(buf));
        expect(readClientHello(stream.subarray(0, cut % stream.length))).toEqual({ kind: 'need-more' });
      }),
      { numRuns: 500 },
    );
  });

  it('mutations of a real ClientHello (bytes overwritten, inserted, deleted; truncated) never throw', () => {
    const edit = fc.oneof(
      fc.record({ op: fc.constant('set' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), byte: fc.constant(0) }),
    );
    fc.assert(
      fc.property(realHello(), fc.array(edit, { minLength: 1, maxLength: 8 }), fc.option(fc.nat()), (buf, edits, cut) => {
        let b = Buffer.from(buf);
        for (const e of edits) {
          const at = e.at % (b.length + 1);
          if (e.op === 'set' && at < b.length) b[at] = e.byte;
          else if (e.op === 'insert') b = Buffer.concat([b.subarray(0, at), u8(e.byte), b.subarray(at)]);
          else if (e.op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
        }
        if (cut !== null) b = b.subarray(0, cut % (b.length + 1));
        checkShape(readClientHello(b));
      }),
      { numRuns: 3000 },
    );
  });

  it('a buffer of MAX_CLIENT_HELLO_BYTES or more always gets a final answer', () => {
    fc.assert(
      fc.property(realHello(), fc.integer({ min: 1, max: 8 }), fc.uint8Array({ minLength: 1, maxLength: 64 }), (buf, size, filler) => {
        // A real hello's message as the start of a longer one in small records: it never completes.
        const message = Buffer.concat([unframe(buf).subarray(0, 1), u24(16 * 1024 - 4), unframe(buf).subarray(4)]);
        const padded = Buffer.concat([message, Buffer.alloc(16 * 1024, filler[0])]);
        const stream = records(padded, Array.from({ length: padded.length }, () => size));
        const r = readClientHello(stream.subarray(0, MAX_CLIENT_HELLO_BYTES + filler.length));
        checkShape(r);
        expect(r.kind).not.toBe('need-more');
      }),
      { numRuns: 100 },
    );
  });
});

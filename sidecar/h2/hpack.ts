/**
 * HPACK (RFC 7541) for the sidecar's own HTTP/2 client (client.ts).
 *
 * The decoder is complete: indexed fields, literals with and without indexing, never-indexed
 * literals, dynamic table size updates, the dynamic table with eviction, and Huffman-coded
 * strings (Appendix B), with every malformed input reported as an HpackError (a COMPRESSION_ERROR
 * for the connection). Strings are latin1: one char per octet, as node:http2 and the HTTP/1.1
 * parser give them.
 * The encoder (HpackEncoder, one per connection) indexes what repeats from call to call into the
 * peer's dynamic table (content-type, te, user-agent, :authority, a gRPC method's :path ...): the
 * next call sends one octet for each. Values unique per request (x-request-id, traceparent,
 * content-length, a date) and credentials go as literals that are never indexed, in plain
 * octets; the table follows the peer's SETTINGS_HEADER_TABLE_SIZE (a size update starts the next
 * block when it shrinks). encodeField() is the stateless form (static indexes and literals).
 */

export class HpackError extends Error {
  readonly code = 'ERR_HPACK';
}

/** RFC 7541 Appendix A. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

/**
 * Static index of a name (its first entry), and of an exact name + value (name -> value -> index:
 * two lookups, no key string built per field).
 */
const STATIC_NAME = new Map<string, number>();
const STATIC_PAIR = new Map<string, Map<string, number>>();
for (let i = STATIC.length - 1; i >= 0; i--) {
  const [n, v] = STATIC[i]!;
  STATIC_NAME.set(n, i + 1);
  if (v === '') continue;
  let byValue = STATIC_PAIR.get(n);
  if (!byValue) STATIC_PAIR.set(n, (byValue = new Map()));
  byValue.set(v, i + 1);
}

/**
 * Huffman code lengths of octets 0..255 and EOS (256), RFC 7541 Appendix B, one letter each
 * ('a' = 5 bits ... 'z' = 30). The code is canonical (codes of one length are consecutive, in
 * symbol order, after the shorter ones), so the lengths are the whole table.
 */
const LENGTHS =
  'isxxxxxxxtzxxzxxxxxxxxzxxxxxxxxxbffhibdgffdgdbbbaaabbbbbbbcdkbhfibccccccccccccccccccccccdcdioijbkaba' +
  'babbbaccbbbabcbaabccccckgjixprpprrrsrssssststtrstssssqrsrsstrqprrssqsrrtqrssqqrqsrssprrrsrrsvvporsru' +
  'vvvwwvtuoqvwwvwtqqvvxwwwptpqrqqsrruuttvsvwvvwwwwwxwwwwwvz';

const SYM_BY_CODE: number[] = [];
/** For each length L: the first canonical code of that length, how many there are, where their symbols start. */
const FIRST = new Int32Array(31);
const COUNT = new Int32Array(31);
const OFFSET = new Int32Array(31);
/** Encoding: code and length per octet (EOS is never encoded). */
const CODE = new Uint32Array(257);
const LEN = new Uint8Array(257);
{
  if (LENGTHS.length !== 257) throw new Error(`HPACK Huffman table has ${LENGTHS.length} lengths`);
  for (let s = 0; s < 257; s++) LEN[s] = LENGTHS.charCodeAt(s) - 92;
  const order = [...Array(257).keys()].sort((a, b) => LEN[a]! - LEN[b]! || a - b);
  let code = 0;
  let prev = LEN[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const s = order[i]!;
    const l = LEN[s]!;
    if (i > 0) code = (code + 1) * 2 ** (l - prev);
    prev = l;
    CODE[s] = code;
    if (COUNT[l] === 0) {
      FIRST[l] = code;
      OFFSET[l] = SYM_BY_CODE.length;
    }
    COUNT[l]!++;
    SYM_BY_CODE.push(s);
  }
}

/** Huffman code of octet `s`: [code, bit length] (tests check the table against RFC 7541). */
export function huffmanCode(s: number): [number, number] {
  return [CODE[s]!, LEN[s]!];
}

const HUFFMAN_CODES: number[] = [];

/** Decodes `len` Huffman-coded octets at `at` to a latin1 string. */
export function huffmanDecode(b: Uint8Array, at: number, len: number): string {
  const end = at + len;
  let out = '';
  let code = 0;
  let bits = 0;
  // Octets are accumulated into a small buffer of char codes (one, reused: emptied here, so a
  // decode that threw leaves nothing behind for the next), turned into a string in batches.
  const codes = HUFFMAN_CODES;
  codes.length = 0;
  for (let i = at; i < end; i++) {
    const byte = b[i]!;
    for (let k = 7; k >= 0; k--) {
      code = code * 2 + ((byte >> k) & 1);
      bits++;
      if (bits >= 5) {
        const d = code - FIRST[bits]!;
        if (d >= 0 && d < COUNT[bits]!) {
          const s = SYM_BY_CODE[OFFSET[bits]! + d]!;
          if (s === 256) throw new HpackError('EOS symbol inside a Huffman-coded string');
          codes.push(s);
          code = 0;
          bits = 0;
        } else if (bits >= 30) throw new HpackError('invalid Huffman code');
      }
    }
    if (codes.length >= 1024) {
      out += String.fromCharCode.apply(null, codes);
      codes.length = 0;
    }
  }
  // Padding: at most 7 bits, the most significant bits of EOS (all ones).
  if (bits > 7 || code !== 2 ** bits - 1) throw new HpackError('invalid Huffman padding');
  return codes.length ? out + String.fromCharCode.apply(null, codes) : out;
}

/** Huffman-encoded length of a latin1 string, in octets. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += LEN[s.charCodeAt(i) & 0xff]!;
  return Math.ceil(bits / 8);
}

/** Writes `s` Huffman-coded at `at` (the length prefix is the caller's); returns the end. */
export function huffmanEncode(s: string, b: Uint8Array, at: number): number {
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    let l = LEN[c]!;
    const code = CODE[c]!;
    // Codes are up to 30 bits: feed them 8 at a time so the accumulator stays small.
    while (l > 0) {
      const take = Math.min(l, 8);
      l -= take;
      acc = (acc << take) | ((code >>> l) & ((1 << take) - 1));
      bits += take;
      while (bits >= 8) {
        bits -= 8;
        b[at++] = (acc >>> bits) & 0xff;
      }
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) b[at++] = ((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff;
  return at;
}

/** One decoding context: a connection's dynamic table as the peer's encoder left it. */
export class HpackDecoder {
  /** Entries, oldest first: [name, value, name, value, ...]. */
  #table: string[] = [];
  #size = 0;
  #max: number;

  /** `maxTableSize`: our SETTINGS_HEADER_TABLE_SIZE (4,096 unless we advertised another). */
  constructor(readonly maxTableSize = 4096) {
    this.#max = maxTableSize;
  }

  /**
   * Decodes one complete header block into `out` as [name, value, ...]. `maxListSize` bounds
   * the decoded list (RFC 9113 SETTINGS_MAX_HEADER_LIST_SIZE accounting: name + value + 32 per
   * field); past it the block is still decoded to the end (the table must stay in step) and
   * false is returned.
   */
  decode(b: Uint8Array, at: number, end: number, out: string[], maxListSize: number): boolean {
    let listSize = 0;
    let fieldSeen = false;
    while (at < end) {
      const first = b[at]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        // Indexed field.
        const idx = readInt(b, at, end, 7);
        at = readEnd;
        this.#entry(idx);
        name = this.#name;
        value = this.#value;
      } else if ((first & 0xe0) === 0x20) {
        // Dynamic table size update: only before the first field (RFC 7541 4.2).
        const size = readInt(b, at, end, 5);
        at = readEnd;
        if (fieldSeen) throw new HpackError('dynamic table size update after a header field');
        if (size > this.maxTableSize) throw new HpackError(`dynamic table size ${size} above the ${this.maxTableSize} allowed`);
        this.#max = size;
        this.#evict(0);
        continue;
      } else {
        // Literal: with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = (first & 0xc0) === 0x40;
        const prefix = indexing ? 6 : 4;
        const idx = readInt(b, at, end, prefix);
        at = readEnd;
        if (idx === 0) {
          name = readString(b, at, end);
          at = readEnd;
        } else {
          this.#entry(idx);
          name = this.#name;
        }
        value = readString(b, at, end);
        at = readEnd;
        if (indexing) this.#add(name, value);
      }
      fieldSeen = true;
      listSize += name.length + value.length + 32;
      if (listSize <= maxListSize) out.push(name, value);
    }
    return listSize <= maxListSize;
  }

  /** The entry #entry found last (fields, not a pair per lookup: this runs for most fields of every block). */
  #name = '';
  #value = '';

  #entry(idx: number): void {
    if (idx === 0) throw new HpackError('index 0');
    if (idx <= STATIC.length) {
      const e = STATIC[idx - 1]!;
      this.#name = e[0];
      this.#value = e[1];
      return;
    }
    const d = idx - STATIC.length - 1;
    const t = this.#table;
    const at = t.length - 2 - 2 * d;
    if (at < 0) throw new HpackError(`index ${idx} beyond the dynamic table`);
    this.#name = t[at]!;
    this.#value = t[at + 1]!;
  }

  #add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    // An entry larger than the table empties it and is not added (RFC 7541 4.4).
    this.#evict(size);
    if (size > this.#max) return;
    this.#table.push(name, value);
    this.#size += size;
  }

  /** Evicts oldest entries until `room` more octets fit. */
  #evict(room: number): void {
    const t = this.#table;
    let drop = 0;
    while (this.#size + room > this.#max && drop < t.length) {
      this.#size -= t[drop]!.length + t[drop + 1]!.length + 32;
      drop += 2;
    }
    if (drop) t.splice(0, drop);
  }

  /** Entries in the dynamic table (for tests). */
  get tableLength(): number {
    return this.#table.length / 2;
  }
}

/**
 * Where the last readInt or readString ended: parsing returns values, not [value, end] pairs
 * (two of those per field of every header block were most of HPACK's garbage).
 */
let readEnd = 0;

function readInt(b: Uint8Array, at: number, end: number, prefix: number): number {
  const max = (1 << prefix) - 1;
  let v = b[at++]! & max;
  if (v < max) {
    readEnd = at;
    return v;
  }
  let shift = 0;
  for (;;) {
    if (at >= end) throw new HpackError('truncated integer');
    const c = b[at++]!;
    v += (c & 0x7f) * 2 ** shift;
    if ((c & 0x80) === 0) break;
    shift += 7;
    // Anything this large is an attack or garbage: no length or index reaches 2^28.
    if (shift > 21) throw new HpackError('integer too large');
  }
  readEnd = at;
  return v;
}

function readString(b: Uint8Array, at: number, end: number): string {
  if (at >= end) throw new HpackError('truncated string');
  const huffman = (b[at]! & 0x80) !== 0;
  const len = readInt(b, at, end, 7);
  const start = readEnd;
  const stop = start + len;
  if (stop > end) throw new HpackError('string longer than the header block');
  const s = huffman ? huffmanDecode(b, start, len) : latin1(b, start, stop);
  readEnd = stop;
  return s;
}

function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.prototype.latin1Slice.call(b, start, end);
}

/** Headers whose values are never to be indexed by any hop (RFC 7541 7.1.3). */
const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

/** Upper bound of the encoded size of one field (plain strings, integers up to 4 octets each). */
export function encodedBound(name: string, value: string): number {
  return name.length + value.length + 10;
}

/**
 * Encodes one field at `at` in `b` (room checked by the caller with encodedBound); returns the
 * end. Names must be lowercase already (HTTP/2 requires it; callers validate).
 */
export function encodeField(b: Uint8Array, at: number, name: string, value: string): number {
  const exact = STATIC_PAIR.get(name)?.get(value);
  if (exact !== undefined) {
    b[at] = 0x80 | exact;
    return at + 1;
  }
  return encodeLiteral(b, at, name, value);
}

/** A field as a literal not added to the peer's table (never indexed if sensitive), its name indexed when static. */
function encodeLiteral(b: Uint8Array, at: number, name: string, value: string): number {
  const never = SENSITIVE.has(name);
  const idx = STATIC_NAME.get(name);
  if (idx !== undefined) at = writeInt(b, at, idx, 4, never ? 0x10 : 0x00);
  else {
    b[at++] = never ? 0x10 : 0x00;
    at = writeString(b, at, name);
  }
  return writeString(b, at, value);
}

function writeInt(b: Uint8Array, at: number, v: number, prefix: number, flags: number): number {
  const max = (1 << prefix) - 1;
  if (v < max) {
    b[at++] = flags | v;
    return at;
  }
  b[at++] = flags | max;
  v -= max;
  while (v >= 128) {
    b[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  b[at++] = v;
  return at;
}

function writeString(b: Uint8Array, at: number, s: string): number {
  at = writeInt(b, at, s.length, 7, 0);
  return at + (b as Buffer).write(s, at, 'latin1');
}

/**
 * Fields that change with every request or response (nghttp2 does not index most of these
 * either): indexing them would only churn the table.
 */
const NO_INDEX = new Set([':path', 'content-length', 'location', 'etag', 'if-modified-since', 'if-none-match', 'last-modified', 'age', 'date', 'x-request-id', 'traceparent', 'tracestate', 'grpc-timeout', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'b3', 'x-envoy-expected-rq-timeout-ms']);
/** Longest value worth a table entry. */
const MAX_INDEXED_VALUE = 256;

/** One connection's encoding context: what the peer's decoder holds in its dynamic table. */
export class HpackEncoder {
  /** name -> value -> insertion number of its entry in the table. */
  readonly #index = new Map<string, Map<string, number>>();
  /** Entries, oldest first: [name, value, ...]; #first is the insertion number of the oldest. */
  #table: string[] = [];
  #first = 0;
  #inserted = 0;
  #size = 0;
  #max = 4096;
  /** A size update owed at the start of the next block (the smallest seen, then the last). */
  #pendingMin = -1;
  #pendingLast = -1;

  /** The peer's SETTINGS_HEADER_TABLE_SIZE. */
  setMaxTableSize(v: number): void {
    const size = Math.min(v, 4096); // never more than we need
    if (size === this.#max && this.#pendingLast < 0) return;
    this.#pendingMin = this.#pendingMin < 0 ? size : Math.min(this.#pendingMin, size);
    this.#pendingLast = size;
  }

  /** Encodes a whole block of [name, value, ...] into `b` from `at`; returns the end. Room: blockBound(). */
  encode(b: Buffer, at: number, list: string[]): number {
    if (this.#pendingLast >= 0) {
      // The decoder applies each update in turn: evict down to the smallest, then allow the last.
      if (this.#pendingMin < this.#pendingLast) {
        at = writeInt(b, at, this.#pendingMin, 5, 0x20);
        this.#max = this.#pendingMin;
        this.#evict(0);
      }
      at = writeInt(b, at, this.#pendingLast, 5, 0x20);
      this.#max = this.#pendingLast;
      this.#pendingMin = this.#pendingLast = -1;
      this.#evict(0);
    }
    for (let i = 0; i < list.length; i += 2) at = this.#field(b, at, list[i]!, list[i + 1]!);
    return at;
  }

  #field(b: Buffer, at: number, name: string, value: string): number {
    const exact = STATIC_PAIR.get(name)?.get(value);
    if (exact !== undefined) {
      b[at] = 0x80 | exact;
      return at + 1;
    }
    const byValue = this.#index.get(name);
    const n = byValue?.get(value);
    if (n !== undefined) return writeInt(b, at, STATIC.length + this.#inserted - n, 7, 0x80);
    if (SENSITIVE.has(name) || NO_INDEX.has(name) || value.length > MAX_INDEXED_VALUE || name.length + value.length + 32 > this.#max) return encodeLiteral(b, at, name, value);
    const idx = STATIC_NAME.get(name);
    if (idx !== undefined) at = writeInt(b, at, idx, 6, 0x40);
    else {
      b[at++] = 0x40;
      at = writeString(b, at, name);
    }
    at = writeString(b, at, value);
    this.#add(name, value, byValue);
    return at;
  }

  #add(name: string, value: string, byValue: Map<string, number> | undefined): void {
    this.#evict(name.length + value.length + 32);
    this.#table.push(name, value);
    this.#size += name.length + value.length + 32;
    if (!byValue) this.#index.set(name, (byValue = new Map()));
    byValue.set(value, this.#inserted++);
  }

  #evict(room: number): void {
    const t = this.#table;
    let drop = 0;
    while (this.#size + room > this.#max && drop < t.length) {
      const n = t[drop]!;
      const v = t[drop + 1]!;
      this.#size -= n.length + v.length + 32;
      const byValue = this.#index.get(n);
      // The same pair may have been added again since: only the entry being evicted is forgotten.
      if (byValue?.get(v) === this.#first) {
        byValue.delete(v);
        if (byValue.size === 0) this.#index.delete(n);
      }
      this.#first++;
      drop += 2;
    }
    if (drop) t.splice(0, drop);
  }
}

/** Room a block may take: fields plus a size update. */
export function blockBound(list: string[]): number {
  let size = 12;
  for (let i = 0; i < list.length; i += 2) size += encodedBound(list[i]!, list[i + 1]!);
  return size;
}

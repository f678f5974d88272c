/**
 * Reads the TLS ClientHello at the start of a connection without decrypting anything, for TLS
 * passthrough at the gateway (what Envoy's tls_inspector listener filter does): the gateway picks
 * a backend by the server name (SNI) the client asked for, sees the ALPN protocols it offered, and
 * then forwards the bytes it read, unchanged, to that backend, which terminates TLS.
 *
 * Incremental by re-reading: call `readClientHello` with everything received so far. It answers
 * `need-more` until the ClientHello is complete, which can take several reads and several TLS
 * records (a handshake message may be fragmented across records, RFC 8446 §5.1). It answers as
 * soon as it can: `not-tls` from the first two bytes, `malformed` as soon as a length or type is
 * wrong, `tls` once the last byte of the ClientHello is in, without waiting for the rest of its
 * record. It never throws, never reads outside the buffer, and never looks past the first
 * MAX_CLIENT_HELLO_BYTES of it, so a call costs at most O(MAX_CLIENT_HELLO_BYTES).
 *
 * What it checks: each record is a handshake record (type 22, version 3.x) of 1..2^14 bytes; the
 * handshake message is a ClientHello (type 1) whose fields (legacy_version, random, session id,
 * cipher suites, compression methods, extensions) have lengths in range and fill the message
 * exactly; no extension type appears twice; server_name (RFC 6066 §3) is a non-empty list with at
 * most one host_name, itself non-empty visible ASCII; ALPN (RFC 7301 §3.1) is a non-empty list of
 * non-empty names.
 *
 * Limits:
 *  - The ClientHello handshake message, its 4-byte header included, may be at most 16 KiB, and the
 *    records carrying it, their headers included, at most MAX_CLIENT_HELLO_BYTES (room for 64
 *    record headers). Beyond either it is `malformed`, never `need-more`: for a buffer of
 *    MAX_CLIENT_HELLO_BYTES or more the answer is always final, so a caller need never hold more.
 *  - A parser, not a TLS implementation: `tls` means the ClientHello is well formed, not that a
 *    handshake would succeed (versions, cipher suites and key shares are not looked at); the
 *    backend decides that. Only the first ClientHello is read (one sent again after a
 *    HelloRetryRequest goes to the backend already chosen). With ECH it is the outer, public name.
 *  - SSLv2-compatible ClientHellos (first byte with the high bit set), and anything else that does
 *    not start with a handshake record header (0x16 0x03), are `not-tls`.
 *  - The server name is returned as sent, lower-cased (ASCII): no trailing dot removed, no IDNA, no
 *    check that it is a DNS name rather than, say, an IP literal (which RFC 6066 forbids); bytes
 *    outside 0x21..0x7E (controls, space, non-ASCII) make the hello `malformed`. ALPN names are
 *    returned byte for byte, as latin1 strings.
 */

export type HelloResult =
  | { kind: 'need-more' } // not enough bytes yet to decide
  | { kind: 'not-tls' } // the first bytes are not a TLS handshake record
  | { kind: 'tls'; serverName: string | undefined; alpn: readonly string[] } // a ClientHello was read
  | { kind: 'malformed'; reason: string }; // a TLS record that is not a valid ClientHello

const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
/** RFC 8446 §5.1: a record's plaintext is at most 2^14 bytes. */
const MAX_RECORD_PAYLOAD = 16384;
/** The ClientHello handshake message, header included. */
const MAX_HANDSHAKE_MESSAGE = 16 * 1024;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const NAME_TYPE_HOST_NAME = 0;

/**
 * The most bytes the ClientHello's records may take, headers included: a 16 KiB ClientHello
 * message plus 64 record headers. A buffer this long gets a final answer (never `need-more`).
 */
export const MAX_CLIENT_HELLO_BYTES: number = MAX_HANDSHAKE_MESSAGE + 64 * RECORD_HEADER;

const NEED_MORE: HelloResult = Object.freeze({ kind: 'need-more' });
const NOT_TLS: HelloResult = Object.freeze({ kind: 'not-tls' });

function malformed(reason: string): HelloResult {
  return { kind: 'malformed', reason };
}

/** `need-more`, unless the buffer already holds as much as a ClientHello may take. */
function needMore(buf: Buffer): HelloResult {
  return buf.length >= MAX_CLIENT_HELLO_BYTES
    ? malformed(`no complete ClientHello in the first ${MAX_CLIENT_HELLO_BYTES} bytes`)
    : NEED_MORE;
}

export function readClientHello(buf: Buffer): HelloResult {
  if (buf.length < 1) return NEED_MORE;
  if (buf[0] !== CONTENT_HANDSHAKE) return NOT_TLS;
  if (buf.length < 2) return NEED_MORE;
  if (buf[1] !== 3) return NOT_TLS;

  const end = Math.min(buf.length, MAX_CLIENT_HELLO_BYTES);
  // The handshake message, reassembled from the records' payloads.
  const fragments: Buffer[] = [];
  let have = 0;
  // The whole message's length once its header is in (undefined before).
  let messageLength: number | undefined;
  let pos = 0;
  for (let record = 0; ; record++) {
    if (pos + RECORD_HEADER > end) return needMore(buf);
    if (record > 0) {
      if (buf[pos] !== CONTENT_HANDSHAKE) return malformed(`record of type ${buf[pos]} before the end of the ClientHello`);
      if (buf[pos + 1] !== 3) return malformed(`record version ${buf[pos + 1]}.${buf[pos + 2]} is not 3.x`);
    }
    const length = (buf[pos + 3]! << 8) | buf[pos + 4]!;
    if (length === 0) return malformed('empty handshake record');
    if (length > MAX_RECORD_PAYLOAD) return malformed(`record of ${length} bytes is over 2^14`);
    const start = pos + RECORD_HEADER;
    const stop = Math.min(start + length, end);
    // What this record adds to the message (possibly only part of it so far).
    const wanted = messageLength === undefined ? stop - start : Math.min(stop - start, messageLength - have);
    fragments.push(buf.subarray(start, start + wanted));
    have += wanted;

    if (messageLength === undefined && have >= 1) {
      const type = firstBytes(fragments, 1)[0]!;
      if (type !== HANDSHAKE_CLIENT_HELLO) return malformed(`handshake message of type ${type}, not a ClientHello`);
    }
    if (messageLength === undefined && have >= HANDSHAKE_HEADER) {
      const header = firstBytes(fragments, HANDSHAKE_HEADER);
      const bodyLength = (header[1]! << 16) | (header[2]! << 8) | header[3]!;
      messageLength = HANDSHAKE_HEADER + bodyLength;
      if (messageLength > MAX_HANDSHAKE_MESSAGE) return malformed(`ClientHello of ${messageLength} bytes is over ${MAX_HANDSHAKE_MESSAGE}`);
    }
    if (messageLength !== undefined && have >= messageLength) {
      const message = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments, have);
      return parseClientHelloBody(message.subarray(HANDSHAKE_HEADER, messageLength));
    }
    if (stop < start + length) return needMore(buf); // this record is not all in yet
    pos = start + length;
  }
}

/** The first n bytes of the fragments (the caller made sure there are n). */
function firstBytes(fragments: readonly Buffer[], n: number): Buffer {
  const first = fragments[0];
  if (first !== undefined && first.length >= n) return first;
  return Buffer.concat(fragments).subarray(0, n);
}

/** A bounds-checked reader over one buffer: every read says whether the bytes were there. */
class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  u8(): number | undefined {
    if (this.remaining < 1) return undefined;
    return this.buf[this.pos++]!;
  }

  u16(): number | undefined {
    if (this.remaining < 2) return undefined;
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  bytes(n: number): Buffer | undefined {
    if (n < 0 || this.remaining < n) return undefined;
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
}

/** The ClientHello body (RFC 8446 §4.1.2), after the handshake header. */
function parseClientHelloBody(body: Buffer): HelloResult {
  const r = new Reader(body);
  const version = r.u16();
  if (version === undefined) return malformed('ClientHello ends in legacy_version');
  if (version >> 8 !== 3) return malformed(`ClientHello version ${version >> 8}.${version & 0xff} is not 3.x`);
  if (r.bytes(32) === undefined) return malformed('ClientHello ends in random');

  const sessionIdLength = r.u8();
  if (sessionIdLength === undefined) return malformed('ClientHello ends before the session id');
  if (sessionIdLength > 32) return malformed(`session id of ${sessionIdLength} bytes is over 32`);
  if (r.bytes(sessionIdLength) === undefined) return malformed('session id runs past the end of the ClientHello');

  const suitesLength = r.u16();
  if (suitesLength === undefined) return malformed('ClientHello ends before the cipher suites');
  if (suitesLength < 2 || suitesLength % 2 !== 0) return malformed(`cipher suites length ${suitesLength} is not a positive even number`);
  if (r.bytes(suitesLength) === undefined) return malformed('cipher suites run past the end of the ClientHello');

  const compressionLength = r.u8();
  if (compressionLength === undefined) return malformed('ClientHello ends before the compression methods');
  if (compressionLength < 1) return malformed('no compression methods');
  if (r.bytes(compressionLength) === undefined) return malformed('compression methods run past the end of the ClientHello');

  // Extensions are optional before TLS 1.3: a ClientHello may end here.
  if (r.remaining === 0) return { kind: 'tls', serverName: undefined, alpn: [] };
  const extensionsLength = r.u16();
  if (extensionsLength === undefined) return malformed('one byte after the compression methods');
  if (extensionsLength !== r.remaining) {
    return malformed(`extensions length ${extensionsLength} does not match the ${r.remaining} bytes left in the ClientHello`);
  }

  const seen = new Set<number>();
  let serverName: string | undefined;
  let alpn: readonly string[] = [];
  while (r.remaining > 0) {
    const type = r.u16();
    const length = r.u16();
    if (type === undefined || length === undefined) return malformed('extension header runs past the end of the extensions');
    const data = r.bytes(length);
    if (data === undefined) return malformed(`extension ${type} of ${length} bytes runs past the end of the extensions`);
    if (seen.has(type)) return malformed(`extension ${type} appears twice`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const sni = parseServerName(data);
      if (!sni.ok) return malformed(sni.reason);
      serverName = sni.value;
    } else if (type === EXT_ALPN) {
      const protocols = parseAlpn(data);
      if (!protocols.ok) return malformed(protocols.reason);
      alpn = protocols.value;
    }
  }
  return { kind: 'tls', serverName, alpn };
}

/** An extension's value, or why it is malformed. */
type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function fail(reason: string): { ok: false; reason: string } {
  return { ok: false, reason };
}

/**
 * server_name (RFC 6066 §3): a ServerNameList<1..2^16-1> of (name_type, name). Every name type's
 * data starts with a 16-bit length, so unknown types are skipped; at most one host_name.
 * Returns the host name, lower-cased, or undefined when the list has none.
 */
function parseServerName(data: Buffer): Parsed<string | undefined> {
  const r = new Reader(data);
  const listLength = r.u16();
  if (listLength === undefined) return fail('server_name extension is empty');
  if (listLength !== r.remaining) return fail(`server_name list length ${listLength} does not match its ${r.remaining} bytes`);
  if (listLength === 0) return fail('server_name list is empty');
  let hostName: string | undefined;
  while (r.remaining > 0) {
    const nameType = r.u8();
    const nameLength = r.u16();
    if (nameType === undefined || nameLength === undefined) return fail('server_name entry runs past the end of the list');
    const name = r.bytes(nameLength);
    if (name === undefined) return fail(`server name of ${nameLength} bytes runs past the end of the list`);
    if (nameType !== NAME_TYPE_HOST_NAME) continue;
    if (hostName !== undefined) return fail('two host_name entries in server_name');
    if (name.length === 0) return fail('empty host_name in server_name');
    for (const byte of name) {
      if (byte < 0x21 || byte > 0x7e) return fail(`host_name has byte 0x${byte.toString(16).padStart(2, '0')} outside visible ASCII`);
    }
    hostName = name.toString('latin1').toLowerCase();
  }
  return { ok: true, value: hostName };
}

/** application_layer_protocol_negotiation (RFC 7301 §3.1): ProtocolName<1..2^8-1> list<2..2^16-1>. */
function parseAlpn(data: Buffer): Parsed<readonly string[]> {
  const r = new Reader(data);
  const listLength = r.u16();
  if (listLength === undefined) return fail('ALPN extension is empty');
  if (listLength !== r.remaining) return fail(`ALPN list length ${listLength} does not match its ${r.remaining} bytes`);
  if (listLength === 0) return fail('ALPN list is empty');
  const protocols: string[] = [];
  while (r.remaining > 0) {
    const length = r.u8();
    if (length === undefined) return fail('ALPN list ends early');
    if (length === 0) return fail('empty ALPN protocol name');
    const name = r.bytes(length);
    if (name === undefined) return fail(`ALPN protocol name of ${length} bytes runs past the end of the list`);
    protocols.push(name.toString('latin1'));
  }
  return { ok: true, value: protocols };
}

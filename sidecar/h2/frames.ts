/** HTTP/2 frame types, flags, settings and error codes (RFC 9113 sections 6, 7 and 11). */

export const enum Frame {
  DATA = 0x0,
  HEADERS = 0x1,
  PRIORITY = 0x2,
  RST_STREAM = 0x3,
  SETTINGS = 0x4,
  PUSH_PROMISE = 0x5,
  PING = 0x6,
  GOAWAY = 0x7,
  WINDOW_UPDATE = 0x8,
  CONTINUATION = 0x9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

export const enum Setting {
  HEADER_TABLE_SIZE = 0x1,
  ENABLE_PUSH = 0x2,
  MAX_CONCURRENT_STREAMS = 0x3,
  INITIAL_WINDOW_SIZE = 0x4,
  MAX_FRAME_SIZE = 0x5,
  MAX_HEADER_LIST_SIZE = 0x6,
}

/** Error codes, named as in the RFC (and as node:http2 exposes them, NGHTTP2_*). */
export const enum H2Error {
  NO_ERROR = 0x0,
  PROTOCOL_ERROR = 0x1,
  INTERNAL_ERROR = 0x2,
  FLOW_CONTROL_ERROR = 0x3,
  SETTINGS_TIMEOUT = 0x4,
  STREAM_CLOSED = 0x5,
  FRAME_SIZE_ERROR = 0x6,
  REFUSED_STREAM = 0x7,
  CANCEL = 0x8,
  COMPRESSION_ERROR = 0x9,
  CONNECT_ERROR = 0xa,
  ENHANCE_YOUR_CALM = 0xb,
  INADEQUATE_SECURITY = 0xc,
  HTTP_1_1_REQUIRED = 0xd,
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const MAX_WINDOW = 0x7fffffff;
export const DEFAULT_WINDOW = 65535;
export const DEFAULT_MAX_FRAME = 16384;

/** Writes a frame header at `at`. */
export function frameHeader(b: Buffer, at: number, length: number, type: number, flags: number, stream: number): void {
  b[at] = length >>> 16;
  b[at + 1] = (length >>> 8) & 0xff;
  b[at + 2] = length & 0xff;
  b[at + 3] = type;
  b[at + 4] = flags;
  b.writeUInt32BE(stream, at + 5);
}

/** A whole frame with a small fixed payload (SETTINGS, PING, RST_STREAM, WINDOW_UPDATE, GOAWAY). */
export function frame(type: number, flags: number, stream: number, payload?: Buffer): Buffer {
  const len = payload ? payload.length : 0;
  const b = Buffer.allocUnsafe(9 + len);
  frameHeader(b, 0, len, type, flags, stream);
  if (payload) payload.copy(b, 9);
  return b;
}

export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}

/** A field name HTTP/2 allows: a lowercase token (RFC 9113 8.2.1). */
export const LOWER_TOKEN = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
/** Octets no field value may carry. */
export const BAD_FIELD_VALUE = /[\0\r\n]/;
/** Connection-specific fields, malformed in HTTP/2 (RFC 9113 8.2.2); `te` is allowed only as `trailers`. */
export const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** Fields a response never carries over HTTP/2, or from an h2 upstream to any downstream: the connection-specific ones, te and http2-settings. */
export const RESPONSE_HOP = new Set([...CONNECTION_SPECIFIC, 'te', 'http2-settings']);

/** Why a received regular field makes a message malformed (RFC 9113 8.2), or undefined. */
export function fieldError(n: string, v: string): string | undefined {
  if (!LOWER_TOKEN.test(n)) return `invalid header name ${JSON.stringify(n)}`;
  if (BAD_FIELD_VALUE.test(v)) return `invalid value in header ${n}`;
  if (CONNECTION_SPECIFIC.has(n) || (n === 'te' && v !== 'trailers')) return `connection-specific header ${n}`;
  return undefined;
}

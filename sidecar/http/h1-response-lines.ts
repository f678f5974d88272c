/**
 * The header lines of an HTTP/1.1 response head, as bytes (head-bytes.ts): from a header object
 * (headerLines) or from an HTTP/1.1 upstream's lines as received (rawHeaderLines), into one scratch
 * Buffer that the next head reads at once (H1Downstream.#head copies them into its own). A line
 * whose name or value holds CR, LF or NUL is left out as it is written. Also the status and Date
 * lines, made once per status and once a second.
 */
import { STATUS_CODES } from 'node:http';
import type { ResponseHeaders } from './downstream.js';
import { lowerName, setTest } from './header-names.js';
import { putValue } from './head-bytes.js';
import { RESPONSE_HOP } from '../h2/frames.js';

const isResponseHop = setTest(RESPONSE_HOP);
/**
 * What headerLines / rawHeaderLines made (one at a time: the head is written at once): the header
 * lines as bytes, `size` of them in `bytes`, and what #head needs to know of them.
 */
export const lines = {
  bytes: Buffer.allocUnsafeSlow(4096) as Buffer,
  size: 0,
  /** A content-length header is among them, and its value when it is one number (else -1). */
  length: false,
  bodySize: -1,
  date: false,
  grpcStatus: undefined as number | undefined,
};

function startLines(): void {
  lines.size = 0;
  lines.length = false;
  lines.bodySize = -1;
  lines.date = false;
  lines.grpcStatus = undefined;
}

/** One header line into `lines`; a line whose name or value holds CR, LF or NUL is left out. */
function addLine(n: string, s: string): void {
  let b = lines.bytes;
  if (lines.size + n.length + s.length + 4 > b.length) b = growLines(lines.size + n.length + s.length + 4);
  let o = putValue(b, lines.size, n);
  if (o < 0) return;
  b[o++] = 58;
  b[o++] = 32;
  o = putValue(b, o, s);
  if (o < 0) return;
  b[o++] = 13;
  b[o++] = 10;
  lines.size = o;
  if (n.length === 14 && n === 'content-length') {
    const v = lines.length ? NaN : Number(s);
    lines.length = true;
    lines.bodySize = Number.isInteger(v) && v >= 0 ? v : -1;
  } else if (n.length === 4 && n === 'date') lines.date = true;
  else if (n.length === 11 && n === 'grpc-status') lines.grpcStatus = Number(s);
}

function growLines(need: number): Buffer {
  const b = Buffer.allocUnsafeSlow(Math.max(need, lines.bytes.length * 2));
  lines.bytes.copy(b, 0, 0, lines.size);
  return (lines.bytes = b);
}

/** A response's header object as lines. */
export function headerLines(headers: ResponseHeaders): void {
  startLines();
  for (const n in headers) {
    const v = headers[n]!;
    if (typeof v === 'object') {
      for (let i = 0; i < v.length; i++) addLine(n, v[i]!);
      continue;
    }
    addLine(n, typeof v === 'number' ? String(v) : v);
  }
}

/**
 * An HTTP/1.1 upstream's response head as received ([name, value, ...], names in the sender's
 * case) as lines: names lowercased, hop-by-hop headers dropped (as fromRaw does for the header
 * object), order and repeats kept.
 */
export function rawHeaderLines(raw: readonly string[]): void {
  startLines();
  for (let i = 0; i < raw.length; i += 2) {
    const n = lowerName(raw[i]!);
    if (!isResponseHop(n)) addLine(n, raw[i + 1]!);
  }
}

/** `n` bytes of `src` into `dst` at `o` (a head's lines: a few hundred bytes, no view object made). */
export function copyInto(dst: Buffer, o: number, src: Buffer, n: number): number {
  if (n > 512) dst.set(src.subarray(0, n), o);
  else for (let i = 0; i < n; i++) dst[o + i] = src[i]!;
  return o + n;
}

let dateSecond = 0;
let dateLineValue = '';
/** The Date header's line, made once a second. */
export function dateLine(now: number): string {
  const s = (now / 1000) | 0;
  if (s !== dateSecond) {
    dateSecond = s;
    dateLineValue = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLineValue;
}

const STATUS_LINES: string[] = [];
/** `HTTP/1.1 200 OK\r\n`, made once per status. */
export function statusLine(status: number): string {
  const ok = Number.isInteger(status) && status >= 100 && status <= 999;
  const cached = ok ? STATUS_LINES[status] : undefined;
  if (cached !== undefined) return cached;
  const line = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
  if (ok) STATUS_LINES[status] = line;
  return line;
}

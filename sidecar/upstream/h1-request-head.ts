/**
 * The head of a request the HTTP/1.1 pool sends upstream, as bytes: request line, header lines,
 * the framing the pool adds and the blank line, checked as it is written (head-bytes.ts).
 * What may never reach the wire (RFC 9110 5.5, 5.6.2; RFC 9112 3): a value with CR, LF or NUL, a
 * name or method that is not a token, a target with a control character or a space. Each would
 * let a header edit or a rewrite split the request; the downstream parser refuses them too.
 */
import { putLatin1, putTarget, putToken, putValue } from '../http/head-bytes.js';

/** What requestHead found (one at a time: the pool reads it at once). */
export const head = {
  /** The body goes chunked (it has one and no content-length header says its size). */
  chunked: false,
  /** Why the request cannot be sent (empty: it can), and the code its failure carries. */
  error: '',
  code: '' as '' | 'HPE_INVALID_URL' | 'HPE_INVALID_HEADER_TOKEN',
};

const VERSION = ' HTTP/1.1\r\n';
const CHUNKED = 'transfer-encoding: chunked\r\n';
const NO_BODY = 'content-length: 0\r\n';

/**
 * The head for `method path` with the flat [name, value, ...] `headers`: with a body and no
 * content-length among them, `transfer-encoding: chunked` is added (head.chunked); without a body,
 * `content-length: 0` when `expectsBody` (POST, PUT, PATCH) and none is given. Undefined (and
 * head.error, head.code) when refused.
 */
export function requestHead(method: string, path: string, headers: readonly string[], hasBody: boolean, expectsBody: boolean): Buffer | undefined {
  let size = method.length + 1 + path.length + VERSION.length + 2;
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length === 14 && n === 'content-length') length = true;
    size += n.length + headers[i + 1]!.length + 4;
  }
  const extra = hasBody ? (length ? '' : CHUNKED) : !length && expectsBody ? NO_BODY : '';
  const b = Buffer.allocUnsafe(size + extra.length);
  let o = putToken(b, 0, method);
  if (o >= 0) {
    b[o++] = 32;
    o = putTarget(b, o, path);
  }
  if (o < 0) return refuse('HPE_INVALID_URL', `invalid request line ${JSON.stringify(`${method} ${path}`)}`);
  o = putLatin1(b, o, VERSION);
  for (let i = 0; i < headers.length; i += 2) {
    o = putToken(b, o, headers[i]!);
    if (o >= 0) {
      b[o++] = 58;
      b[o++] = 32;
      o = putValue(b, o, headers[i + 1]!);
    }
    if (o < 0) return refuse('HPE_INVALID_HEADER_TOKEN', `invalid character in header ${JSON.stringify(headers[i]!)}`);
    b[o++] = 13;
    b[o++] = 10;
  }
  o = putLatin1(b, o, extra);
  b[o++] = 13;
  b[o] = 10;
  head.chunked = hasBody && !length;
  head.error = '';
  head.code = '';
  return b;
}

function refuse(code: 'HPE_INVALID_URL' | 'HPE_INVALID_HEADER_TOKEN', error: string): undefined {
  head.error = error;
  head.code = code;
  return undefined;
}

/**
 * The head of a request the HTTP/1.1 pool sends upstream: request line and header lines, checked.
 * What may never reach the wire (RFC 9110 5.5, 5.6.2; RFC 9112 3): a value with CR, LF or NUL, a
 * name or method that is not a token, a target with a control character or a space. Each would
 * let a header edit or a rewrite split the request; the downstream parser refuses them too.
 */
const BAD_VALUE = /[\r\n\0]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_TARGET = /[\x00-\x20\x7f]/;

/** What requestHead made (one at a time: the pool reads it at once). */
export const head = {
  /** Request line and header lines, without the blank line that ends the head. */
  text: '',
  /** Whether a content-length header is among them. */
  length: false,
  /** Why the request cannot be sent (empty: it can), and the code its failure carries. */
  error: '',
  code: '' as '' | 'HPE_INVALID_URL' | 'HPE_INVALID_HEADER_TOKEN',
};

/** Fills `head` for `method path` with the flat [name, value, ...] `headers`; false (and `head.error`) when refused. */
export function requestHead(method: string, path: string, headers: readonly string[]): boolean {
  head.text = '';
  if (!TOKEN.test(method) || path.length === 0 || BAD_TARGET.test(path)) return refuse('HPE_INVALID_URL', `invalid request line ${JSON.stringify(`${method} ${path}`)}`);
  let text = `${method} ${path} HTTP/1.1\r\n`;
  let length = false;
  // All names and all values are checked joined, two regular-expression tests per request
  // instead of two per header (a join of tokens is a token, a join of values holds CR, LF or NUL
  // if and only if one of them does); the culprit is looked for only when the joined test fails.
  let names = '';
  let values = '';
  let empty = false;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    const v = headers[i + 1]!;
    if (n.length === 0) empty = true;
    names += n;
    values += v;
    if (n === 'content-length') length = true;
    text += `${n}: ${v}\r\n`;
  }
  if (headers.length !== 0 && (empty || !TOKEN.test(names) || BAD_VALUE.test(values))) {
    let bad = '';
    for (let i = 0; i < headers.length; i += 2) {
      if (BAD_VALUE.test(headers[i + 1]!) || !TOKEN.test(headers[i]!)) {
        bad = headers[i]!;
        break;
      }
    }
    return refuse('HPE_INVALID_HEADER_TOKEN', `invalid character in header ${JSON.stringify(bad)}`);
  }
  head.text = text;
  head.length = length;
  head.error = '';
  head.code = '';
  return true;
}

function refuse(code: 'HPE_INVALID_URL' | 'HPE_INVALID_HEADER_TOKEN', error: string): false {
  head.error = error;
  head.code = code;
  return false;
}

/**
 * Header names on the per-request path without per-name hashing. Node's parser hands over each
 * name as a new string in the sender's case; lowercasing it makes another, and using that as a
 * Set member or an object key makes V8 hash it and look it up in its string table (callgrind, one
 * sidecar hop: lowercasing, `Set.has` and the keyed loads and stores of a response's five names
 * took about 5 k of a request's 85 k instructions). `lowerName` answers the names HTTP traffic
 * mostly carries, in lowercase or Title-Case, with the one interned lowercase literal (no new
 * string, and a key V8 already knows); `setTest` tests membership by length and comparison.
 * Both equal their plain forms for every string (test/unit/sidecar/header-names.test.ts).
 */

/** Names `lowerName` knows without lowercasing: requests', responses' and the mesh's own. */
const KNOWN = [
  'te', 'age', 'via', 'date', 'etag', 'host', 'link', 'vary', 'allow', 'range', 'accept', 'cookie', 'expect',
  'origin', 'pragma', 'server', 'expires', 'referer', 'trailer', 'upgrade', 'if-match', 'location',
  'forwarded', 'connection', 'keep-alive', 'set-cookie', 'tracestate', 'user-agent', 'grpc-status',
  'traceparent', 'content-type', 'grpc-message', 'grpc-timeout', 'x-request-id', 'accept-ranges',
  'authorization', 'cache-control', 'content-range', 'grpc-encoding', 'if-none-match', 'last-modified',
  'accept-charset', 'content-length', 'http2-settings', 'accept-encoding', 'accept-language', 'x-forwarded-for',
  'content-encoding', 'content-language', 'content-location', 'proxy-connection', 'x-forwarded-host',
  'if-modified-since', 'transfer-encoding', 'x-forwarded-proto', 'content-disposition', 'proxy-authorization',
  'grpc-accept-encoding', 'access-control-allow-origin', 'strict-transport-security',
];

/** `content-type` -> `Content-Type`. */
const titleCase = (n: string): string => n.replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());

/**
 * Per name length, the known names' first letters (lowercased) and the names: [lower, Title-Case]
 * pairs at the same index / 2.
 */
const FIRST: (number[] | undefined)[] = [];
const NAMES: (string[] | undefined)[] = [];
for (const n of KNOWN) {
  (FIRST[n.length] ??= []).push(n.charCodeAt(0));
  (NAMES[n.length] ??= []).push(n, titleCase(n));
}

/** `raw.toLowerCase()`, as the interned literal when `raw` is a known name in lowercase or Title-Case. */
export function lowerName(raw: string): string {
  const first = FIRST[raw.length];
  if (first !== undefined) {
    const c0 = raw.charCodeAt(0);
    const c = c0 | 0x20;
    // One comparison per candidate: with the lowercase form if `raw` starts lowercase, else Title-Case.
    const title = c0 === c ? 0 : 1;
    const names = NAMES[raw.length]!;
    for (let i = 0; i < first.length; i++) {
      if (first[i] === c && raw === names[2 * i + title]) return names[2 * i]!;
    }
  }
  return raw.toLowerCase();
}

/** `set.has(n)` for a fixed set of names: by length, then by comparison (interned names compare by identity). */
export function setTest(set: ReadonlySet<string>): (n: string) => boolean {
  const byLength: (string[] | undefined)[] = [];
  for (const s of set) (byLength[s.length] ??= []).push(s);
  return (n: string): boolean => {
    const c = byLength[n.length];
    if (c === undefined) return false;
    for (let i = 0; i < c.length; i++) if (c[i] === n) return true;
    return false;
  };
}

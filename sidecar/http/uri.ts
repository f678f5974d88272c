/**
 * What the sidecar checks and normalizes in a request target before routing and authorization,
 * as Envoy's HTTP connection manager does (`normalize_path`, `merge_slashes`,
 * `path_with_escaped_slashes_action`): RFC 3986 dot-segment removal and decoding of
 * percent-encoded unreserved characters, merged slashes, one chosen action for `%2F` / `%5C`.
 * The result is what routes and RBAC match and what the upstream receives, so a policy on
 * `/admin` sees `/./admin`, `//admin`, `/public/../admin` and `/%61dmin` as `/admin`.
 *
 * Also the RFC 9112 section 3.2 / RFC 3986 section 3.2.2 check of a Host or :authority value.
 * Both run on every request: a single scan decides whether a path needs any work at all.
 */

/** What to do with `%2F` / `%5C` (an escaped `/` or `\`) in a path (Envoy's enum, same names). */
export const enum EscapedSlashes {
  /** Leave them as they are: routes and policies see `%2F`, the upstream gets `%2F`. */
  KeepUnchanged,
  /** 400: the path is ambiguous between the proxy and the app. */
  Reject,
  /** Decode them and redirect the client (307) to the decoded, normalized path. */
  UnescapeAndRedirect,
  /** Decode them and carry on with the decoded, normalized path. */
  UnescapeAndForward,
}

/** A listener's path settings (from its HttpConnectionManager). */
export interface PathOptions {
  /** RFC 3986: remove dot segments, decode percent-encoded unreserved characters. */
  readonly normalize: boolean;
  /** Collapse runs of `/` into one. */
  readonly mergeSlashes: boolean;
  readonly escapedSlashes: EscapedSlashes;
}

/** Before a listener's config arrived, and what MeshConfig gives by default. */
export const DEFAULT_PATH_OPTIONS: PathOptions = Object.freeze({ normalize: true, mergeSlashes: true, escapedSlashes: EscapedSlashes.Reject });

/**
 * The outcome of normalizing a path: the path to use (a string: nothing is allocated for the
 * common case), or a redirect, or why it is refused.
 */
export type PathResult = string | { kind: 'redirect'; path: string } | { kind: 'reject'; reason: string };

const HEX = '0123456789ABCDEF';

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function unreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/**
 * Normalizes the path part of an origin-form target (no query). The common case, a path with no
 * `%`, no `.` segment and no `//`, is answered by one scan without allocating.
 */
export function normalizePath(path: string, o: PathOptions): PathResult {
  if (path.charCodeAt(0) !== 47) return { kind: 'reject', reason: `the request target '${clip(path)}' is not an absolute path` };
  // One scan: does anything need work?
  let pct = false;
  let dots = false;
  let doubles = false;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 37) pct = true;
    else if (c === 35) return { kind: 'reject', reason: 'the path has a fragment (#)' };
    else if (c === 92) return { kind: 'reject', reason: 'the path has a backslash' };
    else if (c === 47) {
      const n = path.charCodeAt(i + 1);
      if (n === 47) doubles = true;
      else if (n === 46) dots = true;
    }
  }
  if (!pct && !(dots && o.normalize) && !(doubles && o.mergeSlashes)) return path;
  let p = path;
  let redirect = false;
  if (pct) {
    // Percent-encodings: every one must be well-formed; escaped slashes get the chosen action;
    // unreserved characters are decoded when normalizing (their encoded and plain forms are the
    // same URI, RFC 3986 section 6.2.2.2); the rest keep their encoding, in upper-case hex.
    let out = '';
    let from = 0;
    for (let i = 0; i < p.length; i++) {
      if (p.charCodeAt(i) !== 37) continue;
      const h = hexVal(p.charCodeAt(i + 1));
      const l = hexVal(p.charCodeAt(i + 2));
      if (h < 0 || l < 0) return { kind: 'reject', reason: `malformed percent-encoding at offset ${i}` };
      const byte = h * 16 + l;
      let rep: string;
      if (byte === 0x2f || byte === 0x5c) {
        if (o.escapedSlashes === EscapedSlashes.Reject) return { kind: 'reject', reason: 'the path has an escaped slash (%2F or %5C)' };
        if (o.escapedSlashes === EscapedSlashes.KeepUnchanged) rep = o.normalize ? (byte === 0x2f ? '%2F' : '%5C') : p.slice(i, i + 3);
        else {
          rep = '/';
          if (o.escapedSlashes === EscapedSlashes.UnescapeAndRedirect) redirect = true;
        }
      } else if (o.normalize && unreserved(byte)) rep = String.fromCharCode(byte);
      else rep = o.normalize ? `%${HEX[h]}${HEX[l]}` : p.slice(i, i + 3);
      out += p.slice(from, i) + rep;
      from = i + 3;
      i += 2;
    }
    p = from === 0 ? p : out + p.slice(from);
  }
  if (o.normalize) p = removeDotSegments(p);
  if (o.mergeSlashes) p = p.replace(/\/{2,}/g, '/');
  return redirect ? { kind: 'redirect', path: p } : p;
}

/** RFC 3986 section 5.2.4, for an absolute path. */
export function removeDotSegments(path: string): string {
  const segs = path.split('/');
  // segs[0] is '' (the path starts with '/').
  const out: string[] = [];
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else out.push(s);
  }
  return `/${out.join('/')}`;
}

/**
 * RFC 9110 section 7.2 / RFC 3986 section 3.2.2: `uri-host [ ":" port ]` with no userinfo, no
 * whitespace, no path or query characters. An empty value is valid here (the caller decides).
 */
export function validAuthority(v: string): boolean {
  // The common case, a host name with an optional port, by table: one lookup per character.
  let i = 0;
  const n = v.length;
  if (n === 0) return true;
  if (v.charCodeAt(0) === 91) return validIpLiteral(v);
  for (; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c >= 128 || HOST_CHAR[c] === 0) break;
  }
  if (i === n) return true;
  if (v.charCodeAt(i) !== 58 || i === 0 || i === n - 1) return false;
  for (let j = i + 1; j < n; j++) {
    const c = v.charCodeAt(j);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** reg-name / IPv4 characters: unreserved, pct-encoded (%), sub-delims (RFC 3986 3.2.2). */
const HOST_CHAR = (() => {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) t[c] = unreserved(c) || c === 37 || c === 33 || c === 36 || (c >= 38 && c <= 44) || c === 59 || c === 61 ? 1 : 0;
  return t;
})();

/** `[` IPv6 or IPvFuture `]` [ `:` port ]. */
function validIpLiteral(v: string): boolean {
  const close = v.indexOf(']');
  if (close < 2) return false;
  for (let i = 1; i < close; i++) {
    const c = v.charCodeAt(i);
    if (c >= 128 || (HOST_CHAR[c] === 0 && c !== 58)) return false;
  }
  if (close === v.length - 1) return true;
  if (v.charCodeAt(close + 1) !== 58 || close + 2 === v.length) return false;
  for (let j = close + 2; j < v.length; j++) {
    const c = v.charCodeAt(j);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function clip(s: string): string {
  return s.length > 64 ? `${s.slice(0, 64)}...` : s;
}

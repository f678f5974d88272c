/**
 * RFC 9111 for a shared cache, as pure functions: Cache-Control parsing, whether a response may
 * be stored (§3), its freshness lifetime (§4.2.1, heuristic §4.2.2 only when configured), its
 * age (§4.2.3), whether a stored response satisfies a request (§4, request directives §5.2.1),
 * the secondary key of Vary (§4.1), and the validators for revalidation and for clients'
 * conditional requests (RFC 9110 §13). Times are in milliseconds since the epoch; ages and
 * lifetimes in seconds, as on the wire.
 */

/** Parsed Cache-Control: directive (lowercase) -> its argument ('' when it has none). */
export type Directives = ReadonlyMap<string, string>;

const EMPTY: Directives = new Map();

/** Cache-Control (one or several field lines joined with ','), §5.2. Unknown directives are kept (and ignored). */
export function parseCacheControl(v: string | readonly string[] | undefined): Directives {
  if (v === undefined) return EMPTY;
  const s = typeof v === 'string' ? v : v.join(',');
  if (s === '') return EMPTY;
  const out = new Map<string, string>();
  // A quoted argument may hold commas (private="a, b").
  const re = /\s*([^=,\s]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null && m[0] !== '') {
    const name = m[1]!.toLowerCase();
    let arg = (m[2] ?? '').trim();
    if (arg.startsWith('"')) arg = arg.slice(1, -1).replace(/\\(.)/g, '$1');
    // §4.2.1: when a directive appears twice, the cache considers the response stale; we keep the first.
    if (!out.has(name)) out.set(name, arg);
  }
  return out;
}

/** A delta-seconds argument (§1.2.2): a non-negative integer; undefined when absent or invalid. */
export function deltaSeconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31);
}

/** An HTTP-date (IMF-fixdate, and the obsolete forms Date.parse reads) in ms; undefined if invalid. */
export function httpDate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** Status codes a cache understands (§3: it must not store others). */
const UNDERSTOOD = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 451, 501]);
/** Heuristically cacheable status codes (RFC 9110 §15.1): stored without an explicit lifetime only with a heuristic. */
const HEURISTIC = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** A response head as the cache reads it: one value per lowercase name (repeated fields joined). */
export interface Head {
  get(name: string): string | undefined;
}

/** Why a response is not stored, or undefined when it may be (§3). */
export function notStorable(status: number, res: Head, resCc: Directives, reqCc: Directives, reqHasAuthorization: boolean, hasHeuristic: boolean): string | undefined {
  if (!UNDERSTOOD.has(status)) return `status ${status}`;
  if (reqCc.has('no-store')) return 'request no-store';
  if (resCc.has('no-store')) return 'no-store';
  // A shared cache does not store private responses (an unqualified private; a qualified one names fields only).
  if (resCc.has('private')) return 'private';
  // §3.5: a request with Authorization only when the response says it is shareable.
  if (reqHasAuthorization && !resCc.has('public') && !resCc.has('s-maxage') && !resCc.has('must-revalidate')) return 'authorization';
  const vary = res.get('vary');
  if (vary !== undefined && varyNames(vary).includes('*')) return 'vary *';
  const explicit = resCc.has('s-maxage') || resCc.has('max-age') || res.get('expires') !== undefined;
  if (explicit || resCc.has('no-cache')) return undefined;
  if (resCc.has('public') && hasHeuristic) return undefined;
  if (HEURISTIC.has(status) && hasHeuristic) return undefined;
  return 'no lifetime';
}

/**
 * Freshness lifetime in seconds (§4.2.1): s-maxage (shared cache), else max-age, else Expires -
 * Date, else the configured heuristic (seconds), else 0. An invalid Expires means already expired.
 */
export function freshnessLifetime(res: Head, cc: Directives, heuristicS: number | undefined, status: number): number {
  const s = deltaSeconds(cc, 's-maxage');
  if (s !== undefined) return s;
  const m = deltaSeconds(cc, 'max-age');
  if (m !== undefined) return m;
  const exp = res.get('expires');
  if (exp !== undefined) {
    const e = httpDate(exp);
    if (e === undefined) return 0;
    const date = httpDate(res.get('date')) ?? Date.now();
    return Math.max(0, Math.floor((e - date) / 1000));
  }
  if (heuristicS !== undefined && (HEURISTIC.has(status) || cc.has('public'))) return heuristicS;
  return 0;
}

/**
 * corrected_initial_age of §4.2.3 (seconds) for a response received at `responseTime` to a
 * request sent at `requestTime`.
 */
export function initialAge(res: Head, requestTime: number, responseTime: number): number {
  const date = httpDate(res.get('date')) ?? responseTime;
  const apparentAge = Math.max(0, responseTime - date) / 1000;
  const ageHeader = res.get('age');
  const ageValue = ageHeader !== undefined && /^\d+$/.test(ageHeader.trim()) ? Number(ageHeader.trim()) : 0;
  const responseDelay = Math.max(0, responseTime - requestTime) / 1000;
  return Math.max(apparentAge, ageValue + responseDelay);
}

/** current_age (§4.2.3) in seconds, with its fraction (the Age header carries Math.floor of it). */
export function currentAge(initial: number, responseTime: number, now: number): number {
  return initial + Math.max(0, now - responseTime) / 1000;
}

/** What the request's Cache-Control (and Pragma) ask of a stored response (§5.2.1). */
export interface RequestWants {
  /** no-cache (or Pragma: no-cache without Cache-Control): always validate with the origin. */
  readonly noCache: boolean;
  readonly noStore: boolean;
  readonly onlyIfCached: boolean;
  readonly maxAge: number | undefined;
  /** Infinity for a bare max-stale. */
  readonly maxStale: number | undefined;
  readonly minFresh: number | undefined;
}

export function requestWants(cc: Directives, pragma: string | undefined, ignore: boolean): RequestWants {
  if (ignore) return { noCache: false, noStore: false, onlyIfCached: false, maxAge: undefined, maxStale: undefined, minFresh: undefined };
  const ms = cc.get('max-stale');
  return {
    noCache: cc.has('no-cache') || (cc.size === 0 && pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)),
    noStore: cc.has('no-store'),
    onlyIfCached: cc.has('only-if-cached'),
    maxAge: deltaSeconds(cc, 'max-age'),
    maxStale: ms === undefined ? undefined : ms === '' ? Infinity : deltaSeconds(cc, 'max-stale'),
    minFresh: deltaSeconds(cc, 'min-fresh'),
  };
}

/** How a stored response may be used for a request. */
export type Usable = 'fresh' | 'stale-ok' | 'revalidate';

/**
 * §4: 'fresh' (serve), 'stale-ok' (stale but the request's max-stale allows it and the response
 * does not forbid serving stale), or 'revalidate' (ask the origin first).
 */
export function usability(age: number, lifetime: number, resCc: Directives, want: RequestWants): Usable {
  if (want.noCache || resCc.has('no-cache')) return 'revalidate';
  if (want.maxAge !== undefined && age > want.maxAge) return 'revalidate';
  const remaining = lifetime - age;
  if (want.minFresh !== undefined && remaining < want.minFresh) return 'revalidate';
  if (remaining > 0) return 'fresh';
  // §4.2.4: must-revalidate, proxy-revalidate and s-maxage forbid a shared cache serving stale.
  if (resCc.has('must-revalidate') || resCc.has('proxy-revalidate') || resCc.has('s-maxage')) return 'revalidate';
  if (want.maxStale !== undefined && -remaining <= want.maxStale) return 'stale-ok';
  return 'revalidate';
}

/** Field names of a Vary value, lowercase. */
export function varyNames(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim().toLowerCase())
    .filter(Boolean);
}

/** The secondary key (§4.1): the request's values of the Vary fields, normalized for whitespace. */
export function variantKey(names: readonly string[], header: (name: string) => string | undefined): string {
  if (names.length === 0) return '';
  let k = '';
  for (const n of names) k += `${n}:${(header(n) ?? '').replace(/\s*,\s*/g, ',').trim()}\n`;
  return k;
}

/** Weak comparison of entity tags (RFC 9110 §8.8.3.2). */
function weakEq(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/**
 * Whether a client's conditional GET/HEAD (If-None-Match, else If-Modified-Since) is satisfied
 * by a stored response with these validators: the answer is then 304 (RFC 9110 §13.1.2, §13.1.3).
 */
export function notModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, etag: string | undefined, lastModified: string | undefined): boolean {
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() === '*') return true;
    if (etag === undefined) return false;
    return ifNoneMatch.split(',').some((t) => weakEq(t.trim(), etag.trim()));
  }
  if (ifModifiedSince !== undefined && lastModified !== undefined) {
    const ims = httpDate(ifModifiedSince);
    const lm = httpDate(lastModified);
    return ims !== undefined && lm !== undefined && lm <= ims;
  }
  return false;
}

/** Headers a 304 carries from the stored response (RFC 9110 §15.4.5). */
export const NOT_MODIFIED_HEADERS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'];

/** Headers a 304 from the origin must not replace in the stored response (§3.2: framing). */
export const KEEP_ON_UPDATE = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range', 'content-type']);

/**
 * The dashboard's login session: POST /v1/login with the admin token sets an HttpOnly,
 * SameSite=Strict cookie, which the admin API then accepts instead of the bearer token.
 *
 * The cookie is not the token: it is `<issued-at ms>.<HMAC-SHA256(per-process key, issued-at and
 * the token)>`, valid for SESSION_TTL_MS. A stolen cookie is thus worth less than the token: it
 * expires, dies with the process (a new key at each start; each replica has its own, so a browser
 * logs in to each replica it talks to), and changing the admin token ends every session.
 * Every request authenticated by the cookie, reads included, also needs the header `x-weft-csrf:
 * <secret>`, where the secret is what the login answered in its body (an HMAC of the cookie under
 * the same key). Cookies are scoped by host, not port: the browser also sends this one to every
 * other server on the same host (an app, a sidecar's listener), which could replay it; without
 * the secret, which only the dashboard's page holds (sessionStorage is per origin, port
 * included), the cookie alone authenticates nothing. A cross-site form cannot send the header
 * either (CSRF), on top of SameSite=Strict.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export const SESSION_COOKIE = 'weft_session';
export const CSRF_HEADER = 'x-weft-csrf';
/** How long a login lasts: a working day. */
export const SESSION_TTL_MS = 12 * 3600_000;

export class Sessions {
  readonly #key = randomBytes(32);
  readonly #token: string;
  readonly #ttlMs: number;

  constructor(token: string, ttlMs = SESSION_TTL_MS) {
    this.#token = token;
    this.#ttlMs = ttlMs;
  }

  #mac(issuedAt: number): string {
    return createHmac('sha256', this.#key).update(`${issuedAt}\n${this.#token}`).digest('base64url');
  }

  /** The Set-Cookie value of a new session. */
  issue(now = Date.now()): string {
    return `${SESSION_COOKIE}=${now}.${this.#mac(now)}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(this.#ttlMs / 1000)}`;
  }

  /** The header secret of the session whose Set-Cookie value `issued` is (answered by the login, kept by the page). */
  secretOf(issued: string): string {
    return this.#secret(issued.slice(SESSION_COOKIE.length + 1).split(';')[0]!);
  }

  #secret(cookieValue: string): string {
    return createHmac('sha256', this.#key).update(`csrf\n${cookieValue}`).digest('base64url');
  }

  /** The Set-Cookie value that ends the session in the browser. */
  static clear(): string {
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  /** Whether the request carries a valid, unexpired session cookie (the secret is checked by `secretMatches`). */
  valid(headers: IncomingHttpHeaders, now = Date.now()): boolean {
    const value = cookie(headers.cookie, SESSION_COOKIE);
    const m = value ? /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(value) : null;
    if (!m) return false;
    const issuedAt = Number(m[1]);
    if (!(issuedAt <= now && now - issuedAt < this.#ttlMs)) return false;
    return same(m[2]!, this.#mac(issuedAt));
  }

  /** Whether the request's `x-weft-csrf` is its session cookie's secret. */
  secretMatches(headers: IncomingHttpHeaders): boolean {
    const value = cookie(headers.cookie, SESSION_COOKIE);
    const got = headers[CSRF_HEADER];
    return value !== undefined && typeof got === 'string' && same(got, this.#secret(value));
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** One cookie's value from a Cookie header (the first of that name). */
function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * The dashboard's login session: POST /v1/login with the admin token sets an HttpOnly,
 * SameSite=Strict cookie, which the admin API then accepts instead of the bearer token.
 *
 * The cookie is not the token: it is `<issued-at ms>.<HMAC-SHA256(per-process key, issued-at and
 * the token)>`, valid for SESSION_TTL_MS. A stolen cookie is thus worth less than the token: it
 * expires, dies with the process (a new key at each start; each replica has its own, so a browser
 * logs in to each replica it talks to), and changing the admin token ends every session.
 * Requests other than GET/HEAD authenticated by the cookie also need `x-weft-csrf: 1`: a header
 * a cross-site form cannot send, on top of SameSite=Strict.
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

  /** The Set-Cookie value that ends the session in the browser. */
  static clear(): string {
    return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
  }

  /** Whether the request carries a valid, unexpired session cookie. */
  valid(headers: IncomingHttpHeaders, now = Date.now()): boolean {
    const value = cookie(headers.cookie, SESSION_COOKIE);
    const m = value ? /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(value) : null;
    if (!m) return false;
    const issuedAt = Number(m[1]);
    if (!(issuedAt <= now && now - issuedAt < this.#ttlMs)) return false;
    const want = Buffer.from(this.#mac(issuedAt));
    const got = Buffer.from(m[2]!);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

/** Whether a cookie-authenticated request may change anything: GET/HEAD, or it says `x-weft-csrf: 1`. */
export function csrfSafe(method: string, headers: IncomingHttpHeaders): boolean {
  return method === 'GET' || method === 'HEAD' || headers[CSRF_HEADER] === '1';
}

/** One cookie's value from a Cookie header (the first of that name). */
function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

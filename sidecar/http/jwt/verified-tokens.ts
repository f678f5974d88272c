/**
 * Tokens a provider has verified, by their compact form: what Envoy's jwt_authn keeps with
 * `jwt_cache_config`. A client sends the same token on every request until it expires, and a
 * signature check (ECDSA, RSA) costs far more than the rest of the hop; a token seen before is
 * accepted on a map lookup instead, as long as
 *  - the key set that verified it is still the provider's (a JWKS refresh or rotation gives a new
 *    set: every cached token is verified again once, so a removed key stops being trusted), and
 *  - its `exp` / `nbf` still hold now, with the provider's skew (checked on every hit, as jose
 *    checks them).
 * Only verified tokens are kept, so a client sending garbage fills nothing; the map is bounded
 * (oldest entry out first) and lives as long as the provider's config.
 */
import type { JWTPayload } from 'jose';
import type { KeySet } from './jwks.js';

/** Entries per provider: Envoy's default jwt_cache_size is 100; a gateway sees more clients. */
export const VERIFIED_TOKENS_MAX = 4096;

interface Entry {
  readonly payload: JWTPayload;
  readonly kid: string | undefined;
  readonly keys: KeySet;
  /** exp and nbf in seconds; undefined when the token has none. */
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
}

export class VerifiedTokens {
  readonly #m = new Map<string, Entry>();
  constructor(readonly max = VERIFIED_TOKENS_MAX) {}

  get size(): number {
    return this.#m.size;
  }

  /**
   * The payload of `token` when it was verified by the key set `current(kid)` still returns and
   * its time claims hold at `nowS` with `skewS`; undefined otherwise (verify it the slow way).
   */
  get(token: string, nowS: number, skewS: number, current: (kid: string | undefined) => KeySet | undefined): JWTPayload | undefined {
    const e = this.#m.get(token);
    if (e === undefined) return undefined;
    if (current(e.kid) !== e.keys || (e.exp !== undefined && e.exp <= nowS - skewS) || (e.nbf !== undefined && e.nbf > nowS + skewS)) {
      this.#m.delete(token);
      return undefined;
    }
    return e.payload;
  }

  /** Remembers a token `keys` verified just now. */
  add(token: string, payload: JWTPayload, kid: string | undefined, keys: KeySet): void {
    if (this.#m.size >= this.max && !this.#m.has(token)) this.#m.delete(this.#m.keys().next().value!);
    this.#m.set(token, {
      payload,
      kid,
      keys,
      exp: typeof payload.exp === 'number' ? payload.exp : undefined,
      nbf: typeof payload.nbf === 'number' ? payload.nbf : undefined,
    });
  }
}

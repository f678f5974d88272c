/**
 * Join tokens: what lets a new sidecar obtain its first workload certificate. A token names one
 * service (and namespace), expires, can be revoked, and pins the CA root the sidecar should see
 * on the control plane. It is an HMAC-SHA256 over its claims with a key kept 0600 in
 * <data-dir>/ca/token-key; <data-dir>/ca/tokens.json lists issued tokens (never the tokens
 * themselves) for `weft token list` and revocation.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { writeAtomic } from './files.js';
import { join } from 'node:path';
import { JOIN_TOKEN_PREFIX, decodeJoinTokenClaims, encodeJoinToken, joinTokenMac, type JoinTokenClaims } from '../../common/join-token.js';
import { CaError } from './ca.js';

export interface TokenInfo {
  id: string;
  namespace: string;
  service: string;
  createdAt: string;
  expiresAt: string;
  revoked: boolean;
}

export class JoinTokens {
  readonly #key: Buffer;
  readonly #file: string;
  readonly #tokens = new Map<string, TokenInfo>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(key: Buffer, file: string) {
    this.#key = key;
    this.#file = file;
  }

  static async open(dataDir: string): Promise<JoinTokens> {
    const dir = join(dataDir, 'ca');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const keyFile = join(dir, 'token-key');
    let key: Buffer;
    try {
      await chmod(keyFile, 0o600);
      key = Buffer.from((await readFile(keyFile, 'utf8')).trim(), 'base64');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      key = randomBytes(32);
      await writeAtomic(keyFile, `${key.toString('base64')}\n`, 0o600);
    }
    if (key.length < 32) throw new CaError(`${keyFile}: the token key is too short`);
    const t = new JoinTokens(key, join(dir, 'tokens.json'));
    try {
      await chmod(t.#file, 0o600);
      for (const info of JSON.parse(await readFile(t.#file, 'utf8')) as TokenInfo[]) t.#tokens.set(info.id, info);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new CaError(`${t.#file}: ${(e as Error).message}`);
    }
    return t;
  }

  #save(): Promise<void> {
    const run = this.#queue.then(() => writeAtomic(this.#file, `${JSON.stringify([...this.#tokens.values()], null, 2)}\n`, 0o600));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async create(o: { namespace: string; service: string; ttlMs: number; trustDomain: string; caFingerprint: string }): Promise<{ token: string; info: TokenInfo }> {
    const now = Date.now();
    const exp = Math.floor((now + o.ttlMs) / 1000);
    const claims: JoinTokenClaims = { v: 1, id: randomBytes(8).toString('hex'), namespace: o.namespace, service: o.service, trustDomain: o.trustDomain, caFingerprint: o.caFingerprint, exp };
    const info: TokenInfo = { id: claims.id, namespace: o.namespace, service: o.service, createdAt: new Date(now).toISOString(), expiresAt: new Date(exp * 1000).toISOString(), revoked: false };
    this.#tokens.set(info.id, info);
    // Tokens expired for more than a day are of no use to anyone: keep the list bounded.
    for (const [id, t] of this.#tokens) if (Date.parse(t.expiresAt) < now - 24 * 3600_000) this.#tokens.delete(id);
    await this.#save();
    return { token: encodeJoinToken(claims, this.#key), info };
  }

  list(): TokenInfo[] {
    return [...this.#tokens.values()].sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  }

  async revoke(id: string): Promise<TokenInfo> {
    const t = this.#tokens.get(id);
    if (!t) throw new CaError(`no join token with id ${id}`);
    t.revoked = true;
    await this.#save();
    return t;
  }

  verify(token: string, now = new Date()): { ok: true; info: TokenInfo; claims: JoinTokenClaims } | { ok: false; reason: string } {
    const parts = token.trim().split('.');
    const claims = decodeJoinTokenClaims(token);
    if (parts.length !== 3 || parts[0] !== JOIN_TOKEN_PREFIX || !claims) return { ok: false, reason: 'malformed join token' };
    const want = Buffer.from(joinTokenMac(parts[1]!, this.#key));
    const got = Buffer.from(parts[2]!);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: 'join token signature does not verify (forged, or issued by another control plane)' };
    const info = this.#tokens.get(claims.id);
    if (!info) return { ok: false, reason: `unknown join token ${claims.id}` };
    if (info.revoked) return { ok: false, reason: `join token ${claims.id} was revoked` };
    if (claims.exp * 1000 <= now.getTime()) return { ok: false, reason: `join token ${claims.id} expired at ${new Date(claims.exp * 1000).toISOString()}` };
    return { ok: true, info, claims };
  }
}

/**
 * Join tokens: what lets a new sidecar obtain its first workload certificate. A token names one
 * service (and namespace), expires, can be revoked, and pins the CA root the sidecar should see
 * on the control plane. It is an HMAC-SHA256 over its claims with a key kept 0600 in
 * <data-dir>/ca/token-key; <data-dir>/ca/tokens/<id>.json records each issued token (never the
 * token itself) for `weft token list` and revocation. With replicas on etcd both live in etcd,
 * sealed under the KEK (etcd-vault.ts): a token made through one replica works on every one.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { FileVault, type Vault, type VaultEntry } from './vault.js';
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
  readonly #vault: Vault;

  private constructor(key: Buffer, vault: Vault) {
    this.#key = key;
    this.#vault = vault;
  }

  /** The tokens of one control plane (<dataDir>/ca), or of every replica (`vault` in etcd). */
  static async open(dataDir: string, vault?: Vault): Promise<JoinTokens> {
    const v: Vault = vault ?? (await FileVault.open(join(dataDir, 'ca')));
    let text = await v.get(KEY);
    if (text === undefined) {
      // First start: make the key, unless another replica makes it first (then use that one).
      const fresh = `${randomBytes(32).toString('base64')}\n`;
      text = (await v.put([{ name: KEY, data: fresh, secret: true }], { ifValue: { name: KEY, data: undefined } })) ? fresh : await v.get(KEY);
    }
    const key = Buffer.from((text ?? '').trim(), 'base64');
    if (key.length < 32) throw new CaError(`${v.where}/${KEY}: the token key is too short`);
    const t = new JoinTokens(key, v);
    await t.#migrate();
    return t;
  }

  /** Versions before replicas kept every record in one tokens.json: one entry per token now. */
  async #migrate(): Promise<void> {
    const legacy = await this.#vault.get(LEGACY);
    if (legacy === undefined) return;
    let infos: TokenInfo[];
    try {
      infos = JSON.parse(legacy) as TokenInfo[];
    } catch (e) {
      throw new CaError(`${this.#vault.where}/${LEGACY}: ${(e as Error).message}`);
    }
    await this.#vault.put(infos.map((i) => entryOf(i)), { remove: [LEGACY] });
  }

  async #read(id: string): Promise<TokenInfo | undefined> {
    if (!/^[0-9a-f]{1,32}$/.test(id)) return undefined;
    const text = await this.#vault.get(`${DIR}${id}.json`);
    return text === undefined ? undefined : (JSON.parse(text) as TokenInfo);
  }

  async create(o: { namespace: string; service: string; ttlMs: number; trustDomain: string; caFingerprint: string }): Promise<{ token: string; info: TokenInfo }> {
    const now = Date.now();
    const exp = Math.floor((now + o.ttlMs) / 1000);
    const claims: JoinTokenClaims = { v: 1, id: randomBytes(8).toString('hex'), namespace: o.namespace, service: o.service, trustDomain: o.trustDomain, caFingerprint: o.caFingerprint, exp };
    const info: TokenInfo = { id: claims.id, namespace: o.namespace, service: o.service, createdAt: new Date(now).toISOString(), expiresAt: new Date(exp * 1000).toISOString(), revoked: false };
    await this.#vault.put([entryOf(info)]);
    // Shared by replicas (a vault that can be watched): the leader prunes, on a timer.
    if (!this.#vault.watch) await this.prune(now);
    return { token: encodeJoinToken(claims, this.#key), info };
  }

  /**
   * Forgets records of tokens expired for more than a day (of no use to anyone): run by one
   * replica (the leader) on a timer, and after each create on a single control plane.
   */
  async prune(now = Date.now()): Promise<number> {
    const old = (await this.list()).filter((t) => Date.parse(t.expiresAt) < now - 24 * 3600_000);
    if (old.length) await this.#vault.put([], { remove: old.map((t) => `${DIR}${t.id}.json`) });
    return old.length;
  }

  async list(): Promise<TokenInfo[]> {
    const out: TokenInfo[] = [];
    for (const { data } of await this.#vault.list(DIR)) {
      try {
        out.push(JSON.parse(data) as TokenInfo);
      } catch {
        // A record that does not parse names no usable token; `weft token list` shows the rest.
      }
    }
    return out.sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
  }

  async revoke(id: string): Promise<TokenInfo> {
    const t = await this.#read(id);
    if (!t) throw new CaError(`no join token with id ${id}`);
    t.revoked = true;
    await this.#vault.put([entryOf(t)]);
    return t;
  }

  /**
   * Checks a token: its MAC, then its record as stored now (read on every call, so a revocation
   * made through any replica holds at once on every other).
   */
  async verify(token: string, now = new Date()): Promise<{ ok: true; info: TokenInfo; claims: JoinTokenClaims } | { ok: false; reason: string }> {
    const parts = token.trim().split('.');
    const claims = decodeJoinTokenClaims(token);
    if (parts.length !== 3 || parts[0] !== JOIN_TOKEN_PREFIX || !claims) return { ok: false, reason: 'malformed join token' };
    const want = Buffer.from(joinTokenMac(parts[1]!, this.#key));
    const got = Buffer.from(parts[2]!);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: 'join token signature does not verify (forged, or issued by another control plane)' };
    const info = await this.#read(claims.id);
    if (!info) return { ok: false, reason: `unknown join token ${claims.id}` };
    if (info.revoked) return { ok: false, reason: `join token ${claims.id} was revoked` };
    if (claims.exp * 1000 <= now.getTime()) return { ok: false, reason: `join token ${claims.id} expired at ${new Date(claims.exp * 1000).toISOString()}` };
    return { ok: true, info, claims };
  }
}

const KEY = 'token-key';
const DIR = 'tokens/';
const LEGACY = 'tokens.json';

function entryOf(info: TokenInfo): VaultEntry {
  return { name: `${DIR}${info.id}.json`, data: `${JSON.stringify(info)}\n`, secret: true };
}

/**
 * Join tokens: `weft1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`. The control plane signs
 * and verifies them (its key never leaves its data dir); the sidecar only reads the claims, to know
 * its trust domain and the CA root fingerprint the token pins. Shared by both programs.
 */
import { createHmac } from 'node:crypto';

export interface JoinTokenClaims {
  v: 1;
  id: string;
  namespace: string;
  service: string;
  trustDomain: string;
  caFingerprint: string;
  /** Expiry, Unix seconds. */
  exp: number;
}

export const JOIN_TOKEN_PREFIX = 'weft1';

export function joinTokenMac(payload: string, key: Buffer): string {
  return createHmac('sha256', key).update(`${JOIN_TOKEN_PREFIX}.${payload}`).digest('base64url');
}

export function encodeJoinToken(claims: JoinTokenClaims, key: Buffer): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  return `${JOIN_TOKEN_PREFIX}.${payload}.${joinTokenMac(payload, key)}`;
}

/** The claims, NOT verified (only the control plane can verify the MAC). */
export function decodeJoinTokenClaims(token: string): JoinTokenClaims | undefined {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts[0] !== JOIN_TOKEN_PREFIX) return undefined;
  try {
    const c = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Partial<JoinTokenClaims>;
    if (c.v !== 1 || typeof c.id !== 'string' || typeof c.namespace !== 'string' || typeof c.service !== 'string' || typeof c.trustDomain !== 'string' || typeof c.caFingerprint !== 'string' || typeof c.exp !== 'number') return undefined;
    return c as JoinTokenClaims;
  } catch {
    return undefined;
  }
}

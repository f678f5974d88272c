import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deriveKek, seal, unseal } from '../../../control-plane/ca/etcd-vault.js';

describe('sealing CA secrets for etcd', () => {
  const kek = deriveKek(Buffer.from(randomBytes(32).toString('base64')));

  it('round-trips any text, and never shows it in the sealed form', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 2000 }), (text) => {
        const sealed = seal(kek, 'root-x.key.pem', text);
        expect(unseal(kek, 'root-x.key.pem', sealed)).toBe(text);
        if (text.length >= 8) expect(sealed).not.toContain(text);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses another KEK, another entry name (moved value), a flipped byte and a truncated value', () => {
    const sealed = seal(kek, 'token-key', 'secret');
    const other = deriveKek(Buffer.from(randomBytes(32).toString('base64')));
    expect(() => unseal(other, 'token-key', sealed)).toThrow(expect.objectContaining({ code: 'CA_KEK_MISMATCH' }));
    expect(() => unseal(kek, 'admin-token', sealed)).toThrow(expect.objectContaining({ code: 'CA_KEK_MISMATCH' }));
    const raw = Buffer.from(sealed.slice('weft-sealed-v1:'.length), 'base64');
    raw[raw.length - 1] ^= 1;
    expect(() => unseal(kek, 'token-key', `weft-sealed-v1:${raw.toString('base64')}`)).toThrow(expect.objectContaining({ code: 'CA_KEK_MISMATCH' }));
    expect(() => unseal(kek, 'token-key', 'weft-sealed-v1:AAAA')).toThrow(expect.objectContaining({ code: 'STORE_CORRUPT' }));
    expect(() => unseal(kek, 'token-key', 'plain text')).toThrow(/should be encrypted/);
  });

  it('wants 32 bytes of secret in the KEK file; the same file gives the same key', () => {
    expect(() => deriveKek(Buffer.from('too short'), '/etc/weft/kek')).toThrow(/at least 32 bytes.*\/etc\/weft\/kek/);
    const text = Buffer.from(`${randomBytes(32).toString('base64')}\n`);
    expect(deriveKek(text).equals(deriveKek(Buffer.from(text.toString().trim())))).toBe(true);
  });
});

// The mesh CA and join tokens with real crypto: roots on disk (modes, reopen), CSRs made by the
// sidecar's own encoder, SAN checks, peer verification, rotation phases, an operator-supplied CA.
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaError, CertificateAuthority } from '../../../control-plane/ca/ca.js';
import { JoinTokens } from '../../../control-plane/ca/tokens.js';
import { decodeJoinTokenClaims } from '../../../common/join-token.js';
import { createCsr, generateKey } from '../../../sidecar/identity/csr.js';
import { tempDir } from '../../harness/processes.js';

const ID = { trustDomain: 'cluster.local', namespace: 'shop', service: 'orders' };
const SPIFFE = 'spiffe://cluster.local/ns/shop/sa/orders';
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('CertificateAuthority', () => {
  it('creates a P-256 root on first start, 0600 keys in a 0700 dir, and reopens the same root', async () => {
    const dir = tempDir('weft-ca-');
    const ca = await CertificateAuthority.open({ dataDir: dir });
    const roots = ca.roots();
    expect(roots).toHaveLength(1);
    expect(roots[0]!.signing).toBe(true);
    const root = new X509Certificate(ca.trustBundlePem());
    expect(root.ca).toBe(true);
    expect(root.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(mode(join(dir, 'ca'))).toBe('700');
    const keys = readdirSync(join(dir, 'ca')).filter((n) => n.includes('key'));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(mode(join(dir, 'ca', k))).toBe('600');
    const again = await CertificateAuthority.open({ dataDir: dir });
    expect(again.roots()[0]!.fingerprint).toBe(roots[0]!.fingerprint);
  });

  it('signs a sidecar CSR: one URI SAN, the asked lifetime, client and server auth, chains to the root', async () => {
    const ca = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
    const issued = await ca.signCsr(createCsr(generateKey(), SPIFFE), ID, 20_000);
    const leaf = new X509Certificate(issued.chainPem[0]!);
    expect(leaf.subjectAltName).toBe(`URI:${SPIFFE}`);
    expect(leaf.ca).toBe(false);
    expect(leaf.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    const life = Date.parse(leaf.validTo) - Date.now();
    expect(life).toBeGreaterThan(15_000);
    expect(life).toBeLessThanOrEqual(21_000);
    const root = new X509Certificate(ca.trustBundlePem());
    expect(leaf.checkIssued(root)).toBe(true);
    expect(leaf.verify(root.publicKey)).toBe(true);
    expect(ca.verifyPeer(leaf.raw)).toEqual({ spiffeId: SPIFFE, notAfter: new Date(leaf.validTo) });
  });

  it('refuses a CSR for another identity, a tampered CSR and garbage', async () => {
    const ca = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
    await expect(ca.signCsr(createCsr(generateKey(), 'spiffe://cluster.local/ns/shop/sa/payments'), ID, 60_000)).rejects.toThrow(
      new CaError(`CSR asks for identity spiffe://cluster.local/ns/shop/sa/payments but the credential names ${SPIFFE}`),
    );
    const pem = createCsr(generateKey(), SPIFFE);
    const b64 = pem.split('\n').slice(1, -2).join('');
    const der = Buffer.from(b64, 'base64');
    der[der.length - 10] = der[der.length - 10]! ^ 0xff; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(ca.signCsr(tampered, ID, 60_000)).rejects.toThrow(/signature does not verify|does not parse/);
    await expect(ca.signCsr('hello', ID, 60_000)).rejects.toThrow(/does not parse/);
  });

  it('verifyPeer refuses a certificate from another CA and an expired one', async () => {
    const ca = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
    const other = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
    const foreign = await other.signCsr(createCsr(generateKey(), SPIFFE), ID, 60_000);
    expect(ca.verifyPeer(new X509Certificate(foreign.chainPem[0]!).raw)).toEqual({ error: 'certificate is not issued by this mesh CA' });
    const own = await ca.signCsr(createCsr(generateKey(), SPIFFE), ID, 60_000);
    expect(ca.verifyPeer(new X509Certificate(own.chainPem[0]!).raw, new Date(Date.now() + 3600_000))).toMatchObject({ error: expect.stringMatching(/not valid now/) });
  });

  it('rotates the root in three phases that survive a restart', async () => {
    const dir = tempDir('weft-ca-');
    const ca = await CertificateAuthority.open({ dataDir: dir });
    const old = ca.roots()[0]!.fingerprint;
    const oldLeaf = await ca.signCsr(createCsr(generateKey(), SPIFFE), ID, 60_000);
    let changes = 0;
    ca.onChange(() => changes++);
    await ca.beginRotation();
    expect(ca.rotationPhase()).toBe('added');
    const added = ca.roots().map((r) => r.fingerprint);
    expect(added[0]).toBe(old);
    expect(added).toHaveLength(2);
    const reopened = await CertificateAuthority.open({ dataDir: dir });
    expect(reopened.rotationPhase()).toBe('added');
    expect(reopened.roots().map((r) => r.fingerprint)).toEqual(added);
    await ca.promoteRotation();
    expect(ca.roots().map((r) => r.fingerprint)).toEqual([added[1], old]);
    const newLeaf = await ca.signCsr(createCsr(generateKey(), SPIFFE), ID, 60_000);
    expect(newLeaf.issuerFingerprint).toBe(added[1]);
    // Both generations verify while both roots are trusted.
    expect(ca.verifyPeer(new X509Certificate(oldLeaf.chainPem[0]!).raw)).toHaveProperty('spiffeId', SPIFFE);
    expect(ca.verifyPeer(new X509Certificate(newLeaf.chainPem[0]!).raw)).toHaveProperty('spiffeId', SPIFFE);
    await ca.finishRotation();
    expect(ca.rotationPhase()).toBe('none');
    expect(ca.roots().map((r) => r.fingerprint)).toEqual([added[1]]);
    expect(ca.verifyPeer(new X509Certificate(oldLeaf.chainPem[0]!).raw)).toHaveProperty('error');
    expect(changes).toBe(3);
    await expect(ca.promoteRotation()).rejects.toThrow(CaError);
  });

  it('uses an operator-supplied CA, and refuses to rotate it', async () => {
    const src = tempDir('weft-ca-');
    const base = await CertificateAuthority.open({ dataDir: src });
    const files = readdirSync(join(src, 'ca'));
    const certFile = join(src, 'ca', files.find((n) => n.endsWith('.cert.pem'))!);
    const keyFile = join(src, 'ca', files.find((n) => n.endsWith('.key.pem'))!);
    const ca = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-'), rootCertFile: certFile, rootKeyFile: keyFile });
    expect(ca.external).toBe(true);
    expect(ca.roots()[0]!.fingerprint).toBe(base.roots()[0]!.fingerprint);
    const leaf = await ca.signCsr(createCsr(generateKey(), SPIFFE), ID, 60_000);
    expect(new X509Certificate(leaf.chainPem[0]!).verify(new X509Certificate(readFileSync(certFile)).publicKey)).toBe(true);
    await expect(ca.beginRotation()).rejects.toThrow(/rotate it by replacing those files/);
    const wrongKey = join(tempDir('weft-ca-'), 'x');
    await expect(CertificateAuthority.open({ dataDir: tempDir('weft-ca-'), rootCertFile: certFile, rootKeyFile: wrongKey })).rejects.toThrow(CaError);
  });
});

describe('JoinTokens', () => {
  const TD = { trustDomain: 'cluster.local', caFingerprint: 'AB:CD' };
  it('verifies a good token and refuses expired, forged, revoked and unknown ones with distinct reasons', async () => {
    const dir = tempDir('weft-tok-');
    const t = await JoinTokens.open(dir);
    const { token, info } = await t.create({ namespace: 'shop', service: 'orders', ttlMs: 60_000, ...TD });
    const ok = await t.verify(token);
    expect(ok.ok && ok.info.service).toBe('orders');
    expect(decodeJoinTokenClaims(token)).toMatchObject({ id: info.id, service: 'orders', namespace: 'shop', caFingerprint: 'AB:CD' });
    expect(await t.verify(token, new Date(Date.now() + 120_000))).toEqual({ ok: false, reason: `join token ${info.id} expired at ${info.expiresAt}` });
    const flipped = token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA');
    expect(await t.verify(flipped)).toEqual({ ok: false, reason: 'join token signature does not verify (forged, or issued by another control plane)' });
    const otherCp = await JoinTokens.open(tempDir('weft-tok-'));
    const foreign = (await otherCp.create({ namespace: 'shop', service: 'orders', ttlMs: 60_000, ...TD })).token;
    expect(await t.verify(foreign)).toMatchObject({ ok: false, reason: expect.stringMatching(/signature does not verify/) });
    expect(await t.verify('weft1.nope.nope')).toEqual({ ok: false, reason: 'malformed join token' });
    await t.revoke(info.id);
    expect(await t.verify(token)).toEqual({ ok: false, reason: `join token ${info.id} was revoked` });
    await expect(t.revoke('nope')).rejects.toThrow('no join token with id nope');
    // Unknown id: a correctly signed token the registry never saw (e.g. tokens.json restored from backup).
    const fresh = await JoinTokens.open(dir);
    expect((await fresh.list()).map((x) => x.id)).toEqual([info.id]);
    expect((await fresh.list())[0]!.revoked).toBe(true);
  });

  it('keeps the key and the records 0600, and never the token itself', async () => {
    const dir = tempDir('weft-tok-');
    const t = await JoinTokens.open(dir);
    const { token, info } = await t.create({ namespace: 'default', service: 'web', ttlMs: 60_000, ...TD });
    expect(mode(join(dir, 'ca', 'token-key'))).toBe('600');
    const record = join(dir, 'ca', 'tokens', `${info.id}.json`);
    expect(mode(record)).toBe('600');
    const text = readFileSync(record, 'utf8');
    expect(text).not.toContain(token.split('.')[2]!);
    expect(text).not.toContain(token);
  });

  it('takes over the records of a tokens.json written by an earlier version', async () => {
    const dir = tempDir('weft-tok-');
    const t = await JoinTokens.open(dir);
    const { token, info } = await t.create({ namespace: 'default', service: 'web', ttlMs: 60_000, ...TD });
    // What an earlier version kept: every record in one file.
    writeFileSync(join(dir, 'ca', 'tokens.json'), JSON.stringify([{ ...info, revoked: true }]), { mode: 0o600 });
    rmSync(join(dir, 'ca', 'tokens'), { recursive: true });
    const upgraded = await JoinTokens.open(dir);
    expect(existsSync(join(dir, 'ca', 'tokens.json'))).toBe(false);
    expect(await upgraded.verify(token)).toEqual({ ok: false, reason: `join token ${info.id} was revoked` });
  });

  it('prunes records of tokens expired for more than a day', async () => {
    const t = await JoinTokens.open(tempDir('weft-tok-'));
    const live = await t.create({ namespace: 'default', service: 'web', ttlMs: 3 * 24 * 3600_000, ...TD });
    const dead = await t.create({ namespace: 'default', service: 'web', ttlMs: 1000, ...TD });
    expect(await t.prune(Date.now() + 2 * 24 * 3600_000)).toBe(1);
    expect((await t.list()).map((x) => x.id)).toEqual([live.info.id]);
    expect(await t.verify(dead.token)).toEqual({ ok: false, reason: `unknown join token ${dead.info.id}` });
  });
});

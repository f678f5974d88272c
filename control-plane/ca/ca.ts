/**
 * The mesh certificate authority. It issues short-lived X.509 workload certificates with one URI
 * SAN, spiffe://<trust-domain>/ns/<namespace>/sa/<service>, from CSRs (the key stays with the
 * workload), and the control plane's own serving certificate.
 *
 * Roots: an ECDSA P-256 root made on first start and kept under <data-dir>/ca (directory 0700,
 * key files 0600, written atomically), or the operator's own signing certificate and key (a root
 * or an intermediate, with the chain above it). Rotation state (trusted roots, which one signs,
 * phase) lives in ca/state.json, so a restart resumes a rotation where it was. With replicas on
 * etcd all of it lives in etcd instead (vault.ts, etcd-vault.ts: keys sealed under the KEK), so
 * every replica signs with the same root and follows the rotation steps another one takes.
 *
 * @peculiar/x509 builds and parses certificates and CSRs (node:crypto can verify but not build
 * them); node:crypto's X509Certificate verifies peers on the hot path.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { X509Certificate, randomBytes, webcrypto, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileVault, type Vault, type VaultEntry } from './vault.js';
import { silentLogger, type Logger } from '../../common/log.js';

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface CaOptions {
  dataDir: string;
  rootCertFile?: string;
  rootKeyFile?: string;
  chainFile?: string;
  logger?: Logger;
  /** Where roots and rotation state live: <dataDir>/ca by default, etcd for replicas. */
  vault?: Vault;
}

export interface Identity {
  trustDomain: string;
  namespace: string;
  service: string;
}

export interface IssuedCertificate {
  /** Leaf first, then intermediates (not the root). */
  chainPem: string[];
  spiffeId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  issuerFingerprint: string;
}

export interface RootInfo {
  fingerprint: string;
  subject: string;
  notBefore: string;
  notAfter: string;
  signing: boolean;
}

export class CaError extends Error {}

export function spiffeIdOf(id: Identity): string {
  return `spiffe://${id.trustDomain}/ns/${id.namespace}/sa/${id.service}`;
}

interface Signer {
  /** The certificate that signs leaves (root or intermediate). */
  cert: x509.X509Certificate;
  key: CryptoKey;
  /** Certificates between the signer and the root, the signer first (empty for a root signer). */
  intermediates: string[];
  /** The self-signed root at the top. */
  root: X509Certificate;
}

interface State {
  /** Fingerprints of trusted built-in roots; the first signs. */
  trusted: string[];
  phase: 'none' | 'added' | 'promoted';
}

const STATE = 'state.json';
const stateJson = (s: State) => `${JSON.stringify(s, null, 2)}\n`;
const fpName = (fp: string) => fp.replace(/:/g, '').toLowerCase().slice(0, 16);
const pemOf = (c: x509.X509Certificate) => c.toString('pem');

export class CertificateAuthority {
  readonly external: boolean;
  readonly #vault: Vault;
  readonly #log: Logger;
  /** Built-in roots by fingerprint. */
  readonly #roots = new Map<string, { cert: x509.X509Certificate; node: X509Certificate; key: CryptoKey }>();
  #state: State = { trusted: [], phase: 'none' };
  /** The stored state as read or written (what a conditional write compares with). */
  #stateText: string | undefined;
  #external: Signer | undefined;
  readonly #listeners: Array<() => void> = [];

  private constructor(vault: Vault, log: Logger, external: Signer | undefined) {
    this.#vault = vault;
    this.#log = log;
    this.#external = external;
    this.external = external !== undefined;
  }

  static async open(o: CaOptions): Promise<CertificateAuthority> {
    const log = o.logger ?? silentLogger;
    const vault: Vault = o.vault ?? (await FileVault.open(join(o.dataDir, 'ca')));
    if (o.rootCertFile || o.rootKeyFile) {
      if (!o.rootCertFile || !o.rootKeyFile) throw new CaError('--ca-cert-file and --ca-key-file go together');
      return new CertificateAuthority(vault, log, await loadExternal(o.rootCertFile, o.rootKeyFile, o.chainFile));
    }
    const ca = new CertificateAuthority(vault, log, undefined);
    await ca.#load();
    // Replicas sharing the vault: a rotation step taken by one is followed by the others.
    vault.watch?.((names) => {
      if (names.includes(STATE)) void ca.reload().catch((e: unknown) => log.warn({ err: { message: (e as Error).message } }, 'CA state changed in the store but could not be read; keeping the current one'));
    });
    return ca;
  }

  async #load(): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const text = await this.#vault.get(STATE);
      if (text !== undefined) return this.#adopt(text);
      // No CA yet: make one, unless another replica makes it first (then take that one).
      const root = await this.#newRoot();
      const state: State = { trusted: [root.fp], phase: 'none' };
      const stateText = stateJson(state);
      if (await this.#vault.put([...root.entries, { name: STATE, data: stateText, secret: false }], { ifValue: { name: STATE, data: undefined } })) {
        this.#roots.set(root.fp, root.material);
        this.#state = state;
        this.#stateText = stateText;
        this.#log.info({ fingerprint: root.fp, where: this.#vault.where }, 'CA root created');
        return;
      }
    }
    throw new CaError(`${this.#vault.where}: the CA state keeps changing while it is being created`);
  }

  /** Makes `text` (a stored state) the current one, reading roots not yet loaded. */
  async #adopt(text: string): Promise<void> {
    let state: State;
    try {
      state = JSON.parse(text) as State;
      if (!Array.isArray(state.trusted) || !state.trusted.length || !['none', 'added', 'promoted'].includes(state.phase)) throw new Error('not a CA state');
    } catch (e) {
      throw new CaError(`${this.#vault.where}/${STATE}: ${(e as Error).message}`);
    }
    for (const fp of state.trusted) {
      if (this.#roots.has(fp)) continue;
      const base = `root-${fpName(fp)}`;
      const certPem = await this.#vault.get(`${base}.cert.pem`);
      const keyPem = await this.#vault.get(`${base}.key.pem`);
      if (!certPem || !keyPem) throw new CaError(`${this.#vault.where}: root ${fp} is trusted but its certificate or key is missing`);
      // The certificate must be the one the state names, and the key its own.
      const node = new X509Certificate(certPem);
      if (node.fingerprint256 !== fp) throw new CaError(`${this.#vault.where}: root-${fpName(fp)}.cert.pem has fingerprint ${node.fingerprint256}, not ${fp} as the CA state says`);
      if (!node.checkPrivateKey(createPrivateKey(keyPem))) throw new CaError(`${this.#vault.where}: root ${fp}: the key does not belong to the certificate`);
      this.#roots.set(fp, { cert: new x509.X509Certificate(certPem), node, key: await importKey(keyPem) });
    }
    for (const fp of [...this.#roots.keys()]) if (!state.trusted.includes(fp)) this.#roots.delete(fp);
    this.#state = state;
    this.#stateText = text;
  }

  /**
   * Reads the stored state again (another replica took a rotation step): the trust bundle and
   * the signing root follow it, and listeners hear of it.
   */
  async reload(): Promise<void> {
    if (this.#external) return;
    const text = await this.#vault.get(STATE);
    if (text === undefined || text === this.#stateText) return;
    await this.#adopt(text);
    this.#log.info({ phase: this.#state.phase, roots: this.#state.trusted }, 'CA state changed by another replica');
    this.#emit();
  }

  async #newRoot(): Promise<{ fp: string; material: { cert: x509.X509Certificate; node: X509Certificate; key: CryptoKey }; entries: VaultEntry[] }> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: positiveSerial(),
      name: `O=weft, CN=Weft mesh root ${randomBytes(3).toString('hex')}`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 10 * 365 * 24 * 3600_000),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    const pem = pemOf(cert);
    const node = new X509Certificate(pem);
    const fp = node.fingerprint256;
    const base = `root-${fpName(fp)}`;
    return {
      fp,
      material: { cert, node, key: keys.privateKey },
      entries: [
        { name: `${base}.key.pem`, data: await pkcs8Pem(keys.privateKey), secret: true },
        { name: `${base}.cert.pem`, data: pem, secret: false },
      ],
    };
  }

  /**
   * Stores the next rotation state, only if the stored one is still the one this replica holds:
   * two replicas asked to rotate at once make one rotation, and the other is told.
   */
  async #commitState(next: State, entries: VaultEntry[] = [], remove: string[] = []): Promise<void> {
    const text = stateJson(next);
    if (!(await this.#vault.put([...entries, { name: STATE, data: text, secret: false }], { remove, ifValue: { name: STATE, data: this.#stateText } }))) {
      await this.reload();
      throw new CaError(`the CA rotation state changed meanwhile (another replica took a step; now phase ${this.#state.phase}): nothing was changed here`);
    }
    this.#state = next;
    this.#stateText = text;
  }

  #emit(): void {
    for (const l of this.#listeners) l();
  }

  onChange(fn: () => void): void {
    this.#listeners.push(fn);
  }

  /** The roots in bundle order: the signing root first. */
  #bundle(): X509Certificate[] {
    if (this.#external) return [this.#external.root];
    return this.#state.trusted.map((fp) => this.#roots.get(fp)!.node);
  }

  #signer(): Signer {
    if (this.#external) return this.#external;
    const r = this.#roots.get(this.#state.trusted[0]!)!;
    return { cert: r.cert, key: r.key, intermediates: [], root: r.node };
  }

  trustBundlePem(): string {
    return this.#bundle()
      .map((c) => c.toString().trim())
      .join('\n')
      .concat('\n');
  }

  roots(): RootInfo[] {
    return this.#bundle().map((c, i) => ({
      fingerprint: c.fingerprint256,
      subject: c.subject.replace(/\n/g, ', '),
      notBefore: new Date(c.validFrom).toISOString(),
      notAfter: new Date(c.validTo).toISOString(),
      signing: i === 0,
    }));
  }

  rotationPhase(): 'none' | 'added' | 'promoted' {
    return this.#state.phase;
  }

  async signCsr(csrPem: string, id: Identity, ttlMs: number): Promise<IssuedCertificate> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (e) {
      throw new CaError(`CSR does not parse: ${(e as Error).message}`);
    }
    if (!(await csr.verify())) throw new CaError('CSR signature does not verify');
    const alg = csr.publicKey.algorithm as { name: string; namedCurve?: string; modulusLength?: number };
    const okKey = (alg.name === 'ECDSA' && (alg.namedCurve === 'P-256' || alg.namedCurve === 'P-384')) || (alg.name.startsWith('RSA') && (alg.modulusLength ?? 0) >= 2048);
    if (!okKey) throw new CaError(`CSR key ${alg.name} ${alg.namedCurve ?? alg.modulusLength ?? ''} is not accepted (EC P-256/P-384 or RSA >= 2048)`);
    const raw = csr.getExtension('2.5.29.17');
    const sanExt = raw ? new x509.SubjectAlternativeNameExtension(raw.rawData) : undefined;
    const uris = sanExt?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
    const want = spiffeIdOf(id);
    if (uris.length !== 1) throw new CaError(uris.length ? `CSR has ${uris.length} URI SANs; want exactly one (${want})` : 'CSR has no URI SAN');
    if (uris[0] !== want) throw new CaError(`CSR asks for identity ${uris[0]} but the credential names ${want}`);
    const s = this.#signer();
    const now = Date.now();
    const notAfter = new Date(Math.min(now + ttlMs, s.cert.notAfter.getTime()));
    const serial = positiveSerial();
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial,
      subject: 'O=weft',
      issuer: s.cert.subject,
      notBefore: new Date(now - 60_000),
      notAfter,
      publicKey: csr.publicKey,
      signingKey: s.key,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: want }], false),
        await x509.AuthorityKeyIdentifierExtension.create(s.cert, false),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
      ],
    });
    const signerPem = this.#external ? [pemOf(s.cert), ...s.intermediates] : [];
    const signerNode = new X509Certificate(pemOf(s.cert));
    return { chainPem: [pemOf(leaf), ...signerPem], spiffeId: want, serial, notBefore: new Date(now - 60_000), notAfter, issuerFingerprint: signerNode.fingerprint256 };
  }

  async issueServing(o: { dnsNames: string[]; ips: string[]; spiffeId: string; ttlMs: number }): Promise<{ keyPem: string; chainPem: string[]; notAfter: Date }> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const s = this.#signer();
    const now = Date.now();
    const notAfter = new Date(Math.min(now + o.ttlMs, s.cert.notAfter.getTime()));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: positiveSerial(),
      subject: 'O=weft, CN=weft control plane',
      issuer: s.cert.subject,
      notBefore: new Date(now - 60_000),
      notAfter,
      publicKey: keys.publicKey,
      signingKey: s.key,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([...o.dnsNames.map((v) => ({ type: 'dns' as const, value: v })), ...o.ips.map((v) => ({ type: 'ip' as const, value: v })), { type: 'url' as const, value: o.spiffeId }]),
        await x509.AuthorityKeyIdentifierExtension.create(s.cert, false),
      ],
    });
    const keyPem = await pkcs8Pem(keys.privateKey);
    const signerPem = this.#external ? [pemOf(s.cert), ...s.intermediates] : [];
    return { keyPem, chainPem: [pemOf(cert), ...signerPem], notAfter };
  }

  /** Checks a peer's leaf against every trusted CA (roots, and the operator's intermediate). */
  verifyPeer(certDer: Buffer, now = new Date()): { spiffeId: string; notAfter: Date } | { error: string } {
    let leaf: X509Certificate;
    try {
      leaf = new X509Certificate(certDer);
    } catch {
      return { error: 'certificate does not parse' };
    }
    const t = now.getTime();
    if (t < Date.parse(leaf.validFrom) || t > Date.parse(leaf.validTo)) return { error: `certificate is not valid now (valid ${leaf.validFrom} to ${leaf.validTo})` };
    const issuers = [...this.#bundle()];
    if (this.#external) issuers.push(new X509Certificate(pemOf(this.#external.cert)));
    if (!issuers.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) return { error: 'certificate is not issued by this mesh CA' };
    const id = (leaf.subjectAltName ?? '').split(/,\s*/).find((p) => p.startsWith('URI:spiffe://'))?.slice(4);
    if (!id) return { error: 'certificate has no SPIFFE ID' };
    return { spiffeId: id, notAfter: new Date(leaf.validTo) };
  }

  #noExternal(): void {
    if (this.#external) throw new CaError('the CA comes from --ca-cert-file/--ca-key-file: rotate it by replacing those files');
  }

  async beginRotation(): Promise<void> {
    this.#noExternal();
    if (this.#state.phase !== 'none') throw new CaError(`a root rotation is already in progress (phase ${this.#state.phase})`);
    const root = await this.#newRoot();
    await this.#commitState({ trusted: [this.#state.trusted[0]!, root.fp], phase: 'added' }, root.entries);
    this.#roots.set(root.fp, root.material);
    this.#emit();
  }

  async promoteRotation(): Promise<void> {
    this.#noExternal();
    if (this.#state.phase !== 'added') throw new CaError(`cannot promote in phase ${this.#state.phase}`);
    const [old, next] = this.#state.trusted as [string, string];
    await this.#commitState({ trusted: [next, old], phase: 'promoted' });
    this.#emit();
  }

  async finishRotation(): Promise<void> {
    this.#noExternal();
    if (this.#state.phase !== 'promoted') throw new CaError(`cannot finish in phase ${this.#state.phase}`);
    const [next, old] = this.#state.trusted as [string, string];
    const base = `root-${fpName(old)}`;
    await this.#commitState({ trusted: [next], phase: 'none' }, [], [`${base}.key.pem`, `${base}.cert.pem`]);
    this.#roots.delete(old);
    this.#emit();
  }
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const b64 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${b64.replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

function positiveSerial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f;
  if (b[0] === 0) b[0] = 1;
  return b.toString('hex');
}

async function importKey(pem: string): Promise<CryptoKey> {
  // Any PEM form (PKCS#8, SEC1, RSA) through node, then into WebCrypto as PKCS#8.
  const ko = createPrivateKey(pem);
  const der = ko.export({ type: 'pkcs8', format: 'der' });
  const t = ko.asymmetricKeyType;
  if (t === 'ec') {
    const curve = ko.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 'P-384' : 'P-256';
    return webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve }, false, ['sign']) as Promise<CryptoKey>;
  }
  if (t === 'rsa') return webcrypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']) as Promise<CryptoKey>;
  throw new CaError(`unsupported CA key type ${t}`);
}

async function loadExternal(certFile: string, keyFile: string, chainFile: string | undefined): Promise<Signer> {
  let certPem: string, keyPem: string, chainPem = '';
  try {
    certPem = await readFile(certFile, 'utf8');
    keyPem = await readFile(keyFile, 'utf8');
    if (chainFile) chainPem = await readFile(chainFile, 'utf8');
  } catch (e) {
    throw new CaError(`CA files: ${(e as Error).message}`);
  }
  const first = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
  if (!first) throw new CaError(`--ca-cert-file ${certFile}: no PEM certificate`);
  const node = new X509Certificate(first);
  if (!node.ca) throw new CaError(`--ca-cert-file ${certFile}: not a CA certificate (basicConstraints CA:TRUE)`);
  const ko = createPrivateKey(keyPem);
  if (!node.checkPrivateKey(ko)) throw new CaError(`--ca-key-file ${keyFile} does not match --ca-cert-file ${certFile}`);
  const chain = (chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
  const selfSigned = (c: X509Certificate) => c.checkIssued(c) && c.verify(c.publicKey);
  const root = selfSigned(node) ? node : chain.find(selfSigned);
  if (!root) throw new CaError('the CA certificate is not self-signed and --ca-chain-file has no root');
  const intermediates = chain.filter((c) => c !== root).map((c) => c.toString());
  const keyAlg = ko.asymmetricKeyType;
  if (keyAlg !== 'ec') throw new CaError(`--ca-key-file: only EC keys are supported for signing (got ${keyAlg})`);
  return { cert: new x509.X509Certificate(first), key: await importKey(keyPem), intermediates, root };
}

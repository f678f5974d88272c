/**
 * The sidecar's TLS material and the contexts built from it: its workload certificate (key made
 * here, certificate from the control plane's CA), the trust bundle (SDS `ROOTCA`), and the
 * control plane's trust anchor. Contexts are built once per change, never per connection; every
 * listener and pool asks for the current one, so a renewed certificate or a new root is used by
 * the next handshake with no restart and no dropped connection.
 *
 * The control-plane channel asks it for its TLS material at every connect (controlPlaneTls), so
 * it presents the current workload certificate and trusts the current bundle.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { spiffeIdsOf } from '../../common/identity-service.js';
import type { TlsParams } from '../xds/types/tls.js';

export interface WorkloadCert {
  keyPem: string;
  /** Leaf first, then intermediates. */
  chainPem: string[];
  spiffeId: string;
  notBefore: Date;
  notAfter: Date;
  serial: string;
  /** When this sidecar received it (renewal is scheduled from here). */
  receivedAt: Date;
}

/** Public facts about a certificate (what config dumps and the CLI show; never key material). */
export interface CertSummary {
  subject: string;
  issuer: string;
  spiffeId: string | undefined;
  serial: string;
  notBefore: string;
  notAfter: string;
  fingerprint: string;
}

export function summarize(pem: string): CertSummary {
  const x = new X509Certificate(pem);
  return {
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    spiffeId: spiffeIdsOf(x.subjectAltName)[0],
    serial: x.serialNumber,
    notBefore: new Date(x.validFrom).toISOString(),
    notAfter: new Date(x.validTo).toISOString(),
    fingerprint: x.fingerprint256,
  };
}

export function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export class MeshTls {
  #cert: WorkloadCert | undefined;
  #bundle = '';
  #cpTrust = '';
  #client: tls.SecureContext | undefined;
  /** Client contexts for clusters that allow TLS 1.2, by versions and suites. */
  readonly #clients = new Map<string, tls.SecureContext>();
  #server: tls.SecureContext | undefined;
  readonly #changed = new Set<() => void>();
  /** How many times the workload certificate was replaced (metrics, tests). */
  rotations = 0;

  get cert(): WorkloadCert | undefined {
    return this.#cert;
  }

  get bundlePem(): string {
    return this.#bundle;
  }

  get ready(): boolean {
    return this.#cert !== undefined && this.#bundle !== '';
  }

  setIdentity(c: WorkloadCert): void {
    if (this.#cert) this.rotations++;
    this.#cert = c;
    this.#rebuild();
  }

  setBundle(pem: string): void {
    if (pem === this.#bundle) return;
    this.#bundle = pem;
    this.#rebuild();
  }

  /** What the control plane's xDS certificate must chain to (pinned root or --ca-file). */
  setControlPlaneTrust(pem: string): void {
    this.#cpTrust = pem;
  }

  onChange(fn: () => void): void {
    this.#changed.add(fn);
  }

  /** The issuer of the current leaf is the bundle's first root (the one the CA signs with now)? */
  leafFromCurrentRoot(): boolean {
    const c = this.#cert;
    const first = splitPem(this.#bundle)[0];
    if (!c || !first) return true;
    try {
      const root = new X509Certificate(first);
      const top = new X509Certificate(c.chainPem.at(-1)!);
      return top.checkIssued(root) !== undefined && top.verify(root.publicKey);
    } catch {
      return false;
    }
  }

  #rebuild(): void {
    const c = this.#cert;
    this.#clients.clear();
    if (c && this.#bundle) {
      const opts = { key: c.keyPem, cert: c.chainPem.join('\n'), ca: this.#bundle, minVersion: 'TLSv1.3' as const };
      this.#client = tls.createSecureContext(opts);
      this.#server = tls.createSecureContext(opts);
    }
    for (const fn of this.#changed) fn();
  }

  /**
   * Context for dialling peers (client certificate + bundle): TLS 1.3 only, or with `params`
   * (a cluster that allows TLS 1.2) those versions and suites. One context per setting, rebuilt
   * with the certificate.
   */
  clientContext(params?: TlsParams): tls.SecureContext | undefined {
    if (!params || (params.minVersion === 'TLSv1.3' && params.maxVersion === 'TLSv1.3')) return this.#client;
    const c = this.#cert;
    if (!c || !this.#bundle) return undefined;
    const key = `${params.minVersion}|${params.maxVersion}|${params.ciphers ?? ''}`;
    let ctx = this.#clients.get(key);
    if (!ctx) {
      ctx = tls.createSecureContext({ key: c.keyPem, cert: c.chainPem.join('\n'), ca: this.#bundle, minVersion: params.minVersion, maxVersion: params.maxVersion, ...(params.ciphers ? { ciphers: params.ciphers } : {}) });
      this.#clients.set(key, ctx);
    }
    return ctx;
  }

  /** Context for the inbound listener. */
  serverContext(): tls.SecureContext | undefined {
    return this.#server;
  }

  /** Options for tls.Server#setSecureContext. */
  serverOptions(): tls.SecureContextOptions | undefined {
    const c = this.#cert;
    // Versions and suites are the listener's (its transport settings), never the material's.
    return c && this.#bundle ? { key: c.keyPem, cert: c.chainPem.join('\n'), ca: this.#bundle } : undefined;
  }

  /**
   * TLS material for a connection to the control plane: the pinned or --ca-file anchor plus the
   * bundle (so a rotated root is trusted for xDS too), and the current workload certificate.
   */
  controlPlaneTls(): { ca: string; cert?: string; key?: string } {
    const ca = [this.#cpTrust, this.#bundle].filter(Boolean).join('\n');
    const c = this.#cert;
    return c ? { ca, cert: c.chainPem.join('\n'), key: c.keyPem } : { ca };
  }
}

/** A checkServerIdentity that accepts exactly the given SPIFFE IDs (any when the list is empty). */
export function spiffeVerifier(allowed: readonly string[]): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const ids = spiffeIdsOf(cert.subjectaltname);
    if (!ids.length) return Object.assign(new Error('peer certificate has no SPIFFE ID'), { code: 'ERR_WEFT_PEER_IDENTITY' });
    if (allowed.length && !ids.some((id) => allowed.includes(id))) {
      return Object.assign(new Error(`peer is ${ids.join(', ')}, expected ${allowed.join(' or ')}`), { code: 'ERR_WEFT_PEER_IDENTITY' });
    }
    return undefined;
  };
}

const PEER = Symbol('weft.peerPrincipal');
type WithPeer = tls.TLSSocket & { [PEER]?: string | null };

/** The verified SPIFFE ID of a TLS peer (cached per connection); undefined on plaintext. */
export function peerPrincipal(socket: unknown): string | undefined {
  const s = socket as WithPeer;
  if (!s || s.encrypted !== true) return undefined;
  let v = s[PEER];
  if (v === undefined) {
    v = s.authorized ? (spiffeIdsOf(s.getPeerCertificate().subjectaltname)[0] ?? null) : null;
    s[PEER] = v;
  }
  return v ?? undefined;
}

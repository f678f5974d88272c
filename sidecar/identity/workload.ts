/**
 * The sidecar's workload identity: it makes its own P-256 key, sends a CSR to the control plane's
 * IdentityService and gets back a short-lived certificate for
 * spiffe://<trust-domain>/ns/<namespace>/sa/<service>. The key never leaves this process.
 *
 * First contact is authenticated by a join token; the control plane's certificate is checked
 * against --ca-file or, without it, against the root whose SHA-256 fingerprint the token pins
 * (the root is taken from the chain the control plane presents, and used only if it matches).
 * Renewals are authenticated by the current certificate, at `renewFraction` of its lifetime, and
 * at once when the trust bundle's first root (the one the CA signs with) is not the leaf's issuer:
 * that is how a root rotation reissues every leaf.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { createMessage } from '../../common/wire-encode.js';
import { controlPlaneSpiffeId, identityServiceDefinition, spiffeIdsOf } from '../../common/identity-service.js';
import { decodeJoinTokenClaims, type JoinTokenClaims } from '../../common/join-token.js';
import type { Logger } from '../../common/log.js';
import { SignCertificateRequestSchema, type SignCertificateResponse } from '../../proto/gen/weft/v1/identity_pb.js';
import { createCsr, generateKey } from './csr.js';
import { MeshTls, splitPem, spiffeVerifier } from '../tls/mesh-tls.js';
import { ControlPlanes, hostPort, requireHostPort } from './control-planes.js';
import { isNotTlsError, notTlsMessage } from './not-tls.js';
import { GrpcChannel, GrpcError, GrpcStatus, type ChannelTls } from '../xds/grpc-channel.js';

export interface IdentityOptions {
  /** host:port of the control plane's xDS (TLS) listener, or the replicas (shared with the ADS client). */
  address: string | ControlPlanes;
  namespace: string;
  service: string;
  nodeId: string;
  token: string | undefined;
  /** PEM file with the root(s) to verify the control plane with; else the token pins one. */
  caFile: string | undefined;
  /** Used when the token does not say (no token: renewals only). */
  trustDomain: string;
  /** Renew when this fraction of the lifetime has passed (0 < f < 1). */
  renewFraction: number;
  logger: Logger;
  tls: MeshTls;
}

export class IdentityError extends Error {
  /** The control plane answered no (not: could not be reached). */
  constructor(
    message: string,
    readonly refused = false,
  ) {
    super(message);
  }
}

const normFp = (fp: string) => fp.replace(/:/g, '').toUpperCase();

/**
 * The SNI a proxy sends the control plane when its address is an IP literal. Sending the IP as
 * the TLS server name is what RFC 6066 forbids and Node warns about (DEP0123); the control plane
 * is verified by its SPIFFE ID (spiffeVerifier ignores the host), so the name only fills SNI.
 */
export const CONTROL_PLANE_SNI = 'control-plane.weft';

/**
 * Keepalive pings on the control-plane channel: a replica that is cut off (a partition, a host
 * that vanished) sends no RST, and without them the stream would wait forever instead of failing
 * over to another replica. 5 s + 5 s: a dead path is noticed within about 10 s.
 */
export const CONTROL_PLANE_KEEPALIVE = { intervalMs: 5000, timeoutMs: 5000 } as const;

/** The TLS server name for a control plane at `address` (host:port): its DNS name, or CONTROL_PLANE_SNI for an IP. */
export function controlPlaneServername(address: string): string {
  const { host } = requireHostPort(address);
  return net.isIP(host) ? CONTROL_PLANE_SNI : host;
}

/** TLS material for the control-plane channel, read at each connect. */
export type ControlPlaneTls = () => Omit<ChannelTls, 'servername'>;

/** A gRPC channel to the control plane at `address`: keepalive, and with `tls` its SNI rule. Plaintext without `tls`. */
export function controlPlaneChannel(address: string, tls?: ControlPlaneTls): GrpcChannel {
  const servername = tls && controlPlaneServername(address);
  return new GrpcChannel(address, { keepalive: CONTROL_PLANE_KEEPALIVE, ...(tls ? { tls: () => ({ ...tls(), servername }) } : {}) });
}

/** Connects once without verifying, and returns the presented certificate whose fingerprint is pinned. */
async function fetchPinnedRoot(address: string, fingerprint: string, timeoutMs = 5000): Promise<string> {
  const hp = hostPort(address);
  if (!hp) throw new IdentityError(`--control-plane: want HOST:PORT, got '${address}'`);
  const { host, port } = hp;
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host, port, rejectUnauthorized: false, ALPNProtocols: ['h2'], ...(net.isIP(host) ? {} : { servername: host }) });
    const t = setTimeout(() => (s.destroy(), reject(new IdentityError(`control plane ${address} did not complete a TLS handshake in ${timeoutMs} ms`))), timeoutMs);
    s.once('error', (e) => {
      clearTimeout(t);
      if (isNotTlsError(e)) void notTlsMessage(address).then((why) => reject(new IdentityError(why)));
      else reject(new IdentityError(`cannot reach the control plane at ${address}: ${e.message}`));
    });
    s.once('secureConnect', () => {
      clearTimeout(t);
      let c: tls.DetailedPeerCertificate | undefined = s.getPeerCertificate(true);
      const want = normFp(fingerprint);
      const seen = new Set<string>();
      while (c && c.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        if (normFp(c.fingerprint256) === want) {
          const pem = new X509Certificate(c.raw).toString();
          s.destroy();
          resolve(pem);
          return;
        }
        c = c.issuerCertificate;
      }
      s.destroy();
      reject(new IdentityError(`the control plane at ${address} does not present the CA root the join token pins (${fingerprint}); wrong control plane, or pass --ca-file`, true));
    });
  });
}

export class WorkloadIdentity {
  readonly #o: IdentityOptions;
  readonly #log: Logger;
  readonly #claims: JoinTokenClaims | undefined;
  readonly trustDomain: string;
  readonly spiffeId: string;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> | undefined;
  #closed = false;
  #failures = 0;
  readonly #planes: ControlPlanes;

  constructor(o: IdentityOptions) {
    this.#o = o;
    this.#planes = ControlPlanes.of(o.address);
    this.#log = o.logger;
    if (o.token !== undefined) {
      this.#claims = decodeJoinTokenClaims(o.token);
      if (!this.#claims) throw new IdentityError('the join token is malformed (want weft1.<claims>.<mac>, as printed by `weft token create`)');
      if (this.#claims.service !== o.service || this.#claims.namespace !== o.namespace) {
        throw new IdentityError(`the join token is for service '${this.#claims.service}' in namespace '${this.#claims.namespace}', but this sidecar is --service ${o.service} --namespace ${o.namespace}`);
      }
    }
    this.trustDomain = this.#claims?.trustDomain ?? o.trustDomain;
    this.spiffeId = `spiffe://${this.trustDomain}/ns/${o.namespace}/sa/${o.service}`;
  }

  /** Establishes trust in the control plane and obtains the first certificate. */
  async bootstrap(): Promise<void> {
    let anchor: string;
    if (this.#o.caFile) {
      try {
        anchor = readFileSync(this.#o.caFile, 'utf8');
      } catch (e) {
        throw new IdentityError(`--ca-file: ${(e as Error).message}`);
      }
      if (!splitPem(anchor).length) throw new IdentityError(`--ca-file ${this.#o.caFile}: no PEM certificate in it`);
    } else if (this.#claims) {
      const claims = this.#claims;
      anchor = await this.#eachReplica((address) => fetchPinnedRoot(address, claims.caFingerprint));
    } else throw new IdentityError('a join token (--token-file or WEFT_JOIN_TOKEN) is required to obtain a workload identity');
    this.#anchorPem = anchor;
    this.#o.tls.setControlPlaneTrust(anchor);
    if (!this.#claims) throw new IdentityError('a join token (--token-file or WEFT_JOIN_TOKEN) is required for the first certificate');
    await this.#sign(true);
    this.#o.tls.onChange(() => this.#checkRoot());
  }

  /** TLS for the xDS and load-report channels: the current workload certificate, the control plane checked by SPIFFE ID. */
  channelTls(): ControlPlaneTls {
    const checkServerIdentity = spiffeVerifier([controlPlaneSpiffeId(this.trustDomain)]);
    return () => ({ ...this.#o.tls.controlPlaneTls(), checkServerIdentity });
  }

  /** TLS for a certificate request: the anchor and bundle, and the current certificate when `withCert`. */
  #requestTls(withCert: boolean): ControlPlaneTls {
    const t = this.#o.tls;
    const c = withCert ? t.cert : undefined;
    const ca = [this.#anchor(), t.bundlePem].filter(Boolean).join('\n');
    const checkServerIdentity = spiffeVerifier([controlPlaneSpiffeId(this.trustDomain)]);
    return () => (c ? { ca, key: c.keyPem, cert: c.chainPem.join('\n'), checkServerIdentity } : { ca, checkServerIdentity });
  }

  #anchorPem = '';
  #anchor(): string {
    return this.#anchorPem;
  }

  /**
   * Runs `fn` against the current replica, then each other one while they cannot be reached (a
   * refusal, such as a wrong token, is an answer: it is not tried elsewhere).
   */
  async #eachReplica<T>(fn: (address: string) => Promise<T>): Promise<T> {
    let last: unknown;
    for (let i = 0; i < this.#planes.size; i++) {
      const address = this.#planes.current;
      try {
        return await fn(address);
      } catch (e) {
        if (e instanceof IdentityError && e.refused) throw e;
        last = e;
        this.#planes.next(address);
      }
    }
    throw last;
  }

  async #sign(firstContact: boolean): Promise<void> {
    await this.#eachReplica((address) => this.#signAt(address, firstContact));
  }

  async #signAt(address: string, firstContact: boolean): Promise<void> {
    const key = generateKey();
    const csr = createCsr(key, this.spiffeId);
    const useCert = !firstContact && this.#o.tls.cert !== undefined;
    const req = createMessage(SignCertificateRequestSchema, { csrPem: csr, joinToken: useCert ? '' : (this.#o.token ?? ''), nodeId: this.#o.nodeId });
    const channel = controlPlaneChannel(address, this.#requestTls(useCert));
    const d = identityServiceDefinition.SignCertificate;
    let res: SignCertificateResponse;
    try {
      res = await channel.unary(d.path, d.requestSerialize, d.responseDeserialize, req, 10_000);
    } catch (e) {
      const ge = e as GrpcError;
      if (ge.code === GrpcStatus.UNAUTHENTICATED || ge.code === GrpcStatus.PERMISSION_DENIED || ge.code === GrpcStatus.INVALID_ARGUMENT) {
        throw new IdentityError(`the control plane refused the certificate request: ${ge.details || ge.message}`, true);
      }
      if (isNotTlsError(ge)) throw new IdentityError(await notTlsMessage(address));
      throw new IdentityError(`certificate request to ${address} failed: ${ge.details || ge.message}`);
    } finally {
      channel.close();
    }
    const leaf = new X509Certificate(res.certChainPem[0]!);
    const id = spiffeIdsOf(leaf.subjectAltName)[0];
    if (id !== this.spiffeId) throw new IdentityError(`the control plane issued a certificate for ${id ?? 'no SPIFFE ID'}, expected ${this.spiffeId}`);
    const now = new Date();
    this.#o.tls.setIdentity({
      keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
      chainPem: res.certChainPem,
      spiffeId: id,
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
      serial: leaf.serialNumber,
      receivedAt: now,
    });
    // The response's bundle is authoritative until SDS sends one (same content, same CA).
    if (!this.#o.tls.bundlePem && res.trustBundlePem.length) this.#o.tls.setBundle(res.trustBundlePem.join('\n'));
    this.#failures = 0;
    this.#log.info({ spiffeId: id, serial: leaf.serialNumber, notAfter: leaf.validTo, via: useCert ? 'certificate' : 'join token' }, 'workload certificate issued');
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#closed) return;
    const c = this.#o.tls.cert!;
    const life = c.notAfter.getTime() - c.receivedAt.getTime();
    const at = c.receivedAt.getTime() + life * this.#o.renewFraction;
    this.#timer = setTimeout(() => void this.renew('scheduled'), Math.max(0, at - Date.now()));
    this.#timer.unref();
  }

  /** Renews now (idempotent while one is in flight); retries with backoff until it works. */
  renew(why: string): Promise<void> {
    if (this.#renewing) return this.#renewing;
    this.#renewing = (async () => {
      try {
        this.#log.debug({ why }, 'renewing the workload certificate');
        try {
          await this.#sign(false);
        } catch (e) {
          // A certificate the CA no longer trusts (e.g. a root that rotated away while this sidecar
          // was disconnected): try the join token again if we still have it.
          if (e instanceof IdentityError && this.#o.token) await this.#sign(true);
          else throw e;
        }
      } catch (e) {
        this.#failures++;
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#failures, 6)) * (0.5 + Math.random() / 2);
        this.#log.warn({ err: (e as Error).message, retryInMs: Math.round(delay) }, 'certificate renewal failed; the current certificate stays in use');
        clearTimeout(this.#timer);
        if (!this.#closed) {
          this.#timer = setTimeout(() => void this.renew('retry'), delay);
          this.#timer.unref();
        }
      } finally {
        this.#renewing = undefined;
      }
    })();
    return this.#renewing;
  }

  #checkRoot(): void {
    if (!this.#o.tls.leafFromCurrentRoot()) void this.renew('the CA signs with a new root');
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }
}

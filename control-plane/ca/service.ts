/**
 * The control plane's identity front: the weft.v1.IdentityService (CSR in, short-lived workload
 * certificate out) and the TLS of the xDS port itself.
 *
 * - A CSR is signed only for the identity the caller's credential names: a join token on first
 *   contact, or the workload certificate it connects with (renewal). The CSR must ask for exactly
 *   that SPIFFE ID; the key never comes here.
 * - The xDS port presents a certificate for spiffe://<td>/ns/weft-system/sa/control-plane, with
 *   the signing root in the chain (so a join token can pin it by fingerprint), asks for (but does
 *   not require) a client certificate, and lets a stream that registers an instance through only
 *   if its certificate names that very service.
 */
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import type { PeerCertificate } from 'node:tls';
import { controlPlaneSpiffeId, identityServiceDefinition } from '../../common/identity-service.js';
import type { Logger } from '../../common/log.js';
import { SignCertificateResponseSchema, type SignCertificateRequest, type SignCertificateResponse } from '../../proto/gen/weft/v1/identity_pb.js';
import type { MeshConfigSpec } from '../config/types.js';
import type { NodeInfo } from '../xds/node.js';
import { CaError, type CertificateAuthority, type Identity } from './ca.js';
import type { JoinTokens } from './tokens.js';

type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdListener = grpc.experimental.IdentityCertificateUpdateListener;

/** A CertificateProvider fed from memory (the CA's bundle and the control plane's serving cert). */
class MemoryProvider implements grpc.experimental.CertificateProvider {
  #ca: Buffer | undefined;
  #id: { certificate: Buffer; privateKey: Buffer } | undefined;
  readonly #caL = new Set<CaListener>();
  readonly #idL = new Set<IdListener>();
  setCa(pem: string): void {
    this.#ca = Buffer.from(pem);
    for (const l of this.#caL) l({ caCertificate: this.#ca });
  }
  setIdentity(certPem: string, keyPem: string): void {
    this.#id = { certificate: Buffer.from(certPem), privateKey: Buffer.from(keyPem) };
    for (const l of this.#idL) l(this.#id);
  }
  addCaCertificateListener(l: CaListener): void {
    this.#caL.add(l);
    // Later, not now: grpc-js registers its watcher only after adding these listeners.
    setImmediate(() => this.#ca && this.#caL.has(l) && l({ caCertificate: this.#ca }));
  }
  removeCaCertificateListener(l: CaListener): void {
    this.#caL.delete(l);
  }
  addIdentityCertificateListener(l: IdListener): void {
    this.#idL.add(l);
    setImmediate(() => this.#id && this.#idL.has(l) && l(this.#id));
  }
  removeIdentityCertificateListener(l: IdListener): void {
    this.#idL.delete(l);
  }
}

/** What the control plane remembers about the certificate it last issued to a proxy. */
export interface IssuedRecord {
  nodeId: string;
  spiffeId: string;
  serial: string;
  notBefore: string;
  notAfter: string;
  issuerFingerprint: string;
  via: 'join token' | 'certificate';
  issuedAt: string;
}

const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

export interface IdentityServerOptions {
  ca: CertificateAuthority;
  tokens: JoinTokens;
  mesh: () => MeshConfigSpec;
  logger: Logger;
  /** Addresses the xDS port is reached at (SANs of its certificate). */
  serveHosts: string[];
}

export class IdentityServer {
  readonly #o: IdentityServerOptions;
  readonly #log: Logger;
  readonly #provider = new MemoryProvider();
  readonly issued = new Map<string, IssuedRecord>();
  #servingTimer: NodeJS.Timeout | undefined;
  counters = { issued: 0, refused: 0 };

  constructor(o: IdentityServerOptions) {
    this.#o = o;
    this.#log = o.logger;
  }

  /** Issues the xDS port's own certificate and keeps it fresh; call once before listening. */
  async start(): Promise<grpc.ServerCredentials> {
    await this.#refreshServing();
    this.#o.ca.onChange(() => void this.#refreshServing());
    return tls13Only(grpc.experimental.createCertificateProviderServerCredentials(this.#provider, this.#provider, false));
  }

  async #refreshServing(): Promise<void> {
    clearTimeout(this.#servingTimer);
    const ca = this.#o.ca;
    const ttlMs = 7 * 24 * 3600_000;
    const ips = new Set(['127.0.0.1', '::1']);
    const dns = new Set(['localhost', hostname()]);
    for (const h of this.#o.serveHosts) (/^[\d.]+$|:/.test(h) ? ips : dns).add(h);
    ips.delete('0.0.0.0');
    ips.delete('::');
    const s = await ca.issueServing({ dnsNames: [...dns], ips: [...ips], spiffeId: controlPlaneSpiffeId(this.#o.mesh().trustDomain), ttlMs });
    // The roots go in the chain too: a sidecar holding only a join token finds the pinned one there.
    const bundle = ca.trustBundlePem();
    this.#provider.setIdentity([...s.chainPem, bundle].join('\n'), s.keyPem);
    this.#provider.setCa(bundle);
    const renewIn = Math.max(60_000, (s.notAfter.getTime() - Date.now()) / 2);
    this.#servingTimer = setTimeout(() => void this.#refreshServing(), Math.min(renewIn, 2 ** 31 - 1));
    this.#servingTimer.unref();
  }

  close(): void {
    clearTimeout(this.#servingTimer);
  }

  /** Adds the IdentityService to the (TLS) gRPC server. */
  bind(server: grpc.Server): void {
    server.addService(identityServiceDefinition, {
      SignCertificate: (call: grpc.ServerUnaryCall<SignCertificateRequest, SignCertificateResponse>, cb: grpc.sendUnaryData<SignCertificateResponse>) => {
        this.#sign(call.request, call.getAuthContext()?.sslPeerCertificate).then(
          (r) => cb(null, r),
          (e: { code?: grpc.status | string; details?: string; message?: string }) => {
            this.counters.refused++;
            // A refusal carries a gRPC status; anything else (etcd unreachable while reading a
            // join token, say) is the control plane's trouble, not the caller's: UNAVAILABLE.
            cb({ code: typeof e.code === 'number' ? e.code : grpc.status.UNAVAILABLE, details: e.details ?? e.message ?? String(e) });
          },
        );
      },
    });
  }

  async #sign(req: SignCertificateRequest, peer: PeerCertificate | undefined): Promise<SignCertificateResponse> {
    const mesh = this.#o.mesh();
    const refuse = (code: grpc.status, details: string) => {
      this.#log.warn({ node: req.nodeId || undefined, why: details }, 'certificate request refused');
      return Object.assign(new Error(details), { code, details });
    };
    let id: Identity;
    let via: IssuedRecord['via'];
    if (req.joinToken) {
      const v = await this.#o.tokens.verify(req.joinToken);
      if (!v.ok) throw refuse(grpc.status.UNAUTHENTICATED, v.reason);
      id = { trustDomain: mesh.trustDomain, namespace: v.info.namespace, service: v.info.service };
      via = 'join token';
    } else if (peer?.raw) {
      const v = this.#o.ca.verifyPeer(peer.raw);
      if ('error' in v) throw refuse(grpc.status.UNAUTHENTICATED, `client certificate refused: ${v.error}`);
      const m = SPIFFE.exec(v.spiffeId);
      if (!m) throw refuse(grpc.status.UNAUTHENTICATED, `client certificate names ${v.spiffeId}, not a workload identity`);
      if (m[1] !== mesh.trustDomain) throw refuse(grpc.status.PERMISSION_DENIED, `client certificate is from trust domain ${m[1]}, the mesh is ${mesh.trustDomain}`);
      id = { trustDomain: m[1], namespace: m[2]!, service: m[3]! };
      via = 'certificate';
    } else {
      throw refuse(grpc.status.UNAUTHENTICATED, 'no credential: send a join token (`weft token create`) or connect with a workload certificate');
    }
    const asked = req.ttlSeconds ? req.ttlSeconds * 1000 : mesh.certificateTtlMs;
    let issued;
    try {
      issued = await this.#o.ca.signCsr(req.csrPem, id, Math.min(asked, mesh.certificateTtlMs));
    } catch (e) {
      if (e instanceof CaError) throw refuse(grpc.status.PERMISSION_DENIED, e.message);
      throw refuse(grpc.status.INTERNAL, `signing failed: ${(e as Error).message}`);
    }
    this.counters.issued++;
    const rec: IssuedRecord = {
      nodeId: req.nodeId,
      spiffeId: issued.spiffeId,
      serial: issued.serial,
      notBefore: issued.notBefore.toISOString(),
      notAfter: issued.notAfter.toISOString(),
      issuerFingerprint: issued.issuerFingerprint,
      via,
      issuedAt: new Date().toISOString(),
    };
    if (req.nodeId) {
      this.issued.set(req.nodeId, rec);
      if (this.issued.size > 100_000) this.issued.delete(this.issued.keys().next().value!);
    }
    this.#log.info({ node: req.nodeId || undefined, spiffeId: rec.spiffeId, serial: rec.serial, notAfter: rec.notAfter, via }, 'workload certificate issued');
    const bundle = this.#o.ca.trustBundlePem();
    return create(SignCertificateResponseSchema, {
      certChainPem: issued.chainPem,
      trustBundlePem: bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [],
      spiffeId: issued.spiffeId,
      notAfterUnix: BigInt(Math.floor(issued.notAfter.getTime() / 1000)),
    });
  }

  /**
   * xDS over TLS: a stream must present a workload certificate from this CA, and a node that
   * registers an instance may only register the service its certificate names. The returned
   * SPIFFE ID is the identity its instance is then bound to (see Registry).
   *
   * grpc-js hands over the peer certificate only when the TLS handshake verified it against the
   * trust bundle, so a certificate from another CA arrives here as no certificate; `verifyPeer`
   * checks it again, against the same roots, in case that ever changes.
   */
  authorizeXds(node: NodeInfo, peer: PeerCertificate | undefined): { peerId?: string } | { error: string } {
    if (!peer?.raw) return { error: "xDS over TLS needs a workload certificate from this mesh's CA: none was presented, or it did not verify (get one with a join token first)" };
    const v = this.#o.ca.verifyPeer(peer.raw);
    if ('error' in v) return { error: `client certificate refused: ${v.error}` };
    // A CA may be shared by several trust domains (an operator-supplied one): the identity must be
    // of this mesh, as the CSR path demands too.
    const td = this.#o.mesh().trustDomain;
    if (!v.spiffeId.startsWith(`spiffe://${td}/`)) return { error: `certificate is ${v.spiffeId}, not of this mesh's trust domain ${td}` };
    if (node.service) {
      const m = SPIFFE.exec(v.spiffeId);
      if (!m || m[2] !== node.namespace || m[3] !== node.service) {
        return { error: `certificate is ${v.spiffeId}, but the node registers service ${node.service} in namespace ${node.namespace}` };
      }
    }
    // A gateway is sent its Gateway's TLS keys: only the Gateway's own identity may serve it.
    if (node.role === 'gateway') {
      const want = node.gateway ? `spiffe://${td}/ns/${node.gateway.replace('/', '/sa/')}` : undefined;
      if (!want || v.spiffeId !== want) return { error: `certificate is ${v.spiffeId}, but a gateway serving Gateway ${node.gateway ?? '(none)'} must connect as ${want ?? 'its Gateway (WEFT_GATEWAY ns/name is missing)'} (join with \`weft token create --service <gateway name> -n <namespace>\`)` };
    }
    return { peerId: v.spiffeId };
  }
}

/**
 * The xDS port speaks TLS 1.3 only (every Weft sidecar and Envoy does; MeshConfig's
 * minProtocolVersion is about the data plane). grpc-js has no option for it: its server takes the
 * credentials' constructor options when it creates the TLS server, and the context options on
 * every certificate update (setSecureContext resets the minimum unless it is given again), so
 * both carry it. Checked by test/e2e/mtls.test.ts, which offers the port TLS 1.2.
 */
function tls13Only(creds: grpc.ServerCredentials): grpc.ServerCredentials {
  const c = creds as unknown as { _getConstructorOptions(): Record<string, unknown> | null; calculateSecureContextOptions?: () => Record<string, unknown> | null };
  const ctor = c._getConstructorOptions();
  if (!ctor || typeof c.calculateSecureContextOptions !== 'function') throw new Error('grpc-js credentials changed shape: cannot pin the xDS port to TLS 1.3');
  ctor.minVersion = 'TLSv1.3';
  const calc = c.calculateSecureContextOptions.bind(c);
  c.calculateSecureContextOptions = () => {
    const o = calc();
    return o && { ...o, minVersion: 'TLSv1.3' };
  };
  return creds;
}

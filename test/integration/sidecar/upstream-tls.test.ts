// Outbound mTLS as the sidecar dials a mesh host: real TLS over loopback with certificates from a
// real CA. The peer must present the SPIFFE ID the Cluster names; another identity is refused
// even though its certificate is valid, and a rotated client certificate is used on the next dial.
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../../control-plane/ca/ca.js';
import { createCsr, generateKey } from '../../../sidecar/identity/csr.js';
import { MeshTls } from '../../../sidecar/tls/mesh-tls.js';
import { dial, hostTls } from '../../../sidecar/upstream/dial.js';
import { Host } from '../../../sidecar/upstream/host.js';
import { tempDir } from '../../harness/processes.js';

const TD = 'cluster.local';
const id = (s: string) => `spiffe://${TD}/ns/default/sa/${s}`;

async function identity(ca: CertificateAuthority, service: string) {
  const key = generateKey();
  const issued = await ca.signCsr(createCsr(key, id(service)), { trustDomain: TD, namespace: 'default', service }, 60_000);
  const leaf = new X509Certificate(issued.chainPem[0]!);
  return { keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string, chainPem: issued.chainPem, spiffeId: id(service), notBefore: new Date(leaf.validFrom), notAfter: new Date(leaf.validTo), serial: leaf.serialNumber, receivedAt: new Date() };
}

describe('outbound mTLS to a mesh host', () => {
  let ca: CertificateAuthority;
  let server: tls.Server;
  let port: number;
  const seenClients: string[] = [];

  beforeAll(async () => {
    ca = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
    const payments = await identity(ca, 'payments');
    server = tls.createServer({ key: payments.keyPem, cert: payments.chainPem.join('\n'), ca: ca.trustBundlePem(), requestCert: true, rejectUnauthorized: true }, (s) => {
      seenClients.push(s.getPeerCertificate().serialNumber);
      s.end('hi');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  async function connect(mesh: MeshTls, sans: string[]): Promise<{ ok: boolean; error?: string }> {
    const h = new Host('127.0.0.1', port, 1, '', 0);
    h.mesh = true;
    const t = hostTls(mesh, { sans, alpn: ['http/1.1'], sni: 'outbound_.8080_._.payments', caSecret: 'ROOTCA', allHosts: false, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: undefined });
    const { socket, ready } = dial(h, t, 'http/1.1');
    return new Promise((resolve) => {
      // TLS 1.3: the server checks our certificate after our side is done; wait for its answer.
      socket.once(ready, () => socket.once('data', () => (socket.destroy(), resolve({ ok: true }))));
      socket.once('error', (e: NodeJS.ErrnoException) => resolve({ ok: false, error: e.code ?? e.message }));
    });
  }

  it('accepts the expected identity, refuses any other, and uses a rotated certificate on the next dial', async () => {
    const mesh = new MeshTls();
    mesh.setBundle(ca.trustBundlePem());
    const first = await identity(ca, 'web');
    mesh.setIdentity(first);
    expect(await connect(mesh, [id('payments')])).toEqual({ ok: true });
    expect(await connect(mesh, [id('orders')])).toEqual({ ok: false, error: 'ERR_WEFT_PEER_IDENTITY' });
    const second = await identity(ca, 'web');
    mesh.setIdentity(second);
    expect(await connect(mesh, [id('payments')])).toEqual({ ok: true });
    expect(seenClients.map((s) => s.toLowerCase())).toEqual([first.serial, second.serial].map((s) => s.toLowerCase()));
  });

  it('plain TCP for hosts that are not mesh endpoints', async () => {
    const h = new Host('127.0.0.1', port, 1, '', 0);
    const { socket, ready } = dial(h, hostTls(new MeshTls(), { sans: [], alpn: [], sni: '', caSecret: 'ROOTCA', allHosts: false, minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: undefined }), 'http/1.1');
    socket.on('error', () => undefined);
    socket.destroy();
    expect(ready).toBe('connect');
    expect(socket).not.toBeInstanceOf(tls.TLSSocket);
  });
});

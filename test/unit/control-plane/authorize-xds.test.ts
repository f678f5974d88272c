// IdentityServer.authorizeXds, the control plane's own check of an xDS peer on the TLS port, with
// real certificates: it is the last word even where the TLS layer already refused (a foreign CA
// fails the handshake first, so test/integration/xds/registration.test.ts cannot tell whether
// this check exists; these cases can).
import type { PeerCertificate } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../../control-plane/ca/ca.js';
import { IdentityServer } from '../../../control-plane/ca/service.js';
import { JoinTokens } from '../../../control-plane/ca/tokens.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';
import { silentLogger } from '../../../common/log.js';
import { createCsr, generateKey } from '../../../sidecar/identity/csr.js';
import { tempDir } from '../../harness/processes.js';

const node = (service: string | undefined, namespace = 'default'): NodeInfo =>
  ({ id: 'n1', cluster: service ?? 'x', role: 'sidecar', service, namespace, labels: {} }) as unknown as NodeInfo;

async function leafOf(ca: CertificateAuthority, service: string, namespace = 'default', trustDomain = 'cluster.local'): Promise<PeerCertificate> {
  const spiffe = `spiffe://${trustDomain}/ns/${namespace}/sa/${service}`;
  const issued = await ca.signCsr(createCsr(generateKey(), spiffe), { trustDomain, namespace, service }, 60_000);
  return { raw: new X509Certificate(issued.chainPem[0]!).raw } as PeerCertificate;
}

describe('authorizeXds', () => {
  it('admits a mesh certificate for the service the node registers, and nothing else', async () => {
    const dir = tempDir('weft-ca-');
    const ca = await CertificateAuthority.open({ dataDir: dir });
    const other = await CertificateAuthority.open({ dataDir: tempDir('weft-ca-') });
    const ids = new IdentityServer({ ca, tokens: await JoinTokens.open(dir), mesh: () => ({ trustDomain: 'cluster.local' }) as never, logger: silentLogger, serveHosts: ['127.0.0.1'] });
    const orders = await leafOf(ca, 'orders');
    expect(ids.authorizeXds(node('orders'), orders)).toEqual({ peerId: 'spiffe://cluster.local/ns/default/sa/orders' });
    // No certificate.
    expect(ids.authorizeXds(node('orders'), undefined)).toEqual({ error: expect.stringMatching(/needs a workload certificate/) });
    expect(ids.authorizeXds(node('orders'), {} as PeerCertificate)).toEqual({ error: expect.stringMatching(/needs a workload certificate/) });
    // A certificate for the same identity from another CA.
    expect(ids.authorizeXds(node('orders'), await leafOf(other, 'orders'))).toEqual({ error: 'client certificate refused: certificate is not issued by this mesh CA' });
    // Web's certificate registering orders; orders' certificate in another namespace.
    expect(ids.authorizeXds(node('orders'), await leafOf(ca, 'web'))).toEqual({ error: expect.stringMatching(/certificate is spiffe:\/\/cluster\.local\/ns\/default\/sa\/web, but the node registers service orders/) });
    expect(ids.authorizeXds(node('orders', 'shop'), orders)).toEqual({ error: expect.stringMatching(/registers service orders in namespace shop/) });
    // Orders of another trust domain signed by this same CA (a CA shared by meshes), registering or not.
    const foreign = await leafOf(ca, 'orders', 'default', 'other.example');
    expect(ids.authorizeXds(node('orders'), foreign)).toEqual({ error: "certificate is spiffe://other.example/ns/default/sa/orders, not of this mesh's trust domain cluster.local" });
    expect(ids.authorizeXds(node(undefined), foreign)).toEqual({ error: expect.stringMatching(/not of this mesh's trust domain/) });
    // A node that registers nothing (a gateway, a client) needs only a valid mesh certificate.
    expect(ids.authorizeXds(node(undefined), await leafOf(ca, 'web'))).toEqual({ peerId: 'spiffe://cluster.local/ns/default/sa/web' });
  });

  it("admits a gateway node only with its Gateway's own identity (it is sent that Gateway's TLS keys)", async () => {
    const dir = tempDir('weft-ca-');
    const ca = await CertificateAuthority.open({ dataDir: dir });
    const ids = new IdentityServer({ ca, tokens: await JoinTokens.open(dir), mesh: () => ({ trustDomain: 'cluster.local' }) as never, logger: silentLogger, serveHosts: ['127.0.0.1'] });
    const gw = (service: string, gateway: string | undefined, namespace = 'default') => ({ ...node(service, namespace), role: 'gateway', ...(gateway ? { gateway } : {}) }) as NodeInfo;
    expect(ids.authorizeXds(gw('edge', 'default/edge'), await leafOf(ca, 'edge'))).toEqual({ peerId: 'spiffe://cluster.local/ns/default/sa/edge' });
    // A workload claiming to serve another Gateway (its own certificate, its own service name).
    expect(ids.authorizeXds(gw('frontend', 'default/edge'), await leafOf(ca, 'frontend'))).toEqual({ error: expect.stringMatching(/certificate is spiffe:\/\/cluster\.local\/ns\/default\/sa\/frontend, but a gateway serving Gateway default\/edge must connect as spiffe:\/\/cluster\.local\/ns\/default\/sa\/edge/) });
    // The same name in another namespace.
    expect(ids.authorizeXds(gw('edge', 'shop/edge', 'default'), await leafOf(ca, 'edge'))).toEqual({ error: expect.stringMatching(/must connect as spiffe:\/\/cluster\.local\/ns\/shop\/sa\/edge/) });
    expect(ids.authorizeXds(gw('edge', undefined), await leafOf(ca, 'edge'))).toEqual({ error: expect.stringMatching(/WEFT_GATEWAY ns\/name is missing/) });
  });
});

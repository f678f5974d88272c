// Who may register a service instance through xDS (issue 16 item 5, issue 17 item 1), against the
// real control-plane process over loopback:
//  - plaintext ADS streams get config but register nothing unless the daemon runs with
//    --xds-plaintext-register;
//  - an instance registered over TLS is bound to the SPIFFE ID that registered it: no stream of
//    another identity, and no plaintext stream, can replace it, keep it alive or drain it;
//  - the TLS port refuses a certificate for another service, no certificate, and a certificate
//    from another CA.
// Every absence is decided after a later event that must follow it: the refused stream's
// PERMISSION_DENIED, then a legitimate registration seen in the EDS of an observer.
import * as grpc from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../common/log.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import { CertificateAuthority } from '../../../control-plane/ca/ca.js';
import { ClusterLoadAssignmentSchema } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import type { DiscoveryResponse } from '../../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { createCsr, generateKey } from '../../../sidecar/identity/csr.js';
import { WorkloadIdentity } from '../../../sidecar/identity/workload.js';
import { MeshTls } from '../../../sidecar/tls/mesh-tls.js';
import { SotwClient } from '../../harness/ads-client.js';
import { eventually, joinToken, startControlPlane, tempDir, weft, type ControlPlaneProc } from '../../harness/processes.js';

const TD = 'cluster.local';
const ORDERS = 'outbound|8080||orders.default';
const WEB = 'outbound|8080||web.default';
const SERVICES = ['orders', 'web']
  .map((s) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${s} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`)
  .join('---\n');

/** Key and certificate chain for a TLS client, and the root it checks the control plane with. */
interface ClientCert {
  root: string;
  keyPem?: string;
  chainPem?: string;
}

/** A workload certificate for `service` from the control plane's CA, got with a join token. */
async function workloadCert(cp: ControlPlaneProc, service: string): Promise<ClientCert> {
  const mesh = new MeshTls();
  const id = new WorkloadIdentity({ address: `127.0.0.1:${cp.xdsTlsPort}`, namespace: 'default', service, nodeId: `cert-${service}`, token: await joinToken(cp, service), caFile: undefined, trustDomain: TD, renewFraction: 0.5, logger: silentLogger, tls: mesh });
  await id.bootstrap();
  id.close();
  return { root: mesh.bundlePem, keyPem: mesh.cert!.keyPem, chainPem: mesh.cert!.chainPem.join('\n') };
}

/** A certificate for `service` in the same trust domain, signed by a CA the control plane never saw. */
async function foreignCert(root: string, service: string): Promise<ClientCert> {
  const ca = await CertificateAuthority.open({ dataDir: tempDir('weft-other-ca-'), logger: silentLogger });
  const key = generateKey();
  const issued = await ca.signCsr(createCsr(key, `spiffe://${TD}/ns/default/sa/${service}`), { trustDomain: TD, namespace: 'default', service }, 3600_000);
  return { root, keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), chainPem: issued.chainPem.join('\n') };
}

function tls(c: ClientCert): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(Buffer.from(c.root), c.keyPem ? Buffer.from(c.keyPem) : null, c.chainPem ? Buffer.from(c.chainPem) : null, { checkServerIdentity: () => undefined });
}

/** `ip:port` of every endpoint in an EDS response, by cluster name. */
function endpointsByCluster(r: DiscoveryResponse): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const a of r.resources) {
    const cla = fromBinary(ClusterLoadAssignmentSchema, a.value);
    const eps = cla.endpoints.flatMap((l) => l.lbEndpoints).flatMap((e) => {
      const sa = e.hostIdentifier.case === 'endpoint' ? e.hostIdentifier.value.address?.address : undefined;
      return sa?.case === 'socketAddress' && sa.value.portSpecifier.case === 'portValue' ? [`${sa.value.address}:${sa.value.portSpecifier.value}`] : [];
    });
    out.set(cla.clusterName, eps.sort());
  }
  return out;
}

/** A proxyless plaintext client that watches the EDS of orders and web, as a peer sidecar would. */
class Observer {
  readonly #c: SotwClient;
  /** Every endpoint ever pushed, as `cluster ip:port`. */
  readonly seen = new Set<string>();
  #latest = new Map<string, string[]>();
  constructor(cp: ControlPlaneProc, id: string) {
    this.#c = new SotwClient(`127.0.0.1:${cp.xdsPort}`, { id, cluster: 'observer', metadata: {} });
    this.#c.autoAck = true;
    this.#c.subscribe(TYPE_URL.endpoint, [ORDERS, WEB]);
    void this.#pump();
  }
  async #pump(): Promise<void> {
    for (;;) {
      const r = await this.#c.next(TYPE_URL.endpoint, 600_000).catch(() => undefined);
      if (!r) return;
      this.#latest = endpointsByCluster(r);
      for (const [cluster, eps] of this.#latest) for (const e of eps) this.seen.add(`${cluster} ${e}`);
    }
  }
  endpoints(cluster: string): string[] {
    return this.#latest.get(cluster) ?? [];
  }
  /** Waits until `cluster`'s endpoints are exactly `want`. */
  async waitFor(cluster: string, want: string[], timeoutMs = 10_000): Promise<void> {
    const w = [...want].sort().join(',');
    await eventually(() => this.endpoints(cluster).join(',') === w, timeoutMs, 20).catch((e: Error) => {
      throw new Error(`${cluster}: want [${w}], have [${this.endpoints(cluster).join(',')}]: ${e.message}`);
    });
  }
  close(): void {
    this.#c.close();
  }
}

interface Registrant {
  id: string;
  service: string;
  ip: string;
  /** WEFT_INSTANCE (default: the node id is the instance key). */
  instance?: string;
}

describe('xDS registration: plaintext streams and instance ownership', () => {
  let cp: ControlPlaneProc; // default: plaintext streams register nothing
  let open: ControlPlaneProc; // --xds-plaintext-register, grace 1 s
  const clients: Array<{ close(): void }> = [];
  const certs: Record<'orders' | 'web' | 'openOrders' | 'foreignOrders', ClientCert> = {} as never;
  let observer: Observer;
  let openObserver: Observer;

  /** Opens an ADS stream that registers `r` (plaintext unless `cert`), asking for CDS. */
  const register = (on: ControlPlaneProc, r: Registrant, cert?: ClientCert) => {
    const c = new SotwClient(
      `127.0.0.1:${cert ? on.xdsTlsPort : on.xdsPort}`,
      {
        id: r.id,
        cluster: r.service,
        metadata: { WEFT_ROLE: 'sidecar', WEFT_SERVICE: r.service, WEFT_INSTANCE_IP: r.ip, WEFT_INSTANCE_PORT: '15006', WEFT_APP_PORT: '9000', ...(r.instance ? { WEFT_INSTANCE: r.instance } : {}) },
      },
      cert && tls(cert),
    );
    clients.push(c);
    c.autoAck = true;
    c.subscribe(TYPE_URL.cluster);
    return c;
  };
  /** Waits for the stream's end and checks it was PERMISSION_DENIED with `why` in its details. */
  const refused = async (c: SotwClient, why: RegExp) => {
    const served = c.next(undefined, 30_000).then((r) => ({ code: -1, details: `served ${r.typeUrl} instead of refused` }));
    const st = await Promise.race([c.status, served]);
    served.catch(() => undefined);
    expect({ code: st.code, details: st.details }).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: expect.stringMatching(why) });
    expect(c.responses.all).toEqual([]);
  };

  beforeAll(async () => {
    [cp, open] = await Promise.all([startControlPlane(), startControlPlane({ extraArgs: ['--xds-plaintext-register', '--registry-grace', '1s'] })]);
    const f = join(tempDir('weft-files-'), 'services.yaml');
    writeFileSync(f, SERVICES);
    for (const c of [cp, open]) expect((await weft(['apply', '-f', f], { cp: c })).code).toBe(0);
    certs.orders = await workloadCert(cp, 'orders');
    certs.web = await workloadCert(cp, 'web');
    certs.openOrders = await workloadCert(open, 'orders');
    certs.foreignOrders = await foreignCert(certs.orders.root, 'orders');
    observer = new Observer(cp, 'observer');
    openObserver = new Observer(open, 'observer');
    clients.push(observer, openObserver);
    await observer.waitFor(ORDERS, []);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all([cp?.kill(), open?.kill()]);
  });

  it('a plaintext stream with orders metadata gets config but registers nothing by default', async () => {
    const plain = register(cp, { id: 'plain-orders', service: 'orders', ip: '127.0.0.66' });
    await plain.next(TYPE_URL.cluster); // served, as proxyless clients are
    // A later registration that does succeed, over TLS: once it shows, the plaintext one had its turn.
    register(cp, { id: 'orders-a', service: 'orders', ip: '127.0.0.51' }, certs.orders);
    await observer.waitFor(ORDERS, ['127.0.0.51:15006']);
    expect([...observer.seen].filter((e) => e.includes('127.0.0.66'))).toEqual([]);
    expect(cp.output()).toMatch(/instance not registered: unauthenticated streams \(plaintext xDS\) register no instances unless the control plane runs with --xds-plaintext-register/);
  });

  it('with --xds-plaintext-register, the same plaintext stream registers (and the daemon warned at start)', async () => {
    register(open, { id: 'plain-orders', service: 'orders', ip: '127.0.0.66' });
    await openObserver.waitFor(ORDERS, ['127.0.0.66:15006']);
    expect(open.output()).toMatch(/--xds-plaintext-register is on/);
  });

  it('a plaintext stream reusing a live TLS instance key neither replaces it nor keeps it alive after its owner leaves', async () => {
    const owner = register(open, { id: 'orders-tls', service: 'orders', ip: '127.0.0.10' }, certs.openOrders);
    await openObserver.waitFor(ORDERS, ['127.0.0.10:15006', '127.0.0.66:15006']);
    // The same node id, and another node id naming the instance through WEFT_INSTANCE.
    const sameId = register(open, { id: 'orders-tls', service: 'orders', ip: '127.0.0.99' });
    const viaInstance = register(open, { id: 'squatter', service: 'orders', ip: '127.0.0.98', instance: 'orders-tls' });
    await refused(sameId, /node id orders-tls is in use by a stream of spiffe:\/\/cluster\.local\/ns\/default\/sa\/orders; this stream is unauthenticated/);
    await refused(viaInstance, /instance orders-tls is registered by spiffe:\/\/cluster\.local\/ns\/default\/sa\/orders; this stream is unauthenticated/);
    // The owner leaves (stream cancelled, no goodbye): its instance goes after the 1 s grace.
    owner.close();
    await openObserver.waitFor(ORDERS, ['127.0.0.66:15006'], 10_000);
    expect([...openObserver.seen].filter((e) => /127\.0\.0\.9[89]/.test(e))).toEqual([]);
    expect(open.output()).toMatch(/xDS stream refused/);
  });

  it('a second TLS stream of the owning identity joins the instance (a reconnecting sidecar) and holds it after the first ends', async () => {
    const first = register(open, { id: 'orders-re', service: 'orders', ip: '127.0.0.20' }, certs.openOrders);
    await openObserver.waitFor(ORDERS, ['127.0.0.20:15006', '127.0.0.66:15006']);
    const second = register(open, { id: 'orders-re', service: 'orders', ip: '127.0.0.20' }, certs.openOrders);
    await second.next(TYPE_URL.cluster);
    first.close();
    // Held by the second stream: still there after the grace period. Decided by a later event: a
    // new instance registered after the grace has run out shows up next to it.
    await new Promise((r) => setTimeout(r, 2000));
    register(open, { id: 'orders-late', service: 'orders', ip: '127.0.0.21' }, certs.openOrders);
    await openObserver.waitFor(ORDERS, ['127.0.0.20:15006', '127.0.0.21:15006', '127.0.0.66:15006']);
  });

  /** Registers one more orders instance over TLS on `cp` and waits until the observer sees it: a later event than any refusal before it. */
  const ordersOnCp = ['127.0.0.51:15006'];
  const laterOrdersInstance = async (id: string, ip: string) => {
    register(cp, { id, service: 'orders', ip }, certs.orders);
    ordersOnCp.push(`${ip}:15006`);
    await observer.waitFor(ORDERS, ordersOnCp);
  };

  it("TLS: web's certificate claiming WEFT_SERVICE=orders is refused; no orders endpoint appears", async () => {
    const c = register(cp, { id: 'web-as-orders', service: 'orders', ip: '127.0.0.71' }, certs.web);
    await refused(c, /certificate is spiffe:\/\/cluster\.local\/ns\/default\/sa\/web, but the node registers service orders/);
    await laterOrdersInstance('orders-b', '127.0.0.52');
    expect([...observer.seen].filter((e) => e.includes('127.0.0.71'))).toEqual([]);
  });

  it('TLS: a stream without a client certificate is refused; no orders endpoint appears', async () => {
    const c = register(cp, { id: 'anonymous', service: 'orders', ip: '127.0.0.72' }, { root: certs.orders.root });
    await refused(c, /needs a workload certificate from this mesh's CA/);
    await laterOrdersInstance('orders-c', '127.0.0.53');
    expect([...observer.seen].filter((e) => e.includes('127.0.0.72'))).toEqual([]);
  });

  it('TLS: a certificate from another CA (same trust domain, orders) is refused; no orders endpoint appears', async () => {
    const c = register(cp, { id: 'foreign', service: 'orders', ip: '127.0.0.73' }, certs.foreignOrders);
    // grpc-js passes on only certificates its handshake verified: a foreign one arrives as none.
    await refused(c, /needs a workload certificate from this mesh's CA: none was presented, or it did not verify/);
    await laterOrdersInstance('orders-d', '127.0.0.54');
    expect([...observer.seen].filter((e) => e.includes('127.0.0.73'))).toEqual([]);
  });

  it("TLS: web's certificate reusing an orders instance key is refused; orders keeps its instance", async () => {
    // orders-a (127.0.0.51) is live, registered with orders' certificate.
    const viaInstance = register(cp, { id: 'web-1', service: 'web', ip: '127.0.0.81', instance: 'orders-a' }, certs.web);
    const sameId = register(cp, { id: 'orders-a', service: 'web', ip: '127.0.0.82' }, certs.web);
    await refused(viaInstance, /instance orders-a is registered by spiffe:\/\/cluster\.local\/ns\/default\/sa\/orders; this stream is spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/);
    await refused(sameId, /node id orders-a is in use by a stream of spiffe:\/\/cluster\.local\/ns\/default\/sa\/orders; this stream is spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/);
    // Registering nothing does not help: a node id is one snapshot, which its metadata steers.
    const configOnly = new SotwClient(`127.0.0.1:${cp.xdsTlsPort}`, { id: 'orders-a', cluster: 'web', metadata: { WEFT_ROLE: 'sidecar', WEFT_APP_PORT: '9999' } }, tls(certs.web));
    clients.push(configOnly);
    configOnly.subscribe(TYPE_URL.cluster);
    await refused(configOnly, /node id orders-a is in use by a stream of spiffe:\/\/cluster\.local\/ns\/default\/sa\/orders/);
    // web's own registration succeeds: once it shows, the refused ones had their turn.
    register(cp, { id: 'web-2', service: 'web', ip: '127.0.0.83' }, certs.web);
    await observer.waitFor(WEB, ['127.0.0.83:15006']);
    expect(observer.endpoints(ORDERS)).toEqual(ordersOnCp);
    expect([...observer.seen].filter((e) => /127\.0\.0\.8[12]/.test(e))).toEqual([]);
  });

  it('TLS: a stream of another identity naming an orders instance key cannot drain it (WEFT_DRAINING)', async () => {
    // Registers nothing (no WEFT_SERVICE), so it is let in; it then says it is draining orders-a.
    const node = { id: 'web-drainer', cluster: 'web', metadata: { WEFT_ROLE: 'sidecar', WEFT_INSTANCE: 'orders-a' } };
    const c = new SotwClient(`127.0.0.1:${cp.xdsTlsPort}`, node, tls(certs.web));
    clients.push(c);
    c.subscribe(TYPE_URL.cluster);
    c.ack(await c.next(TYPE_URL.cluster));
    c.send({ typeUrl: TYPE_URL.endpoint, resourceNames: [WEB] }, { ...node, metadata: { ...node.metadata, WEFT_DRAINING: true } });
    await c.next(TYPE_URL.endpoint); // requests are handled in order: the draining node has been seen
    await laterOrdersInstance('orders-e', '127.0.0.55');
    expect(observer.endpoints(ORDERS)).toContain('127.0.0.51:15006');
  });
});

// One CA for every control-plane replica, on a real 3-member etcd cluster (issue 22): two replicas
// opening the CA at once make one root; keys in etcd are sealed (no PEM key in any value) and a
// replica with another KEK is refused with CA_KEK_MISMATCH; a leaf signed by one replica verifies
// on the other; rotation steps are conditional (two replicas asked at once: one rotation, the
// other told) and followed by the other replica through its watch; join tokens made on one
// replica verify on the other and a revocation holds on both at once; the admin token is shared;
// the leader (etcd election) is one replica at a time and moves on when it leaves.
import { X509Certificate, randomBytes } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../common/log.js';
import { CertificateAuthority } from '../../../control-plane/ca/ca.js';
import { EtcdVault, deriveKek } from '../../../control-plane/ca/etcd-vault.js';
import { JoinTokens } from '../../../control-plane/ca/tokens.js';
import { loadOrCreateToken } from '../../../control-plane/admin/token.js';
import { ReplicaSet, type ReplicaRecord } from '../../../control-plane/replicas.js';
import { ControlPlane } from '../../../control-plane/control-plane.js';
import { EtcdStore, etcdClientOptions } from '../../../control-plane/store/etcd-store.js';
import { SharedRegistry } from '../../../control-plane/registry/shared.js';
import type { NodeInfo } from '../../../control-plane/xds/node.js';
import { createCsr, generateKey } from '../../../sidecar/identity/csr.js';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd.js';
import { eventually, tempDir } from '../../harness/processes.js';

const ID = { trustDomain: 'cluster.local', namespace: 'default', service: 'web' };
const SPIFFE = 'spiffe://cluster.local/ns/default/sa/web';

describe('the CA, join tokens and leadership shared by replicas through etcd', () => {
  let etcd: EtcdCluster;
  const clients: Etcd3[] = [];
  const kek = deriveKek(Buffer.from(randomBytes(32).toString('base64')));
  const client = () => {
    // As a replica makes it (its calls carry their deadlines).
    const c = new Etcd3(etcdClientOptions({ endpoints: etcd.endpoints.split(',') }));
    clients.push(c);
    return c;
  };
  const vault = (prefix: string, key = kek) => new EtcdVault(client(), prefix, key);

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  it('two replicas opening at once make one root; its key is sealed; another KEK is refused', async () => {
    const [a, b] = await Promise.all([CertificateAuthority.open({ dataDir: tempDir(), vault: vault('/t1') }), CertificateAuthority.open({ dataDir: tempDir(), vault: vault('/t1') })]);
    expect(a.roots().map((r) => r.fingerprint)).toEqual(b.roots().map((r) => r.fingerprint));
    const raw = await client().getAll().prefix('/t1/ca/').strings();
    const keyEntries = Object.entries(raw).filter(([k]) => k.endsWith('.key.pem'));
    expect(keyEntries).toHaveLength(1);
    expect(keyEntries[0]![1]).toMatch(/^weft-sealed-v1:/);
    expect(Object.values(raw).join('\n')).not.toContain('PRIVATE KEY');
    // Every entry, certificates and state too: sealing authenticates, so an etcd writer without
    // the KEK cannot put a root of their own in the trust bundle.
    expect(Object.values(raw).every((v) => v.startsWith('weft-sealed-v1:'))).toBe(true);
    const certKey = Object.keys(raw).find((k) => k.endsWith('.cert.pem'))!;
    const forged = client();
    await forged.put(certKey).value(`-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n`);
    await expect(CertificateAuthority.open({ dataDir: tempDir(), vault: vault('/t1') })).rejects.toThrow(/should be encrypted/);
    await forged.put(certKey).value(raw[certKey]!);
    // A leaf from replica A verifies on replica B.
    const leaf = await a.signCsr(createCsr(generateKey(), SPIFFE), ID, 60_000);
    expect(b.verifyPeer(new X509Certificate(leaf.chainPem[0]!).raw)).toMatchObject({ spiffeId: SPIFFE });
    // A replica given another KEK refuses to start rather than make a CA of its own.
    const other = deriveKek(Buffer.from(randomBytes(32).toString('base64')));
    await expect(CertificateAuthority.open({ dataDir: tempDir(), vault: vault('/t1', other) })).rejects.toMatchObject({ code: 'CA_KEK_MISMATCH' });
  });

  it('rotation steps are conditional and the other replica follows them by watch', async () => {
    const [a, b] = await Promise.all([CertificateAuthority.open({ dataDir: tempDir(), vault: vault('/t2') }), CertificateAuthority.open({ dataDir: tempDir(), vault: vault('/t2') })]);
    const changed: string[] = [];
    b.onChange(() => changed.push(b.rotationPhase()));
    // Both asked to begin at once: exactly one rotation starts.
    const results = await Promise.allSettled([a.beginRotation(), b.beginRotation()]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(String(refused.reason)).toMatch(/changed meanwhile|already in progress/);
    await eventually(() => a.rotationPhase() === 'added' && b.rotationPhase() === 'added', 5000, 20);
    expect(a.roots().map((r) => r.fingerprint)).toEqual(b.roots().map((r) => r.fingerprint));
    await a.promoteRotation();
    await eventually(() => b.rotationPhase() === 'promoted', 5000, 20);
    const next = a.roots()[0]!.fingerprint;
    expect(b.roots()[0]!.fingerprint).toBe(next);
    await a.finishRotation();
    await eventually(() => b.rotationPhase() === 'none', 5000, 20);
    expect(b.roots().map((r) => r.fingerprint)).toEqual([next]);
    // B signs with the root A promoted.
    const leaf = await b.signCsr(createCsr(generateKey(), SPIFFE), ID, 60_000);
    expect(leaf.issuerFingerprint).toBe(next);
    expect(changed).toContain('promoted');
    // The old root's key left etcd with it.
    expect(Object.keys(await client().getAll().prefix('/t2/ca/root-').strings())).toHaveLength(2);
  });

  it('a join token made on one replica verifies on the other; a revocation holds on both at once; one admin token', async () => {
    const [ta, tb] = await Promise.all([JoinTokens.open(tempDir(), vault('/t3')), JoinTokens.open(tempDir(), vault('/t3'))]);
    const { token, info } = await ta.create({ namespace: 'default', service: 'web', ttlMs: 60_000, trustDomain: 'cluster.local', caFingerprint: 'AA' });
    expect(await tb.verify(token)).toMatchObject({ ok: true });
    await tb.revoke(info.id);
    expect(await ta.verify(token)).toEqual({ ok: false, reason: `join token ${info.id} was revoked` });
    expect((await ta.list()).map((t) => [t.id, t.revoked])).toEqual([[info.id, true]]);
    const [x, y] = await Promise.all([loadOrCreateToken(tempDir(), vault('/t3')), loadOrCreateToken(tempDir(), vault('/t3'))]);
    expect(x).toBe(y);
    expect(x).toMatch(/^wa_/);
  });

  it('one leader at a time; when it leaves another replica leads', async () => {
    const record = (name: string): ReplicaRecord => ({ name, xds: 'h:1', admin: 'h:2', startedAt: new Date().toISOString(), revision: 7, proxies: 0, ca: { bundle: 'x', trustSynced: true, renewedFrom: null } });
    const jobs: string[] = [];
    const own = new Map<string, Etcd3>();
    const make = (name: string) => {
      own.set(name, client());
      return new ReplicaSet({ client: own.get(name)!, prefix: '/t4', self: () => record(name), logger: silentLogger, ttlSeconds: 2, leaderJobs: [() => (jobs.push(`start ${name}`), () => jobs.push(`stop ${name}`))] });
    };
    const sets = [make('a'), make('b'), make('c')];
    await Promise.all(sets.map((s) => s.start()));
    const leader = await eventually(() => {
      const l = sets.filter((s) => s.leading);
      return l.length === 1 ? l[0] : undefined;
    }, 10_000, 20);
    await eventually(() => sets.every((s) => s.list().length === 3 && s.leaderName === leader!.list().find((r) => r.self)!.name), 10_000, 20);
    await leader!.close();
    const rest = sets.filter((s) => s !== leader);
    const next = await eventually(() => {
      const l = rest.filter((s) => s.leading);
      return l.length === 1 ? l[0] : undefined;
    }, 10_000, 20);
    await eventually(() => rest.every((s) => s.list().length === 2), 10_000, 20);
    expect(jobs.filter((j) => j.startsWith('start'))).toHaveLength(2);
    expect(jobs).toContain(`stop ${leader!.list().find((r) => r.self)!.name}`);
    // The next leader's lease ends in etcd without a word from it (what etcd does when a replica
    // is cut off longer than the TTL): the other replica leads; the old one, told its lease is
    // lost, stops its jobs, stands again behind it and does not lead.
    const nextName = next!.list().find((r) => r.self)!.name;
    const kv = (await client().get(`/t4/leader/${nextName}`).exec()).kvs[0]!;
    await client().leaseClient.leaseRevoke({ ID: kv.lease });
    const last = rest.find((s) => s !== next)!;
    await eventually(() => last.leading && !next!.leading, 10_000, 20);
    expect(jobs).toContain(`stop ${nextName}`);
    expect(jobs.filter((j) => j.startsWith('start'))).toHaveLength(3);
    await eventually(() => next!.list().length === 2 && next!.leaderName === last.list().find((r) => r.self)!.name, 10_000, 20);
    expect(next!.leading).toBe(false);
    await Promise.all(rest.map((s) => s.close()));
  }, 30_000);

  it('an instance held by one identity through one replica is refused to another identity on another replica', async () => {
    const decode = (v: unknown) => v as never;
    const make = (replica: string) => {
      const store = new EtcdStore({ endpoints: etcd.endpoints.split(','), prefix: '/t5' }, decode);
      return new ControlPlane({ store, registryGraceMs: 5000, shareRegistry: (local) => new SharedRegistry(local, { client: store.client, prefix: store.prefix, replica, ttlMs: 5000, logger: silentLogger }) });
    };
    const [a, b] = [make('a'), make('b')];
    await Promise.all([a.start(), b.start()]);
    // (authorizeXds lets only the service's own identity register it over TLS: what can differ is
    // an unauthenticated stream, from the plaintext port with --xds-plaintext-register.)
    const node = (id: string, peerId: string | undefined): NodeInfo => ({ id, instance: 'orders-1', cluster: 'orders', role: 'sidecar', service: 'orders', namespace: 'default', instanceIp: '10.0.0.7', instancePort: 15006, labels: {}, userAgent: 'test', ...(peerId ? { peerId } : {}) });
    const ORDERS = 'spiffe://cluster.local/ns/default/sa/orders';
    expect(a.streamOpened(node('orders-1', ORDERS))).toBeUndefined();
    // Replica B learns of it through etcd, then refuses an unauthenticated stream claiming it.
    let n = 0;
    const why = await eventually(() => {
      const probe = node(`probe-${n++}`, undefined);
      const r = b.streamOpened(probe);
      if (!r) b.streamClosed(probe, true); // not known on B yet: nothing was registered (plaintext registration is off)
      return r?.error;
    }, 10_000, 50);
    expect(why).toMatch(/registered \(through another control-plane replica\) by spiffe:\/\/cluster.local\/ns\/default\/sa\/orders; this stream is unauthenticated/);
    // The same identity (a proxy moving over from replica A) is welcome.
    const moved = node('orders-1', ORDERS);
    expect(b.streamOpened(moved)).toBeUndefined();
    b.streamClosed(moved, true);
    await Promise.all([a.close(), b.close()]);
  }, 30_000);
});


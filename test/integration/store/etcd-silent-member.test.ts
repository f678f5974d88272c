// One member of a real 3-member etcd cluster stops answering without closing its connections
// (SIGSTOP: to a client that is what a member behind a network partition looks like: nothing is
// refused, nothing answers). Quorum holds, so nothing a replica does may fail:
// - every commit succeeds (each store's client picks members at random, so of 30 commits about
//   10 first try the silent one; before each attempt had its own deadline, those all failed);
// - leases outlive their TTL several times over (their keepalive streams, about a third of them on
//   the silent member, move to live members in time; before, such a lease was lost);
// - a watch opened before goes on delivering what other clients commit (gRPC keepalive finds
//   the silent connection; before, a watch on it waited for ever).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3, type Lease } from 'etcd3';
import { parseDocuments, validateDocument } from '../../../control-plane/config/index.js';
import type { MeshResource } from '../../../control-plane/config/types.js';
import { EtcdStore, etcdClientOptions } from '../../../control-plane/store/etcd-store.js';
import { guardLease } from '../../../control-plane/store/etcd-lease.js';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd.js';
import { eventually } from '../../harness/processes.js';

function decode(value: unknown): MeshResource {
  const r = validateDocument(value, { file: 'etcd', document: 0 });
  if (!r.resource) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  return r.resource;
}

const svc = (name: string): MeshResource => decode(parseDocuments(`apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`, 't.yaml').docs[0]!.value);

describe('etcd: one member of three stops answering', () => {
  let etcd: EtcdCluster;
  const stores: EtcdStore[] = [];
  const clients: Etcd3[] = [];

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
  }, 60_000);
  afterAll(async () => {
    etcd?.members.forEach((m) => m.resume?.());
    await Promise.all(stores.map((s) => s.close()));
    for (const c of clients) c.close();
    await etcd?.stop();
  }, 30_000);

  it('commits all succeed, leases are kept, watches go on delivering', async () => {
    const endpoints = etcd.endpoints.split(',');
    // Six replicas' stores on one prefix, each following it.
    const seen: number[] = [];
    for (let i = 0; i < 6; i++) {
      const s = new EtcdStore({ endpoints, prefix: '/silent' }, decode);
      stores.push(s);
      await s.load();
      s.watch((st) => (seen[i] = st.revision));
      seen[i] = 0;
    }
    // Nine leases (TTL 2 s), each guarded as the registry and the replica set guard theirs, each
    // holding one key, on three clients made as a replica makes its client.
    const TTL = 2;
    const lost: string[] = [];
    const leases: Lease[] = [];
    for (let c = 0; c < 3; c++) {
      const client = new Etcd3(etcdClientOptions({ endpoints }));
      clients.push(client);
      for (let i = 0; i < 3; i++) {
        const lease = client.lease(TTL);
        lease.on('lost', (e) => lost.push(`${c}/${i}: ${e.message}`));
        guardLease(lease, TTL * 1000);
        await lease.put(`/silent-leases/${c}-${i}`).value('x').exec();
        leases.push(lease);
      }
    }
    // Every client has used every member (the store's load, the puts and a few reads besides).
    for (const s of stores) for (let i = 0; i < 4; i++) await s.load();

    const silent = etcd.members[0]!;
    silent.pause!();
    const paused = Date.now();
    try {
      // 30 commits, five through each store, one after another: none may fail.
      const failures: string[] = [];
      // The newest revision each store's watch must bring (a store's own commit is its state
      // already; its watch does not hand it on again).
      const others = stores.map(() => 0);
      for (let round = 0; round < 5; round++) {
        for (const [i, s] of stores.entries()) {
          try {
            const rev = (await s.commit({ upsert: [svc(`s${i}-r${round}`)], delete: [] })).revision;
            for (let j = 0; j < stores.length; j++) if (j !== i) others[j] = rev;
          } catch (e) {
            failures.push(`store ${i} round ${round}: ${(e as Error).message} ${((e as Error).cause as Error)?.message}`);
          }
        }
      }
      // A last commit by a seventh store, one that none of the six made: each of them must hear of
      // it through its watch. (The others' last commit is not enough: a store that committed after
      // it, unguarded as here, is already at a later revision when its watch brings it, so that
      // watch hands on nothing newer: CI saw [..,39] wanted, 38 seen.)
      const writer = new EtcdStore({ endpoints, prefix: '/silent' }, decode);
      stores.push(writer);
      await writer.load().catch((e: unknown) => failures.push(`writer load: ${(e as Error).message}`));
      const final = await writer.commit({ upsert: [svc('final')], delete: [] }).catch((e: unknown) => {
        failures.push(`writer: ${(e as Error).message}`);
        return undefined;
      });
      if (final) others.fill(final.revision);
      expect(failures).toEqual([]);
      // Every store's watch brings it (whichever member its stream was on).
      await eventually(async () => (seen.every((r, i) => r >= others[i]!) ? true : undefined), 30_000, 100).catch(() => {
        throw new Error(`watches behind the others' last commits ${JSON.stringify(others)}: ${JSON.stringify(seen)}`);
      });
      // Leases: kept through three TTLs with the member silent, their keys still there.
      await eventually(async () => (Date.now() - paused > 3 * TTL * 1000 ? true : undefined), 10_000, 100);
      expect(lost).toEqual([]);
      const keys = await clients[1]!.getAll().prefix('/silent-leases/').keys();
      expect(keys.sort()).toEqual(['0-0', '0-1', '0-2', '1-0', '1-1', '1-2', '2-0', '2-1', '2-2'].map((k) => `/silent-leases/${k}`));
    } finally {
      silent.resume!();
    }
    for (const l of leases) await l.revoke();
  }, 90_000);
});

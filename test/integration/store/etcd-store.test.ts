// The configuration store on a real 3-member etcd cluster (Debian's etcd-server, on loopback):
// two store instances stand for two control-plane replicas. Round trip; the configuration's
// revision is the etcd revision of the commit, the same for both; guarded commits: the same
// resource changed by both -> one wins, the other gets CONFIG_CONFLICT naming it; different
// resources -> the second is told to validate again (StaleRevisionError), then lands, nothing
// lost; a change the store holds already (a retried attempt that had landed) succeeds; each
// replica's watch hands it the other's commits in order; one member down changes
// nothing; quorum lost -> STORE_UNAVAILABLE, then it recovers by itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWeftError } from '../../../common/errors.js';
import { parseDocuments, validateDocument } from '../../../control-plane/config/index.js';
import type { MeshResource, ResourceKey } from '../../../control-plane/config/types.js';
import { resourceKey } from '../../../control-plane/config/model.js';
import { Etcd3 } from 'etcd3';
import { EtcdStore, StaleRevisionError, etcdClientOptions, parseEtcdUrl } from '../../../control-plane/store/etcd-store.js';
import { readPrefix } from '../../../control-plane/store/etcd-read.js';
import type { StoredState } from '../../../control-plane/store/store.js';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd.js';

function decode(value: unknown): MeshResource {
  const r = validateDocument(value, { file: 'etcd', document: 0 });
  if (!r.resource) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('; '));
  return r.resource;
}

const svc = (name: string, port = 8080): MeshResource => {
  const { docs } = parseDocuments(`apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: ${port}, protocol: http }]\n`, 't.yaml');
  return decode(docs[0]!.value);
};

const names = (s: StoredState) => s.resources.map((r) => `${r.metadata.name}:${(r.spec as { ports: Array<{ port: number }> }).ports[0]!.port}`);

async function until<T>(f: () => T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('EtcdStore on a 3-member etcd cluster', () => {
  let etcd: EtcdCluster;
  const stores: EtcdStore[] = [];
  const open = (prefix: string, decodeWith = decode) => {
    const s = new EtcdStore({ endpoints: parseEtcdUrl(`etcd://${etcd.endpoints}`), prefix, timeoutMs: 3000 }, decodeWith);
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await etcd?.stop();
  }, 30_000);

  it('parses etcd:// URLs and refuses others with the reason', () => {
    expect(parseEtcdUrl('etcd://a:2379,10.0.0.2:2379')).toEqual(['a:2379', '10.0.0.2:2379']);
    expect(() => parseEtcdUrl('http://a:2379')).toThrow(/is not etcd:\/\/host:port/);
    expect(() => parseEtcdUrl('etcd://a')).toThrow(/'a' is not host:port/);
  });

  it('round trip: an empty store is revision 0; a commit is one revision, the same one both replicas read', async () => {
    const a = open('/rt');
    const b = open('/rt');
    expect(await a.load()).toEqual({ revision: 0, resources: [] });
    const s = await a.commit({ upsert: [svc('web'), svc('api', 9090)], delete: [] });
    expect(s.revision).toBeGreaterThan(0);
    const read = await b.load();
    expect(read.revision).toBe(s.revision);
    expect(names(read)).toEqual(['api:9090', 'web:8080']);
    const d = await b.commit({ upsert: [], delete: ['Service/default/api'] }, { revision: read.revision });
    expect(names(d)).toEqual(['web:8080']);
    expect((await a.load()).revision).toBe(d.revision);
  });

  it('two replicas change the same resource at once: one wins, the other gets CONFIG_CONFLICT naming it; nothing is lost', async () => {
    const a = open('/same');
    const b = open('/same');
    const base = await a.commit({ upsert: [svc('web')], delete: [] });
    await b.load();
    const results = await Promise.allSettled([
      a.commit({ upsert: [svc('web', 1111)], delete: [] }, { revision: base.revision }),
      b.commit({ upsert: [svc('web', 2222)], delete: [] }, { revision: base.revision }),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const e = lost[0]!.reason as Error;
    expect(isWeftError(e) && e.code).toBe('CONFIG_CONFLICT');
    expect(e).not.toBeInstanceOf(StaleRevisionError);
    expect(e.message).toMatch(/Service\/default\/web changed at revision \d+, after this change read revision \d+/);
    // What is stored is exactly the winner's change.
    const winner = (won[0] as PromiseFulfilledResult<StoredState>).value;
    expect(names(await open('/same').load())).toEqual(names(winner));
  });

  it('a change the store holds already (an attempt etcd applied after its deadline, then retried) succeeds with the stored state', async () => {
    const a = open('/again');
    const b = open('/again');
    const base = await a.commit({ upsert: [svc('web')], delete: [] });
    await b.load();
    const first = await a.commit({ upsert: [svc('web', 3333), svc('api')], delete: [] }, { revision: base.revision });
    // The same change guarded by the same revision: what the retry of a landed attempt sends.
    const again = await b.commit({ upsert: [svc('web', 3333), svc('api')], delete: [] }, { revision: base.revision });
    expect(again.revision).toBe(first.revision);
    expect(names(again)).toEqual(['api:8080', 'web:3333']);
    const gone = await a.commit({ upsert: [], delete: ['Service/default/api'] }, { revision: first.revision });
    expect((await b.commit({ upsert: [], delete: ['Service/default/api'] }, { revision: first.revision })).revision).toBe(gone.revision);
    // Another change to the same resource from the older revision is still a conflict.
    await expect(b.commit({ upsert: [svc('web', 4444)], delete: [] }, { revision: base.revision })).rejects.toMatchObject({ code: 'CONFIG_CONFLICT' });
    expect(names(await open('/again').load())).toEqual(['web:3333']);
  });

  it('two replicas change different resources at once: the later one is told to validate again, then lands; both changes are kept', async () => {
    const a = open('/diff');
    const b = open('/diff');
    const base = await a.commit({ upsert: [svc('web')], delete: [] });
    await b.load();
    const first = await a.commit({ upsert: [svc('api', 9090)], delete: [] }, { revision: base.revision });
    const stale = await b.commit({ upsert: [svc('db', 5432)], delete: [] }, { revision: base.revision }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(StaleRevisionError);
    expect((stale as StaleRevisionError).latest).toBe(first.revision);
    // Validated again against the newer revision, it lands.
    const second = await b.commit({ upsert: [svc('db', 5432)], delete: [] }, { revision: first.revision });
    expect(names(await open('/diff').load())).toEqual(['api:9090', 'db:5432', 'web:8080']);
    expect(second.revision).toBeGreaterThan(first.revision);
  });

  it('each replica\'s watch hands it the other\'s commits, whole and in order', async () => {
    const a = open('/watch');
    const b = open('/watch');
    await a.load();
    await b.load();
    const seen: StoredState[] = [];
    b.watch((s) => seen.push(s));
    const r1 = await a.commit({ upsert: [svc('web'), svc('api', 9090)], delete: [] });
    const r2 = await a.commit({ upsert: [svc('web', 8081)], delete: ['Service/default/api'] });
    await until(() => (seen.at(-1)?.revision === r2.revision ? true : undefined), 5000, 'the second commit on the watch');
    expect(seen.map((s) => [s.revision, names(s)])).toEqual([
      [r1.revision, ['api:9090', 'web:8080']],
      [r2.revision, ['web:8081']],
    ]);
  });

  it('a watch whose revision etcd compacted away is read again and made anew: the replica does not go stale', async () => {
    const a = open('/compacted');
    const b = open('/compacted');
    await a.load();
    await b.load(); // b read at revision R; its watch will start at R + 1
    await a.commit({ upsert: [svc('web')], delete: [] });
    const last = await a.commit({ upsert: [svc('api', 9090)], delete: [] });
    // Compact past R: what a replica cut off for longer than the history etcd keeps meets.
    await a.client.kv.compact({ revision: String(last.revision) });
    const seen: StoredState[] = [];
    b.watch((s) => seen.push(s));
    await until(() => (seen.at(-1)?.revision === last.revision ? true : undefined), 10_000, 'the state after the compaction');
    expect(names(seen.at(-1)!)).toEqual(['api:9090', 'web:8080']);
    // And the new watch follows later commits.
    const after = await a.commit({ upsert: [svc('web', 8081)], delete: [] });
    await until(() => (seen.at(-1)?.revision === after.revision ? true : undefined), 5000, 'a commit after the new watch');
    expect(names(seen.at(-1)!)).toEqual(['api:9090', 'web:8081']);
  });

  it('a commit reaches the other replica\'s watch whole, as one state; the committing replica does not decode its own commit again', async () => {
    const decoded = { a: 0, b: 0 };
    const a = open('/watch-big', (v) => (decoded.a++, decode(v)));
    const b = open('/watch-big', (v) => (decoded.b++, decode(v)));
    await Promise.all([a.load(), b.load()]);
    const seenA: StoredState[] = [];
    const seenB: StoredState[] = [];
    a.watch((s) => seenA.push(s));
    b.watch((s) => seenB.push(s));
    // 120 documents in one commit (etcd takes 128 operations per transaction by default).
    const c = await a.commit({ upsert: Array.from({ length: 120 }, (_, i) => svc(`w${i}`, 1000 + i)), delete: [] });
    await until(() => (seenB.at(-1)?.revision === c.revision ? true : undefined), 20_000, 'the commit on the other replica');
    // One state for the one commit, never a part of it.
    expect(seenB.map((s) => s.resources.length)).toEqual([120]);
    expect(decoded.b).toBe(120);
    // The committing replica: its watch saw the commit (a later commit by b arrives after it) but
    // decoded nothing of it, whichever came first, the watch or etcd's answer to the commit: the
    // marker's first event carries the commit's id. (Watch first: it hands the state on.)
    const d = await b.commit({ upsert: [svc('tail')], delete: [] });
    await until(() => (seenA.at(-1)?.revision === d.revision ? true : undefined), 10_000, "b's commit on a's watch");
    expect(decoded.a).toBe(1);
    expect(seenA.map((s) => s.resources.length)).toEqual(seenA.some((s) => s.revision === c.revision) ? [120, 121] : [121]);
  }, 60_000);

  it('a commit whose watch event comes before its answer is applied from the change in hand, not decoded, and handed on once', async () => {
    // Ten rounds, each racing a's commit against a's watch; every order must give one state per
    // commit, nothing decoded, and the same resources as another replica decoded them.
    const decoded = { a: 0 };
    const a = open('/watch-race', (v) => (decoded.a++, decode(v)));
    const b = open('/watch-race');
    await Promise.all([a.load(), b.load()]);
    const seenA: StoredState[] = [];
    const seenB: StoredState[] = [];
    a.watch((s) => seenA.push(s));
    b.watch((s) => seenB.push(s));
    let last: StoredState | undefined;
    for (let i = 0; i < 10; i++) last = await a.commit({ upsert: Array.from({ length: 20 }, (_, j) => svc(`r${i}-${j}`, 2000 + i * 20 + j)), delete: i ? [`Service/default/r${i - 1}-0` as ResourceKey] : [] }, { revision: last?.revision ?? 0 });
    await until(() => (seenB.at(-1)?.revision === last!.revision ? true : undefined), 20_000, 'the last commit on the other replica');
    expect(decoded.a).toBe(0);
    const revisions = seenA.map((s) => s.revision);
    expect(new Set(revisions).size).toBe(revisions.length);
    const keys = (s: StoredState) => s.resources.map((r) => resourceKey(r)).sort();
    expect(keys(await a.load())).toEqual(keys(seenB.at(-1)!));
  }, 60_000);

  it('a configuration larger than one gRPC message (4 MiB) loads whole, at one revision, on another replica and after a refused commit', async () => {
    // 400 Services of 300 static endpoints each: about 6 MiB stored (gRPC's default largest message is 4 MiB).
    const big = (i: number) => {
      const eps = Array.from({ length: 300 }, (_, k) => `    - { address: 10.${i % 250}.${Math.floor(k / 250)}.${(k % 250) + 1}, port: ${9000 + (k % 1000)} }`).join('\n');
      const { docs } = parseDocuments(`apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: big-${i} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n  endpoints:\n${eps}\n`, 'big.yaml');
      return decode(docs[0]!.value);
    };
    const a = open('/big');
    await a.load();
    let last: StoredState | undefined;
    for (let batch = 0; batch < 8; batch++) last = await a.commit({ upsert: Array.from({ length: 50 }, (_, j) => big(batch * 50 + j)), delete: [] }, { revision: last?.revision ?? 0 });
    expect(400 * JSON.stringify(big(0)).length).toBeGreaterThan(5 * 1024 * 1024);
    const b = open('/big');
    const read = await b.load();
    expect(read.resources).toHaveLength(400);
    expect(read.revision).toBe(last!.revision);
    // A guarded commit against an old revision reads the whole prefix again to tell what moved.
    const stale = await b.commit({ upsert: [svc('web')], delete: [] }, { revision: 1 }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(StaleRevisionError);
    expect((await b.commit({ upsert: [svc('web')], delete: [] }, { revision: read.revision })).resources).toHaveLength(401);
    // Pages of 7 keys give what pages of 100 give, at the first page's revision.
    const client = new Etcd3(etcdClientOptions({ endpoints: parseEtcdUrl(`etcd://${etcd.endpoints}`) }));
    try {
      // (One Range of all of it would be over gRPC's 4 MiB: compared with the default pages.)
      const paged = await readPrefix(client, '/big/', 7);
      const whole = await readPrefix(client, '/big/');
      expect(paged.kvs.map((kv) => kv.key.toString())).toEqual(whole.kvs.map((kv) => kv.key.toString()));
      expect(paged.kvs).toHaveLength(402); // 401 resources and the revision marker
      expect(paged.revision).toBe(whole.revision);
    } finally {
      client.close();
    }
  }, 120_000);

  it('a change larger than etcd takes in one transaction is refused whole with STORE_LIMIT, before or by etcd', async () => {
    const a = open('/limit');
    await a.load();
    const many = Array.from({ length: 130 }, (_, i) => svc(`s${i}`));
    // Up front: more resources than --max-txn-ops (128 by default) allows.
    await expect(a.commit({ upsert: many, delete: [] })).rejects.toMatchObject({ code: 'STORE_LIMIT', message: expect.stringMatching(/writes 130 resources; etcd takes at most 127/) });
    // By etcd: a store told of a higher limit than the members have.
    const lying = new EtcdStore({ endpoints: parseEtcdUrl(`etcd://${etcd.endpoints}`), prefix: '/limit', timeoutMs: 3000, maxTxnOps: 1000 }, decode);
    stores.push(lying);
    await lying.load();
    await expect(lying.commit({ upsert: many, delete: [] })).rejects.toMatchObject({ code: 'STORE_LIMIT', message: expect.stringMatching(/too many operations/) });
    expect((await a.load()).resources).toHaveLength(0);
  });

  it('one member down changes nothing; quorum lost gives STORE_UNAVAILABLE; it recovers by itself', async () => {
    const a = open('/quorum');
    await a.load();
    await etcd.members[0]!.stop();
    const one = await a.commit({ upsert: [svc('web')], delete: [] });
    expect(names(one)).toEqual(['web:8080']);
    await etcd.members[1]!.stop();
    const err = await a.commit({ upsert: [svc('api', 9090)], delete: [] }).catch((e: unknown) => e);
    expect(isWeftError(err) && (err as { code: string }).code).toBe('STORE_UNAVAILABLE');
    expect(String((err as Error).message)).toMatch(/^etcd did not confirm the commit: no member answered within 3000 ms; it has lost quorum|^etcd: cannot commit/);
    // Only the commit's own time bound: not gRPC's remainder of the client's last retry ("after 0.001s").
    expect(String((err as Error).message)).not.toMatch(/Deadline exceeded after/);
    await Promise.all([etcd.members[0]!.start(), etcd.members[1]!.start()]);
    // Recovered without any step from us: the next commit lands (the client reconnects).
    const end = Date.now() + 20_000;
    let ok: StoredState | undefined;
    while (!ok && Date.now() < end) ok = await a.commit({ upsert: [svc('api', 9090)], delete: [] }).catch(() => undefined);
    expect(ok && names(ok)).toEqual(['api:9090', 'web:8080']);
  }, 60_000);
});

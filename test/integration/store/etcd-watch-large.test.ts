// A commit larger than one gRPC message reaches the other replicas' watches. etcd sends a commit's
// events in one watch response, and grpc-js takes at most 4 MiB in one message by default: with
// etcd's --max-request-bytes raised for large configurations (docs/deploy.md), a commit over
// 4 MiB made every other replica's watch fail with RESOURCE_EXHAUSTED, and the client resumed it
// from the same revision into the same failure: replicas serving the configuration from before,
// for good. Real etcd (one member, limits raised as an operator with large configurations would).
// Also: another writer's large commit is decoded in slices (the event loop runs between them).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseDocuments, validateDocument } from '../../../control-plane/config/index.js';
import type { MeshResource } from '../../../control-plane/config/types.js';
import { EtcdStore, parseEtcdUrl } from '../../../control-plane/store/etcd-store.js';
import type { StoredState } from '../../../control-plane/store/store.js';
import { startEtcdCluster, type EtcdCluster } from '../../harness/etcd.js';

function small(name: string, port: number): MeshResource {
  const r = validateDocument({ apiVersion: 'weft.dev/v1alpha1', kind: 'Service', metadata: { name }, spec: { ports: [{ name: 'http', port, protocol: 'http' }] } }, { file: 'small.yaml', document: 0 });
  if (!r.resource) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.resource;
}

function big(i: number): MeshResource {
  const eps = Array.from({ length: 300 }, (_, k) => `    - { address: 10.${i % 250}.${Math.floor(k / 250)}.${(k % 250) + 1}, port: ${9000 + (k % 1000)} }`).join('\n');
  const { docs } = parseDocuments(`apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: big-${i} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n  endpoints:\n${eps}\n`, 'big.yaml');
  const r = validateDocument(docs[0]!.value, { file: 'big.yaml', document: 0 });
  if (!r.resource) throw new Error(r.errors.map((e) => e.message).join('; '));
  return r.resource;
}

describe('a commit larger than one gRPC message (4 MiB)', () => {
  let etcd: EtcdCluster;
  const stores: EtcdStore[] = [];
  /** `onDecode` runs before each value the store decodes (a slow decoder, a probe). */
  const open = (prefix = '/huge', onDecode?: () => void) => {
    const s = new EtcdStore({ endpoints: parseEtcdUrl(`etcd://${etcd.endpoints}`), prefix, timeoutMs: 20_000, maxTxnOps: 100_000 }, (v) => {
      onDecode?.();
      const r = validateDocument(v, { file: 'etcd', document: 0 });
      if (!r.resource) throw new Error('undecodable');
      return r.resource;
    });
    stores.push(s);
    return s;
  };

  beforeAll(async () => {
    etcd = await startEtcdCluster(1, { extraArgs: ['--max-txn-ops', '100000', '--max-request-bytes', String(64 * 1024 * 1024)] });
  }, 60_000);
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await etcd?.stop();
  }, 30_000);

  it('reaches the other replica\'s watch whole, and the next commit after it too', async () => {
    const a = open();
    const b = open();
    await a.load();
    await b.load();
    const seen: StoredState[] = [];
    b.watch((s) => seen.push(s));
    const resources = Array.from({ length: 400 }, (_, i) => big(i));
    expect(400 * JSON.stringify(resources[0]).length).toBeGreaterThan(5 * 1024 * 1024);
    const r1 = await a.commit({ upsert: resources, delete: [] }, { revision: 0 });
    const r2 = await a.commit({ upsert: [big(1000)], delete: ['Service/default/big-0'] }, { revision: r1.revision });
    const end = Date.now() + 60_000;
    while (seen.at(-1)?.revision !== r2.revision && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(seen.map((s) => [s.revision, s.resources.length])).toEqual([
      [r1.revision, 400],
      [r2.revision, 400],
    ]);
  }, 120_000);

  it("decodes another writer's large commit a slice at a time, the event loop running in between", async () => {
    const a = open('/sliced');
    await a.load();
    // A turn counter: which turn of the event loop each of b's decodes falls in.
    let turn = 0;
    let counting = true;
    const tick = () => {
      turn++;
      if (counting) setImmediate(tick);
    };
    const turns = new Set<number>();
    const b = open('/sliced', () => turns.add(turn));
    await b.load();
    const seen: StoredState[] = [];
    b.watch((st) => seen.push(st));
    setImmediate(tick);
    const n = 3_000;
    const r1 = await a.commit({ upsert: Array.from({ length: n }, (_, i) => small(`s-${i}`, 8080)), delete: [] }, { revision: 0 });
    await vi.waitFor(() => expect(seen.at(-1)?.revision).toBe(r1.revision), { timeout: 60_000, interval: 20 });
    counting = false;
    expect(seen.at(-1)?.resources).toHaveLength(n);
    // 256 values a slice: the decodes of the commit spread over at least n / 256 turns (one turn without the slices).
    expect(turns.size).toBeGreaterThanOrEqual(Math.floor(n / 256));
  }, 120_000);
});

// Two control-plane replicas in-process (each its own store and proxies, the fan-out credential
// shared): GET /v1/resources/K/NS/N/proxies on either lists the affected proxies of both, each
// with its replica, and `local=1` only the replica's own; a peer that does not answer is named.
// `weft proxy-status` on either has a REPLICA column, also when every proxy is on one replica.
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminServer } from '../../../control-plane/admin/server.js';
import { ControlPlane } from '../../../control-plane/control-plane.js';
import { validateStoredResource } from '../../../control-plane/config/index.js';
import { FileStore } from '../../../control-plane/store/file-store.js';
import type { ReplicaView } from '../../../control-plane/replicas.js';
import { runCli } from '../../../control-plane/cli/main.js';
import { nodeOf } from '../../harness/mesh.js';
import { tempDir } from '../../harness/processes.js';

const TOKEN = 'wa_replicas-test-token-0123456789abcdefghijklm';
const MESH = ['orders', 'web'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`).join('---\n');

describe('affected proxies across replicas', () => {
  const ports: Record<string, number> = {};
  const cps: ControlPlane[] = [];
  const admins: AdminServer[] = [];
  let live = ['a', 'b'];

  beforeAll(async () => {
    const key = randomBytes(32);
    const dir = tempDir('weft-dash-replicas-');
    for (const [name, proxies] of [['a', ['web-1']], ['b', ['web-2', 'orders-1']]] as const) {
      const cp = new ControlPlane({ store: new FileStore(join(dir, name), validateStoredResource) });
      await cp.start();
      await cp.apply([{ name: 'mesh.yaml', content: MESH }]);
      for (const id of proxies) cp.streamOpened(nodeOf({ id, role: 'sidecar', service: id.split('-')[0]!, appPort: 9000 }));
      const views = () => live.map((r) => ({ name: r, admin: `127.0.0.1:${ports[r]}`, self: r === name }) as unknown as ReplicaView);
      // Every connected sidecar is on a (as after b's proxies failed over to it).
      const status = name === 'a' ? [{ nodeId: 'web-1', role: 'sidecar', service: 'web', namespace: 'default', userAgent: 'weft/test', stream: 'delta', connectedAt: '2026-12-04T10:00:00.000Z', revision: 2, types: { cluster: { state: 'SYNCED' } } }] : [];
      const admin = new AdminServer({ controlPlane: cp, token: TOKEN, proxyStatus: () => status, metrics: async () => '', replicas: views, replicaAuth: { self: name, key } });
      ports[name] = await admin.listen(0);
      cps.push(cp);
      admins.push(admin);
    }
  });
  afterAll(async () => {
    for (const a of admins) await a.close();
    for (const c of cps) await c.close();
  });

  const get = async (replica: string, path: string) => (await (await fetch(`http://127.0.0.1:${ports[replica]}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { items: Array<{ nodeId: string; replica: string; via: string[] }>; unreachable?: Record<string, string> };

  it('lists every replica\'s affected proxies, each with its replica, from either replica', async () => {
    for (const asked of ['a', 'b']) {
      const r = await get(asked, '/v1/resources/Service/default/orders/proxies');
      expect(r.items.map((p) => [p.nodeId, p.replica])).toEqual([['orders-1', 'b'], ['web-1', 'a'], ['web-2', 'b']]);
      expect(r.items.find((p) => p.nodeId === 'orders-1')!.via).toContain('Cluster inbound|9000|orders.default');
    }
    expect((await get('a', '/v1/resources/Service/default/orders/proxies?local=1')).items.map((p) => p.nodeId)).toEqual(['web-1']);
  });

  it('weft proxy-status has a REPLICA column on replicas, also when every proxy is on one of them', async () => {
    for (const asked of ['a', 'b']) {
      const out: string[] = [];
      const code = await runCli(['proxy-status', '--server', `http://127.0.0.1:${ports[asked]}`, '--token', TOKEN], { out: (s) => out.push(s), err: (s) => out.push(s), stdin: async () => '' });
      expect(code).toBe(0);
      const [head, row] = out.join('\n').split('\n');
      expect(head).toMatch(/^PROXY\s+SERVICE\s+KIND\s+REPLICA\s+CDS/);
      expect(row).toMatch(/^web-1\s+web\.default\s+sidecar\/delta\s+a\s+SYNCED/);
    }
  });

  it('merges the apply history of every replica, newest first, each change with its replica', async () => {
    const apply = (replica: string, name: string) =>
      fetch(`http://127.0.0.1:${ports[replica]}/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ files: [{ name: 'x.yaml', content: `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n` }] }) });
    expect((await apply('a', 'users')).status).toBe(200);
    expect((await apply('b', 'users')).status).toBe(200);
    expect((await apply('b', 'payments')).status).toBe(200);
    const h = (await (await fetch(`http://127.0.0.1:${ports.a}/v1/history`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { items: Array<{ revision: number; replica: string; changes: Array<{ key: string }> }> };
    expect(h.items.map((e) => [e.replica, e.changes.map((c) => c.key)])).toEqual([
      ['b', ['Service/default/payments']],
      ['b', ['Service/default/users']],
      ['a', ['Service/default/users']],
    ]);
  });

  it('names a replica that does not answer, and lists the others', async () => {
    live = ['a', 'b', 'c'];
    ports.c = 9; // discard port: nothing listens on loopback
    const r = await get('a', '/v1/resources/Service/default/web/proxies');
    expect(r.items.map((p) => p.nodeId)).toEqual(['orders-1', 'web-1', 'web-2']); // orders calls web too: it holds web's cluster
    expect(Object.keys(r.unreachable ?? {})).toEqual(['c']);
    live = ['a', 'b'];
  });
});

// Two control-plane replicas on one real 3-member etcd cluster (issue 22, the store): an apply on
// replica A reaches a sidecar connected to replica B through B's watch (time printed); both serve
// the same configuration revision, the etcd revision of the commit; two applies of the same
// resource read at the same revision, one on each replica: one wins, the other gets 409
// CONFIG_CONFLICT, and what is stored is the winner's; applies to different resources on both
// replicas at once both land.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcdCluster, type EtcdCluster } from '../harness/etcd.js';
import { eventually, figure, startControlPlane, tempDir, startInstance, weftApply, type ControlPlaneProc, type Instance } from '../harness/processes.js';

const service = (name: string, portName = 'http') => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: ${portName}, port: 8080, protocol: http }]\n`;

/** POST /v1/apply on one replica's admin API. */
async function apply(cp: ControlPlaneProc, yaml: string, ifRevision?: number): Promise<{ status: number; body: { revision?: number; code?: string; message?: string } }> {
  const token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
  const r = await fetch(`${cp.adminUrl}/v1/apply${ifRevision !== undefined ? `?ifRevision=${ifRevision}` : ''}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ files: [{ name: 'a.yaml', content: yaml }] }),
  });
  return { status: r.status, body: (await r.json()) as { revision?: number; code?: string; message?: string } };
}

async function revisionOf(cp: ControlPlaneProc): Promise<number> {
  const token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
  const r = await fetch(`${cp.adminUrl}/v1/resources`, { headers: { authorization: `Bearer ${token}` } });
  return Number(((await r.json()) as { revision: number }).revision);
}

describe('control-plane replicas on etcd', () => {
  /** GET / to a service (orders by default) through web's sidecar (fetch cannot set Host). */
  const viaWeb = (host = 'orders') =>
    new Promise<{ status: number; headers: http.IncomingHttpHeaders }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: web.sidecar.outboundPort, path: '/', headers: { host } }, (r) => {
        r.resume();
        r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers }));
      }).on('error', reject);
    });
  let etcd: EtcdCluster;
  let a: ControlPlaneProc;
  let b: ControlPlaneProc;
  let orders: Instance;
  let web: Instance;

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
    const kek = join(tempDir('weft-kek-'), 'kek');
    writeFileSync(kek, randomBytes(32).toString('base64'), { mode: 0o600 });
    const store = ['--store', `etcd://${etcd.endpoints}`, '--ca-kek-file', kek];
    [a, b] = await Promise.all([startControlPlane({ extraArgs: store }), startControlPlane({ extraArgs: store })]);
    expect((await apply(a, service('orders') + '---\n' + service('web'))).status).toBe(200);
    // Both instances join replica B, which learnt the services from etcd.
    [orders, web] = await Promise.all([startInstance(b.xdsPort, 'http', 'orders', 'orders-1'), startInstance(b.xdsPort, 'http', 'web', 'web-1')]);
    await eventually(async () => (await viaWeb().catch(() => undefined))?.status === 200, 30_000, 100);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([orders?.kill(), web?.kill()]);
    await Promise.all([a?.kill(), b?.kill()]);
    await etcd?.stop();
  }, 30_000);

  it('an apply on replica A reaches a sidecar connected to replica B; both serve the same revision', async () => {
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-tag }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: x-applied-on, value: replica-a }] } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    const t0 = performance.now();
    const r = await apply(a, route);
    expect(r.status).toBe(200);
    await eventually(async () => (await viaWeb()).headers['x-applied-on'] === 'replica-a', 10_000, 10);
    const ms = performance.now() - t0;
    figure('apply on replica A -> served by a sidecar on replica B', { ms: Math.round(ms), revision: r.body.revision });
    expect(await eventually(async () => ((await revisionOf(b)) === r.body.revision ? true : undefined), 5000, 20)).toBe(true);
    expect(await revisionOf(a)).toBe(r.body.revision);
  });

  it('the same resource applied on both replicas from the same revision: one wins, the other gets 409 CONFIG_CONFLICT, the winner is stored', async () => {
    const rev = await revisionOf(a);
    await eventually(async () => ((await revisionOf(b)) === rev ? true : undefined), 5000, 20);
    const [ra, rb] = await Promise.all([apply(a, service('orders', 'from-a'), rev), apply(b, service('orders', 'from-b'), rev)]);
    figure('conflicting applies on two replicas', { a: ra.status, b: rb.status, loser: (ra.status === 409 ? ra : rb).body.message });
    expect([ra.status, rb.status].sort()).toEqual([200, 409]);
    const loser = ra.status === 409 ? ra : rb;
    expect(loser.body.code).toBe('CONFIG_CONFLICT');
    const winner = ra.status === 200 ? 'from-a' : 'from-b';
    // Both replicas hold the winner's change.
    for (const cp of [a, b]) {
      const token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
      await eventually(async () => {
        const body = (await (await fetch(`${cp.adminUrl}/v1/resources?kind=Service&name=orders`, { headers: { authorization: `Bearer ${token}` } })).json()) as { items: Array<{ spec?: { ports?: Array<{ name: string }> } }> };
        return body.items[0]?.spec?.ports?.[0]?.name === winner ? true : undefined;
      }, 5000, 20);
    }
  });

  it('different resources applied on both replicas at once both land (the later one is validated again)', async () => {
    const [ra, rb] = await Promise.all([apply(a, service('billing')), apply(b, service('search'))]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    const top = Math.max(ra.body.revision!, rb.body.revision!);
    for (const cp of [a, b]) await eventually(async () => ((await revisionOf(cp)) >= top ? true : undefined), 5000, 20);
  });

  it('the registry is shared: an instance registered through replica A is served to a sidecar on replica B, and leaves it when it drains', async () => {
    // One CA for both replicas: payments' certificate (from replica A) is trusted by web's
    // sidecar (certificate from replica B), so this is mTLS end to end.
    expect((await apply(a, service('payments'))).status).toBe(200);
    const payments = await startInstance(a.xdsPort, 'http', 'payments', 'payments-1');
    try {
      const t0 = performance.now();
      await eventually(async () => ((await viaWeb('payments').catch(() => undefined))?.status === 200 ? true : undefined), 20_000, 20);
      figure('instance registered on replica A, reached from a sidecar on replica B', { ms: Math.round(performance.now() - t0) });
      // Draining leaves the registry at once, on every replica.
      const t1 = performance.now();
      await payments.sidecar.kill('SIGTERM');
      await eventually(async () => ((await viaWeb('payments').catch(() => undefined))?.status === 503 ? true : undefined), 10_000, 20);
      figure('drained instance gone from replica B', { ms: Math.round(performance.now() - t1) });
    } finally {
      await payments.kill();
    }
  }, 60_000);
});

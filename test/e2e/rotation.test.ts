// Certificate rotation with no outage, with real processes: 20 s workload certificates renewed at
// half their lifetime while bounded traffic runs for 60 s (connections idle out between bursts, so
// new mTLS handshakes keep happening with the current certificates), then a root rotation
// (`weft ca rotate`) under traffic. Zero failed requests in both.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { figure, load, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';

const ORDERS = 'outbound|8080||orders.default';

async function metric(s: SidecarProc, name: string, label = ''): Promise<number> {
  const text = await (await fetch(`${s.admin}/stats/prometheus`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${label}}`) || (!label && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').at(-1)) : NaN;
}

interface Totals {
  sent: number;
  ok: number;
  failures: Record<string, number>;
}

/** Bursts of 100 requests with pauses longer than the pool's idle timeout, until `ms` passed or `stop()`. */
async function burstyLoad(a: SidecarProc, ms: number, stop: () => boolean = () => false): Promise<Totals> {
  const t: Totals = { sent: 0, ok: 0, failures: {} };
  const end = Date.now() + ms;
  while (Date.now() < end && !stop()) {
    const r = await load(a.outboundPort, { host: 'orders', total: 100, concurrency: 4, path: '/' });
    t.sent += r.sent;
    t.ok += r.ok;
    for (const [k, v] of Object.entries(r.failures)) t.failures[k] = (t.failures[k] ?? 0) + v;
    await new Promise((res) => setTimeout(res, 700));
  }
  return t;
}

async function rootsOf(s: SidecarProc): Promise<string[]> {
  const dump = (await (await fetch(`${s.admin}/config_dump`)).json()) as { secrets: Array<{ name: string; roots?: Array<{ fingerprint: string }> }> };
  return dump.secrets.find((x) => x.name === 'ROOTCA')?.roots?.map((r) => r.fingerprint) ?? [];
}

describe('rotation under traffic', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let web: SidecarProc;

  beforeAll(async () => {
    cp = await startControlPlane({ extraArgs: ['--ca-rotation-step-timeout', '10s'] });
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(
      f,
      [
        'apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  mtls: { mode: STRICT }\n  certificateTtl: 10s\n',
        ...['orders', 'web'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`),
        'apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: orders }\nspec:\n  targetRef: { kind: Service, name: orders }\n  connectionPool: { idleTimeout: 300ms }\n',
      ].join('---\n'),
    );
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    orders = await startInstance(cp.xdsPort, 'http', 'orders', 'orders-1');
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1 });
    await waitForHosts(web, ORDERS, 1);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), orders?.kill()]);
    await cp?.kill();
  });

  it('renews 10 s leaf certificates at half life: 30 s of traffic, zero failures', async () => {
    const t = await burstyLoad(web, 30_000);
    const rotations = { web: await metric(web, 'weft_workload_cert_rotations_total'), orders: await metric(orders.sidecar, 'weft_workload_cert_rotations_total') };
    const handshakes = await metric(orders.sidecar, 'weft_downstream_connections_total', 'listener="inbound"');
    figure('leaf rotation, 30 s', { ...t, rotations, inboundConnections: handshakes });
    expect(t.sent).toBeGreaterThan(1000);
    expect(t.failures).toEqual({});
    expect(t.ok).toBe(t.sent);
    expect(rotations.web).toBeGreaterThanOrEqual(2);
    expect(rotations.orders).toBeGreaterThanOrEqual(2);
    // Connections idled out between bursts: many handshakes, with certificates of every generation.
    expect(handshakes).toBeGreaterThan(20);
  }, 90_000);

  it('rotates the root under traffic with zero failures', async () => {
    const before = await rootsOf(web);
    expect(before).toHaveLength(1);
    let done = false;
    const traffic = burstyLoad(web, 120_000, () => done);
    const r = await weft(['ca', 'rotate'], { cp });
    done = true;
    const t = await traffic;
    const after = await rootsOf(web);
    figure('root rotation', { ...t, before, after, cli: r.stderr.trim().split('\n') });
    expect(r.code, r.stderr).toBe(0);
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(before[0]);
    expect(await rootsOf(orders.sidecar)).toEqual(after);
    expect(t.sent).toBeGreaterThan(200);
    expect(t.failures).toEqual({});
    expect(t.ok).toBe(t.sent);
    // The leaves in use now come from the new root.
    for (const s of [web, orders.sidecar]) {
      const dump = (await (await fetch(`${s.admin}/config_dump`)).json()) as { secrets: Array<{ name: string; issuer?: string; roots?: Array<{ subject: string }> }> };
      const leaf = dump.secrets.find((x) => x.name === 'default')!;
      expect(leaf.issuer).toBe(dump.secrets.find((x) => x.name === 'ROOTCA')!.roots![0]!.subject);
    }
  }, 150_000);
});

// `weft sidecar --workers 2` as real processes: a control plane, an app behind a two-worker
// sidecar, and a one-process sidecar calling it over mTLS. Checks what the primary owns (one
// admin port aggregating /ready, /stats/prometheus and /workers), that both workers serve
// traffic, that the control plane sees two xDS nodes (<id>~w1, <id>~w2) but one endpoint, that a
// killed worker is replaced, and that SIGTERM drains everything and exits 0.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, load, startApp, startControlPlane, startSidecar, tempDir, waitForHosts, weft, type AppProc, type ControlPlaneProc, type SidecarProc } from '../../harness/processes.js';

const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: web }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
`;

interface WorkerRow {
  index: number;
  nodeId: string;
  state: string;
  pid: number | null;
  restarts: number;
  stats?: { pid: number; ready: boolean; requests: number };
}

const workers = async (s: SidecarProc): Promise<WorkerRow[]> => (await (await fetch(`${s.admin}/workers`)).json()) as WorkerRow[];

/** Sum of a Prometheus counter's samples whose labels contain `match`. */
function promSum(text: string, name: string, match: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(match))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('weft sidecar --workers 2', () => {
  let cp: ControlPlaneProc;
  let app: AppProc;
  let gw: SidecarProc;
  let web: SidecarProc;

  beforeAll(async () => {
    cp = await startControlPlane();
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, MESH);
    expect((await weft(['apply', '-f', f], { cp })).code).toBe(0);
    app = await startApp('http', 'orders-1');
    [gw, web] = await Promise.all([
      startSidecar(cp.xdsPort, { service: 'orders', appPort: app.port, id: 'orders-gw.default', extraArgs: ['--workers', '2'] }),
      startSidecar(cp.xdsPort, { service: 'web', appPort: 1 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([gw?.kill('SIGKILL'), web?.kill('SIGKILL'), app?.kill('SIGKILL'), cp?.kill('SIGKILL')]);
  });

  it('answers /ready once every worker has its config, from the one admin port', async () => {
    await eventually(async () => (await fetch(`${gw.admin}/ready`)).status === 200, 15_000, 100);
    const rows = await workers(gw);
    expect(rows.map((r) => [r.index, r.nodeId, r.state])).toEqual([
      [1, 'orders-gw.default~w1', 'listening'],
      [2, 'orders-gw.default~w2', 'listening'],
    ]);
    expect(new Set(rows.map((r) => r.pid)).size).toBe(2);
  });

  it('registers one endpoint for the instance, and two xDS nodes', async () => {
    await waitForHosts(web, 'outbound|8080||orders.default', 1);
    const ps = await weft(['proxy-status', '-o', 'json'], { cp });
    const ids = (JSON.parse(ps.stdout) as Array<{ nodeId: string }>).map((p) => p.nodeId);
    expect(ids).toEqual(expect.arrayContaining(['orders-gw.default~w1', 'orders-gw.default~w2']));
    const clusters = (await (await fetch(`${web.admin}/clusters`)).json()) as Array<{ name: string; hosts: unknown[] }>;
    expect(clusters.find((c) => c.name === 'outbound|8080||orders.default')?.hosts).toHaveLength(1);
  });

  it('answers /explain from a worker (the primary asks it over IPC)', async () => {
    const r = await fetch(`${gw.admin}/explain?listener=inbound&method=GET&url=${encodeURIComponent('http://orders/x')}`);
    expect(r.status).toBe(200);
    const e = (await r.json()) as { listener: string; route: string; outcome: string };
    expect(e).toMatchObject({ listener: 'inbound', route: 'inbound' });
    expect(e.outcome).toMatch(/-> inbound\|/);
    expect((await fetch(`${gw.admin}/explain?url=${encodeURIComponent('http://o/')}&header=nocolon`)).status).toBe(400);
  });

  it('serves traffic on both workers and sums their stats', async () => {

    // inbound listener; fresh connections are spread over the workers by the scheduler.
    const r = await load(web.outboundPort, { host: 'orders', total: 300, concurrency: 16 });
    expect(r.failures).toEqual({});
    expect(r.ok).toBe(300);
    const rows = await workers(gw);
    for (const w of rows) expect(w.stats?.requests, `worker ${w.index} served nothing`).toBeGreaterThan(0);
    const perWorker = rows.reduce((n, w) => n + (w.stats?.requests ?? 0), 0);
    const text = await (await fetch(`${gw.admin}/stats/prometheus`)).text();
    expect(promSum(text, 'weft_downstream_requests_total', 'listener="inbound"')).toBe(perWorker);
    expect(promSum(text, 'weft_downstream_requests_total', 'listener="inbound"')).toBeGreaterThanOrEqual(300);
    expect(text).toMatch(/^weft_workers\{state="listening"\} 2$/m);
    const dump = (await (await fetch(`${gw.admin}/config_dump`)).json()) as { node: { id: string } };
    expect(dump.node.id).toBe('orders-gw.default~w1');
  });

  it('replaces a worker that dies', async () => {
    const before = await workers(gw);
    process.kill(before[1]!.pid!, 'SIGKILL');
    const after = await eventually(async () => {
      const rows = await workers(gw);
      return rows[1]!.state === 'listening' && rows[1]!.pid !== before[1]!.pid ? rows : undefined;
    }, 15_000, 100);
    expect(after[1]!.restarts).toBe(1);
    await eventually(async () => (await fetch(`${gw.admin}/ready`)).status === 200, 15_000, 100);
    const r = await load(web.outboundPort, { host: 'orders', total: 50, concurrency: 4 });
    expect(r.ok).toBe(50);
  });

  it('drains every worker on SIGTERM: requests in flight complete, then it exits 0', async () => {
    const pids = (await workers(gw)).map((w) => w.pid!);
    // Eight requests the app holds for 1.5 s; SIGTERM once the app has all eight.
    const seen = async () => (await (await fetch(`http://127.0.0.1:${app.port}/_seen`)).json()) as Array<{ url: string }>;
    const inFlight = load(web.outboundPort, { host: 'orders', total: 8, concurrency: 8, path: (i) => `/slow?ms=1500&drain=${i}` });
    await eventually(async () => (await seen()).filter((e) => e.url.includes('drain=')).length === 8, 10_000, 20);
    const code = gw.kill('SIGTERM');
    const r = await inFlight;
    expect(r.failures).toEqual({});
    expect(r.ok).toBe(8);
    expect(await code).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
  });
});

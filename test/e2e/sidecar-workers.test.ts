// `weft sidecar --workers 2` (edge use): real control plane, app and sidecar processes. The
// listeners are shared by two worker processes, connections spread over both, the admin port
// aggregates them, a dead worker is replaced, and SIGTERM drains all and exits 0.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startApp, startControlPlane, startSidecar, weft, type AppProc, type ControlPlaneProc, type SidecarProc } from '../harness/processes.js';

interface WorkerRow {
  worker: number;
  pid: number;
  ready: boolean;
  admin: string | null;
}

function get(port: number, path: string, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // agent: false: a new connection per request, so the primary hands them to both workers.
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

const sample = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
const OUTBOUND_RQ = /^weft_downstream_requests_total\{listener="outbound"\} (\d+)$/m;

describe('sidecar --workers 2', () => {
  let cp: ControlPlaneProc;
  let app: AppProc;
  let sc: SidecarProc;

  beforeAll(async () => {
    cp = await startControlPlane();
    const r = await weft(['apply', '-f', '-'], { cp, stdin: 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: edge }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n' });
    expect(r.code, r.stderr).toBe(0);
    app = await startApp('http', 'edge-app');
    sc = await startSidecar(cp.xdsPort, { service: 'edge', appPort: app.port, extraArgs: ['--workers', '2'] });
  }, 60_000);

  afterAll(async () => {
    await sc?.kill('SIGKILL');
    await app?.kill();
    await cp?.kill();
  });

  const workers = async (): Promise<WorkerRow[]> => JSON.parse((await get(sc.adminPort, '/workers')).body) as WorkerRow[];

  it('serves from both workers and sums their metrics on the admin port', async () => {
    await eventually(async () => (await get(sc.adminPort, '/ready')).status === 200, 20_000);
    expect(sc.output()).toMatch(/ready id=\S+ .* workers=2/);
    const rows = await workers();
    expect(rows.map((r) => r.ready)).toEqual([true, true]);
    expect(new Set(rows.map((r) => r.pid)).size).toBe(2);
    // Requests through the outbound listener, to the service itself (inbound over mTLS, then the app).
    await eventually(async () => (await get(sc.outboundPort, '/hello', 'edge')).status === 200, 15_000);
    for (let i = 0; i < 40; i++) expect((await get(sc.outboundPort, `/hello?i=${i}`, 'edge')).status).toBe(200);
    const per = await Promise.all(rows.map(async (r) => sample((await get(Number(r.admin!.split(':')[1]), '/stats/prometheus')).body, OUTBOUND_RQ)));
    expect(per.every((n) => n >= 10)).toBe(true);
    const total = (await get(sc.adminPort, '/stats/prometheus')).body;
    expect(sample(total, OUTBOUND_RQ)).toBe(per[0]! + per[1]!);
    expect(total).toMatch(/^weft_sidecar_workers 2$/m);
    // One node id, one instance: the control plane lists two streams of the same proxy.
    const st = await weft(['proxy-status'], { cp });
    expect(st.stdout.split('\n').filter((l) => l.startsWith(sc.id))).toHaveLength(2);
  });

  it('replaces a worker that dies', async () => {
    const before = await workers();
    process.kill(before[0]!.pid, 'SIGKILL');
    const after = await eventually(async () => {
      const rows = await workers();
      return rows.length === 2 && rows.every((r) => r.ready) && rows[0]!.pid !== before[0]!.pid ? rows : undefined;
    }, 20_000);
    expect(after[1]!.pid).toBe(before[1]!.pid);
    await eventually(async () => (await get(sc.adminPort, '/ready')).status === 200, 20_000);
    expect((await get(sc.outboundPort, '/hello', 'edge')).status).toBe(200);
  });

  it('drains every worker on SIGTERM and exits 0', async () => {
    const pids = (await workers()).map((r) => r.pid);
    expect(await sc.kill('SIGTERM')).toBe(0);
    for (const pid of pids) {
      expect(() => process.kill(pid, 0)).toThrow();
    }
  });
});

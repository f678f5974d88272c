// A real sidecar process NACKs an invalid Cluster from the control plane with the field path and
// keeps serving on its last good config; `weft proxy-status` (the real CLI) shows NACKED. The
// control plane runs in-process so the test can script one bad snapshot into its cache: the
// translator itself never emits an invalid Cluster (e.g. a newer control plane's lb_policy).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/main.js';
import { silentLogger } from '../../common/log.js';
import { scriptBadCluster } from '../harness/bad-cluster.js';
import { eventually, registerControlPlane, load, startInstance, startSidecar, tempDir, waitForHosts, weft, type Instance, type SidecarProc } from '../harness/processes.js';

const CLUSTER = 'outbound|8080||orders.default';

describe('an invalid Cluster pushed to a running sidecar', () => {
  let cp: RunningControlPlane;
  let env: NodeJS.ProcessEnv;
  let a: SidecarProc;
  let orders: Instance;

  beforeAll(async () => {
    const dataDir = tempDir('weft-cp-');
    cp = await startControlPlane({ dataDir, xdsAddress: '127.0.0.1:0', xdsPlaintextAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', registryGraceMs: 10_000, logger: silentLogger });
    registerControlPlane(cp.xdsPlaintextPort, { dataDir, adminUrl: `http://127.0.0.1:${cp.adminPort}`, xdsTlsPort: cp.xdsPort });
    env = { WEFT_SERVER: `http://127.0.0.1:${cp.adminPort}`, WEFT_DATA_DIR: dataDir };
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, ['orders', 'web'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`).join('---\n'));
    expect((await weft(['apply', '-f', f], { env })).code).toBe(0);
    orders = await startInstance(cp.xdsPlaintextPort, 'http', 'orders', 'orders-1');
    a = await startSidecar(cp.xdsPlaintextPort, { service: 'web', appPort: 1, id: 'web-1.default' });
    await waitForHosts(a, CLUSTER, 1);
    // web-1's own registration also changes its snapshot: wait for that too, so the control plane
    // does not replace the scripted bad snapshot below with a fresh good one.
    await waitForHosts(a, 'outbound|8080||web.default', 1);
  });
  afterAll(async () => {
    await Promise.all([a?.kill('SIGKILL'), orders?.kill()]);
    await cp?.stop();
  });

  it('is NACKed with its field path, the old config keeps serving, and proxy-status shows NACKED', async () => {
    const bad = scriptBadCluster(cp.controlPlane.cache, 'web-1.default', CLUSTER);

    const status = await eventually(async () => {
      // Should a late registry change re-translate web-1's snapshot, script the bad one again.
      bad.keep();
      const out = (await weft(['proxy-status'], { env })).stdout;
      return out.includes('NACKED') ? out : undefined;
    });
    expect(status).toMatch(/web-1\.default .*NACKED/);
    expect(status).toContain(`Cluster/${CLUSTER} lb_policy: unsupported value 'MAGLEV'`);

    const r = await load(a.outboundPort, { host: 'orders', total: 200, concurrency: 4, path: '/status/200' });
    expect(r.ok).toBe(200);
    const stats = await (await fetch(`${a.admin}/stats/prometheus`)).text();
    expect(stats).toMatch(/weft_xds_updates_total\{type="cluster",result="rejected"\} [1-9]/);
    const dump = (await (await fetch(`${a.admin}/config_dump`)).json()) as { clusters: Array<{ name: string; lbPolicy?: string }> };
    expect(dump.clusters.find((c) => c.name === CLUSTER)?.lbPolicy).toBeUndefined(); // still ROUND_ROBIN (the default)
  });
});

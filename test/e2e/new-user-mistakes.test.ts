// Regressions (issue 23, mistakes a new user made that Weft kept quiet about), with real processes:
// - a sidecar whose app port has nothing listening: its log says so and /ready answers 503 with
//   the reason, until the app listens;
// - an AuthorizationPolicy, a join token or a sidecar naming a Service that does not exist: a
//   warning (`weft apply` and `weft token create` print `warning: ...` on stderr, the control
//   plane logs the sidecar's), and none when the Service exists.
import net from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, startControlPlane, startSidecar, weft, weftApply, type ControlPlaneProc, type SidecarProc } from '../harness/processes.js';

const SERVICE = (name: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ port: 8080, protocol: http }]
`;
const POLICY = (name: string, service: string) => `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: ${name} }
spec:
  service: ${service}
  action: ALLOW
  rules: [{ from: [{ namespaces: ["default"] }] }]
`;

let cp: ControlPlaneProc;
const sidecars: SidecarProc[] = [];
let app: net.Server | undefined;
beforeAll(async () => {
  cp = await startControlPlane();
  const r = await weftApply(cp, SERVICE('orders'));
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => {
  app?.close();
  await Promise.all([...sidecars.map((s) => s.kill('SIGKILL')), cp?.kill('SIGKILL')]);
});

describe('a sidecar whose app port has nothing listening', () => {
  it('logs it and /ready answers 503 with the reason; LIVE once the app listens', async () => {
    const port = await freePort();
    const s = await startSidecar(cp.xdsPort, { service: 'orders', appPort: port });
    sidecars.push(s);
    const body = await eventually(async () => {
      const r = await fetch(`${s.admin}/ready`);
      const text = await r.text();
      return r.status === 503 && text.includes('app port') ? text : undefined;
    }, 15_000, 100);
    expect(body.trim()).toBe(`NOT READY: nothing listening on the app port 127.0.0.1:${port} (connection refused)`);
    await eventually(() => s.output().includes(`nothing is listening on the app port 127.0.0.1:${port} (connection refused)`), 5000, 50);

    app = net.createServer((c) => c.destroy()).listen(port, '127.0.0.1');
    await once(app, 'listening');
    await eventually(async () => (await fetch(`${s.admin}/ready`)).status === 200, 10_000, 100);
    expect((await (await fetch(`${s.admin}/ready`)).text()).trim()).toBe('LIVE');
  });
});

describe('naming a Service that does not exist', () => {
  it('weft apply: an AuthorizationPolicy for a missing Service is applied with a warning', async () => {
    const r = await weftApply(cp, POLICY('ordrs-callers', 'ordrs'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('AuthorizationPolicy/default/ordrs-callers created');
    expect(r.stderr).toContain("warning: AuthorizationPolicy/default/ordrs-callers: spec.service 'ordrs' names no Service in namespace 'default'");
  });

  it('weft apply: no warning for an existing Service, for one applied with the policy, or for *', async () => {
    const r = await weftApply(cp, [POLICY('orders-callers', 'orders'), SERVICE('payments'), POLICY('payments-callers', 'payments'), POLICY('all', '"*"')].join('---\n'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('warning');
  });

  it('weft token create: a token for a missing Service is made, with a warning; none for an existing one', async () => {
    const bad = await weft(['token', 'create', '--service', 'ordrs'], { cp });
    expect(bad.code, bad.stderr).toBe(0);
    expect(bad.stdout).toMatch(/^weft1\./);
    expect(bad.stderr).toMatch(/warning: join token \S+ names service 'ordrs' in namespace 'default', but no Service default\/ordrs \(nor Gateway\) exists/);
    const json = await weft(['token', 'create', '--service', 'ordrs', '-o', 'json'], { cp });
    expect((JSON.parse(json.stdout) as { warnings?: string[] }).warnings?.[0]).toContain("names service 'ordrs'");
    const good = await weft(['token', 'create', '--service', 'orders'], { cp });
    expect(good.code).toBe(0);
    expect(good.stderr).not.toContain('warning');
  });

  it('a sidecar registering as a missing Service: the control plane logs a warning (none for an existing one, nor for a client with no app)', async () => {
    // The sidecar of the first test (Service orders) and a client-only one (--app-port 0) register
    // before this one: the control plane's log is in order, so their warnings would already be there.
    const client = await startSidecar(cp.xdsPort, { service: 'loadgen', appPort: 0, id: 'loadgen-1.default' });
    sidecars.push(client);
    await eventually(async () => (await fetch(`${client.admin}/ready`)).status === 200, 15_000, 100); // its stream is open: config arrived
    const s = await startSidecar(cp.xdsPort, { service: 'ordrs', appPort: 1, id: 'ordrs-1.default' });
    sidecars.push(s);
    await eventually(() => cp.output().includes("sidecar ordrs-1.default names service 'ordrs' in namespace 'default', but no Service default/ordrs"), 15_000, 100);
    expect(cp.output()).not.toMatch(/sidecar (orders-\S+|loadgen-1\.default) names service/);
  });
});

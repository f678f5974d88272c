// Fault injection and request mirroring through real processes: a control plane, `orders` (app +
// sidecar), two shadow services (`shadow`, fast; `slow`, answering after 2 s), a shadow with no
// live endpoint (`gone`), and a client sidecar (web), configured with `weft apply`:
//  - FaultPolicy + HTTPRoute ExtensionRef: an abort of 30 % gives 30 % +/- 5 of 1,000 requests
//    with the configured status (503, x-weft-error FAULT_ABORT); a 200 ms delay shows in p50.
//  - HTTPRoute RequestMirror: the shadow gets the configured share (50 % of 400, binomial bounds)
//    as counted by the shadow app itself; with a slow or dead shadow, every primary request still
//    succeeds and none waits for the shadow.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, figure, load, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';

const svc = (name: string, extra = '') => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n${extra}---\n`;
const MESH = `${svc('orders')}${svc('web')}${svc('shadow')}${svc('slow')}${svc('gone', '  endpoints: [{ address: 127.0.0.1, port: 1 }]\n')}apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: abort30 }
spec:
  abort: { httpStatus: 503, percentage: 30 }
---
apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: delay200 }
spec:
  delay: { fixedDelay: 200ms, percentage: 100 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-chaos }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /abort } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: abort30 } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /delay } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: delay200 } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /mirror-half } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 }, percent: 50 } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /mirror-slow } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: slow, port: 8080 } } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /mirror-gone } }]
      filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: gone, port: 8080 } } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;

const ORDERS = 'outbound|8080||orders.default';
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

describe('fault injection and request mirroring through real sidecars', () => {
  let cp: ControlPlaneProc;
  let web: SidecarProc;
  let orders: Instance;
  let shadow: Instance;
  let slow: Instance;
  const dir = tempDir();

  /** Requests the app behind `inst` received whose path starts with `prefix`. */
  async function seen(inst: Instance, prefix: string): Promise<number> {
    const list = (await (await fetch(`http://127.0.0.1:${inst.app.port}/_seen`)).json()) as Array<{ url: string }>;
    return list.filter((s) => s.url.startsWith(prefix)).length;
  }

  /** Requests the client sidecar sent to a cluster (its admin /stats/prometheus). */
  async function sentTo(cluster: string): Promise<number> {
    const text = await (await fetch(`${web.admin}/stats/prometheus`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`weft_upstream_requests_total{cluster="${cluster}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  beforeAll(async () => {
    cp = await startControlPlane();
    const f = join(dir, 'mesh.yaml');
    writeFileSync(f, MESH);
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    [orders, shadow, slow, web] = await Promise.all([
      startInstance(cp.xdsPort, 'http', 'orders', 'orders-1'),
      startInstance(cp.xdsPort, 'http', 'shadow', 'shadow-1'),
      startInstance(cp.xdsPort, 'http', 'slow', 'slow-1', { appEnv: { DELAY_MS: '2000' } }),
      startSidecar(cp.xdsPort, { service: 'web', appPort: 1 }),
    ]);
    await waitForHosts(web, ORDERS, 1);
    await waitForHosts(web, 'outbound|8080||shadow.default', 1);
    await waitForHosts(web, 'outbound|8080||slow.default', 1);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), orders?.kill(), shadow?.kill(), slow?.kill(), cp?.kill()]);
  });

  it('an abort of 30 % gives 30 % +/- 5 of 1,000 requests, each 503 FAULT_ABORT, none reaching the app', async () => {
    const before = await seen(orders, '/abort');
    const r = await load(web.outboundPort, { host: 'orders', total: 1000, concurrency: 20, path: (i) => `/abort/${i}` });
    const aborted = r.failures['503 FAULT_ABORT'] ?? 0;
    figure('fault abort 30%', { sent: r.sent, ok: r.ok, aborted, other: Object.keys(r.failures).filter((k) => k !== '503 FAULT_ABORT') });
    expect(r.sent).toBe(1000);
    expect(r.ok + aborted).toBe(1000);
    expect(aborted).toBeGreaterThanOrEqual(250);
    expect(aborted).toBeLessThanOrEqual(350);
    expect((await seen(orders, '/abort')) - before).toBe(r.ok);
  });

  it('a 200 ms delay shows in p50 (and not on the routes without it)', async () => {
    const delayed = await load(web.outboundPort, { host: 'orders', total: 40, concurrency: 8, path: (i) => `/delay/${i}` });
    const plain = await load(web.outboundPort, { host: 'orders', total: 40, concurrency: 8, path: (i) => `/plain/${i}` });
    figure('fault delay 200ms', { p50: Math.round(pct(delayed.latenciesMs, 50)), p50Plain: Math.round(pct(plain.latenciesMs, 50)) });
    expect([delayed.ok, plain.ok]).toEqual([40, 40]);
    expect(pct(delayed.latenciesMs, 50)).toBeGreaterThanOrEqual(200);
    expect(Math.min(...delayed.latenciesMs)).toBeGreaterThanOrEqual(195);
    expect(pct(plain.latenciesMs, 50)).toBeLessThan(200);
  });

  it('mirrors 50 % of 400 requests to the shadow (within 4.5 sigma), the primary answering every one', async () => {
    const before = await seen(shadow, '/mirror-half');
    const sentBefore = await sentTo('outbound|8080||shadow.default');
    const r = await load(web.outboundPort, { host: 'orders', total: 400, concurrency: 8, path: (i) => `/mirror-half/${i}` });
    expect(r.ok).toBe(400);
    // Every shadow the sidecar sent reaches the shadow app (counted there).
    const sent = (await sentTo('outbound|8080||shadow.default')) - sentBefore;
    await eventually(async () => (await seen(shadow, '/mirror-half')) - before === sent, 10_000);
    figure('mirror 50%', { primary: r.ok, shadow: sent });
    expect(sent).toBeGreaterThanOrEqual(155);
    expect(sent).toBeLessThanOrEqual(245);
  });

  it('a slow shadow (2 s) or a dead one changes neither the success nor the latency of the primary', async () => {
    const base = await load(web.outboundPort, { host: 'orders', total: 60, concurrency: 6, path: (i) => `/plain2/${i}` });
    const toSlow = await load(web.outboundPort, { host: 'orders', total: 60, concurrency: 6, path: (i) => `/mirror-slow/${i}` });
    const toGone = await load(web.outboundPort, { host: 'orders', total: 60, concurrency: 6, path: (i) => `/mirror-gone/${i}` });
    const p = (x: { latenciesMs: number[] }) => ({ p50: Math.round(pct(x.latenciesMs, 50)), p99: Math.round(pct(x.latenciesMs, 99)) });
    figure('mirror to a slow/dead shadow', { base: p(base), slow: p(toSlow), gone: p(toGone), failures: { ...toSlow.failures, ...toGone.failures } });
    expect([base.ok, toSlow.ok, toGone.ok]).toEqual([60, 60, 60]);
    // The slow shadow got them all and holds each for 2 s; no primary waited for it.
    await eventually(async () => (await seen(slow, '/mirror-slow')) === 60, 10_000);
    expect(Math.max(...toSlow.latenciesMs)).toBeLessThan(1000);
    expect(Math.max(...toGone.latenciesMs)).toBeLessThan(1000);
  });
});

// `weft explain` agrees with what the proxies do. A real mesh on loopback (control plane, sidecars
// with mTLS, apps): routes with header matches and a weighted split over subsets, a prefix rewrite,
// and AuthorizationPolicies (ALLOW and DENY). 50 generated requests are each explained through the
// admin API and then sent through the caller's sidecar; the route and cluster the caller's access
// log records, and the destination's access log (its route, and whether RBAC refused), must equal
// what the explanation said.
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Explanation } from '../../control-plane/explain.js';
import { eventually, figure, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';

const TD = 'cluster.local';
const MESH = [
  `apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  mtls: { mode: STRICT }\n`,
  ...['web', 'orders', 'payments'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`),
  `apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: orders }\nspec:\n  targetRef: { kind: Service, name: orders }\n  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ledger }\nspec:\n  ports: [{ name: grpc, port: 50051, protocol: grpc }]\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: ledger }\nspec:\n  targetRef: { kind: Service, name: ledger }\n  connectionPool: { keepalive: { interval: 30s, timeout: 5s } }\n`,
  `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v1 }, headers: [{ name: x-canary, value: "yes" }] }]
      backendRefs: [{ name: orders, subset: v2 }]
    - matches: [{ path: { type: PathPrefix, value: /v1 } }]
      backendRefs: [{ name: orders, subset: v1, weight: 70 }, { name: orders, subset: v2, weight: 30 }]
    - matches: [{ path: { type: PathPrefix, value: /legacy } }]
      filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /admin } } }]
      backendRefs: [{ name: orders, subset: v1 }]
    - matches: [{ path: { type: Exact, value: /health } }, { path: { type: PathPrefix, value: /admin } }]
      backendRefs: [{ name: orders }]
`,
  `apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: orders-from-web }\nspec:\n  service: orders\n  action: ALLOW\n  rules:\n    - from: [{ principals: ["spiffe://${TD}/ns/default/sa/web"] }]\n      to: [{ methods: [GET, PUT], paths: ["/v1/*", "/health", "/admin/*"] }]\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: orders-no-admin-writes }\nspec:\n  service: orders\n  action: DENY\n  rules:\n    - to: [{ methods: [PUT], paths: ["/admin/*"] }]\n`,
  `apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: payments-get-only }\nspec:\n  service: payments\n  action: ALLOW\n  rules:\n    - to: [{ methods: [GET] }]\n`,
];

interface AccessLine {
  request_id: string;
  route: string;
  cluster: string;
  status: number;
  weft_error: string;
  direction: string;
}

function readLog(file: string): AccessLine[] {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l.includes('"log":"access"')).map((l) => JSON.parse(l) as AccessLine);
}

function send(port: number, method: string, host: string, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port, method, path, headers: { host, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    r.on('error', reject);
    r.setTimeout(10_000, () => r.destroy(new Error('timeout')));
    r.end();
  });
}

describe('weft explain agrees with the access logs', () => {
  let cp: ControlPlaneProc;
  let web: SidecarProc;
  const instances: Instance[] = [];
  const logs = tempDir('weft-explain-logs-');
  const logOf = (name: string) => join(logs, `${name}.log`);
  let token = '';

  beforeAll(async () => {
    cp = await startControlPlane();
    token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, MESH.join('---\n'));
    const r = await weft(['apply', '-f', f], { cp });
    expect(r.code, r.stderr).toBe(0);
    const al = (name: string) => ['--access-log', logOf(name), '--access-log-sampling', '1'];
    instances.push(await startInstance(cp.xdsPort, 'http', 'orders', 'orders-v1', { labels: { version: 'v1' }, extraArgs: al('orders-v1') }));
    instances.push(await startInstance(cp.xdsPort, 'http', 'orders', 'orders-v2', { labels: { version: 'v2' }, extraArgs: al('orders-v2') }));
    instances.push(await startInstance(cp.xdsPort, 'http', 'payments', 'payments-1', { extraArgs: al('payments') }));
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1, id: 'web-1', extraArgs: al('web') });
    await waitForHosts(web, 'outbound|8080|v1|orders.default', 1);
    await waitForHosts(web, 'outbound|8080|v2|orders.default', 1);
    await waitForHosts(web, 'outbound|8080||payments.default', 1);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), ...instances.map((i) => i.kill())]);
    await cp?.kill();
  });

  const explainApi = async (method: string, url: string, headers: Record<string, string>): Promise<Explanation> => {
    const q = new URLSearchParams({ method, url, from: 'web' });
    for (const [k, v] of Object.entries(headers)) q.append('header', `${k}: ${v}`);
    const res = await fetch(`${cp.adminUrl}/v1/explain?${q}`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    return (await res.json()) as Explanation;
  };

  it('prints the decision for people: route, split, filters, endpoints, identity, and the inbound authorization', async () => {
    const r = await weft(['explain', 'GET', 'http://orders/v1/items', '--from', 'web'], { cp });
    expect(r.code, r.stderr).toBe(0);
    process.stdout.write(`${r.stdout}\n`);
    expect(r.stdout).toMatch(/Hop 1: web\.default, outbound listener, proxy web-1/);
    expect(r.stdout).toMatch(/MATCH\s+\S+\s+\[path-separated prefix "\/v1"\]/);
    expect(r.stdout).toMatch(/no\s+\S+\s+\[path-separated prefix "\/v1", header x-canary exact "yes"\]: header x-canary exact "yes" wanted, got no such header/);
    expect(r.stdout).toMatch(/no\s+\S+\s+\[path "\/health"\]: path "\/v1\/items" is not "\/health"/);
    expect(r.stdout).toMatch(/cluster\s+outbound\|8080\|v1\|orders\.default \(70%\): ROUND_ROBIN, mTLS.*peer must be spiffe:\/\/cluster\.local\/ns\/default\/sa\/orders/);
    expect(r.stdout).toMatch(/127\.0\.0\.1:\d+\s+healthy/);
    expect(r.stdout).toMatch(/Hop 2: orders\.default, inbound listener, proxy \S+/);
    expect(r.stdout).toMatch(/peer\s+spiffe:\/\/cluster\.local\/ns\/default\/sa\/web/);
    expect(r.stdout).toMatch(/rbac\S*: ALLOW allowed by default\/orders-from-web\/rules\[0\]/);
    // The sidecar's own /explain: the same decision, with its hosts' live health.
    const local = (await (await fetch(`${web.admin}/explain?method=GET&url=${encodeURIComponent('http://orders/v1/items')}`)).json()) as Explanation['hops'][number];
    const viaCp = (await explainApi('GET', 'http://orders/v1/items', {})).hops[0]!;
    expect(local.route).toBe(viaCp.route);
    expect(local.action?.kind === 'forward' && local.action.clusters.map((c) => [c.name, c.percent, c.endpoints?.map((e) => e.healthy)])).toEqual(viaCp.action?.kind === 'forward' && viaCp.action.clusters.map((c) => [c.name, c.percent, c.endpoints?.map((e) => e.healthy)]));
    const badUrl = await fetch(`${web.admin}/explain?url=${encodeURIComponent('http://[')}`);
    expect(badUrl.status).toBe(400);
    expect(await badUrl.text()).toMatch(/is not a URL/);
    // A gRPC service with keepalive PINGs: the cluster line says so.
    const g = await weft(['explain', 'POST', 'http://ledger:50051/x.Ledger/Get', '--from', 'web', '--header', 'content-type: application/grpc'], { cp });
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/cluster\s+outbound\|50051\|\|ledger\.default \(100%\): .*h2 keepalive PING every 30000ms \(timeout 5000ms\)/);
    const bad = await weft(['explain', 'GET', 'http://orders/', '--from', 'nosuch'], { cp });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no Service nosuch in namespace default/);
  });

  it('for 50 generated requests, the explained route, cluster and authorization decision equal what the sidecars log', async () => {
    const gen = fc.record({
      method: fc.constantFrom('GET', 'GET', 'PUT', 'POST'),
      host: fc.constantFrom('orders', 'orders', 'orders:8080', 'payments', 'unknown'),
      path: fc.constantFrom('/v1/items', '/v1/items/7?x=1', '/health', '/admin/users', '/legacy/users', '/other', '/v1/../admin/x'),
      canary: fc.constantFrom(undefined, 'yes', 'no'),
    });
    const cases = fc.sample(gen, { numRuns: 50, seed: 23 });
    let agreed = 0;
    const outcomes: Record<string, number> = {};
    for (const [i, c] of cases.entries()) {
      const rid = `explain-${i}-${Date.now()}`;
      const headers: Record<string, string> = c.canary ? { 'x-canary': c.canary } : {};
      const e = await explainApi(c.method, `http://${c.host}${c.path}`, headers);
      const status = await send(web.outboundPort, c.method, c.host, c.path, { ...headers, 'x-request-id': rid });
      const out = e.hops[0]!;
      // The caller's access log: the route and the cluster it went to.
      const line = await eventually(() => readLog(logOf('web')).find((l) => l.request_id === rid), 10_000);
      const where = `case ${i} ${JSON.stringify(c)} -> ${status}`;
      expect(line.route, where).toBe(out.route);
      const explained = out.action?.kind === 'forward' ? out.action.clusters.map((x) => x.name) : [];
      if (explained.length) expect(explained, where).toContain(line.cluster);
      else expect(line.cluster, where).toBe('');
      // The destination's access log: its route and the authorization decision.
      if (line.cluster) {
        const dest = e.hops.find((h) => h.listener === 'inbound' && line.cluster.endsWith(`|${h.service}`));
        expect(dest, where).toBeDefined();
        const files = line.cluster.includes('orders') ? ['orders-v1', 'orders-v2'] : ['payments'];
        const inb = await eventually(() => files.flatMap((f) => readLog(logOf(f))).find((l) => l.request_id === rid && l.direction === 'inbound'), 10_000);
        expect(inb.route, where).toBe(dest!.route);
        const denied = inb.weft_error === 'RBAC_DENIED';
        expect(denied, `${where}: explained ${dest!.outcome}`).toBe(dest!.refusedBy !== undefined && /rbac/.test(dest!.refusedBy));
        if (denied) expect(status, where).toBe(403);
      }
      const key = `${line.route ? 'routed' : 'no route'}${line.cluster ? ` -> ${line.cluster.split('|')[2] || line.cluster.split('|')[3]}` : ''}${status === 403 ? ' (denied)' : ''}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      agreed++;
    }
    figure('explain vs access logs', { requests: cases.length, agreed, outcomes });
    // The sample covers what it is meant to: denials, no-route answers, both subsets of the split.
    expect(Object.keys(outcomes).some((k) => k.includes('denied'))).toBe(true);
    expect(Object.keys(outcomes).some((k) => k.startsWith('no route'))).toBe(true);
    expect(Object.keys(outcomes).some((k) => k.includes('v2'))).toBe(true);
  }, 120_000);
});

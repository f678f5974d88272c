// The control plane daemon and the `weft` CLI as an operator uses them: real processes, real
// files, loopback only.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, tempDir, weft, type ControlPlaneProc } from '../../harness/processes.js';

const GOOD = `
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080, protocol: http }]
  endpoints:
    - { address: 127.0.0.1, port: 9001, labels: { version: v1 } }
    - { address: 127.0.0.1, port: 9002, labels: { version: v2 } }
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders }
spec:
  targetRef: { kind: Service, name: orders }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
  connectionPool: { connectTimeout: 2s, idleTimeout: 1m }
  outlierDetection: { interval: 5s, baseEjectionTime: 30s }
  healthCheck: { path: /healthz, interval: 5s }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-canary }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - timeouts: { request: 300ms }
      retry: { attempts: 3, retryOn: [5xx], perTryTimeout: 100ms, backoff: { baseInterval: 10ms } }
      backendRefs:
        - { name: orders, subset: v1, weight: 90 }
        - { name: orders, subset: v2, weight: 10 }
`;

const BAD = `
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: payments }
spec:
  ports: [{ name: http, port: 70000, protocol: http }]
  colour: blue
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: payments }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: no-slash } }]
      backendRefs: [{ name: nowhere, weight: 1 }]
`;

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');

describe('weft CLI against a running control plane', () => {
  let cp: ControlPlaneProc;
  let dir: string;
  beforeAll(async () => {
    cp = await startControlPlane();
    dir = tempDir('weft-files-');
    writeFileSync(join(dir, 'good.yaml'), GOOD);
    writeFileSync(join(dir, 'bad.yaml'), BAD);
  });
  afterAll(async () => {
    await cp?.kill();
  });

  it('prints help for every verb', async () => {
    for (const verb of ['apply', 'get', 'delete', 'proxy-status', 'proxy-config', 'control-plane']) {
      const r = await weft([verb, '--help']);
      expect(r.code, verb).toBe(0);
      expect(r.stdout).toMatch(/^Usage: weft /);
    }
    const top = await weft(['--help']);
    expect(top.stdout).toContain('proxy-status');
  });

  it('creates the admin token 0600 in the data dir', () => {
    const st = statSync(join(cp.dataDir, 'admin-token'));
    expect(st.mode & 0o777).toBe(0o600);
  });

  it('applies, gets and reports unchanged on re-apply', async () => {
    const r = await weft(['apply', '-f', join(dir, 'good.yaml')], { cp });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Service/default/orders created');
    expect(r.stdout).toContain('HTTPRoute/default/orders-canary created');
    const again = await weft(['apply', '-f', join(dir, 'good.yaml')], { cp });
    expect(again.stdout).toContain('Service/default/orders unchanged');

    const list = await weft(['get', 'svc'], { cp });
    expect(list.stdout).toMatch(/Service\s+default\s+orders/);
    const y = await weft(['get', 'httproute', 'orders-canary', '-o', 'json'], { cp });
    const route = JSON.parse(y.stdout) as { spec: { rules: Array<{ backendRefs: Array<{ weight: number }> }> } };
    expect(route.spec.rules[0]!.backendRefs.map((b) => b.weight)).toEqual([90, 10]);
  });

  it('rejects a file with several mistakes, printing every one, and leaves the store byte-for-byte', async () => {
    const store = join(cp.dataDir, 'config.json');
    const before = sha(store);
    const r = await weft(['apply', '-f', join(dir, 'bad.yaml')], { cp });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.ports[0].port');
    expect(r.stderr).toContain('spec.colour');
    expect(r.stderr).toContain('spec.rules[0].matches[0].path.value');
    expect(r.stderr).toContain('spec.rules[0].backendRefs[0]');
    expect(r.stderr).toContain('bad.yaml');
    expect(sha(store)).toBe(before);
    const list = await weft(['get', 'svc', 'payments'], { cp });
    expect(list.code).not.toBe(0);
  });

  it('refuses to delete a service a route still uses, then deletes in order', async () => {
    const r = await weft(['delete', 'svc', 'orders'], { cp });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('orders-canary');
    expect((await weft(['delete', 'httproute', 'orders-canary'], { cp })).code).toBe(0);
    expect((await weft(['get', 'httproute', 'orders-canary'], { cp })).code).not.toBe(0);
  });

  it('reads YAML from stdin and supports --dry-run without storing', async () => {
    const store = join(cp.dataDir, 'config.json');
    const before = sha(store);
    const r = await weft(['apply', '-f', '-', '--dry-run'], { cp, stdin: GOOD });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('HTTPRoute/default/orders-canary created (dry run)');
    expect(sha(store)).toBe(before);
  });

  it('says where it tried and which flag to change when the control plane is unreachable', async () => {
    const r = await weft(['get', 'svc'], { env: { WEFT_SERVER: 'http://127.0.0.1:9', WEFT_TOKEN: 'x' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('http://127.0.0.1:9');
    expect(r.stderr).toContain('--server');
  });

  it('refuses a wrong token', async () => {
    const r = await weft(['get', 'svc'], { env: { WEFT_SERVER: cp.adminUrl, WEFT_TOKEN: 'wrong', WEFT_DATA_DIR: '/nonexistent' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/refused the token/);
  });
});

describe('durable store', () => {
  // Regression: the store once kept the normalised form (durations in ms), which did not
  // validate again, so a control plane with a timeout or retry backoff in its config never
  // restarted. `get -o yaml` output must also apply again.
  it('restores every resource after a restart, durations included, and get -o yaml re-applies', async () => {
    const cp = await startControlPlane();
    const dir = tempDir('weft-files-');
    writeFileSync(join(dir, 'good.yaml'), GOOD);
    expect((await weft(['apply', '-f', join(dir, 'good.yaml')], { cp })).code).toBe(0);
    const before = (await weft(['get', 'all', '-o', 'json'], { cp })).stdout;
    await cp.kill('SIGTERM');
    const again = await startControlPlane({ dataDir: cp.dataDir });
    try {
      expect((await weft(['get', 'all', '-o', 'json'], { cp: again })).stdout).toBe(before);
      const yaml = (await weft(['get', 'all', '-o', 'yaml'], { cp: again })).stdout;
      const r = await weft(['apply', '-f', '-'], { cp: again, stdin: yaml });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/unchanged/);
    } finally {
      await again.kill();
    }
  });

  it('is never torn by kill -9 during applies', async () => {
    const dataDir = tempDir('weft-cp-');
    const dir = tempDir('weft-files-');
    for (let round = 0; round < 6; round++) {
      const cp = await startControlPlane({ dataDir });
      // Each file is a Service whose port number encodes the round; applies race the kill.
      const applies: Promise<unknown>[] = [];
      for (let i = 0; i < 8; i++) {
        const f = join(dir, `svc-${round}-${i}.yaml`);
        writeFileSync(f, `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: s${i} }\nspec:\n  ports: [{ name: http, port: ${1000 + round}, protocol: http }]\n`);
        applies.push(weft(['apply', '-f', f], { cp }));
      }
      await new Promise((r) => setTimeout(r, 20 + round * 15));
      await cp.kill('SIGKILL');
      await Promise.allSettled(applies);
      const store = join(dataDir, 'config.json');
      if (existsSync(store)) {
        const parsed = JSON.parse(readFileSync(store, 'utf8')) as { revision: number; resources: unknown[] };
        expect(Array.isArray(parsed.resources)).toBe(true);
      }
    }
    // And it still loads and serves.
    const cp = await startControlPlane({ dataDir });
    try {
      expect((await weft(['get', 'svc'], { cp })).code).toBe(0);
    } finally {
      await cp.kill();
    }
  }, 120_000); // 6 rounds of a control plane and 8 CLI processes: 30-56 s on 2 busy cores
});

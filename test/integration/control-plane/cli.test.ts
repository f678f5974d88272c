// The control plane daemon and the `weft` CLI as an operator uses them: real processes, real
// files, loopback only.
import { createHash } from 'node:crypto';
import net from 'node:net';
import { readFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, storedConfig, tempDir, weft, type ControlPlaneProc } from '../../harness/processes.js';

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

/** A digest of what the control plane in `dataDir` has stored (config.json, or its etcd keys). */
const sha = async (dataDir: string) => createHash('sha256').update((await storedConfig(dataDir)).text).digest('hex');

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
    for (const verb of ['apply', 'get', 'delete', 'proxy-status', 'proxy-config', 'cache', 'control-plane']) {
      const r = await weft([verb, '--help']);
      expect(r.code, verb).toBe(0);
      expect(r.stdout).toMatch(/^Usage:\s+weft /);
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
    const before = await sha(cp.dataDir);
    const r = await weft(['apply', '-f', join(dir, 'bad.yaml')], { cp });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('spec.ports[0].port');
    expect(r.stderr).toContain('spec.colour');
    expect(r.stderr).toContain('spec.rules[0].matches[0].path.value');
    expect(r.stderr).toContain('spec.rules[0].backendRefs[0]');
    expect(r.stderr).toContain('bad.yaml');
    expect(await sha(cp.dataDir)).toBe(before);
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
    const before = await sha(cp.dataDir);
    const r = await weft(['apply', '-f', '-', '--dry-run'], { cp, stdin: GOOD });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('HTTPRoute/default/orders-canary created (dry run)');
    expect(await sha(cp.dataDir)).toBe(before);
  });

  it('says where it tried and which flag to change when the control plane is unreachable', async () => {
    const r = await weft(['get', 'svc'], { env: { WEFT_SERVER: 'http://127.0.0.1:9', WEFT_TOKEN: 'x' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('http://127.0.0.1:9');
    expect(r.stderr).toContain('--server');
  });

  it('gives up after --timeout (or WEFT_TIMEOUT) on a control plane that does not answer, saying so; a bad value is a usage error', async () => {
    // Accepts the connection and never answers.
    const held = new Set<net.Socket>();
    const silent = net.createServer((s) => {
      held.add(s);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    try {
      const started = Date.now();
      const r = await weft(['get', 'svc', '--timeout', '300ms'], { env: { WEFT_SERVER: url, WEFT_TOKEN: 'x' } });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`error: the control plane at ${url} did not answer GET /v1/resources`);
      expect(r.stderr).toContain('within 300ms');
      expect(r.stderr).toContain('raise --timeout or WEFT_TIMEOUT');
      expect(Date.now() - started).toBeLessThan(20_000); // not the 30 s default
      const env = await weft(['get', 'svc'], { env: { WEFT_SERVER: url, WEFT_TOKEN: 'x', WEFT_TIMEOUT: '200ms' } });
      expect([env.code, env.stderr.includes('within 200ms')]).toEqual([1, true]);
    } finally {
      for (const s of held) s.destroy();
      silent.close();
    }
    const bad = await weft(['get', 'svc', '--timeout', 'soon'], { env: { WEFT_SERVER: url, WEFT_TOKEN: 'x' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--timeout: 'soon' is not a duration (e.g. 500ms, 10s, 2m)");
    const zero = await weft(['get', 'svc', '--timeout', '0s'], { env: { WEFT_SERVER: url, WEFT_TOKEN: 'x' } });
    expect([zero.code, zero.stderr.includes('--timeout: want more than 0')]).toEqual([2, true]);
    // From the environment: the error names the variable (the flag, given too, wins).
    const envBad = await weft(['get', 'svc'], { env: { WEFT_SERVER: url, WEFT_TOKEN: 'x', WEFT_TIMEOUT: 'soon' } });
    expect([envBad.code, envBad.stderr.includes("WEFT_TIMEOUT: 'soon' is not a duration")]).toEqual([2, true]);
    const flagWins = await weft(['get', 'svc', '--timeout', 'later'], { env: { WEFT_SERVER: url, WEFT_TOKEN: 'x', WEFT_TIMEOUT: 'soon' } });
    expect(flagWins.stderr).toContain("--timeout: 'later' is not a duration");
  });

  it('lists namespace default unless -n or -A says otherwise (as kubectl), and takes --server HOST:PORT', async () => {
    const shop = 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: basket, namespace: shop }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n';
    expect((await weft(['apply', '-f', '-'], { cp, stdin: shop })).code).toBe(0);
    expect((await weft(['get', 'svc'], { cp })).stdout).not.toContain('basket');
    expect((await weft(['get', 'svc', '-n', 'shop'], { cp })).stdout).toMatch(/Service\s+shop\s+basket\s+/);
    const all = (await weft(['get', 'svc', '-A'], { cp })).stdout;
    expect(all).toMatch(/Service\s+shop\s+basket/);
    const missing = await weft(['get', 'svc', 'basket'], { cp });
    expect(missing.stderr).toContain("Service 'basket' not found in namespace default");
    expect(missing.stderr).toContain('-A');
    // No scheme: http:// is assumed.
    const hostPort = await weft(['get', 'svc', '-A', '--server', cp.adminUrl.replace('http://', '')], { cp });
    expect([hostPort.code, hostPort.stdout]).toEqual([0, all]);
    expect((await weft(['delete', 'svc', 'basket', '-n', 'shop'], { cp })).code).toBe(0);
  });

  it('delete -f removes every resource the file names in one change, which one-by-one deletes could not', async () => {
    const file = join(dir, 'good.yaml');
    expect((await weft(['apply', '-f', file], { cp })).code).toBe(0);
    // The Service alone is refused: the route still references it.
    expect((await weft(['delete', 'svc', 'orders'], { cp })).code).toBe(1);
    const before = await sha(cp.dataDir);
    const bad = await weft(['delete', '-f', '-'], { cp, stdin: 'kind: Service\nmetadata: { name: orders }\n---\nkind: Service\nmetadata: { name: not-there }\n' });
    expect([bad.code, bad.stderr]).toEqual([1, expect.stringContaining('not found: Service/default/not-there')]);
    expect(await sha(cp.dataDir)).toBe(before); // all or none
    const r = await weft(['delete', '-f', file], { cp });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Service\/default\/orders deleted \(revision \d+\)$/m);
    expect(r.stdout).toContain('TrafficPolicy/default/orders deleted');
    expect(r.stdout).toContain('HTTPRoute/default/orders-canary deleted');
    expect((await weft(['get', 'all'], { cp })).stdout.trim()).toBe('no resources found in namespace default');
  });

  it('delete --ignore-not-found skips what does not exist, deletes the rest in one change, and commits nothing when nothing exists', async () => {
    const file = join(dir, 'good.yaml');
    expect((await weft(['apply', '-f', file], { cp })).code).toBe(0);
    const twice = 'kind: Service\nmetadata: { name: not-there }\n---\nkind: HTTPRoute\nmetadata: { name: orders-canary }\n';
    const r = await weft(['delete', '-f', '-', '--ignore-not-found'], { cp, stdin: twice });
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^HTTPRoute\/default\/orders-canary deleted \(revision \d+\)$/m);
    expect(r.stdout).toContain('Service/default/not-there not found (skipped: --ignore-not-found)');
    // Again: nothing left to delete is not an error, and nothing is written to the store.
    const before = await sha(cp.dataDir);
    const again = await weft(['delete', '-f', '-', '--ignore-not-found'], { cp, stdin: twice });
    expect([again.code, again.stdout.trim().split('\n')]).toEqual([0, ['Service/default/not-there not found (skipped: --ignore-not-found)', 'HTTPRoute/default/orders-canary not found (skipped: --ignore-not-found)']]);
    expect(await sha(cp.dataDir)).toBe(before);
    // One name (the single-resource path), and without the flag the same delete still fails.
    expect((await weft(['delete', 'httproute', 'orders-canary'], { cp })).code).toBe(1);
    const one = await weft(['delete', 'httproute', 'orders-canary', '--ignore-not-found'], { cp });
    expect([one.code, one.stdout.trim()]).toEqual([0, 'HTTPRoute/default/orders-canary not found (skipped: --ignore-not-found)']);
    // Still refused when what does exist is referenced by what stays.
    const refused = await weft(['delete', 'svc', 'orders', 'not-there', '--ignore-not-found'], { cp });
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringContaining('dangling references')]);
    expect((await weft(['delete', '-f', file, '--ignore-not-found'], { cp })).code).toBe(0);
    expect((await weft(['get', 'all'], { cp })).stdout.trim()).toBe('no resources found in namespace default');
  });

  it('with no token anywhere, says no token was found and where it looked (not "refused the token")', async () => {
    const nowhere = join(tempDir('weft-empty-'), 'data');
    const r = await weft(['get', 'svc'], { env: { WEFT_SERVER: cp.adminUrl, WEFT_TOKEN: '', WEFT_DATA_DIR: nowhere } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no admin token was found, and the control plane at ${cp.adminUrl} wants one`);
    expect(r.stderr).toContain(`${join(nowhere, 'admin-token')} (WEFT_DATA_DIR), which does not exist`);
    expect(r.stderr).not.toContain('refused');
  });

  it('prints its version', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
    expect((await weft(['--version'])).stdout.trim()).toBe(`weft ${version}`);
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

  it('is never torn by kill -9 during applies: every acknowledged apply survives', async () => {
    const dataDir = tempDir('weft-cp-');
    // Every Service an apply was acknowledged for (200 from the admin API), with the port it set.
    const acknowledged = new Map<string, number>();
    let inFlightAtKill = 0;
    for (let round = 0; round < 6; round++) {
      const cp = await startControlPlane({ dataDir });
      const auth = { authorization: `Bearer ${readFileSync(join(dataDir, 'admin-token'), 'utf8').trim()}`, 'content-type': 'application/json' };
      // Four writers apply one new Service after another (one revision each; the port encodes
      // the round) until the kill; the kill comes after 1, 4, 7, ... acknowledged applies.
      const killAfter = 1 + round * 3;
      let acked = 0;
      let killed = false;
      let kill!: () => void;
      const killNow = new Promise<void>((r) => (kill = r));
      const writer = async (w: number) => {
        for (let i = 0; !killed && i < 500; i++) {
          const name = `s${round}-${w}-${i}`;
          const content = `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: ${1000 + round}, protocol: http }]\n`;
          const r = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', headers: auth, body: JSON.stringify({ files: [{ name: `${name}.yaml`, content }] }) }).catch(() => undefined);
          if (!r) {
            inFlightAtKill++; // the connection died with the process: not acknowledged
            return;
          }
          const body = await r.text().catch(() => undefined);
          if (r.status !== 200 || body === undefined) {
            expect(killed, `apply ${name}: ${r.status} ${body}`).toBe(true);
            return;
          }
          acknowledged.set(name, 1000 + round);
          if (++acked === killAfter) kill();
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await killNow;
      killed = true;
      await cp.kill('SIGKILL');
      await Promise.all(writers);
      // The store is whole: it parses, and counts at least one revision per acknowledged apply.
      const parsed = await storedConfig(dataDir);
      expect(parsed.revision).toBeGreaterThanOrEqual(acknowledged.size);
      const stored = new Set(parsed.resources.map((r) => r.metadata.name));
      for (const name of acknowledged.keys()) expect(stored.has(name), `${name} acknowledged but not in the store`).toBe(true);
    }
    // The kills landed with applies in flight (else this would prove little).
    expect(inFlightAtKill).toBeGreaterThan(0);
    // And it still loads and serves every acknowledged resource, as applied.
    const cp = await startControlPlane({ dataDir });
    try {
      const r = await weft(['get', 'svc', '-o', 'json'], { cp });
      expect(r.code).toBe(0);
      const items = (JSON.parse(r.stdout) as { items: Array<{ metadata: { name: string }; spec: { ports: Array<{ port: number }> } }> }).items;
      const served = new Map(items.map((s) => [s.metadata.name, s.spec.ports[0]!.port]));
      for (const [name, port] of acknowledged) expect(served.get(name), name).toBe(port);
    } finally {
      await cp.kill();
    }
  }, 120_000); // 7 control plane starts and up to 64 applies: 10-30 s on 2 busy cores
});

// The dashboard in real headless Chromium against a real mesh: an in-process control plane (with
// its trace receiver, so the test can also script one bad snapshot for a NACK), sidecar processes
// for web, api and billing, and an orders instance. web calls orders with 1 request in 4 failing
// (500), api calls it without failures, every request traced. In the browser: log in with the
// admin token, the graph has exactly the two edges with non-zero rates and the right health
// colours; clicking the failing edge lists its failing traces, one opens as a waterfall with span
// attributes; Proxies shows billing's NACK with its reason; Config shows a resource's YAML and
// the proxies it affects. Every request the page makes goes to the admin port. Screenshots go to
// build/dashboard-*.png.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/log.js';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/main.js';
import { launchBrowser } from '../harness/browser.js';
import { scriptBadCluster } from '../harness/bad-cluster.js';
import { eventually, registerControlPlane, ROOT, startInstance, startSidecar, tempDir, waitForHosts, type Instance, type SidecarProc } from '../harness/processes.js';

const ORDERS = 'outbound|8080||orders.default';
const SHOTS = join(ROOT, 'build');
const MESH = ['orders', 'web', 'api', 'billing'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`).join('---\n');

/** One traced (sampled) request through a sidecar's outbound port. */
function tracedGet(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    http
      .get({ host: '127.0.0.1', port, path, headers: { host, traceparent } }, (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

async function traffic(port: number, n: number, path: (i: number) => string): Promise<number[]> {
  const codes: number[] = [];
  for (let i = 0; i < n; i += 4) codes.push(...(await Promise.all([0, 1, 2, 3].map((k) => tracedGet(port, 'orders', path(i + k))))));
  return codes;
}

interface Drawn {
  group: string;
  data: { id: string; source?: string; target?: string; rps: number; health: string; successRate: number | null; errors?: number };
}

// Globals of the page, for the functions the test runs in it (this program has no DOM types).
declare const window: { weftDashboard?: { elements(): Drawn[]; point(id: string): { x: number; y: number } | undefined; refreshes: number } };
declare const document: { cookie: string; querySelector(selector: string): { textContent: string | null } | null };

describe('the dashboard in a real browser', () => {
  let cp: RunningControlPlane;
  let admin: string;
  let orders: Instance;
  let web: SidecarProc;
  let api: SidecarProc;
  let billing: SidecarProc;
  let browser: Browser;
  let page: Page;
  const requested: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // The bundle this test loads is the one the sources make now (make build does the same).
    execFileSync(process.execPath, [join(ROOT, 'scripts/build-dashboard.mjs')], { stdio: 'pipe' });
    const dataDir = tempDir('weft-cp-');
    cp = await startControlPlane({ dataDir, xdsAddress: '127.0.0.1:0', xdsPlaintextAddress: '127.0.0.1:0', adminAddress: '127.0.0.1:0', otlpAddress: '127.0.0.1:0', loadReportIntervalMs: 1000, registryGraceMs: 10_000, logger: silentLogger });
    admin = `http://127.0.0.1:${cp.adminPort}`;
    registerControlPlane(cp.xdsPlaintextPort, { dataDir, adminUrl: admin, xdsTlsPort: cp.xdsPort });
    const applied = await fetch(`${admin}/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ files: [{ name: 'mesh.yaml', content: MESH }] }) });
    expect(applied.status).toBe(200);
    orders = await startInstance(cp.xdsPlaintextPort, 'http', 'orders', 'orders-1');
    [web, api, billing] = await Promise.all([
      startSidecar(cp.xdsPlaintextPort, { service: 'web', appPort: 1, id: 'web-1.default' }),
      startSidecar(cp.xdsPlaintextPort, { service: 'api', appPort: 1, id: 'api-1.default' }),
      startSidecar(cp.xdsPlaintextPort, { service: 'billing', appPort: 1, id: 'billing-1.default' }),
    ]);
    await Promise.all([web, api, billing].map((s) => waitForHosts(s, ORDERS, 1)));
    // billing's own registration also changes its snapshot: wait for it before scripting a bad one.
    await waitForHosts(billing, 'outbound|8080||billing.default', 1);

    const webCodes = await traffic(web.outboundPort, 120, (i) => (i % 4 === 0 ? '/status/500' : '/status/200'));
    const apiCodes = await traffic(api.outboundPort, 80, () => '/status/200');
    // A quarter fail: the app's 500s (one may come back 502/503 when the app closes the connection
    // as the sidecar reuses it; it is a failure all the same, and the graph counts it as one).
    const codes = JSON.stringify(webCodes.reduce<Record<number, number>>((m, c) => ({ ...m, [c]: (m[c] ?? 0) + 1 }), {}));
    expect(webCodes.filter((c) => c >= 500), codes).toHaveLength(30);
    expect(webCodes.filter((c) => c === 200), codes).toHaveLength(90);
    expect(apiCodes.every((c) => c === 200)).toBe(true);
    // Both edges reported (load reports every second) and the failing traces stored.
    await eventually(async () => {
      const g = (await (await fetch(`${admin}/v1/graph`, { headers: { authorization: `Bearer ${cp.token}` } })).json()) as { edges: Array<{ source: string; requests: number }> };
      return g.edges.length === 2 && g.edges.every((e) => e.requests >= 80);
    }, 20_000, 250);

    // One proxy NACKs: billing's orders Cluster with an lb_policy the sidecar does not implement.
    const bad = scriptBadCluster(cp.controlPlane.cache, 'billing-1.default', ORDERS);
    await eventually(async () => {
      bad.keep();
      const { items } = (await (await fetch(`${admin}/v1/proxies`, { headers: { authorization: `Bearer ${cp.token}` } })).json()) as { items: Array<{ nodeId: string; types: { cluster?: { state: string } } }> };
      return items.find((p) => p.nodeId === 'billing-1.default')?.types.cluster?.state === 'NACKED';
    }, 15_000, 200);

    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('request', (r) => requested.push(r.url()));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await Promise.all([web?.kill('SIGKILL'), api?.kill('SIGKILL'), billing?.kill('SIGKILL'), orders?.kill()]);
    await cp?.stop();
  });

  it('asks for the admin token, and a wrong one is refused', async () => {
    await page.goto(`${admin}/dashboard/`);
    await page.waitForSelector('form.login input[name=token]');
    await page.fill('input[name=token]', 'wa_not-the-token');
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('form.login .error');
    expect(await page.textContent('form.login .error')).toContain('wrong admin token');
    await page.screenshot({ path: join(SHOTS, 'dashboard-login.png') });
    await page.fill('input[name=token]', cp.token);
    await page.click('form.login button[type=submit]');
    await page.waitForSelector('header nav a[data-tab=graph].active');
    // The session is an HttpOnly cookie: the page's script cannot read it.
    expect(await page.evaluate(() => document.cookie)).toBe('');
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'weft_session', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.value).not.toContain(cp.token);
  });

  it('draws the graph: the two edges with non-zero rates, the failing one red, the other green', async () => {
    const drawn = await eventually(async () => {
      const els = await page.evaluate(() => window.weftDashboard?.elements() ?? []);
      const edges = els.filter((e) => e.group === 'edges');
      return edges.length === 2 && edges.every((e) => e.data.rps > 0) ? els : undefined;
    }, 15_000, 250);
    const edges = drawn.filter((e) => e.group === 'edges').map((e) => e.data);
    expect(edges.map((e) => e.id).sort()).toEqual(['api.default->orders.default', 'web.default->orders.default']);
    const failing = edges.find((e) => e.source === 'web.default')!;
    expect(failing).toMatchObject({ target: 'orders.default', health: 'bad', errors: 30 });
    expect(failing.successRate).toBeCloseTo(0.75, 5);
    expect(edges.find((e) => e.source === 'api.default')).toMatchObject({ target: 'orders.default', health: 'good', successRate: 1 });
    const nodes = drawn.filter((e) => e.group === 'nodes').map((e) => e.data);
    expect(nodes.map((n) => n.id).sort()).toEqual(['api.default', 'billing.default', 'orders.default', 'web.default']);
    // orders served 200 requests, 30 of them 500s: 85 % success, below 95 %.
    expect(nodes.find((n) => n.id === 'orders.default')).toMatchObject({ health: 'bad' });
    expect(nodes.find((n) => n.id === 'orders.default')!.rps).toBeGreaterThan(0);
    expect(nodes.find((n) => n.id === 'billing.default')).toMatchObject({ health: 'idle' });
    // Live: another refresh comes within the 5 s period.
    const before = await page.evaluate(() => window.weftDashboard!.refreshes);
    await page.waitForFunction((n) => window.weftDashboard!.refreshes > n, before, { timeout: 8000 });
    await page.screenshot({ path: join(SHOTS, 'dashboard-graph.png') });
  });

  it('clicking the failing edge lists its failing traces; one opens as a waterfall with span attributes', async () => {
    const at = await page.evaluate(() => window.weftDashboard!.point('web.default->orders.default'));
    expect(at).toBeDefined();
    await page.mouse.click(at!.x, at!.y);
    await page.waitForSelector('[data-testid=selection] h2');
    expect(await page.textContent('[data-testid=selection] h2')).toBe('web → orders');
    const link = await page.waitForSelector('[data-testid=selection] a[data-trace] .badge.bad', { timeout: 15_000 });
    await page.screenshot({ path: join(SHOTS, 'dashboard-edge.png') });
    await link.click();
    await page.waitForSelector('[data-testid=waterfall] .span-row');
    expect(page.url()).toMatch(/#\/traces\/[0-9a-f]{32}$/);
    // web's CLIENT span and orders' SERVER span, the failed ones marked.
    const rows = await eventually(async () => {
      const r = await page.$$eval('[data-testid=waterfall] .span-row', (els) => els.map((e) => e.textContent ?? ''));
      return r.length >= 2 ? r : undefined;
    });
    expect(rows.some((r) => r.includes('web'))).toBe(true);
    expect(rows.some((r) => r.includes('orders'))).toBe(true);
    await page.click('[data-testid=waterfall] .span-row:has(.span-bar.err)');
    const attrs = await page.textContent('[data-testid=span-attributes]');
    expect(attrs).toContain('http.response.status_code');
    expect(attrs).toContain('500');
    expect(attrs).toContain('ERROR');
    await page.screenshot({ path: join(SHOTS, 'dashboard-trace.png') });
    // The search: orders' traces with errors only, none shorter than 0 ms.
    await page.click('a[href="#/traces"]');
    await page.fill('input[name=service]', 'orders');
    await page.fill('input[name=minDurationMs]', '0');
    await page.check('input[name=errors]');
    await page.click('form.search button[type=submit]');
    // The table of this search (the page's first, unfiltered list may still be showing).
    await page.waitForSelector('table.grid[data-query="?service=orders&minDurationMs=0&errors=1&limit=100"]');
    const found = (await page.evaluate("[...document.querySelectorAll('table.grid tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent))")) as string[][];
    expect(found.length).toBeGreaterThanOrEqual(10);
    for (const [, , services, , errors] of found) {
      expect(services).toContain('orders');
      expect(Number(errors)).toBeGreaterThan(0);
    }
    await page.screenshot({ path: join(SHOTS, 'dashboard-traces.png') });
  });

  it('shows the NACKed proxy with its reason on the Proxies tab', async () => {
    await page.click('header nav a[data-tab=proxies]');
    const nack = await page.waitForSelector('td[data-nack="billing-1.default"]');
    expect(await nack.textContent()).toContain(`CDS: Cluster/${ORDERS} lb_policy: unsupported value 'MAGLEV'`);
    const row = await page.textContent('tr[data-proxy="billing-1.default"]');
    expect(row).toContain('NACKED');
    // The workload certificate's expiry is filled in for the rows shown.
    await page.waitForFunction(() => document.querySelector('tr[data-proxy="web-1.default"]')?.textContent?.includes('expires in'));
    expect(await page.textContent('tr[data-proxy="web-1.default"]')).toMatch(/SYNCED.*expires in \d+[mhd]/);
    await page.screenshot({ path: join(SHOTS, 'dashboard-proxies.png') });
  });

  it("shows a resource's YAML, the proxies it affects and the apply history on the Config tab", async () => {
    await page.click('header nav a[data-tab=config]');
    await page.click('a[data-resource="Service/default/orders"]');
    await page.waitForFunction(() => document.querySelector('.resource-detail h2')?.textContent === 'Service/default/orders' && document.querySelector('[data-testid=yaml]')?.textContent?.includes('kind: Service'));
    const yaml = (await page.textContent('[data-testid=yaml]'))!;
    expect(yaml).toContain('name: orders');
    expect(yaml).toMatch(/port: 8080/);
    const affected = await eventually(async () => {
      const t = (await page.textContent('.resource-detail')) ?? '';
      return t.includes('billing-1.default') ? t : undefined;
    });
    for (const id of ['web-1.default', 'api-1.default', 'billing-1.default']) expect(affected).toContain(id);
    expect(affected).toContain('revision 1');
    expect(affected).toMatch(/created\s*Service\/default\/orders/);
    await page.screenshot({ path: join(SHOTS, 'dashboard-config.png') });
  });

  it('explains a request from a graph edge: both hops, the route and the outcome; a host with no route says so', async () => {
    await page.click('header nav a[data-tab=graph]');
    const at = await eventually(() => page.evaluate(() => window.weftDashboard?.point('web.default->orders.default')));
    await page.mouse.click(at.x, at.y);
    await page.click('[data-testid=selection] a[data-explain]');
    await page.waitForSelector('.hop[data-hop="2"]', { timeout: 15_000 });
    expect(page.url()).toMatch(/#\/explain\/web\/GET\/http%3A%2F%2Forders%2F\/default$/);
    const hop1 = (await page.textContent('.hop[data-hop="1"]')) ?? '';
    expect(hop1).toMatch(/Hop 1: web\.default, outbound listener, proxy web-1\.default/);
    expect(hop1).toContain('MATCH');
    expect(await page.textContent('.hop[data-hop="1"] [data-outcome]')).toMatch(/-> outbound\|8080\|\|orders\.default/);
    expect(await page.textContent('.hop[data-hop="2"]')).toMatch(/Hop 2: orders\.default, inbound listener/);
    await page.screenshot({ path: join(SHOTS, 'dashboard-explain.png') });
    await page.fill('.explain-form input[name=url]', 'http://nowhere/x');
    await page.click('.explain-form button[type=submit]');
    await page.waitForFunction(() => /404 NO_ROUTE/.test(document.querySelector('.hop[data-hop="1"] [data-outcome]')?.textContent ?? ''));
  });

  it('loaded nothing from outside the admin port, and logging out brings the login form back', async () => {
    expect(requested.length).toBeGreaterThan(5);
    expect(requested.filter((u) => !u.startsWith(`${admin}/`))).toEqual([]);
    await page.click('header button.link');
    await page.waitForSelector('form.login');
    expect((await page.evaluate(() => fetch('/v1/proxies').then((r) => r.status)))).toBe(401);
  });
});

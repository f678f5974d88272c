// Dashboard load time: a control plane with 200 services, 2,000 simulated proxies (delta ADS
// streams, bench/sim-proxy.ts) and load reports from 400 of them (2 per service, each calling two
// others: 200 graph nodes, 398 edges), then the dashboard in headless Chromium, logged in. Each
// view is loaded fresh (a new page) ROUNDS times and timed from navigation to its data drawn:
// Graph (all 200 services and 400 edges laid out), Proxies (the first 100 rows of 2,000), Config
// (the 200 resources listed and the first one's YAML). Target (issue 23): each under 1 s (median).
// Run: npx vitest run --config bench/vitest.config.ts bench/dashboard.bench.ts
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, startControlPlane } from '../test/harness/processes.js';
import { launchBrowser } from '../test/harness/browser.js';
import { TYPE_URL } from '../common/xds-types.js';
import { lrsServiceDefinition } from '../common/lrs-service.js';
import { NodeSchema } from '../proto/gen/envoy/config/core/v3/base_pb.js';
import { LoadStatsRequestSchema, type LoadStatsRequest, type LoadStatsResponse } from '../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';
import { SimProxy } from './sim-proxy.js';

const SERVICES = Number(process.env.DASH_BENCH_SERVICES ?? 200);
const PROXIES = Number(process.env.DASH_BENCH_PROXIES ?? 2000);
const ROUNDS = Number(process.env.DASH_BENCH_ROUNDS ?? 5);
const REPORTERS = 2 * SERVICES;
/** Service s calls these two (the same for both of its reporting sidecars). */
const callees = (s: number) => [(s + 1) % SERVICES, (s * 7 + 3) % SERVICES];
const EDGES = new Set(Array.from({ length: SERVICES }, (_, s) => callees(s).map((d) => `${s}->${d}`)).flat()).size;

// Globals of the page, for the functions the bench runs in it (this program has no DOM types).
declare const window: { weftDashboard?: { elements(): Array<{ group: string }>; refreshes: number } };
declare const document: { querySelectorAll(selector: string): { length: number }; querySelector(selector: string): { textContent: string | null } | null };
declare const sessionStorage: { setItem(key: string, value: string): void };

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timeout: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One load report of sidecar `i` of service `s`: inbound requests, and calls to two other services. */
function report(s: number, first: boolean, id: string): LoadStatsRequest {
  const entry = (cluster: string, direction: string, ok: number, err: number) => ({
    clusterName: cluster,
    clusterServiceName: `weft/${direction}/default`,
    loadReportInterval: { seconds: 5n },
    upstreamLocalityStats: [{ totalSuccessfulRequests: BigInt(ok), totalErrorRequests: BigInt(err), totalIssuedRequests: BigInt(ok + err), loadMetricStats: [{ metricName: 'weft.latency_ms.20', numRequestsFinishedWithMetric: BigInt(ok + err), totalMetricValue: 4 * (ok + err) }] }],
  });
  const to = callees(s).map((d) => `outbound|8080||svc-${d}.default`);
  return create(LoadStatsRequestSchema, {
    ...(first ? { node: create(NodeSchema, { id, cluster: `svc-${s}`, metadata: { WEFT_ROLE: 'sidecar', WEFT_SERVICE: `svc-${s}`, WEFT_NAMESPACE: 'default' } }) } : {}),
    clusterStats: [entry(`inbound|8080|svc-${s}.default`, 'inbound', 500, s % 10 === 0 ? 40 : 0), entry(to[0]!, 'outbound', 200, s % 17 === 0 ? 15 : 0), entry(to[1]!, 'outbound', 100, 0)],
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('dashboard load time', () => {
  it(`loads each view under 1 s with ${SERVICES} services and ${PROXIES} proxies`, async () => {
    const cp = await startControlPlane({ extraArgs: ['--registry-grace', '1s', '--xds-plaintext-register'] });
    const token = readFileSync(join(cp.dataDir, 'admin-token'), 'utf8').trim();
    const proxies: SimProxy[] = [];
    const lrs = new grpc.Client(`127.0.0.1:${cp.xdsPort}`, grpc.credentials.createInsecure());
    const streams: Array<grpc.ClientDuplexStream<LoadStatsRequest, LoadStatsResponse>> = [];
    const browser = await launchBrowser();
    try {
      const services = Array.from({ length: SERVICES }, (_, s) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: svc-${s} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]`).join('\n---\n');
      const applied = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ files: [{ name: 'bench.yaml', content: services }] }) });
      expect(applied.status).toBe(200);
      for (let i = 0; i < PROXIES; i++) proxies.push(new SimProxy({ address: `127.0.0.1:${cp.xdsPort}`, id: `sim-${i}`, service: `svc-${i % SERVICES}`, instancePort: 20000 + i, protocol: 'delta' }));
      await until(() => proxies.every((p) => p.versions.has(TYPE_URL.cluster) && p.versions.has(TYPE_URL.listener)), 180_000, `${PROXIES} proxies synced`);
      for (let i = 0; i < REPORTERS; i++) {
        const call = lrs.makeBidiStreamRequest(lrsServiceDefinition.StreamLoadStats.path, lrsServiceDefinition.StreamLoadStats.requestSerialize, lrsServiceDefinition.StreamLoadStats.responseDeserialize) as grpc.ClientDuplexStream<LoadStatsRequest, LoadStatsResponse>;
        call.on('error', () => undefined);
        call.on('data', () => undefined);
        call.write(report(i % SERVICES, true, `sim-${i}`));
        streams.push(call);
      }
      const auth = { authorization: `Bearer ${token}` };
      const graphReady = async () => {
        const g = (await (await fetch(`${cp.adminUrl}/v1/graph`, { headers: auth })).json()) as { nodes: unknown[]; edges: unknown[] };
        return g.nodes.length === SERVICES && g.edges.length === EDGES;
      };
      for (let t = Date.now(); !(await graphReady()); ) {
        if (Date.now() - t > 30_000) throw new Error('the graph never had every node and edge');
        await new Promise((r) => setTimeout(r, 200));
      }
      const apiMs: Record<string, number> = {};
      for (const path of ['/v1/graph', '/v1/proxies', '/v1/resources']) {
        const t0 = performance.now();
        const r = await fetch(`${cp.adminUrl}${path}`, { headers: auth });
        const bytes = (await r.arrayBuffer()).byteLength;
        apiMs[`${path} (${(bytes / 1024).toFixed(0)} KiB)`] = performance.now() - t0;
      }

      const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const login = await context.request.post(`${cp.adminUrl}/v1/login`, { data: { token } });
      expect(login.status()).toBe(200);
      // The session's secret goes where the page keeps it (control-plane/dashboard/app/api.ts): each new page starts logged in.
      const { csrf } = (await login.json()) as { csrf: string };
      await context.addInitScript((secret: string) => sessionStorage.setItem('weft-session-secret', secret), csrf);
      const views: Record<string, { hash: string; ready: () => boolean }> = {
        graph: { hash: '#/graph', ready: () => (window.weftDashboard?.refreshes ?? 0) >= 1 },
        proxies: { hash: '#/proxies', ready: () => document.querySelectorAll('tr[data-proxy]').length >= 100 },
        config: { hash: '#/config', ready: () => document.querySelectorAll('a[data-resource]').length >= 200 && (document.querySelector('[data-testid=yaml]')?.textContent ?? '').includes('kind:') },
      };
      const times: Record<string, number[]> = {};
      const breakdown: Record<string, string> = {};
      for (let round = 0; round < ROUNDS + 1; round++) {
        for (const [name, v] of Object.entries(views)) {
          const page = await context.newPage();
          const t0 = performance.now();
          await page.goto(`${cp.adminUrl}/dashboard/${v.hash}`);
          await page.waitForFunction(v.ready, undefined, { timeout: 30_000, polling: 10 });
          const ms = performance.now() - t0;
          // Where the time went, as the page saw it: its script running, and its API calls.
          const seen = (await page.evaluate('JSON.stringify({ dcl: performance.getEntriesByType("navigation")[0].domContentLoadedEventEnd, api: performance.getEntriesByType("resource").filter((e) => e.name.includes("/v1/")).map((e) => [e.name.replace(/^.*\\/v1\\//, ""), Math.round(e.startTime), Math.round(e.responseEnd)]) })')) as string;
          if (round === ROUNDS) breakdown[name] = seen;
          if (round > 0) (times[name] ??= []).push(ms); // round 0 warms the browser's caches and JIT
          if (name === 'graph') expect(await page.evaluate(() => window.weftDashboard!.elements().length)).toBe(SERVICES + EDGES);
          if (round === ROUNDS) await page.screenshot({ path: join(ROOT, 'build', `dashboard-bench-${name}.png`) });
          await page.close();
        }
      }
      // The median is the verdict: on a shared 2-core machine one load in five can wait on a
      // neighbour's CPU burst (the max is printed alongside). A miss is reported, not a failure.
      const rows = Object.entries(times).map(([view, xs]) => ({ view, medianMs: Math.round(median(xs)), maxMs: Math.round(Math.max(...xs)), aim: median(xs) < 1000 ? 'pass' : 'miss' }));
      const lines = [
        `Dashboard load: navigation -> the view's data drawn, fresh page, logged in; ${SERVICES} services, ${PROXIES} proxies (delta ADS), ${REPORTERS} reporting sidecars (${EDGES} edges); target: median < 1000 ms`,
        `${'view'.padEnd(10)}${'median ms'.padStart(11)}${'max ms'.padStart(9)}  aim`,
        ...rows.map((r) => `${r.view.padEnd(10)}${String(r.medianMs).padStart(11)}${String(r.maxMs).padStart(9)}  ${r.aim}`),
        `API answers (one call each, from Node): ${Object.entries(apiMs).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}`,
        ...Object.entries(breakdown).map(([v, b]) => `last ${v} load, in the page (ms since navigation): ${b}`),
        `(${ROUNDS} rounds after one warm-up; app.js ${(readFileSync(join(ROOT, 'dist/dashboard/app.js')).length / 1024).toFixed(0)} KiB)`,
      ];
      console.log(`\n${lines.join('\n')}\n`);
      const dir = join(ROOT, 'bench/results');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'dashboard.json'), JSON.stringify({ at: new Date().toISOString(), services: SERVICES, proxies: PROXIES, edges: EDGES, rows, apiMs }, null, 2));
      writeFileSync(join(dir, 'dashboard.txt'), `${lines.join('\n')}\n`);
    } finally {
      await browser.close();
      for (const s of streams) s.cancel();
      lrs.close();
      for (const p of proxies) p.close();
      await cp.kill();
    }
  }, 600_000);
});

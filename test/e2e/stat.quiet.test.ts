// `weft stat` (load reports over LRS) against an independent load generator, real processes on
// loopback: a paced load from its own process through a sidecar; the control plane's figures
// (request count and success rate exactly; RPS, p50/p95/p99 within 10 %) must match what the
// generator measured. Runs in the "quiet" project, alone after the parallel batch (vitest.config.ts): it
// compares latencies seen by two processes, and a parallel run's CPU stalls land in one of them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, figure, spawnNode, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';

const ROOT = join(import.meta.dirname, '..', '..');

describe('weft stat', () => {
  let cp: ControlPlaneProc;
  let inventory: Instance;
  let shop: SidecarProc;

  beforeAll(async () => {
    cp = await startControlPlane({ extraArgs: ['--load-report-interval', '1s'] });
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, ['inventory', 'shop'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`).join('---\n'));
    expect((await weft(['apply', '-f', f], { cp })).code).toBe(0);
    inventory = await startInstance(cp.xdsPort, 'http', 'inventory', 'inventory-1');
    // shop: the load generator's sidecar.
    shop = await startSidecar(cp.xdsPort, { service: 'shop', appPort: 1 });
    await waitForHosts(shop, 'outbound|8080||inventory.default', 1);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([shop?.kill('SIGKILL'), inventory?.kill()]);
    await cp?.kill();
  });

  it('weft stat agrees with the load generator: requests and success rate exactly, rate and latency within 10%', async () => {
    // A paced load from its own process: 100 req/s for 8 s; latencies spread over 10..40 ms, 8% at
    // 100 ms; every 10th request a 500. The 100 ms group holds p95 and p99 in its middle, where the
    // mesh's figure is the thing compared: with 10..40 only, p99 was the 8th-slowest of 800
    // requests, whichever the machine stalled (seen: client 76.9 ms, sidecar 65.3 ms); with 3% at
    // 100 ms, p95 sat at the top of the 10..40 band, where a few stalled client samples moved the
    // generator's figure alone (seen: 49.8 ms against the sidecar's 44.8 ms). p50 stays in the band.
    const total = 800;
    const gen = spawnNode([join(ROOT, 'test/harness/paced-load.mjs'), String(shop.outboundPort), 'inventory', '100', String(total)]);
    await gen.waitLine(/started/);
    // Mid-run (6.5 s in): the rate over the last 4 s of reports.
    await new Promise((r) => setTimeout(r, 6500));
    const midRows = JSON.parse((await weft(['stat', '--window', '4s', '--direction', 'outbound', '-o', 'json'], { cp })).stdout) as Array<{ service: string; rps: number }>;
    const g = JSON.parse((await gen.waitLine(/^\{.*\}$/, 30_000))[0]) as { sent: number; ok: number; rps: number; successRate: number; p50: number; p95: number; p99: number };
    // Once the last report is in, the whole run is in the window. Outbound: what the generator's
    // own sidecar measured, the same path the generator timed.
    type Row = { service: string; requests: number; successRate: number; p50Ms: number; p95Ms: number; p99Ms: number };
    const row = await eventually(async () => {
      const rows = JSON.parse((await weft(['stat', '--window', '1m', '--direction', 'outbound', '-o', 'json'], { cp })).stdout) as Row[];
      const r = rows.find((x) => x.service === 'inventory.default');
      return r && r.requests >= total ? r : undefined;
    }, 15_000, 250);
    const st = { rps: midRows.find((r) => r.service === 'inventory.default')!.rps, p50: row.p50Ms, p95: row.p95Ms, p99: row.p99Ms };
    const gen5 = { rps: g.rps, p50: g.p50, p95: g.p95, p99: g.p99 };
    figure('load generator vs weft stat', { generator: { ...gen5, sent: g.sent, ok: g.ok }, weftStat: { ...st, requests: row.requests, successRate: row.successRate } });
    const table = await weft(['stat', 'service/inventory', '--window', '1m', '--direction', 'outbound'], { cp });
    process.stdout.write(`${table.stdout}\n`);
    expect(table.code).toBe(0);
    const inbound = await weft(['stat', '--window', '1m'], { cp });
    process.stdout.write(`${inbound.stdout}\n`);
    // Counts are deterministic: every 10th request is a 500, so 720 of 800 succeed, on both sides.
    expect([g.sent, g.ok]).toEqual([total, 720]);
    expect(row.requests).toBe(total);
    expect(row.successRate).toBe(720 / 800);
    expect(table.stdout).toMatch(/\b90(\.0+)?%/);
    // Rate and latencies within 10% of the generator's (the ratio is printed on failure).
    const ratios = Object.fromEntries(Object.entries(gen5).map(([k, v]) => [k, Math.round((st[k as keyof typeof st] / v) * 1000) / 1000]));
    expect(Object.entries(ratios).filter(([, r]) => !(r >= 0.9 && r <= 1.1))).toEqual([]);
  }, 90_000);
});

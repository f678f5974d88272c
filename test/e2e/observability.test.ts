// Observability end to end, real processes on loopback:
//  1. one trace across frontend -> orders (HTTP) -> payments (gRPC): the apps are instrumented with
//     the standard OpenTelemetry Node SDK, each hop adds a sidecar CLIENT and SERVER span, a retried
//     attempt is its own span, and `weft trace show` prints the waterfall;
//  2. the trace collector down: requests are unaffected, dropped spans are counted;
//  3. /stats/prometheus and /metrics parse with the official Prometheus Python client's parser and
//     the request counters equal the traffic sent;
//  4. access logs.
// `weft stat` against a load generator is in stat.quiet.test.ts (it runs alone: see vitest.config.ts).
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, figure, spawnNode, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc, type Spawned } from '../harness/processes.js';
import type { StoredSpan } from '../../control-plane/telemetry/trace-store.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A span as `weft trace show -o json` prints it. */
type Span = StoredSpan;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text with prometheus_client.parser (the official Python client, from apt: `make deps`). */
function parseProm(text: string): Sample[] {
  const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const py = [
    'import sys, json',
    'from prometheus_client.parser import text_string_to_metric_families',
    'out = []',
    'for f in text_string_to_metric_families(sys.stdin.read()):',
    '    for s in f.samples:',
    '        out.append({"name": s.name, "labels": s.labels, "value": s.value})',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(execFileSync(python, ['-c', py], { input: text, maxBuffer: 64 * 1024 * 1024 }).toString()) as Sample[];
}

const sum = (xs: Sample[], name: string, match: Record<string, string> = {}) =>
  xs.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers }, (r) => {
        let body = '';
        r.on('data', (c: Buffer) => (body += c.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

async function tracedApp(cp: ControlPlaneProc, role: string): Promise<Spawned & { port: number }> {
  const p = spawnNode([join(ROOT, 'test/harness/traced-app.cjs'), role, '0'], { env: { OTLP_URL: `http://127.0.0.1:${cp.otlpPort}/v1/traces` } });
  const m = await p.waitLine(/listening (\d+)/);
  return { ...p, port: Number(m[1]) };
}

async function pointAt(app: Spawned, sidecar: SidecarProc): Promise<void> {
  app.proc.stdin!.write(`sidecar ${sidecar.outbound}\n`);
  await app.waitLine(/sidecar set/);
}

describe('observability across three services', () => {
  let cp: ControlPlaneProc;
  const apps: Array<Spawned & { port: number }> = [];
  const sidecars: SidecarProc[] = [];
  let frontend: Spawned & { port: number };
  let frontendSc: SidecarProc;
  let catalog: Instance;
  let shop: SidecarProc;
  let logs: string;

  beforeAll(async () => {
    cp = await startControlPlane({ extraArgs: ['--load-report-interval', '1s'] });
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(
      f,
      [
        'apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  tracing: { samplingPercent: 100 }\n',
        ...['frontend', 'orders', 'catalog', 'shop'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`),
        'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: payments }\nspec:\n  ports: [{ name: grpc, port: 9090, protocol: grpc }]\n',
        'apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: orders }\nspec:\n  targetRef: { kind: Service, name: orders }\n  retry: { attempts: 3, retryOn: [5xx], backoff: { baseInterval: 5ms } }\n',
      ].join('---\n'),
    );
    expect((await weft(['apply', '-f', f], { cp })).code).toBe(0);
    // frontend app -> its sidecar -> orders' sidecar -> orders app -> its sidecar -> payments' sidecar -> payments app
    const payments = await tracedApp(cp, 'payments');
    const orders = await tracedApp(cp, 'orders');
    frontend = await tracedApp(cp, 'frontend');
    apps.push(payments, orders, frontend);
    const paymentsSc = await startSidecar(cp.xdsPort, { service: 'payments', appPort: payments.port, appProtocol: 'grpc' });
    const ordersSc = await startSidecar(cp.xdsPort, { service: 'orders', appPort: orders.port });
    frontendSc = await startSidecar(cp.xdsPort, { service: 'frontend', appPort: frontend.port });
    sidecars.push(paymentsSc, ordersSc, frontendSc);
    await pointAt(orders, ordersSc);
    await pointAt(frontend, frontendSc);
    await waitForHosts(frontendSc, 'outbound|8080||orders.default', 1);
    await waitForHosts(ordersSc, 'outbound|9090||payments.default', 1);
    // For metrics and access logs: shop (a load generator's sidecar) -> catalog.
    logs = tempDir('weft-access-');
    // catalog's sidecar logs failures only (sampling 0); shop's logs every request.
    catalog = await startInstance(cp.xdsPort, 'http', 'catalog', 'catalog-1', { extraArgs: ['--access-log', join(logs, 'catalog.log'), '--access-log-sampling', '0'] });
    shop = await startSidecar(cp.xdsPort, { service: 'shop', appPort: 1, extraArgs: ['--access-log', join(logs, 'shop.log')] });
    await waitForHosts(shop, 'outbound|8080||catalog.default', 1);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([...sidecars.map((s) => s.kill('SIGKILL')), ...apps.map((a) => a.kill('SIGKILL')), shop?.kill('SIGKILL'), catalog?.kill()]);
    await cp?.kill();
  });

  it('joins app spans and two sidecar spans per hop into one trace, a retry as its own span; weft trace show prints it', async () => {
    const r = await get(frontend.port, '/checkout?order=42');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body) as { traceId: string; orders: { payment: string } };
    expect(body.orders.payment).toBe('charged:42');
    const traceId = body.traceId;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    // 12 spans: frontend SERVER+CLIENT, frontend-sidecar CLIENT x2 (retry), orders-sidecar SERVER x2,
    // orders app SERVER x2, orders app gRPC CLIENT, orders-sidecar CLIENT, payments-sidecar SERVER,
    // payments app SERVER.
    const spans = await eventually(async () => {
      const x = await weft(['trace', 'show', traceId, '-o', 'json'], { cp });
      if (x.code !== 0) return undefined;
      const s = (JSON.parse(x.stdout) as { spans: Span[] }).spans;
      return s.length >= 12 ? s : undefined;
    }, 20_000, 300);
    const show = await weft(['trace', 'show', traceId], { cp });
    expect(show.code).toBe(0);
    process.stdout.write(`${show.stdout}\n`);
    figure('three-service trace', { traceId, spans: spans.length, services: [...new Set(spans.map((s) => s.service))].sort() });

    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const parent = (s: Span) => byId.get(s.parentSpanId);
    const isSidecar = (s: Span) => s.attributes['weft.cluster'] !== undefined || s.attributes['weft.peer.principal'] !== undefined;
    const of = (service: string, kind: string, sidecar: boolean) => spans.filter((s) => s.service === service && s.kind === kind && isSidecar(s) === sidecar);

    // frontend app: root SERVER, and a CLIENT child.
    const [root] = of('frontend', 'server', false);
    expect(root).toBeDefined();
    expect(root!.parentSpanId).toBe('');
    const [appClient] = of('frontend', 'client', false);
    expect(parent(appClient!)).toBe(root);
    // Hop 1 (HTTP): frontend's sidecar, one CLIENT span per attempt (503 then 200), children of the app's CLIENT span.
    const attempts = of('frontend', 'client', true).sort((a, b) => Number(a.attributes['weft.attempt']) - Number(b.attributes['weft.attempt']));
    expect(attempts.map((s) => s.attributes['weft.attempt'])).toEqual([1, 2]);
    expect(attempts.map((s) => s.attributes['http.response.status_code'])).toEqual([503, 200]);
    for (const a of attempts) expect(parent(a)).toBe(appClient);
    // orders' sidecar: a SERVER span per attempt, child of that attempt; the orders app's SERVER span is its child.
    const ordersIn = of('orders', 'server', true);
    expect(ordersIn).toHaveLength(2);
    for (const s of ordersIn) expect(attempts).toContain(parent(s));
    const ordersApp = of('orders', 'server', false);
    expect(ordersApp).toHaveLength(2);
    for (const s of ordersApp) expect(ordersIn).toContain(parent(s));
    // Hop 2 (gRPC): orders app CLIENT (instrumentation-grpc) -> orders' sidecar CLIENT -> payments' sidecar SERVER -> payments app SERVER.
    const [grpcClient] = of('orders', 'client', false);
    expect(ordersApp).toContain(parent(grpcClient!));
    const [ordersOut] = of('orders', 'client', true);
    expect(parent(ordersOut!)).toBe(grpcClient);
    expect(ordersOut!.attributes['rpc.service']).toBe('weft.test.Payments');
    expect(ordersOut!.attributes['rpc.method']).toBe('Charge');
    const [paymentsIn] = of('payments', 'server', true);
    expect(parent(paymentsIn!)).toBe(ordersOut);
    expect(paymentsIn!.attributes['rpc.grpc.status_code']).toBe(0);
    const [paymentsApp] = of('payments', 'server', false);
    expect(parent(paymentsApp!)).toBe(paymentsIn);
    // Everything in one trace, no orphans.
    for (const s of spans) if (s !== root) expect(parent(s)).toBeDefined();
    expect(show.stdout).toContain('weft.test.Payments/Charge');
    expect(show.stdout).toMatch(/frontend\s/);
  }, 60_000);

  it('collector down: requests are unaffected and dropped spans are counted', async () => {
    const f = join(tempDir(), 'mesh.yaml');
    // Port 9 (discard) on loopback: nothing listens, every export fails at once.
    writeFileSync(f, 'apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  tracing: { samplingPercent: 100, endpoint: "http://127.0.0.1:9/v1/traces" }\n');
    expect((await weft(['apply', '-f', f], { cp })).code).toBe(0);
    const dropped = async () => sum(parseProm(await (await fetch(`${shop.admin}/stats/prometheus`)).text()), 'weft_tracing_spans_dropped_total');
    // The new endpoint is live once spans start being dropped.
    const first = await dropped();
    await eventually(async () => {
      await get(shop.outboundPort, '/', { host: 'catalog' });
      return (await dropped()) > first;
    }, 20_000, 500);
    const before = await dropped();
    const t0 = performance.now();
    let ok = 0;
    const N = 300;
    for (let i = 0; i < N; i += 10) {
      const rs = await Promise.all(Array.from({ length: 10 }, () => get(shop.outboundPort, '/', { host: 'catalog' })));
      ok += rs.filter((x) => x.status === 200).length;
    }
    const ms = performance.now() - t0;
    const after = await eventually(async () => {
      const d = await dropped();
      return d - before >= N ? d : undefined;
    }, 20_000, 300);
    figure('collector down', { sent: N, ok, ms: Math.round(ms), droppedSpans: after - before });
    expect(ok).toBe(N);
    // Restore the default (the control plane's own receiver) for the tests after this one.
    writeFileSync(f, 'apiVersion: weft.dev/v1alpha1\nkind: MeshConfig\nmetadata: { name: mesh }\nspec:\n  tracing: { samplingPercent: 0 }\n');
    expect((await weft(['apply', '-f', f], { cp })).code).toBe(0);
  }, 60_000);

  it('serves Prometheus text that a real parser reads, with request counters equal to the traffic sent', async () => {
    const scrape = async (url: string) => parseProm(await (await fetch(url)).text());
    const base = { direction: 'outbound', service: 'catalog.default' };
    const [shop0, cat0] = [await scrape(`${shop.admin}/stats/prometheus`), await scrape(`${catalog.sidecar.admin}/stats/prometheus`)];
    const ok = 47;
    const bad = 13;
    for (let i = 0; i < ok; i++) expect((await get(shop.outboundPort, '/', { host: 'catalog' })).status).toBe(200);
    for (let i = 0; i < bad; i++) expect((await get(shop.outboundPort, '/status/503', { host: 'catalog' })).status).toBe(503);
    // The request is counted when its response is done: poll until the counters have all of it
    // (a bounded wait for the positive figure; any surplus still fails below).
    const want = { outbound2xx: ok, outbound5xx: bad, outboundHistogramCount: ok + bad, outboundInfBucket: ok + bad, inbound2xx: ok, inbound5xx: bad, upstreamRequests: ok + bad };
    const d = (a: Sample[], b: Sample[], name: string, m: Record<string, string>) => sum(b, name, m) - sum(a, name, m);
    let shop1: Sample[] = [];
    let got: typeof want | undefined;
    await eventually(async () => {
      let cat1: Sample[];
      [shop1, cat1] = [await scrape(`${shop.admin}/stats/prometheus`), await scrape(`${catalog.sidecar.admin}/stats/prometheus`)];
      got = {
        outbound2xx: d(shop0, shop1, 'weft_requests_total', { ...base, status_class: '2xx' }),
        outbound5xx: d(shop0, shop1, 'weft_requests_total', { ...base, status_class: '5xx' }),
        outboundHistogramCount: d(shop0, shop1, 'weft_request_duration_seconds_count', base),
        outboundInfBucket: d(shop0, shop1, 'weft_request_duration_seconds_bucket', { ...base, le: '+Inf' }),
        inbound2xx: d(cat0, cat1, 'weft_requests_total', { direction: 'inbound', status_class: '2xx' }),
        inbound5xx: d(cat0, cat1, 'weft_requests_total', { direction: 'inbound', status_class: '5xx' }),
        upstreamRequests: d(shop0, shop1, 'weft_upstream_requests_total', { cluster: 'outbound|8080||catalog.default' }),
      };
      return Object.entries(want).every(([k, v]) => got![k as keyof typeof want] >= v);
    }, 5_000, 50).catch(() => undefined);
    figure('prometheus counters after 47 ok + 13 errors', got ?? {});
    expect(got).toEqual(want);
    // Every series has the documented labels, and route names come from the config.
    const series = shop1.filter((s) => s.name === 'weft_requests_total');
    for (const s of series) expect(Object.keys(s.labels).sort()).toEqual(['cluster', 'direction', 'grpc_status', 'route', 'service', 'status_class']);
    expect(series.find((s) => s.labels.service === 'catalog.default')!.labels.route).toBe('default');
    // gRPC status is a label on the gRPC hop (orders -> payments, from the trace test).
    const ordersSc = sidecars[1]!;
    const grpcRows = (await scrape(`${ordersSc.admin}/stats/prometheus`)).filter((s) => s.name === 'weft_requests_total' && s.labels.service === 'payments.default');
    expect(grpcRows.some((s) => s.labels.grpc_status === 'OK')).toBe(true);
    // Standard runtime metrics come along.
    expect(shop1.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
    // The control plane's /metrics parses too, and counts what happened.
    const c = await scrape(`${cp.adminUrl}/metrics`);
    expect(sum(c, 'weft_xds_connected_proxies')).toBeGreaterThanOrEqual(5);
    expect(sum(c, 'weft_xds_pushes_total', { kind: 'cluster' })).toBeGreaterThan(0);
    expect(sum(c, 'weft_xds_push_ack_seconds_count', { result: 'ack' })).toBeGreaterThan(0);
    expect(sum(c, 'weft_load_reports_received_total')).toBeGreaterThan(0);
    expect(c.some((s) => s.name === 'weft_xds_nacks_total' || s.name === 'weft_xds_nacks')).toBe(true);
  }, 60_000);

  it('writes access logs as JSON lines, sampling successes and keeping every failure', async () => {
    const id = `req-${Date.now()}`;
    expect((await get(shop.outboundPort, '/status/500', { host: 'catalog', 'x-request-id': id })).status).toBe(500);
    expect((await get(shop.outboundPort, '/', { host: 'catalog' })).status).toBe(200);
    const read = (f: string) => readFileSync(join(logs, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const shopLines = await eventually(() => {
      const l = read('shop.log');
      return l.some((x) => x.request_id === id) ? l : undefined;
    }, 5000, 100);
    const line = shopLines.find((x) => x.request_id === id)!;
    figure('access log line', line);
    expect(line).toMatchObject({ direction: 'outbound', method: 'GET', authority: 'catalog', path: '/status/500', status: 500, route: 'default', cluster: 'outbound|8080||catalog.default', attempts: 1, weft_error: '' });
    expect(typeof line.time).toBe('string');
    expect(line.duration_ms).toBeGreaterThan(0);
    expect(String(line.upstream_host)).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(line.bytes_sent).toBeGreaterThan(0);
    // shop logs every request it handled; catalog (sampling 0) only the failures: the 13 503s of the
    // metrics test and this 500, none of its hundreds of successes.
    const catLines = await eventually(() => {
      const l = read('catalog.log');
      return l.some((x) => x.request_id === id) ? l : undefined;
    }, 5000, 100);
    expect(catLines.every((x) => Number(x.status) >= 500)).toBe(true);
    expect(catLines).toHaveLength(14);
    expect(catLines.find((x) => x.request_id === id)).toMatchObject({ direction: 'inbound', status: 500, peer: 'spiffe://cluster.local/ns/default/sa/shop' });
    const m = parseProm(await (await fetch(`${catalog.sidecar.admin}/stats/prometheus`)).text());
    expect(sum(m, 'weft_access_log_lines_total', { result: 'written' })).toBe(14);
    expect(sum(m, 'weft_access_log_lines_total', { result: 'sampled_out' })).toBeGreaterThan(300);
  });
});

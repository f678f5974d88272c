// Tracing across a sidecar hop with real processes: an app's request (with a W3C traceparent)
// goes web's sidecar -> orders' sidecar (mTLS) -> orders app. web's sidecar records a CLIENT span
// per attempt (a retried attempt shows as its own span), orders' sidecar a SERVER span whose
// context reaches the app; both export to the control plane's embedded receiver.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, figure, startControlPlane, startInstance, startSidecar, tempDir, waitForHosts, weft, type ControlPlaneProc, type Instance, type SidecarProc } from '../harness/processes.js';
import type { StoredSpan } from '../../control-plane/telemetry/trace-store.js';

/** A span as `weft trace show -o json` prints it. */
type Span = StoredSpan;

function get(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, headers }, (r) => {
      let body = '';
      r.on('data', (c: Buffer) => (body += c.toString()));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe('tracing across a sidecar hop', () => {
  let cp: ControlPlaneProc;
  let orders: Instance;
  let web: SidecarProc;

  beforeAll(async () => {
    cp = await startControlPlane();
    const f = join(tempDir(), 'mesh.yaml');
    writeFileSync(f, [
      ...['orders', 'web'].map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: http }]\n`),
      'apiVersion: weft.dev/v1alpha1\nkind: TrafficPolicy\nmetadata: { name: orders }\nspec:\n  targetRef: { kind: Service, name: orders }\n  retry: { attempts: 3, retryOn: [5xx], backoff: { baseInterval: 5ms } }\n',
    ].join('---\n'));
    expect((await weft(['apply', '-f', f], { cp })).code).toBe(0);
    orders = await startInstance(cp.xdsPort, 'http', 'orders', 'orders-1');
    web = await startSidecar(cp.xdsPort, { service: 'web', appPort: 1 });
    await waitForHosts(web, 'outbound|8080||orders.default', 1);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([web?.kill('SIGKILL'), orders?.kill()]);
    await cp?.kill();
  });

  async function traceOf(traceId: string, minSpans: number): Promise<Span[]> {
    return eventually(async () => {
      const r = await weft(['trace', 'show', traceId, '-o', 'json'], { cp });
      if (r.code !== 0) return undefined;
      const spans = (JSON.parse(r.stdout) as { spans: Span[] }).spans;
      return spans.length >= minSpans ? spans : undefined;
    }, 15_000, 300);
  }

  it('records a CLIENT span per attempt and a SERVER span per inbound request, parent links intact', async () => {
    const traceId = randomBytes(16).toString('hex');
    const appSpan = randomBytes(8).toString('hex');
    const r = await get(web.outboundPort, `/flaky?key=${traceId}&fail=1`, { host: 'orders', traceparent: `00-${traceId}-${appSpan}-01` });
    // On failure: the answer's body (the app's or the sidecar's error) and web's view of orders.
    if (r.status !== 200) r.body += ` | web clusters: ${JSON.stringify(((await (await fetch(`${web.admin}/clusters`)).json()) as Array<{ name: string }>).find((c) => c.name === 'outbound|8080||orders.default'))}`;
    expect(r.status, r.body.slice(0, 1500)).toBe(200);
    // Four spans from two sidecars, exported in their own batches: wait for all of them.
    const spans = await traceOf(traceId, 4);
    const clients = spans.filter((s) => s.kind === 'client');
    const servers = spans.filter((s) => s.kind === 'server');
    figure('traced request with one retry', { spans: spans.map((s) => `${s.service} ${s.kind} ${s.name} attempt=${s.attributes['weft.attempt'] ?? '-'} status=${s.attributes['http.response.status_code']} ${s.status}`) });
    // Two attempts (503, then 200), both children of the app's span.
    expect(clients.map((s) => s.attributes['weft.attempt'])).toEqual([1, 2]);
    expect(clients.map((s) => s.attributes['http.response.status_code'])).toEqual([503, 200]);
    expect(clients.map((s) => s.status)).toEqual(['ERROR', 'UNSET']);
    for (const c of clients) {
      expect(c.parentSpanId).toBe(appSpan);
      expect(c.service).toBe('web');
      expect(c.attributes['weft.cluster']).toBe('outbound|8080||orders.default');
    }
    // orders' sidecar: one SERVER span per attempt it received, each the child of that attempt.
    expect(servers).toHaveLength(2);
    for (const sv of servers) {
      expect(sv.service).toBe('orders');
      expect(clients.map((c) => c.spanId)).toContain(sv.parentSpanId);
      expect(sv.attributes['weft.peer.principal']).toBe('spiffe://cluster.local/ns/default/sa/web');
    }
    // The app got the SERVER span's context.
    const body = JSON.parse(r.body) as { headers?: { traceparent?: string } };
    void body;
    const ok = servers.find((s) => s.attributes['http.response.status_code'] === 200)!;
    expect(ok.parentSpanId).toBe(clients[1]!.spanId);
  });

  it('passes the server span context to the app, and honours an unsampled parent', async () => {
    const traceId = randomBytes(16).toString('hex');
    const r = await get(web.outboundPort, '/', { host: 'orders', traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` });
    const seen = (JSON.parse(r.body) as { headers: { traceparent?: string } }).headers.traceparent;
    expect(seen).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    const spans = await traceOf(traceId, 2);
    const server = spans.find((s) => s.kind === 'server')!;
    expect(seen!.split('-')[2]).toBe(server.spanId);
    // Not sampled upstream: nothing is recorded, the decision travels on.
    const quiet = randomBytes(16).toString('hex');
    const q = await get(web.outboundPort, '/', { host: 'orders', traceparent: `00-${quiet}-${randomBytes(8).toString('hex')}-00` });
    expect((JSON.parse(q.body) as { headers: { traceparent?: string } }).headers.traceparent).toMatch(new RegExp(`^00-${quiet}-[0-9a-f]{16}-00$`));
    // Absence decided by a later event: a sampled request sent after it, through the same two
    // sidecars and exporters, is stored with spans from both; the unsampled one left nothing.
    const marker = randomBytes(16).toString('hex');
    expect((await get(web.outboundPort, '/', { host: 'orders', traceparent: `00-${marker}-${randomBytes(8).toString('hex')}-01` })).status).toBe(200);
    await eventually(async () => {
      const head = (await weft(['trace', 'show', marker], { cp })).stdout.split('\n')[0] ?? '';
      return /services: .*orders/.test(head) && /services: .*web/.test(head);
    }, 15_000, 200);
    expect((await weft(['trace', 'show', quiet], { cp })).code).not.toBe(0);
    // The exporter counts what it sent: at least the spans of the traces above.
    const stats = await (await fetch(`${web.admin}/stats/prometheus`)).text();
    expect(Number(/^weft_tracing_spans_exported_total (\d+)$/m.exec(stats)?.[1])).toBeGreaterThanOrEqual(3);
  });
});

// The control plane's embedded OTLP/HTTP receiver with a real OpenTelemetry SDK exporter on the
// other end (test/harness/otel-app.mjs), then `weft trace list|show` through the real CLI.
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ExportTraceServiceRequestSchema, ExportTraceServiceResponseSchema } from '../../../proto/gen/opentelemetry/proto/collector/trace/v1/trace_service_pb.js';
import { ROOT, spawnNode, startControlPlane, weft, type ControlPlaneProc } from '../../harness/processes.js';
import { join } from 'node:path';

describe('embedded trace receiver and weft trace', () => {
  let cp: ControlPlaneProc;
  let traceId: string;

  beforeAll(async () => {
    cp = await startControlPlane();
    const app = spawnNode([join(ROOT, 'test/harness/otel-app.mjs')], { env: { OTLP_URL: `http://127.0.0.1:${cp.otlpPort}/v1/traces` } });
    traceId = (await app.waitLine(/^trace ([0-9a-f]{32})$/))[1]!;
    await app.kill();
  });
  afterAll(async () => {
    await cp?.kill();
  });

  it('lists the trace an OpenTelemetry SDK exported, with filters', async () => {
    const list = JSON.parse((await weft(['trace', 'list', '-o', 'json'], { cp })).stdout) as Array<{ traceId: string; spans: number; services: string[]; errors: number; service: string; name: string; durationMs: number }>;
    const t = list.find((x) => x.traceId === traceId)!;
    expect(t).toMatchObject({ spans: 4, services: ['frontend', 'orders'], errors: 2, service: 'frontend', name: 'GET /checkout' });
    expect(t.durationMs).toBeGreaterThan(15);
    const ids = async (...a: string[]) => (JSON.parse((await weft(['trace', 'list', '-o', 'json', ...a], { cp })).stdout) as Array<{ traceId: string }>).map((x) => x.traceId);
    expect(await ids('--service', 'orders')).toContain(traceId);
    expect(await ids('--service', 'payments')).toEqual([]);
    expect(await ids('--errors')).toContain(traceId);
    expect(await ids('--min-duration', '1h')).toEqual([]);
    const table = (await weft(['trace', 'list'], { cp })).stdout;
    expect(table).toMatch(new RegExp(`${traceId} .* frontend,orders +frontend: GET /checkout`));
  });

  it('shows it as a waterfall with parents and children in place', async () => {
    const r = await weft(['trace', 'show', traceId], { cp });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    process.stdout.write(`${r.stdout}\n`);
    const at = (name: string) => lines.findIndex((l) => l.includes(name));
    expect(lines[0]).toMatch(new RegExp(`^trace ${traceId} .* 4 spans +2 errors +services: frontend, orders`));
    expect(at('GET /checkout (server)')).toBeLessThan(at('  GET orders (client)'));
    expect(at('  GET orders (client)')).toBeLessThan(at('    GET /orders/7 (server)'));
    expect(lines[at('      load order')]).toMatch(/^orders .*ERROR order 7 not found/);
    expect(r.stdout).toContain('█');
  });

  it('answers bad input with a 4xx and keeps what it has; a span without ids is counted as rejected', async () => {
    const spans = async (result: string) => {
      const text = await (await fetch(`${cp.adminUrl}/metrics`)).text();
      const m = new RegExp(`^weft_trace_spans_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const url = `http://127.0.0.1:${cp.otlpPort}/v1/traces`;
    const junk = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([0xff, 0xff, 0xff, 0xff]) });
    expect(junk.status).toBe(400);
    expect(await junk.text()).toMatch(/not an OTLP ExportTraceServiceRequest/);
    // resource_spans = ResourceSpans { schema_url = "x" } with its length 2 where it takes 3.
    const short = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Buffer.from([0x0a, 0x02, 0x1a, 0x01, 0x78]) });
    expect(short.status).toBe(400);
    expect(await short.text()).toMatch(/runs past the end of its length/);
    const json = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(415);
    expect((await fetch(url)).status).toBe(405);
    expect((await fetch(`http://127.0.0.1:${cp.otlpPort}/v1/metrics`, { method: 'POST' })).status).toBe(404);
    // A gzip body is accepted; a span without valid ids is counted as rejected.
    const req = create(ExportTraceServiceRequestSchema, { resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'bad', traceId: new Uint8Array(3), spanId: new Uint8Array(8) }] }] }] });
    const rejectedBefore = await spans('rejected');
    const gz = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' }, body: gzipSync(toBinary(ExportTraceServiceRequestSchema, req)) });
    expect(gz.status).toBe(200);
    // Counted as rejected: the OTLP partial-success answer says so, and so does /metrics.
    const answer = fromBinary(ExportTraceServiceResponseSchema, new Uint8Array(await gz.arrayBuffer()));
    expect(answer.partialSuccess?.rejectedSpans).toBe(1n);
    expect(answer.partialSuccess?.errorMessage).toMatch(/16-byte trace_id/);
    expect(await spans('rejected')).toBe(rejectedBefore + 1);
    const show = await weft(['trace', 'show', traceId], { cp });
    expect(show.code).toBe(0);
    const missing = await weft(['trace', 'show', '0'.repeat(32)], { cp });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/no trace 0{32}/);
  });
});

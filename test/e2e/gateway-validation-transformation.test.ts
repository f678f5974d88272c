// ValidationPolicy and TransformationPolicy through real processes and real clients: a control
// plane, `weft gateway` for Gateway edge configured with `weft apply`, and an upstream app (an
// HTTP server that speaks JSON on /api and XML on /legacy). curl and undici see 400
// VALIDATION_FAILED with every violation, 415, 413 at the bound; a valid request reaches the app
// with its body intact; the transformation edits headers and query, sends XML to the legacy app
// and gives the client JSON back with the right content-length.
import { execFile } from 'node:child_process';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, freePort, startControlPlane, startGateway, weftApply, type ControlPlaneProc, type GatewayProc } from '../harness/processes.js';
import { edgeGateway, PLAINTEXT_MESH, service, upstream, type Upstream } from '../harness/sidecar.js';

const run = promisify(execFile);

const config = (gwPort: number, upstreamPort: number) => `${PLAINTEXT_MESH}---
${service('orders', [upstreamPort])}---
${edgeGateway([{ name: 'web', port: gwPort }], `
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ValidationPolicy, name: items } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /legacy } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: TransformationPolicy, name: legacy } }]
      backendRefs: [{ name: orders, port: 8080 }]`)}---
apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: items }
spec:
  maxBodyBytes: 128
  openapi:
    openapi: 3.1.0
    info: { title: items, version: "1" }
    paths:
      /api/items:
        get:
          parameters: [{ name: limit, in: query, schema: { type: integer, maximum: 100 } }]
        post:
          requestBody:
            required: true
            content: { application/json: { schema: { $ref: "#/components/schemas/Item" } } }
    components:
      schemas:
        Item: { type: object, required: [sku, qty], properties: { sku: { type: string }, qty: { type: integer, minimum: 1 } } }
---
apiVersion: weft.dev/v1alpha1
kind: TransformationPolicy
metadata: { name: legacy }
spec:
  request:
    headers: { set: [{ name: x-api-version, value: "2" }], remove: [x-debug] }
    queryParams: { rename: [{ from: q, to: query }] }
    body: [{ pointer: /channel, value: web }, { pointer: /internal, remove: true }]
    jsonToXml: { rootElement: invoice }
  response:
    headers: { remove: [x-powered-by] }
    xmlToJson: true
`;

async function curl(port: number, path: string, args: string[]): Promise<{ status: number; body: string; headers: Record<string, string> }> {
  const r = await run('curl', ['-sS', '--max-time', '10', '-D', '-', ...args, `http://127.0.0.1:${port}${path}`], { maxBuffer: 1 << 20 });
  const end = r.stdout.indexOf('\r\n\r\n');
  const lines = r.stdout.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(lines[0]!.split(' ')[1]), body: r.stdout.slice(end + 4), headers };
}

describe('weft gateway: request validation and transformation with real clients', () => {
  let cp: ControlPlaneProc;
  let gw: GatewayProc;
  let up: Upstream;
  let port: number;

  beforeAll(async () => {
    up = await upstream((q, s, body) => {
      if (q.url?.startsWith('/legacy')) {
        s.setHeader('content-type', 'application/xml');
        s.setHeader('x-powered-by', 'cobol');
        s.end(`<?xml version="1.0"?><result status="ok"><id>42</id><echo>${body.length}</echo></result>`);
        return;
      }
      s.setHeader('content-type', 'application/json');
      s.end(JSON.stringify({ got: body }));
    });
    cp = await startControlPlane();
    port = await freePort();
    const r = await weftApply(cp, config(port, up.port), 'api.yaml');
    expect(r.code, r.stderr).toBe(0);
    gw = await startGateway(cp.xdsPort, 'default/edge');
    await eventually(async () => {
      const x = await request(`http://127.0.0.1:${port}/api/items?limit=1`).catch(() => undefined);
      if (!x) return undefined;
      await x.body.text();
      return x.statusCode === 200 ? true : undefined;
    }, 20_000, 100);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([gw?.kill(), cp?.kill(), up?.close()]);
  });

  it('curl: every violation listed with its location and pointer; a valid body reaches the app intact', async () => {
    const bad = await curl(port, '/api/items', ['-H', 'content-type: application/json', '--data', '{"qty":0}']);
    expect([bad.status, bad.headers['x-weft-error'], bad.headers['content-type']]).toEqual([400, 'VALIDATION_FAILED', 'application/json']);
    expect(JSON.parse(bad.body)).toEqual({
      error: 'VALIDATION_FAILED',
      message: 'the request is not valid (2 violations)',
      violations: [
        { in: 'body', pointer: '/sku', keyword: 'required', message: "must have required property 'sku'" },
        { in: 'body', pointer: '/qty', keyword: 'minimum', message: 'must be >= 1' },
      ],
    });
    const query = await curl(port, '/api/items?limit=1000', []);
    expect(JSON.parse(query.body).violations).toEqual([{ in: 'query', name: 'limit', pointer: '', keyword: 'maximum', message: 'must be <= 100' }]);
    const ok = await curl(port, '/api/items', ['-H', 'content-type: application/json', '--data', '{"sku":"a","qty":2}']);
    expect([ok.status, JSON.parse(ok.body)]).toEqual([200, { got: '{"sku":"a","qty":2}' }]);
    const text = await curl(port, '/api/items', ['-H', 'content-type: text/plain', '--data', 'x']);
    expect([text.status, text.headers['x-weft-error']]).toEqual([415, 'VALIDATION_FAILED']);
    const unknown = await curl(port, '/api/nothing', []);
    expect([unknown.status, JSON.parse(unknown.body).violations[0].keyword]).toEqual([400, 'operation']);
  });

  it('undici: 413 past the bound (declared and streamed), 400 for JSON that does not parse', async () => {
    const big = `{"sku":"${'x'.repeat(200)}","qty":1}`;
    const declared = await request(`http://127.0.0.1:${port}/api/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
    await declared.body.text();
    expect([declared.statusCode, declared.headers['x-weft-error']]).toEqual([413, 'REQUEST_TOO_LARGE']);
    async function* chunks() {
      for (let i = 0; i < big.length; i += 32) yield Buffer.from(big.slice(i, i + 32));
    }
    const streamed = await request(`http://127.0.0.1:${port}/api/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from(chunks()) });
    await streamed.body.text();
    expect([streamed.statusCode, streamed.headers['x-weft-error']]).toEqual([413, 'REQUEST_TOO_LARGE']);
    const broken = await request(`http://127.0.0.1:${port}/api/items`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sku":' });
    const b = (await broken.body.json()) as { violations: Array<{ keyword: string }> };
    expect([broken.statusCode, b.violations[0]!.keyword]).toEqual([400, 'json']);
  });

  it('transformation: JSON to XML upstream, XML to JSON back, headers and query edited', async () => {
    const before = up.seen.length;
    const r = await request(`http://127.0.0.1:${port}/legacy/invoices?q=abc`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-debug': '1' }, body: '{"amount":5,"internal":"secret"}' });
    const text = await r.body.text();
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['content-length']).toBe(String(Buffer.byteLength(text)));
    expect(r.headers['x-powered-by']).toBeUndefined();
    const xml = '<?xml version="1.0" encoding="UTF-8"?><invoice><amount>5</amount><channel>web</channel></invoice>';
    expect(JSON.parse(text)).toEqual({ result: { '@status': 'ok', id: '42', echo: String(xml.length) } });
    const seen = up.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect([seen[0]!.url, seen[0]!.headers['content-type'], seen[0]!.headers['x-api-version'], seen[0]!.headers['x-debug'], seen[0]!.body]).toEqual(['/legacy/invoices?query=abc', 'application/xml', '2', undefined, xml]);
    const malformed = await curl(port, '/legacy/x', ['-H', 'content-type: application/json', '--data', '{oops']);
    expect([malformed.status, malformed.headers['x-weft-error']]).toEqual([400, 'TRANSFORM_FAILED']);
  });
});

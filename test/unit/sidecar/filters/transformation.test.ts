// The transformation filter (weft.filters.http.transformation, TransformationPolicy), in process,
// through the real translation: header and query edits both ways, JSON body field mapping by
// pointer (rename, remove, constant, header, JWT claim, consumer), JSON -> XML to the upstream and
// XML -> JSON back with content-type and content-length fixed, the body bound (413 / 502),
// malformed JSON and XML (400 / 502), streams untouched without body rules, and fuzzed bodies.
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';
import { transformation } from '../../../../sidecar/http/filters/transformation.js';
import { EXTENSIONS, packExtension } from '../../../../common/extensions.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';
import { RequestInfo, type RequestHead, type ResponseHeaders, type ResponseSink } from '../../../../sidecar/http/filter.js';
import { Readable } from 'node:stream';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: app }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /json } }]
    backendRefs: [{ name: app, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /legacy } }]
    filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: TransformationPolicy, name: legacy } }]
    backendRefs: [{ name: app, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: TransformationPolicy
metadata: { name: edge }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  maxBodyBytes: 200
  request:
    headers: { add: [{ name: x-added, value: "1" }], set: [{ name: x-env, value: prod }], remove: [x-secret] }
    queryParams: { rename: [{ from: q, to: query }], remove: [debug], set: [{ name: v, value: "2" }], add: [{ name: tag, value: b }] }
    body:
    - { pointer: /user/name, rename: /userName }
    - { pointer: /password, remove: true }
    - { pointer: /source, value: { via: gateway } }
    - { pointer: /tenant, fromHeader: x-tenant }
    - { pointer: /consumer, fromConsumer: true }
  response:
    headers: { set: [{ name: x-powered-by, value: weft }], remove: [server] }
    body:
    - { pointer: /internal, remove: true }
---
apiVersion: weft.dev/v1alpha1
kind: TransformationPolicy
metadata: { name: legacy }
spec:
  maxBodyBytes: 200
  request:
    jsonToXml: { rootElement: order }
  response:
    xmlToJson: true
`;

describe('the transformation filter on a gateway', () => {
  let app: Upstream;
  let gw: InProcessGateway;
  let reply: { type: string; body: string; encoding?: string } = { type: 'application/json', body: '{"ok":true,"internal":"x"}' };
  beforeAll(async () => {
    app = await upstream((_q, s) => {
      s.setHeader('content-type', reply.type);
      s.setHeader('server', 'legacy/1.0');
      if (reply.encoding) s.setHeader('content-encoding', reply.encoding);
      s.end(reply.body);
    });
    gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('app', [app.port])], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await app?.close();
  });

  it('edits headers, query and JSON body fields on the way up, and the response on the way back', async () => {
    reply = { type: 'application/json', body: '{"ok":true,"internal":"x"}' };
    const r = await send(gw.port(), '/json?q=cats&debug=1&v=1', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json', 'x-secret': 's', 'x-env': 'dev', 'x-added': '0', 'x-tenant': 'acme', 'accept-encoding': 'gzip' }, body: '{"user":{"name":"ann"},"password":"p","keep":1}' });
    const seen = app.seen.at(-1)!;
    expect(seen.url).toBe('/json?v=2&query=cats&tag=b');
    expect(seen.headers['x-secret']).toBeUndefined();
    expect(seen.headers['x-env']).toBe('prod');
    expect(seen.headers['x-added']).toBe('0, 1');
    // A response body rule: the upstream is asked for an identity body.
    expect(seen.headers['accept-encoding']).toBeUndefined();
    expect(JSON.parse(seen.body)).toEqual({ user: {}, userName: 'ann', keep: 1, source: { via: 'gateway' }, tenant: 'acme' });
    expect(seen.headers['content-length']).toBe(String(Buffer.byteLength(seen.body)));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ ok: true });
    expect(r.headers['content-length']).toBe(String(r.raw.length));
    expect(r.headers['x-powered-by']).toBe('weft');
    expect(r.headers.server).toBeUndefined();
  });

  it('leaves a body that is not JSON alone, and a response that is not JSON streams through', async () => {
    reply = { type: 'text/plain', body: 'plain' };
    // Larger than the bound: not buffered, so not refused.
    const big = `password=${'p'.repeat(1000)}`;
    const r = await send(gw.port(), '/json', { host: 'app', method: 'POST', headers: { 'content-type': 'text/plain' }, body: big });
    expect(app.seen.at(-1)!.body).toBe(big);
    expect([r.status, r.body, r.headers['x-powered-by']]).toEqual([200, 'plain', 'weft']);
  });

  it('malformed JSON: 400 for a request, 502 for a response', async () => {
    const req = await send(gw.port(), '/json', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' });
    expect([req.status, req.headers['x-weft-error']]).toEqual([400, 'TRANSFORM_FAILED']);
    reply = { type: 'application/json', body: '{"a":' };
    const res = await send(gw.port(), '/json', { host: 'app' });
    expect([res.status, res.headers['x-weft-error']]).toEqual([502, 'TRANSFORM_FAILED']);
    reply = { type: 'application/json', body: '{"a":1}', encoding: 'gzip' };
    const enc = await send(gw.port(), '/json', { host: 'app' });
    expect([enc.status, enc.headers['x-weft-error']]).toEqual([502, 'TRANSFORM_FAILED']);
  });

  it('bounds buffered bodies: 413 for a request, 502 for a response, at the exact bound', async () => {
    const at = (n: number) => `{"k":"${'x'.repeat(n - 8)}"}`;
    expect(at(200).length).toBe(200);
    reply = { type: 'application/json', body: '{}' };
    expect((await send(gw.port(), '/json', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json' }, body: at(200) })).status).toBe(200);
    const big = await send(gw.port(), '/json', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json' }, body: at(201) });
    expect([big.status, big.headers['x-weft-error']]).toEqual([413, 'REQUEST_TOO_LARGE']);
    reply = { type: 'application/json', body: at(200) };
    expect((await send(gw.port(), '/json', { host: 'app' })).status).toBe(200);
    reply = { type: 'application/json', body: at(201) };
    const bigRes = await send(gw.port(), '/json', { host: 'app' });
    expect([bigRes.status, bigRes.headers['x-weft-error']]).toEqual([502, 'TRANSFORM_FAILED']);
  });

  it('JSON -> XML to the upstream, XML -> JSON to the client (a rule\'s own policy)', async () => {
    reply = { type: 'application/xml; charset=utf-8', body: '<?xml version="1.0"?><result status="ok"><item>a</item><item>b</item><note>x &amp; y</note></result>' };
    const r = await send(gw.port(), '/legacy', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sku":"a<b","lines":[{"qty":1},{"qty":2}],"@id":"7"}' });
    const seen = app.seen.at(-1)!;
    expect(seen.headers['content-type']).toBe('application/xml');
    expect(seen.body).toBe('<?xml version="1.0" encoding="UTF-8"?><order id="7"><sku>a&lt;b</sku><lines><qty>1</qty></lines><lines><qty>2</qty></lines></order>');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['content-length']).toBe(String(r.raw.length));
    expect(JSON.parse(r.body)).toEqual({ result: { '@status': 'ok', item: ['a', 'b'], note: 'x & y' } });
    reply = { type: 'text/xml', body: '<a><b></a>' };
    const bad = await send(gw.port(), '/legacy', { host: 'app' });
    expect([bad.status, bad.headers['x-weft-error']]).toEqual([502, 'TRANSFORM_FAILED']);
    const notObject = await send(gw.port(), '/legacy', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1,2]' });
    expect([notObject.status, notObject.headers['x-weft-error']]).toEqual([400, 'TRANSFORM_FAILED']);
  });

  it('no request body crashes or hangs the conversion (fuzzed)', async () => {
    reply = { type: 'application/xml', body: '<r/>' };
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.uint8Array({ maxLength: 150 }).map((b) => Buffer.from(b).toString('latin1'))), async (body) => {
        const r = await send(gw.port(), '/legacy', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(body, 'latin1') });
        expect([200, 400, 413]).toContain(r.status);
      }),
      { numRuns: 150, interruptAfterTimeLimit: 20_000 },
    );
  }, 30_000);
});

/** The filter alone, with a fake sink: XML responses fuzzed, and a JWT claim mapped. */
describe('the transformation filter alone', () => {
  const p = new Problems('test');
  const cfg = transformation.parse(packExtension(EXTENSIONS.transformation, { name: 't', requestBody: [{ pointer: '/sub', action: { case: 'fromJwtClaim', value: '/sub' } }, { pointer: '/plan', action: { case: 'fromJwtClaim', value: '/org/plan' } }], responseXmlToJson: true }), p, 'f')!;
  expect(p.errors).toEqual([]);

  function head(body: string): RequestHead {
    return { h2: false, grpc: false, method: 'POST', authority: 'a', path: '/', search: '', upgrade: undefined, remoteAddress: '127.0.0.1', principal: undefined, secure: false, hasBody: true, body: Readable.from([Buffer.from(body)]), header: (n) => ({ 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })[n], rawPairs: () => ['content-type', 'application/json'] } as RequestHead;
  }
  function sink(): ResponseSink & { out: { status: number; headers: ResponseHeaders; body: string } } {
    const out = { status: 0, headers: {} as ResponseHeaders, body: '' };
    let sent = false;
    return {
      out,
      get headersSent() {
        return sent;
      },
      writeHead(s, h) {
        sent = true;
        out.status = s;
        out.headers = h;
      },
      write(c) {
        out.body += c.toString();
        return true;
      },
      onceDrain: (fn) => fn(),
      end() {},
      respondTrailersOnly() {},
      respondSimple(s, h, b) {
        sent = true;
        out.status = s;
        out.headers = h;
        out.body = b;
      },
      abort() {},
      onClientGone() {},
      closeAfterResponse() {},
    };
  }

  it.each([
    ['a framing header', { name: 'x', requestHeaders: { set: [{ name: 'content-length', value: '1' }] } }, 'f.request_headers.set[0].name'],
    ['a bad pointer', { name: 'x', requestBody: [{ pointer: 'a', action: { case: 'remove' as const, value: true } }] }, 'f.request_body[0].pointer'],
    ['a constant that is not JSON', { name: 'x', responseBody: [{ pointer: '/a', action: { case: 'valueJson' as const, value: '{' } }] }, 'f.response_body[0].value_json'],
    ['a request header in a response', { name: 'x', responseBody: [{ pointer: '/a', action: { case: 'fromHeader' as const, value: 'x-a' } }] }, 'f.response_body[0].from_header'],
    ['no action', { name: 'x', requestBody: [{ pointer: '/a' }] }, 'f.request_body[0]'],
    ['a bad root element', { name: 'x', requestJsonToXmlRoot: '1a' }, 'f.request_json_to_xml_root'],
    ['no name', { responseXmlToJson: true }, 'f.name'],
  ])('the proxy refuses (NACKs) %s with its field path', (_w, init, path) => {
    const q = new Problems('listener');
    expect(transformation.parse(packExtension(EXTENSIONS.transformation, init), q, 'f')).toBeUndefined();
    expect(q.errors.map((e) => e.path)).toEqual([path]);
  });

  it('maps JWT claims into the body', async () => {
    const info = new RequestInfo();
    info.jwt = { provider: 'p', issuer: 'i', subject: 'u1', payload: { sub: 'u1', org: { plan: 'gold' } } };
    const got = await new Promise<string>((resolve) => {
      const f = transformation.create(cfg, undefined, { listener: 'l' })!((req) => {
        const chunks: Buffer[] = [];
        req.body.on('data', (c: Buffer) => chunks.push(c));
        req.body.on('end', () => resolve(Buffer.concat(chunks).toString()));
      });
      f(head('{"a":1}'), sink(), info);
    });
    expect(JSON.parse(got)).toEqual({ a: 1, sub: 'u1', plan: 'gold' });
  });

  it('no upstream XML crashes the conversion (fuzzed): 200 JSON or 502', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `<a x="${s}">${s}</a>`), fc.string().map((s) => `<!DOCTYPE a [<!ENTITY e "${s}">]><a>&e;&e;</a>`)), (xml) => {
        const s = sink();
        const h = transformation.create(cfg, undefined, { listener: 'l' })!((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/xml' }, false);
          res.write(Buffer.from(xml));
          res.end(undefined);
        });
        h({ ...head(''), hasBody: false } as RequestHead, s, new RequestInfo());
        expect([200, 502]).toContain(s.out.status);
        if (s.out.status === 200) JSON.parse(s.out.body);
      }),
      { numRuns: 300 },
    );
  });
});

void http;

describe('the transformation filter on sidecars', () => {
  let app: Upstream;
  let orders: InProcessSidecar;
  let web: InProcessSidecar;
  beforeAll(async () => {
    app = await upstream((_q, s) => {
      s.setHeader('server', 'app/1');
      s.setHeader('content-type', 'application/json');
      s.end('{"secret":1,"ok":true}');
    });
    const policies = `apiVersion: weft.dev/v1alpha1
kind: TransformationPolicy
metadata: { name: orders-in }
spec:
  targetRefs: [{ group: weft.dev, kind: Service, name: orders }]
  response: { headers: { remove: [server] }, body: [{ pointer: /secret, remove: true }] }
---
apiVersion: weft.dev/v1alpha1
kind: TransformationPolicy
metadata: { name: mesh-route }
spec:
  request: { headers: { set: [{ name: x-from, value: mesh-route }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-mesh }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /tagged } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: TransformationPolicy, name: mesh-route } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
`;
    const mesh = [PLAINTEXT_MESH, service('orders', [app.port]), service('web', []), policies];
    orders = await inProcessSidecar(mesh, { service: 'orders', appPort: app.port });
    web = await inProcessSidecar(mesh, { service: 'web', appPort: 1 });
  }, 30_000);
  afterAll(async () => {
    await orders?.close();
    await web?.close();
    await app?.close();
  });

  it('a policy targeting the Service runs on its sidecars\' inbound listener', async () => {
    const r = await send(orders.inbound, '/x');
    expect([r.status, r.headers.server, JSON.parse(r.body)]).toEqual([200, undefined, { ok: true }]);
  });

  it('a mesh route rule naming a policy runs on the caller\'s outbound listener', async () => {
    await send(web.outbound, '/tagged/1', { host: 'orders' });
    expect(app.seen.at(-1)!.headers['x-from']).toBe('mesh-route');
    await send(web.outbound, '/plain', { host: 'orders' });
    expect(app.seen.at(-1)!.headers['x-from']).toBeUndefined();
  });
});

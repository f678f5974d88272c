// The validation filter (weft.filters.http.validation, ValidationPolicy), in process, through the
// real translation: every violation kind with its location and pointer, all listed at once; 415
// for a body that is not JSON, 400 for one that does not parse, 413 past the bound (declared and
// chunked); unknown operations refused or passed; response audit that only counts; the policy on
// a Service's inbound listener; and a fuzzed body that never crashes or hangs the filter.
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessGateway, inProcessSidecar, PLAINTEXT_MESH, send, service, upstream, type InProcessGateway, type InProcessSidecar, type Upstream } from '../../../harness/sidecar.js';
import { validation, validationCounters } from '../../../../sidecar/http/filters/validation.js';
import { EXTENSIONS, packExtension } from '../../../../common/extensions.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';

const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'pets', version: '1' },
  paths: {
    '/pets': {
      get: { parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', maximum: 100 } }, { name: 'x-tenant', in: 'header', required: true, schema: { type: 'string', pattern: '^[a-z]+$' } }], responses: { '200': { description: 'ok', content: { 'application/json': { schema: { type: 'array', items: { $ref: '#/components/schemas/Pet' } } } } } } },
      post: { requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } } }, responses: { '201': { description: 'made' } } },
    },
    '/pets/{id}': { get: { parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }], responses: { default: { description: 'x' } } } },
    '/pets/mine': { get: { responses: { '200': { description: 'mine' } } } },
  },
  components: { schemas: { Pet: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1 }, email: { type: 'string', format: 'email' }, age: { type: 'integer' } } } } },
};

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
  - matches: [{ path: { type: PathPrefix, value: /pets } }]
    backendRefs: [{ name: app, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /orders } }]
    filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ValidationPolicy, name: orders } }]
    backendRefs: [{ name: app, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: pets }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]
  openapi: ${JSON.stringify(OPENAPI)}
  unknownOperations: Reject
  auditResponses: true
  maxBodyBytes: 256
---
apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: orders }
spec:
  requestBodySchema: { type: object, required: [sku, qty], properties: { sku: { type: string }, qty: { type: integer, minimum: 1 } } }
  maxBodyBytes: 64
`;

type Reply = { status: number; code: string | undefined; body: unknown };

async function call(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  const r = await send(port, path, { host: 'app', ...o });
  let body: unknown = r.body;
  try {
    body = JSON.parse(r.body);
  } catch {
    // not JSON
  }
  return { status: r.status, code: r.headers['x-weft-error'] as string | undefined, body };
}

function chunked(port: number, path: string, body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { host: 'app', 'content-type': 'application/json', 'transfer-encoding': 'chunked' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: res.headers['x-weft-error'] as string | undefined, body: undefined }));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 16) req.write(body.slice(i, i + 16));
    req.end();
  });
}

describe('the validation filter on a gateway', () => {
  let app: Upstream;
  let gw: InProcessGateway;
  let answer = '[{"name":"rex"}]';
  beforeAll(async () => {
    app = await upstream((_q, s, body) => {
      s.setHeader('content-type', 'application/json');
      s.end(_q.url === '/pets?limit=1' ? answer : JSON.stringify({ got: body }));
    });
    gw = await inProcessGateway([PLAINTEXT_MESH, GATEWAY, service('app', [app.port])], 'default/edge');
  });
  afterAll(async () => {
    await gw?.close();
    await app?.close();
  });

  it('passes a valid request with its body untouched', async () => {
    const r = await call(gw.port(), '/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"rex","age":3}' });
    expect(r).toEqual({ status: 200, code: undefined, body: { got: '{"name":"rex","age":3}' } });
    expect((await call(gw.port(), '/pets/7')).status).toBe(200);
    expect((await call(gw.port(), '/pets/mine')).status).toBe(200);
  });

  it('lists every violation of body, query, path and header with location and pointer', async () => {
    const body = await call(gw.port(), '/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"age":"x","email":"nope","extra":1}' });
    expect(body.status).toBe(400);
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.body).toMatchObject({ error: 'VALIDATION_FAILED', message: 'the request is not valid (4 violations)' });
    expect((body.body as { violations: unknown[] }).violations).toEqual([
      { in: 'body', pointer: '/name', keyword: 'required', message: "must have required property 'name'" },
      { in: 'body', pointer: '', keyword: 'additionalProperties', message: 'must NOT have additional properties' },
      { in: 'body', pointer: '/email', keyword: 'format', message: 'must match format "email"' },
      { in: 'body', pointer: '/age', keyword: 'type', message: 'must be integer' },
    ]);
    const params = await call(gw.port(), '/pets?limit=500', { headers: { 'x-tenant': 'ACME' } });
    expect(params.status).toBe(400);
    expect((params.body as { violations: unknown[] }).violations).toEqual([
      { in: 'query', name: 'limit', pointer: '', keyword: 'maximum', message: 'must be <= 100' },
      { in: 'header', name: 'x-tenant', pointer: '', keyword: 'pattern', message: 'must match pattern "^[a-z]+$"' },
    ]);
    const missing = await call(gw.port(), '/pets?limit=abc');
    expect((missing.body as { violations: unknown[] }).violations).toEqual([
      { in: 'query', name: 'limit', pointer: '', keyword: 'type', message: 'must be integer' },
      { in: 'header', name: 'x-tenant', pointer: '', keyword: 'required', message: "the header parameter 'x-tenant' is required" },
    ]);
    const path = await call(gw.port(), '/pets/0');
    expect((path.body as { violations: unknown[] }).violations).toEqual([{ in: 'path', name: 'id', pointer: '', keyword: 'minimum', message: 'must be >= 1' }]);
  });

  it('refuses a missing required body, a body that is not JSON (415) or does not parse (400)', async () => {
    const none = await call(gw.port(), '/pets', { method: 'POST' });
    expect(none.status).toBe(400);
    expect((none.body as { violations: unknown[] }).violations).toEqual([{ in: 'body', pointer: '', keyword: 'required', message: 'a JSON body is required' }]);
    const text = await call(gw.port(), '/pets', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'name=rex' });
    expect([text.status, text.code]).toEqual([415, 'VALIDATION_FAILED']);
    const bad = await call(gw.port(), '/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":' });
    expect([bad.status, bad.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((bad.body as { violations: Array<{ keyword: string }> }).violations[0]!.keyword).toBe('json');
  });

  it('lets gRPC calls pass (they are not HTTP/JSON requests)', async () => {
    const r = await send(gw.port(), '/pets', { host: 'app', method: 'DELETE', headers: { 'content-type': 'application/grpc' }, body: 'x' });
    expect(r.headers['x-weft-error']).toBeUndefined();
  });

  it('refuses an operation the API does not have', async () => {
    const r = await call(gw.port(), '/pets', { method: 'DELETE' });
    expect([r.status, r.code]).toEqual([400, 'VALIDATION_FAILED']);
    expect((r.body as { violations: unknown[] }).violations).toEqual([{ in: 'path', pointer: '', keyword: 'operation', message: 'no operation of the API matches DELETE /pets' }]);
  });

  it.each([
    ['declared, exactly the bound', 'declared', 256, 200],
    ['declared, one byte more', 'declared', 257, 413],
    ['chunked, exactly the bound', 'chunked', 256, 200],
    ['chunked, one byte more', 'chunked', 257, 413],
  ] as const)('a body %s', async (_w, how, size, status) => {
    const pad = 'x'.repeat(size - '{"name":""}'.length);
    const body = `{"name":"${pad}"}`;
    expect(body.length).toBe(size);
    const r = how === 'declared' ? await call(gw.port(), '/pets', { method: 'POST', headers: { 'content-type': 'application/json' }, body }) : await chunked(gw.port(), '/pets', body);
    expect(r.status).toBe(status);
    if (status === 413) expect(r.code).toBe('REQUEST_TOO_LARGE');
  });

  it('a rule names its own policy (ExtensionRef) in place of the Gateway\'s', async () => {
    const ok = await call(gw.port(), '/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sku":"a","qty":2}' });
    expect(ok.status).toBe(200);
    const bad = await call(gw.port(), '/orders', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"qty":0}' });
    expect(bad.status).toBe(400);
    expect((bad.body as { violations: unknown[] }).violations).toEqual([
      { in: 'body', pointer: '/sku', keyword: 'required', message: "must have required property 'sku'" },
      { in: 'body', pointer: '/qty', keyword: 'minimum', message: 'must be >= 1' },
    ]);
    // The rule's policy has no OpenAPI document: the path is not an unknown operation there.
    expect((await call(gw.port(), '/orders', { method: 'POST' })).status).toBe(400);
    expect((await call(gw.port(), '/orders')).status).toBe(200);
  });

  it('audits responses: counts and logs a violation, never changes the response', async () => {
    const c = () => ({ ...validationCounters().get('default/pets')! });
    const before = c();
    answer = '[{"name":"rex"}]';
    const good = await send(gw.port(), '/pets?limit=1', { host: 'app', headers: { 'x-tenant': 'acme' } });
    expect([good.status, good.body]).toEqual([200, answer]);
    answer = '[{"name":5}]';
    const bad = await send(gw.port(), '/pets?limit=1', { host: 'app', headers: { 'x-tenant': 'acme' } });
    expect([bad.status, bad.body]).toEqual([200, answer]);
    const after = c();
    expect(after.responsesAudited - before.responsesAudited).toBe(2);
    expect(after.responseViolations - before.responseViolations).toBe(1);
  });

  it('no input crashes or hangs the body parsing (fuzzed)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'))), async (body) => {
        const r = await send(gw.port(), '/pets', { host: 'app', method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(body, 'latin1') });
        expect([200, 400, 413]).toContain(r.status);
      }),
      { numRuns: 150, interruptAfterTimeLimit: 20_000 },
    );
  }, 30_000);
});

describe('the validation filter on a sidecar (a policy targeting the Service)', () => {
  let app: Upstream;
  let sc: InProcessSidecar;
  beforeAll(async () => {
    app = await upstream((_q, s) => s.end('ok'));
    const yaml = `apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: orders-in }
spec:
  targetRefs: [{ group: weft.dev, kind: Service, name: orders }]
  requestBodySchema: { type: object, required: [sku] }
`;
    sc = await inProcessSidecar([PLAINTEXT_MESH, service('orders', [app.port]), yaml], { service: 'orders', appPort: app.port });
  });
  afterAll(async () => {
    await sc?.close();
    await app?.close();
  });

  it('validates on the inbound listener', async () => {
    const ok = await send(sc.inbound, '/x', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sku":"a"}' });
    expect(ok.status).toBe(200);
    const bad = await send(sc.inbound, '/x', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect([bad.status, bad.headers['x-weft-error']]).toEqual([400, 'VALIDATION_FAILED']);
  });
});

describe('the proxy refuses (NACKs) a Validation it cannot compile, with the field path', () => {
  const errs = (init: Parameters<typeof packExtension<typeof EXTENSIONS.validation.schema>>[1]) => {
    const p = new Problems('listener');
    const cfg = validation.parse(packExtension(EXTENSIONS.validation, init), p, 'http_filters[0].typed_config');
    return { cfg, errors: p.errors.map((e) => [e.path, e.message]) };
  };
  it.each([
    ['a schema that is not JSON', { name: 'a/b', requestBodySchema: '{' }, 'http_filters[0].typed_config.request_body_schema'],
    ['an unknown keyword', { name: 'a/b', requestBodySchema: '{"typo":1}' }, 'http_filters[0].typed_config.request_body_schema'],
    ['an unresolved $ref', { name: 'a/b', openapi: JSON.stringify({ openapi: '3.1.0', paths: { '/a': { post: { requestBody: { content: { 'application/json': { schema: { $ref: '#/nope' } } } } } } } }) }, 'http_filters[0].typed_config.openapi.paths./a.post.requestBody'],
    ['no name', { requestBodySchema: '{}' }, 'http_filters[0].typed_config.name'],
    ['audit without schemas', { name: 'a/b', requestBodySchema: '{}', auditResponses: true }, 'http_filters[0].typed_config.audit_responses'],
  ] as const)('%s', (_w, init, path) => {
    const r = errs(init);
    expect(r.cfg).toBeUndefined();
    expect(r.errors.map((e) => e[0])).toEqual([path]);
  });
  it('an empty config is a no-op placeholder (routes override it)', () => {
    const r = errs({});
    expect(r.errors).toEqual([]);
    expect(validation.create(r.cfg!, undefined, { listener: 'l' })).toBeUndefined();
  });
});

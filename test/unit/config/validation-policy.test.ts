// ValidationPolicy and TransformationPolicy as config: every mistake with its field path and
// reason (schemas compiled at apply with the proxy's compiler: unknown keywords and formats,
// $refs that do not resolve, OpenAPI parameters that do not fit their template), targets
// (Gateways, listeners, Services), one policy per target, and ExtensionRefs from routes.
import { describe, expect, it } from 'vitest';
import { applyYaml } from '../../harness/mesh.js';
import type { TransformationPolicyResource, ValidationPolicyResource } from '../../../control-plane/config/types.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const vp = (spec: string, name = 'v') => `apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const tp = (spec: string, name = 't') => `apiVersion: weft.dev/v1alpha1
kind: TransformationPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const MESH = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
---
`;
const api = (paths: string, extra = '') => `{ openapi: { openapi: 3.1.0, info: { title: t, version: "1" }, paths: ${paths}${extra} } }`;

describe('ValidationPolicy', () => {
  it('accepts a body schema, an OpenAPI document and the options', () => {
    const r = applyYaml(vp(`{ requestBodySchema: { type: object }, openapi: { openapi: 3.1.0, info: { title: t, version: "1" }, paths: { /a: { get: { responses: { "200": { description: ok } } } } } }, unknownOperations: Allow, maxBodyBytes: 1000, auditResponses: true, responseBodySchema: { type: array } }`));
    expect(r.errors).toEqual([]);
    const s = (r.resources[0] as ValidationPolicyResource).spec;
    expect([s.unknownOperations, s.maxBodyBytes, s.auditResponses, s.targetRefs]).toEqual(['Allow', 1000, true, []]);
  });

  it.each([
    ['no schema', '{ maxBodyBytes: 10 }', [['spec', 'needs requestBodySchema or openapi (the schemas requests are validated against)']]],
    ['an unknown keyword', '{ requestBodySchema: { type: object, propertiez: {} } }', [['spec.requestBodySchema', 'strict mode: unknown keyword: "propertiez"']]],
    ['an unknown format', '{ requestBodySchema: { type: string, format: zipcode } }', [['spec.requestBodySchema', 'unknown format "zipcode" ignored in schema at path "#"']]],
    ['a schema that is no schema', '{ requestBodySchema: 5 }', [['spec.requestBodySchema', 'must be a JSON Schema (an object or a boolean)']]],
    ['an OpenAPI 3.0 document', '{ openapi: { openapi: 3.0.3, paths: { /a: {} } } }', [['spec.openapi.openapi', 'must be 3.1.x (JSON Schema 2020-12 schemas); got "3.0.3"']]],
    ['a $ref that does not resolve', api('{ /a: { post: { requestBody: { content: { application/json: { schema: { $ref: "#/components/schemas/Nope" } } } } } } }'), [['spec.openapi.paths./a.post.requestBody', "can't resolve reference #/components/schemas/Nope from id weft:openapi"]]],
    ['a bad component schema', api('{ /a: { get: {} } }', ', components: { schemas: { Pet: { type: thing } } }'), [['spec.openapi.components.schemas.Pet', 'type must be JSONType or JSONType[]: thing']]],
    ['an undeclared template parameter', api('{ "/a/{id}": { get: {} } }'), [['spec.openapi.paths./a/{id}.get.parameters', "the template's parameter 'id' is not declared (in: path)"]]],
    ['a parameter in a cookie', api('{ /a: { get: { parameters: [{ name: s, in: cookie }] } } }'), [['spec.openapi.paths./a.get.parameters[0].in', 'cookie parameters are not validated by Weft; remove the parameter']]],
    ['a bad parameter schema', api('{ /a: { get: { parameters: [{ name: s, in: query, schema: { minimum: x } }] } } }'), [['spec.openapi.paths./a.get.parameters[0].schema', 'minimum value must be ["number"]']]],
    ['unknownOperations without openapi', '{ requestBodySchema: {}, unknownOperations: Allow }', [['spec.unknownOperations', 'has no effect without spec.openapi']]],
    ['a response schema without audit', '{ requestBodySchema: {}, responseBodySchema: {} }', [['spec.responseBodySchema', 'has no effect without spec.auditResponses: true']]],
    ['audit without a response schema', '{ requestBodySchema: {}, auditResponses: true }', [['spec.auditResponses', 'needs spec.responseBodySchema or spec.openapi (the schemas responses are audited against)']]],
    ['a zero body bound', '{ requestBodySchema: {}, maxBodyBytes: 0 }', [['spec.maxBodyBytes', 'must be an integer from 1 to 67108864, got 0']]],
  ] as const)('refuses %s', (_w, spec, errors) => {
    expect(errorsOf(vp(spec))).toEqual(errors);
  });

  it('targets Gateways, listeners and Services, one per target; routes name it by ExtensionRef', () => {
    const t = (x: string) => `targetRefs: [${x}]`;
    const gw = '{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }';
    const svc = '{ group: weft.dev, kind: Service, name: orders }';
    expect(errorsOf(MESH + vp(`{ requestBodySchema: {}, ${t(`${gw}, ${svc}`)} }`))).toEqual([]);
    expect(errorsOf(MESH + vp(`{ requestBodySchema: {}, ${t(svc)} }`) + '---\n' + vp(`{ requestBodySchema: {}, ${t(svc)} }`, 'w'))).toContainEqual(['spec.targetRefs[0]', 'ValidationPolicy default/v already targets Service default/orders; one ValidationPolicy per target']);
    expect(errorsOf(MESH + vp(`{ requestBodySchema: {}, ${t('{ group: weft.dev, kind: Service, name: nope }')} }`))).toEqual([['spec.targetRefs[0].name', 'Service default/nope does not exist (a policy targets Services of its own namespace)']]);
    const route = `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ValidationPolicy, name: v } }], backendRefs: [{ name: orders, port: 8080 }] }]
`;
    expect(errorsOf(MESH + vp('{ requestBodySchema: {} }') + route)).toEqual([]);
    expect(errorsOf(MESH + route.slice(4))).toEqual([['spec.rules[0].filters[0].extensionRef.name', expect.stringContaining('ValidationPolicy default/v')]]);
  });

  it('refuses what would never act: a gRPC-only Service as target, a GRPCRoute naming it', () => {
    const grpc = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
---
`;
    expect(errorsOf(grpc + vp('{ requestBodySchema: {}, targetRefs: [{ group: weft.dev, kind: Service, name: greeter }] }'))).toEqual([['spec.targetRefs[0].name', 'Service default/greeter serves gRPC only; a ValidationPolicy acts on HTTP requests and would never apply there']]);
    const route = `---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ kind: Service, name: greeter }]
  rules: [{ filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: TransformationPolicy, name: t } }], backendRefs: [{ name: greeter, port: 50051 }] }]
`;
    expect(errorsOf(grpc + tp('{ request: { headers: { remove: [x-a] } } }') + route)).toEqual([['spec.rules[0].filters[0].extensionRef.kind', "a TransformationPolicy acts on HTTP requests (JSON, XML); a GRPCRoute's calls are gRPC, which it leaves untouched"]]);
  });
});

describe('TransformationPolicy', () => {
  it('accepts every rule', () => {
    const r = applyYaml(tp(`{ maxBodyBytes: 4096, request: { headers: { add: [{ name: x-a, value: "1" }], set: [{ name: x-b, value: b }], remove: [x-c] }, queryParams: { add: [{ name: a, value: "1" }], set: [{ name: b, value: "2" }], remove: [c], rename: [{ from: d, to: e }] }, body: [{ pointer: /a, rename: /b }, { pointer: /c, remove: true }, { pointer: /d, value: [1, 2] }, { pointer: /e, fromHeader: x-e }, { pointer: /f, fromJwtClaim: /sub }, { pointer: /g, fromConsumer: true }], jsonToXml: { rootElement: order } }, response: { headers: { remove: [server] }, body: [{ pointer: /internal, remove: true }], xmlToJson: true } }`));
    expect(r.errors).toEqual([]);
    expect((r.resources[0] as TransformationPolicyResource).spec.request.body).toEqual([{ pointer: '/a', rename: '/b' }, { pointer: '/c', remove: true }, { pointer: '/d', value: [1, 2] }, { pointer: '/e', fromHeader: 'x-e' }, { pointer: '/f', fromJwtClaim: '/sub' }, { pointer: '/g', fromConsumer: true }]);
  });

  it.each([
    ['nothing to do', '{ request: {} }', [['spec', 'transforms nothing: set spec.request or spec.response rules']]],
    ['a framing header', '{ request: { headers: { set: [{ name: content-length, value: "1" }] } } }', [['spec.request.headers.set[0].name', "'content-length' is a framing or hop-by-hop header the proxy owns"]]],
    ['an upper-case header', '{ response: { headers: { remove: [X-A] } } }', [['spec.response.headers.remove[0]', "'X-A' is not a lowercase header name"]]],
    ['a header value with a newline', '{ request: { headers: { add: [{ name: x-a, value: "a\\nb" }] } } }', [['spec.request.headers.add[0].value', "'a\nb' is not a header value (no control characters)"]]],
    ['a pointer without a slash', '{ request: { body: [{ pointer: a, remove: true }] } }', [['spec.request.body[0].pointer', "'a' is not a JSON pointer (it starts with '/', e.g. /user/name)"]]],
    ['a pointer to __proto__', '{ request: { body: [{ pointer: /__proto__/x, value: 1 }] } }', [['spec.request.body[0].pointer', "'/__proto__/x' names '__proto__', which is refused (prototype pollution)"]]],
    ['two actions', '{ request: { body: [{ pointer: /a, remove: true, value: 1 }] } }', [['spec.request.body[0]', 'set only one of remove, value']]],
    ['no action', '{ request: { body: [{ pointer: /a }] } }', [['spec.request.body[0]', 'needs one of rename, remove, value, fromHeader, fromJwtClaim, fromConsumer']]],
    ['a request header in a response', '{ response: { body: [{ pointer: /a, fromHeader: x-a }] } }', [['spec.response.body[0].fromHeader', 'a response body field cannot take a request header']]],
    ['a root that is no XML name', '{ request: { jsonToXml: { rootElement: "1x" } } }', [['spec.request.jsonToXml.rootElement', "'1x' is not an XML element name"]]],
    ['a bound with no body rule', '{ maxBodyBytes: 10, request: { headers: { remove: [x-a] } } }', [['spec.maxBodyBytes', 'has no effect without a body rule (request.body, request.jsonToXml, response.body, response.xmlToJson)']]],
  ] as const)('refuses %s', (_w, spec, errors) => {
    expect(errorsOf(tp(spec))).toEqual(errors);
  });

  it('targets a Service', () => {
    expect(errorsOf(MESH + tp('{ targetRefs: [{ group: weft.dev, kind: Service, name: orders }], response: { xmlToJson: true } }'))).toEqual([]);
  });
});

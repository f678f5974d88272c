// CorsPolicy: the kind on its own (every mistake with its field path and reason; credentials with
// an origin matcher that matches `*` refused), its targetRefs (Gateways and listeners that exist,
// one policy per target) and the ExtensionRef that names it (only on routes a Gateway serves).
import { describe, expect, it } from 'vitest';
import { checkDelete } from '../../../control-plane/config/index.js';
import type { HTTPRouteResource } from '../../../control-plane/config/types.js';
import { type CorsPolicyResource } from '../../../control-plane/config/types.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { applyYaml } from '../../harness/mesh.js';

const apply = applyYaml;
const errorsOf = (yaml: string) => apply(yaml).errors.map((e) => [e.path, e.message] as const);
const cp = (spec: string, name = 'site') => `apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const GATEWAY = `apiVersion: weft.dev/v1alpha1
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
`;
const O = 'allowOrigins: [{ exact: "https://app.example" }]';

describe('CorsPolicy on its own', () => {
  it('accepts every field, and defaults the rest', () => {
    const full = apply(cp(`{ allowOrigins: [{ exact: "https://app.example" }, { prefix: "https://app-" }, { suffix: ".example.com" }, { regex: 'https://[a-z]+\\.example' }], allowMethods: [GET, PUT], allowHeaders: [x-token], exposeHeaders: [x-request-id], allowCredentials: true, maxAge: 1h, allowPrivateNetworkAccess: true }`));
    expect(full.errors).toEqual([]);
    expect((full.resources[0] as CorsPolicyResource).spec).toEqual({
      allowOrigins: [{ exact: 'https://app.example' }, { prefix: 'https://app-' }, { suffix: '.example.com' }, { regex: 'https://[a-z]+\\.example' }],
      allowMethods: ['GET', 'PUT'],
      allowHeaders: ['x-token'],
      exposeHeaders: ['x-request-id'],
      allowCredentials: true,
      maxAgeSeconds: 3600,
      allowPrivateNetworkAccess: true,
      targetRefs: [],
    });
    const min = apply(cp(`{ allowOrigins: [{ exact: "*" }], allowMethods: ["*"], allowHeaders: ["*"] }`));
    expect(min.errors).toEqual([]);
    expect((min.resources[0] as CorsPolicyResource).spec).toEqual({ allowOrigins: [{ exact: '*' }], allowMethods: ['*'], allowHeaders: ['*'], exposeHeaders: [], allowCredentials: false, allowPrivateNetworkAccess: false, targetRefs: [] });
  });

  it.each([
    ['no allowOrigins', '{ allowMethods: [GET] }', [['spec.allowOrigins', 'is required']]],
    ['an empty allowOrigins', '{ allowOrigins: [] }', [['spec.allowOrigins', 'must not be empty']]],
    ['an origin with two forms', '{ allowOrigins: [{ exact: "https://a.example", suffix: ".example" }] }', [['spec.allowOrigins[0]', 'set only one of exact, suffix']]],
    ['an origin with none', '{ allowOrigins: [{}] }', [['spec.allowOrigins[0]', 'needs one of exact, prefix, suffix, regex']]],
    ['an unknown origin form', '{ allowOrigins: [{ glob: "*.example" }] }', [['spec.allowOrigins[0].glob', 'unknown field (allowed: exact, prefix, suffix, regex)'], ['spec.allowOrigins[0]', 'needs one of exact, prefix, suffix, regex']]],
    ['an exact origin with a trailing slash', '{ allowOrigins: [{ exact: "https://app.example/" }] }', [['spec.allowOrigins[0].exact', "'https://app.example/' is not an origin (scheme://host[:port], no path or trailing slash): a browser never sends it"]]],
    ['an exact origin without a scheme', '{ allowOrigins: [{ exact: "app.example" }] }', [['spec.allowOrigins[0].exact', "'app.example' is not an origin (scheme://host[:port], no path or trailing slash): a browser never sends it"]]],
    ['a suffix ending in a slash', '{ allowOrigins: [{ suffix: ".example/" }] }', [['spec.allowOrigins[0].suffix', "'.example/' ends in '/', which no Origin does"]]],
    ['an invalid regex', '{ allowOrigins: [{ regex: "https://(" }] }', [['spec.allowOrigins[0].regex', 'invalid regular expression: Invalid regular expression: /https://(/: Unterminated group']]],
    ['an origin in upper case', '{ allowOrigins: [{ exact: "https://App.example" }] }', [['spec.allowOrigins[0].exact', "'https://App.example' has upper-case letters: browsers send the scheme and host in lower case, and the match is case-sensitive"]]],
    ['an empty prefix', '{ allowOrigins: [{ prefix: "" }] }', [['spec.allowOrigins[0].prefix', 'must not be empty']]],
    ['credentials with the * origin', '{ allowOrigins: [{ exact: "*" }], allowCredentials: true }', [['spec.allowCredentials', "true is refused with spec.allowOrigins[0], which matches '*' and so allows every origin: the Fetch spec forbids credentials for a wildcard origin; list the origins"]]],
    ['credentials with a regex that matches *', `{ allowOrigins: [{ exact: "https://a.example" }, { regex: ".*" }], allowCredentials: true }`, [['spec.allowCredentials', "true is refused with spec.allowOrigins[1], which matches '*' and so allows every origin: the Fetch spec forbids credentials for a wildcard origin; list the origins"]]],
    ['a method that is no token', `{ ${O}, allowMethods: ["GET PUT"] }`, [['spec.allowMethods[0]', "'GET PUT' is not an HTTP method"]]],
    ['* with other methods', `{ ${O}, allowMethods: [GET, "*"] }`, [['spec.allowMethods', "'*' stands alone (it allows whatever the preflight asks for)"]]],
    ['a header listed twice', `{ ${O}, allowHeaders: [X-Token, x-token] }`, [['spec.allowHeaders[1]', "'x-token' is listed twice"]]],
    ['* in exposeHeaders with credentials', `{ ${O}, exposeHeaders: [x-a, "*"], allowCredentials: true }`, [['spec.exposeHeaders', "'*' stands alone (it allows whatever the preflight asks for)"], ['spec.exposeHeaders[1]', "'*' exposes every header only without credentials (with allowCredentials a browser takes it as a header named '*'); list the headers"]]],
    ['a maxAge that is no duration', `{ ${O}, maxAge: 600 }`, [['spec.maxAge', 'must be a duration like 250ms, 10s, 2m or 1h, got 600']]],
    ['a maxAge with milliseconds', `{ ${O}, maxAge: 1500ms }`, [['spec.maxAge', 'must be whole seconds (access-control-max-age counts seconds), got 1500ms']]],
    ['a maxAge over a day', `{ ${O}, maxAge: 25h }`, [['spec.maxAge', 'must be at most 24h (browsers cap it lower still), got 25h']]],
    ['allowCredentials as a string', `{ ${O}, allowCredentials: "yes" }`, [['spec.allowCredentials', 'must be true or false, got string "yes"']]],
    ['an unknown field', `{ ${O}, allowOrigin: x }`, [['spec.allowOrigin', 'unknown field (allowed: allowOrigins, allowMethods, allowHeaders, exposeHeaders, allowCredentials, maxAge, allowPrivateNetworkAccess, targetRefs)']]],
  ])('refuses %s, with the field path', (_what, spec, expected) => {
    expect(errorsOf(cp(spec))).toEqual(expected);
    for (const e of apply(cp(spec)).errors) expect(e).toMatchObject({ resource: 'CorsPolicy/default/site' });
  });
});

describe('CorsPolicy attachment', () => {
  const target = (section?: string) => `targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge${section ? `, sectionName: ${section}` : ''} }]`;
  const route = (parent: string, name = 'site') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [${parent}]
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CorsPolicy, name: ${name} } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;

  it('accepts a policy per Gateway and one per listener, and an ExtensionRef from a route a Gateway serves', () => {
    expect(errorsOf(`${GATEWAY}---\n${cp(`{ ${O}, ${target()} }`)}---\n${cp(`{ ${O}, ${target('web')} }`, 'web')}---\n${route('{ kind: Gateway, name: edge }')}`)).toEqual([]);
  });

  it.each([
    ['a Gateway that does not exist', `{ ${O}, targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: nope }] }`, [['spec.targetRefs[0].name', 'Gateway default/nope does not exist (a policy targets Gateways of its own namespace)']]],
    ['a listener that does not exist', `{ ${O}, ${target('api')} }`, [['spec.targetRefs[0].sectionName', "Gateway default/edge has no listener 'api' (listeners: web)"]]],
    ['a Service as target', `{ ${O}, targetRefs: [{ group: gateway.networking.k8s.io, kind: Service, name: orders }] }`, [['spec.targetRefs[0].kind', "must be one of Gateway; got 'Service'"]]],
  ])('refuses targeting %s', (_what, spec, expected) => {
    expect(errorsOf(`${GATEWAY}---\n${cp(spec)}`)).toEqual(expected);
  });

  it('refuses a second policy on the same target', () => {
    const errs = errorsOf(`${GATEWAY}---\n${cp(`{ ${O}, ${target('web')} }`)}---\n${cp(`{ ${O}, ${target('web')} }`, 'other')}`);
    expect(errs).toContainEqual(['spec.targetRefs[0]', "CorsPolicy default/site already targets listener 'web' of Gateway default/edge; one CorsPolicy per target"]);
  });

  it('refuses an ExtensionRef from a route only the mesh serves (it would do nothing), and one to a missing policy', () => {
    expect(errorsOf(`${GATEWAY}---\n${cp(`{ ${O} }`)}---\n${route('{ name: orders }')}`)).toEqual([['spec.rules[0].filters[0].extensionRef', 'a CorsPolicy takes effect at a gateway: the route needs a Gateway parentRef']]);
    expect(errorsOf(`${GATEWAY}---\n${route('{ kind: Gateway, name: edge }', 'nope')}`)).toEqual([['spec.rules[0].filters[0].extensionRef.name', 'CorsPolicy default/nope does not exist']]);
  });

  it('refuses to delete a Gateway a CorsPolicy targets, or a CorsPolicy a route names', () => {
    const m = buildModel(1, apply(`${GATEWAY}---\n${cp(`{ ${O}, ${target()} }`)}---\n${route('{ kind: Gateway, name: edge }')}`).resources);
    expect(checkDelete(['CorsPolicy/default/site'], m).map((e) => `${e.resource} ${e.path}`)).toEqual(['HTTPRoute/default/r spec.rules[0].filters[0].extensionRef.name']);
    expect(checkDelete(['Gateway/default/edge'], m).map((e) => `${e.resource} ${e.path}`)).toContain('CorsPolicy/default/site spec.targetRefs[0].name');
  });
});

describe('Gateway API CORS filter (GEP-1767) on an HTTPRoute', () => {
  const route = (filters: string, parent = '{ kind: Gateway, name: edge }') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [${parent}]
  rules:
    - filters: ${filters}
      backendRefs: [{ name: orders, port: 8080 }]
`;
  const corsOf = (yaml: string) => {
    const { resources, errors } = apply(yaml);
    expect(errors).toEqual([]);
    const r = resources.find((x) => x.kind === 'HTTPRoute') as HTTPRouteResource;
    const f = r.spec.rules[0]!.filters[0]!;
    return f.type === 'CORS' ? f.cors : undefined;
  };

  it('reads it into the rules a CorsPolicy holds: wildcard hosts as a full-match regex, implied ports dropped, hosts lower-cased, maxAge 5 s by default', () => {
    const cors = corsOf(`${GATEWAY}---\n${route(`[{ type: CORS, cors: { allowOrigins: ["https://App.Example:443", "http://*.example.com", "https://*.dev.example:8443"], allowMethods: [GET, PUT], allowHeaders: [x-token], exposeHeaders: ["*"] } }]`)}`);
    expect(cors).toEqual({
      allowOrigins: [{ exact: 'https://app.example' }, { regex: 'http://.*\\.example\\.com' }, { regex: 'https://.*\\.dev\\.example:8443' }],
      allowMethods: ['GET', 'PUT'],
      allowHeaders: ['x-token'],
      exposeHeaders: ['*'],
      allowCredentials: false,
      allowPrivateNetworkAccess: false,
      maxAgeSeconds: 5,
    });
    expect(corsOf(`${GATEWAY}---\n${route('[{ type: CORS, cors: { allowOrigins: ["*"], maxAge: 600 } }]')}`)).toMatchObject({ allowOrigins: [{ exact: '*' }], maxAgeSeconds: 600 });
  });

  const F = 'spec.rules[0].filters[0].cors';
  it.each([
    ['an origin with a path', '{ allowOrigins: ["https://app.example/x"] }', [[`${F}.allowOrigins[0]`, "'https://app.example/x' is not an origin: http or https, a host, an optional port, no path (e.g. https://*.example.com:8443)"]]],
    ['an ftp origin', '{ allowOrigins: ["ftp://files.example"] }', [[`${F}.allowOrigins[0]`, "'ftp://files.example' is not an origin: http or https, a host, an optional port, no path (e.g. https://*.example.com:8443)"]]],
    ['port 0', '{ allowOrigins: ["https://a.example:0"] }', [[`${F}.allowOrigins[0]`, 'port 0 is not from 1 to 65535']]],
    ['* with other origins', '{ allowOrigins: ["*", "https://a.example"] }', [[`${F}.allowOrigins`, "'*' stands alone (it allows every origin)"]]],
    ['credentials with *', '{ allowOrigins: ["*"], allowCredentials: true }', [[`${F}.allowCredentials`, `true is refused with the '*' origin (${F}.allowOrigins[0]): it would let every site make credentialed requests; list the origins`]]],
    ['maxAge 0', '{ allowOrigins: ["https://a.example"], maxAge: 0 }', [[`${F}.maxAge`, 'must be an integer from 1 to 86400, got 0']]],
    ['an unknown field', '{ allowOrigins: ["https://a.example"], allowPrivateNetworkAccess: true }', [[`${F}.allowPrivateNetworkAccess`, 'unknown field (allowed: allowOrigins, allowCredentials, allowMethods, allowHeaders, exposeHeaders, maxAge)']]],
  ])('refuses %s, with the field path', (_what, cors, expected) => {
    expect(errorsOf(`${GATEWAY}---\n${route(`[{ type: CORS, cors: ${cors} }]`)}`)).toEqual(expected);
  });

  it('refuses it with a CorsPolicy ExtensionRef in one rule, and on a route only the mesh serves', () => {
    const both = `[{ type: CORS, cors: { allowOrigins: ["https://a.example"] } }, { type: ExtensionRef, extensionRef: { group: weft.dev, kind: CorsPolicy, name: site } }]`;
    expect(errorsOf(`${GATEWAY}---\n${cp(`{ ${O} }`)}---\n${route(both)}`)).toEqual([['spec.rules[0].filters[1]', 'a rule may have one CORS configuration (a CORS filter or an ExtensionRef to a CorsPolicy); spec.rules[0].filters[0] is the first']]);
    expect(errorsOf(`${GATEWAY}---\n${route('[{ type: CORS, cors: { allowOrigins: ["https://a.example"] } }]', '{ name: orders }')}`)).toEqual([['spec.rules[0].filters[0]', 'CORS takes effect at a gateway: the route needs a Gateway parentRef']]);
  });

  it('is not a GRPCRoute filter (GEP-1767 is HTTPRoute only)', () => {
    const g = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules: [{ filters: [{ type: CORS, cors: { allowOrigins: ["https://a.example"] } }], backendRefs: [{ name: orders, port: 8080 }] }]
`;
    expect(errorsOf(`${GATEWAY}---\n${g}`)[0]).toEqual(['spec.rules[0].filters[0].type', "must be one of RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef; got 'CORS'"]);
  });
});

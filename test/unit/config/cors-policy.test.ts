// CorsPolicy: the kind on its own (every mistake with its field path and reason; credentials with
// an origin matcher that matches `*` refused), its targetRefs (Gateways and listeners that exist,
// one policy per target) and the ExtensionRef that names it (only on routes a Gateway serves).
import { describe, expect, it } from 'vitest';
import { checkDelete } from '../../../control-plane/config/index.js';
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
    ['an empty prefix', '{ allowOrigins: [{ prefix: "" }] }', [['spec.allowOrigins[0].prefix', 'must not be empty']]],
    ['credentials with the * origin', '{ allowOrigins: [{ exact: "*" }], allowCredentials: true }', [['spec.allowCredentials', "true is refused with spec.allowOrigins[0], which matches '*' and so allows every origin: the Fetch spec forbids credentials for a wildcard origin; list the origins"]]],
    ['credentials with a regex that matches *', `{ allowOrigins: [{ exact: "https://a.example" }, { regex: ".*" }], allowCredentials: true }`, [['spec.allowCredentials', "true is refused with spec.allowOrigins[1], which matches '*' and so allows every origin: the Fetch spec forbids credentials for a wildcard origin; list the origins"]]],
    ['a method that is no token', `{ ${O}, allowMethods: ["GET PUT"] }`, [['spec.allowMethods[0]', "'GET PUT' is not an HTTP method"]]],
    ['* with other methods', `{ ${O}, allowMethods: [GET, "*"] }`, [['spec.allowMethods', "'*' stands alone (it allows whatever the preflight asks for)"]]],
    ['a header listed twice', `{ ${O}, allowHeaders: [X-Token, x-token] }`, [['spec.allowHeaders[1]', "'x-token' is listed twice"]]],
    ['* in exposeHeaders', `{ ${O}, exposeHeaders: ["*"] }`, [['spec.exposeHeaders[0]', "'*' is not a header name"]]],
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

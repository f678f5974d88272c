// SecurityHeadersPolicy: the presets read into the model, every mistake refused with its field
// path (HSTS preload's requirements included), targetRefs checked, and routes naming it through
// an ExtensionRef.
import { describe, expect, it } from 'vitest';
import type { SecurityHeadersPolicyResource } from '../../../control-plane/config/types.js';
import { applyYaml } from '../../harness/mesh.js';

const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;
const TARGET = '[{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]';
const shp = (spec: string, name = 'secure') => `apiVersion: weft.dev/v1alpha1
kind: SecurityHeadersPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);

describe('SecurityHeadersPolicy', () => {
  it('accepts every preset; targetRefs may be left out (routes name it)', () => {
    const spec = `{ targetRefs: ${TARGET}, hsts: { maxAgeSeconds: 31536000, includeSubDomains: true, preload: true }, contentTypeOptions: nosniff, frameOptions: DENY, referrerPolicy: strict-origin-when-cross-origin, contentSecurityPolicy: "default-src 'self'", permissionsPolicy: "camera=()" }`;
    const { resources, errors } = applyYaml(`${GW}---\n${shp(spec)}---\n${shp('{ frameOptions: SAMEORIGIN }', 'route-only')}`);
    expect(errors).toEqual([]);
    expect((resources.find((r) => r.metadata.name === 'secure') as SecurityHeadersPolicyResource).spec).toEqual({
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' }],
      hsts: { maxAgeSeconds: 31536000, includeSubDomains: true, preload: true },
      contentTypeOptions: 'nosniff',
      frameOptions: 'DENY',
      referrerPolicy: 'strict-origin-when-cross-origin',
      contentSecurityPolicy: "default-src 'self'",
      permissionsPolicy: 'camera=()',
    });
  });

  it.each([
    ['no header', `{ targetRefs: ${TARGET} }`, [['spec', 'needs at least one header (hsts, contentTypeOptions, frameOptions, referrerPolicy, contentSecurityPolicy, permissionsPolicy)']]],
    ['hsts without maxAgeSeconds', '{ hsts: { includeSubDomains: true } }', [['spec.hsts.maxAgeSeconds', 'is required']]],
    ['preload without includeSubDomains', '{ hsts: { maxAgeSeconds: 31536000, preload: true } }', [['spec.hsts.preload', 'needs includeSubDomains: true (hstspreload.org requirements)']]],
    ['preload with a short max-age', '{ hsts: { maxAgeSeconds: 600, includeSubDomains: true, preload: true } }', [['spec.hsts.preload', 'needs maxAgeSeconds of at least 31536000 (one year)']]],
    ['x-content-type-options other than nosniff', '{ contentTypeOptions: sniff }', [['spec.contentTypeOptions', "must be one of nosniff; got 'sniff'"]]],
    ['x-frame-options ALLOW-FROM', '{ frameOptions: ALLOW-FROM }', [['spec.frameOptions', "must be one of DENY, SAMEORIGIN; got 'ALLOW-FROM'"]]],
    ['an unknown referrer policy', '{ referrerPolicy: never }', [['spec.referrerPolicy', "must be one of no-referrer, no-referrer-when-downgrade, origin, origin-when-cross-origin, same-origin, strict-origin, strict-origin-when-cross-origin, unsafe-url; got 'never'"]]],
    ['a CSP with a line break', '{ contentSecurityPolicy: "default-src \'self\'\\r\\nx: y" }', [['spec.contentSecurityPolicy', 'must not contain CR, LF or NUL']]],
    ['an empty permissions policy', '{ permissionsPolicy: " " }', [['spec.permissionsPolicy', 'must not be empty']]],
    ['a missing Gateway', '{ targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: nope }], frameOptions: DENY }', [['spec.targetRefs[0].name', 'Gateway default/nope does not exist (a policy targets Gateways of its own namespace)']]],
  ])('refuses %s, with the field path', (_what, spec, expected) => {
    expect(errorsOf(`${GW}---\n${shp(spec)}`)).toEqual(expected);
  });

  it('may be named by a route rule (ExtensionRef); a missing one is refused at the filter', () => {
    const route = (name: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: SecurityHeadersPolicy, name: ${name} } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    const svc = 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: orders }\nspec:\n  ports: [{ name: http, port: 8080 }]\n';
    expect(errorsOf(`${GW}---\n${svc}---\n${shp('{ frameOptions: DENY }')}---\n${route('secure')}`)).toEqual([]);
    expect(errorsOf(`${GW}---\n${svc}---\n${route('nope')}`)).toEqual([['spec.rules[0].filters[0].extensionRef.name', 'SecurityHeadersPolicy default/nope does not exist']]);
  });
});

// RequestMirror (Gateway API HTTPRequestMirrorFilter, issue 18): percent or fraction (not both),
// numerator <= denominator (default 100), a backendRef without weight that must exist, and never
// on a rule that redirects.
import { describe, expect, it } from 'vitest';
import { type MeshResource } from '../../../control-plane/config/types.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { applyYaml, meshFixture } from '../../harness/mesh.js';

const apply = (yaml: string) => applyYaml(yaml);
const SVC = meshFixture('orders-shadow.yaml');
const route = (mirror: string, kind = 'HTTPRoute', extra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: { name: r }
spec:
  parentRefs: [{ name: ${kind === 'GRPCRoute' ? 'shadow' : 'orders'} }]
  rules:
    - filters: [{ type: RequestMirror, requestMirror: ${mirror} }${extra}]
      backendRefs: [{ name: ${kind === 'GRPCRoute' ? 'shadow, port: 9090' : 'orders'} }]
`;
const P = 'spec.rules[0].filters[0].requestMirror';

describe('RequestMirror', () => {
  it.each([
    ['neither percent nor fraction: everything', '{ backendRef: { name: shadow, port: 8080 } }', { numerator: 100, denominator: 100 }],
    ['percent', '{ backendRef: { name: shadow, port: 8080 }, percent: 25 }', { numerator: 25, denominator: 100 }],
    ['percent 0', '{ backendRef: { name: shadow, port: 8080 }, percent: 0 }', { numerator: 0, denominator: 100 }],
    ['a fraction', '{ backendRef: { name: shadow, port: 8080 }, fraction: { numerator: 1, denominator: 3 } }', { numerator: 1, denominator: 3 }],
    ['a fraction with the default denominator', '{ backendRef: { name: shadow, port: 8080 }, fraction: { numerator: 5 } }', { numerator: 5, denominator: 100 }],
  ])('accepts %s', (_what, mirror, fraction) => {
    const { errors, resources } = apply(`${SVC}---\n${route(mirror)}`);
    expect(errors).toEqual([]);
    const r = resources.find((x) => x.kind === 'HTTPRoute') as Extract<MeshResource, { kind: 'HTTPRoute' }>;
    expect(r.spec.rules[0]!.filters[0]).toEqual({ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', namespace: 'default', port: 8080, weight: 1 }, fraction } });
  });

  it.each([
    ['percent and fraction together', '{ backendRef: { name: shadow, port: 8080 }, percent: 5, fraction: { numerator: 1 } }', [[P, 'set percent or fraction, not both']]],
    ['percent above 100', '{ backendRef: { name: shadow, port: 8080 }, percent: 101 }', [[`${P}.percent`, 'must be an integer from 0 to 100, got 101']]],
    ['a fractional percent', '{ backendRef: { name: shadow, port: 8080 }, percent: 2.5 }', [[`${P}.percent`, 'must be an integer from 0 to 100, got 2.5']]],
    ['numerator above denominator', '{ backendRef: { name: shadow, port: 8080 }, fraction: { numerator: 11, denominator: 10 } }', [[`${P}.fraction.numerator`, 'must not exceed the denominator (10)']]],
    ['numerator above the default denominator', '{ backendRef: { name: shadow, port: 8080 }, fraction: { numerator: 101 } }', [[`${P}.fraction.numerator`, 'must not exceed the denominator (100)']]],
    ['denominator 0', '{ backendRef: { name: shadow, port: 8080 }, fraction: { numerator: 0, denominator: 0 } }', [[`${P}.fraction.denominator`, 'must be an integer from 1 to 2147483647, got 0']]],
    ['no numerator', '{ backendRef: { name: shadow, port: 8080 }, fraction: { denominator: 10 } }', [[`${P}.fraction.numerator`, 'is required']]],
    ['no backendRef', '{ percent: 5 }', [[`${P}.backendRef`, 'is required']]],
    ['a weight on the backendRef', '{ backendRef: { name: shadow, port: 8080, weight: 2 } }', [[`${P}.backendRef.weight`, 'unknown field (allowed: group, kind, name, namespace, port, subset)']]],
    ['a missing Service', '{ backendRef: { name: ghost } }', [[`${P}.backendRef.name`, 'Service default/ghost does not exist']]],
    ['a port the Service lacks', '{ backendRef: { name: shadow, port: 1 } }', [[`${P}.backendRef.port`, 'Service default/shadow has no port 1 (ports: 8080, 9090)']]],
    ['no port on a Service with several', '{ backendRef: { name: shadow } }', [[`${P}.backendRef.port`, 'is required: Service default/shadow has several ports']]],
  ])('refuses %s, with the field path', (_what, mirror, expected) => {
    expect(apply(`${SVC}---\n${route(mirror)}`).errors.map((e) => [e.path, e.message])).toEqual(expected);
  });

  it('refuses a mirror on a rule that redirects (nothing goes upstream to copy)', () => {
    const yaml = `${SVC}---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ name: orders }]
  rules:
    - filters:
        - { type: RequestRedirect, requestRedirect: { hostname: example.com } }
        - { type: RequestMirror, requestMirror: { backendRef: { name: shadow, port: 8080 } } }
`;
    expect(apply(yaml).errors.map((e) => [e.path, e.message])).toEqual([['spec.rules[0].filters[1]', 'RequestMirror cannot be combined with RequestRedirect: a redirected request never goes upstream']]);
  });

  it('GRPCRoute: accepts a mirror and checks it the same way', () => {
    expect(apply(`${SVC}---\n${route('{ backendRef: { name: shadow, port: 9090 }, percent: 50 }', 'GRPCRoute')}`).errors).toEqual([]);
    expect(apply(`${SVC}---\n${route('{ backendRef: { name: shadow, port: 9090 }, percent: 50, fraction: { numerator: 1 } }', 'GRPCRoute')}`).errors.map((e) => e.path)).toEqual([P]);
  });
});

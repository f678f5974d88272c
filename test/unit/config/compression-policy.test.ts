// CompressionPolicy: the kind on its own (defaults; every mistake with its field path), its
// targetRefs (the Gateway and listener exist; one per target) and the ExtensionRef that names it
// (a route needs a Gateway parent for it).
import { describe, expect, it } from 'vitest';
import type { CompressionPolicyResource } from '../../../control-plane/config/types.js';
import { applyYaml } from '../../harness/mesh.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);

const cp = (spec: string, name = 'web') => `apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }, { name: api, port: 9000, protocol: HTTP }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
`;
const GW = '{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }';

describe('CompressionPolicy on its own', () => {
  it('fills Envoy\'s defaults: brotli then gzip, 30 bytes, the default media types', () => {
    const { resources, errors } = applyYaml(cp('{}'));
    expect(errors).toEqual([]);
    expect((resources[0] as CompressionPolicyResource).spec).toEqual({
      targetRefs: [], disabled: false, algorithms: ['brotli', 'gzip'], minContentLength: 30, contentTypes: [], disableOnETag: false, removeAcceptEncoding: false, gzip: {}, brotli: {},
    });
  });

  it('accepts every field', () => {
    const { resources, errors } = applyYaml(cp('{ algorithms: [gzip, brotli], minContentLength: 1024, contentTypes: [text/html, application/json], disableOnETag: true, removeAcceptEncoding: true, gzip: { level: 9 }, brotli: { quality: 5 } }'));
    expect(errors).toEqual([]);
    expect((resources[0] as CompressionPolicyResource).spec).toMatchObject({ algorithms: ['gzip', 'brotli'], minContentLength: 1024, contentTypes: ['text/html', 'application/json'], disableOnETag: true, removeAcceptEncoding: true, gzip: { level: 9 }, brotli: { quality: 5 } });
  });

  it.each([
    ['an unknown field', '{ level: 5 }', [['spec.level', 'unknown field (allowed: targetRefs, disabled, algorithms, minContentLength, contentTypes, disableOnETag, removeAcceptEncoding, gzip, brotli)']]],
    ['an unknown algorithm', '{ algorithms: [zstd] }', [['spec.algorithms[0]', "must be one of brotli, gzip; got 'zstd'"]]],
    ['an algorithm twice', '{ algorithms: [gzip, gzip] }', [['spec.algorithms[1]', "'gzip' is listed twice"]]],
    ['no algorithm', '{ algorithms: [] }', [['spec.algorithms', 'must not be empty']]],
    ['a negative minimum', '{ minContentLength: -1 }', [['spec.minContentLength', 'must be an integer from 0 to 4294967295, got -1']]],
    ['a media type with parameters', '{ contentTypes: ["text/html; charset=utf-8"] }', [['spec.contentTypes[0]', "'text/html; charset=utf-8' is not a lowercase media type (type/subtype, no parameters)"]]],
    ['an empty media type list', '{ contentTypes: [] }', [['spec.contentTypes', 'must not be empty (leave it out for the default list)']]],
    ['a media type twice', '{ contentTypes: [text/html, text/html] }', [['spec.contentTypes[1]', "'text/html' is listed twice"]]],
    ['a gzip level out of range', '{ gzip: { level: 10 } }', [['spec.gzip.level', 'must be an integer from 1 to 9, got 10']]],
    ['a brotli quality out of range', '{ brotli: { quality: 12 } }', [['spec.brotli.quality', 'must be an integer from 0 to 11, got 12']]],
    ['gzip settings without gzip', '{ algorithms: [brotli], gzip: { level: 1 } }', [['spec.gzip', 'has no effect: gzip is not in spec.algorithms']]],
    ['brotli settings without brotli', '{ algorithms: [gzip], brotli: { quality: 1 } }', [['spec.brotli', 'has no effect: brotli is not in spec.algorithms']]],
    ['disabled: false', '{ disabled: false }', [['spec.disabled', 'must be true, or left out']]],
    ['settings on a disabled policy', '{ disabled: true, minContentLength: 10 }', [['spec.minContentLength', 'has no effect on a disabled policy (an opt-out compresses nothing)']]],
  ])('refuses %s', (_what, spec, expected) => {
    expect(errorsOf(cp(spec))).toEqual(expected);
  });
});

describe('CompressionPolicy targetRefs', () => {
  it('attaches to a Gateway and to a listener', () => {
    expect(errorsOf(GATEWAY + '---\n' + cp(`{ targetRefs: [${GW}] }`) + '---\n' + cp(`{ targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: api }], disabled: true }`, 'api-off'))).toEqual([]);
  });

  it.each([
    ['a Gateway that does not exist', `{ targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: nope }] }`, [['spec.targetRefs[0].name', 'Gateway default/nope does not exist (a policy targets Gateways of its own namespace)']]],
    ['a listener that does not exist', `{ targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: tcp }] }`, [['spec.targetRefs[0].sectionName', "Gateway default/edge has no listener 'tcp' (listeners: web, api)"]]],
    ['another kind', `{ targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: edge }] }`, [['spec.targetRefs[0].kind', "must be one of Gateway; got 'HTTPRoute'"]]],
    ['a disabled policy on a whole Gateway', `{ targetRefs: [${GW}], disabled: true }`, [['spec.targetRefs[0]', "a disabled policy on a whole Gateway has no effect (no policy compresses nothing); target a listener (sectionName) to opt it out of its Gateway's policy"]]],
  ])('refuses %s', (_what, spec, expected) => {
    expect(errorsOf(GATEWAY + '---\n' + cp(spec))).toEqual(expected);
  });

  it('refuses a second policy on the same target', () => {
    expect(errorsOf(GATEWAY + '---\n' + cp(`{ targetRefs: [${GW}] }`, 'a') + '---\n' + cp(`{ targetRefs: [${GW}] }`, 'b'))).toContainEqual(['spec.targetRefs[0]', 'CompressionPolicy default/a already targets Gateway default/edge; one CompressionPolicy per target']);
  });
});

describe('CompressionPolicy in an ExtensionRef', () => {
  const route = (parents: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: ${parents}
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CompressionPolicy, name: web } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;

  it('is accepted on a Gateway route', () => {
    expect(errorsOf(GATEWAY + '---\n' + cp('{}') + '---\n' + route('[{ kind: Gateway, name: edge }]'))).toEqual([]);
  });

  it('must exist', () => {
    expect(errorsOf(GATEWAY + '---\n' + route('[{ kind: Gateway, name: edge }]'))).toEqual([['spec.rules[0].filters[0].extensionRef.name', 'CompressionPolicy default/web does not exist']]);
  });

  it('is refused on a route only the mesh serves (no compression in the mesh yet)', () => {
    expect(errorsOf(GATEWAY + '---\n' + cp('{}') + '---\n' + route('[{ kind: Service, name: orders }]'))).toEqual([
      ['spec.rules[0].filters[0].extensionRef', 'a CompressionPolicy takes effect at a gateway: the route needs a Gateway parentRef'],
    ]);
    // With a Gateway parent too, it applies at the gateway (the mesh side of the route is not compressed).
    expect(errorsOf(GATEWAY + '---\n' + cp('{}') + '---\n' + route('[{ kind: Gateway, name: edge }, { kind: Service, name: orders }]'))).toEqual([]);
  });
});

// ApiLifecyclePolicy: the kind on its own (dates, URLs, every mistake with its field path and
// reason), its targetRefs (Gateways, listeners and Services that exist, one policy per target) and
// the ExtensionRef that names it from a route rule.
import { describe, expect, it } from 'vitest';
import type { ApiLifecyclePolicyResource } from '../../../control-plane/config/types.js';
import { applyYaml } from '../../harness/mesh.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const pol = (spec: string, name = 'v1') => `apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
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
`;

describe('ApiLifecyclePolicy on its own', () => {
  it('accepts every field and keeps the dates as written', () => {
    const r = applyYaml(pol(`{ deprecation: "2026-01-01T00:00:00Z", sunset: "2026-07-01", successor: "https://api.example.com/v2/orders", link: "https://developer.example.com/deprecations/v1", rejectAfterSunset: true }`));
    expect(r.errors).toEqual([]);
    expect((r.resources[0] as ApiLifecyclePolicyResource).spec).toEqual({
      deprecation: '2026-01-01T00:00:00Z',
      sunset: '2026-07-01',
      successor: 'https://api.example.com/v2/orders',
      link: 'https://developer.example.com/deprecations/v1',
      rejectAfterSunset: true,
      targetRefs: [],
    });
    const min = applyYaml(pol('{ deprecation: true }'));
    expect(min.errors).toEqual([]);
    expect((min.resources[0] as ApiLifecyclePolicyResource).spec).toEqual({ deprecation: true, rejectAfterSunset: false, targetRefs: [] });
    expect(errorsOf(pol('{ deprecation: "2026-01-01T01:00:00+01:00" }'))).toEqual([]);
  });

  it.each([
    ['no spec', '', 'spec', 'is required'],
    ['no deprecation', '{ sunset: "2026-07-01" }', 'spec.deprecation', 'is required'],
    ['deprecation false', '{ deprecation: false }', 'spec.deprecation', 'false: a policy for a version that is not deprecated has nothing to say; remove the policy (or give a future date)'],
    ['a date that is not RFC 3339', '{ deprecation: "01/02/2026" }', 'spec.deprecation', "'01/02/2026' is not an RFC 3339 date (2026-01-31 or 2026-01-31T12:00:00Z)"],
    ['a date-time without an offset', '{ deprecation: "2026-01-01T00:00:00" }', 'spec.deprecation', "'2026-01-01T00:00:00' is not an RFC 3339 date (2026-01-31 or 2026-01-31T12:00:00Z)"],
    ['an impossible date', '{ deprecation: "2026-13-01" }', 'spec.deprecation', "'2026-13-01' is not an RFC 3339 date (2026-01-31 or 2026-01-31T12:00:00Z)"],
    ['fractions of a second', '{ deprecation: "2026-01-01T00:00:00.5Z" }', 'spec.deprecation', "'2026-01-01T00:00:00.5Z' has fractions of a second: the Deprecation and Sunset headers carry whole seconds"],
    ['a number as a date', '{ deprecation: 2026 }', 'spec.deprecation', 'must be a string, got number 2026'],
    ['a sunset before the deprecation', '{ deprecation: "2026-07-01", sunset: "2026-01-01" }', 'spec.sunset', '2026-01-01 is before spec.deprecation (2026-07-01): RFC 9745 forbids a sunset earlier than the deprecation'],
    ['a relative successor', '{ deprecation: true, successor: "/v2/orders" }', 'spec.successor', "'/v2/orders' is not an absolute URL"],
    ['a successor that is not http', '{ deprecation: true, successor: "ftp://example.com/v2" }', 'spec.successor', "'ftp://example.com/v2' is not an http or https URL"],
    ['a link with a space', '{ deprecation: true, link: "https://example.com/a b" }', 'spec.link', "'https://example.com/a b' has characters a Link header cannot carry (spaces, quotes, < or >); percent-encode them"],
    ['a link with >', '{ deprecation: true, link: "https://example.com/a>b" }', 'spec.link', "'https://example.com/a>b' has characters a Link header cannot carry (spaces, quotes, < or >); percent-encode them"],
    ['rejectAfterSunset without a sunset', '{ deprecation: true, rejectAfterSunset: true }', 'spec.rejectAfterSunset', 'needs spec.sunset (the date from which the version answers 410 Gone)'],
    ['an unknown field', '{ deprecation: true, retire: true }', 'spec.retire', 'unknown field (allowed: deprecation, sunset, successor, link, rejectAfterSunset, targetRefs)'],
  ])('refuses %s', (_what, spec, path, message) => {
    expect(errorsOf(pol(spec))).toContainEqual([path, message]);
  });
});

describe('ApiLifecyclePolicy attachment', () => {
  it('targets a Gateway, a listener and a Service that exist', () => {
    expect(errorsOf(`${MESH}---\n${pol('{ deprecation: true, targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }] }')}`)).toEqual([]);
    expect(errorsOf(`${MESH}---\n${pol('{ deprecation: true, targetRefs: [{ group: weft.dev, kind: Service, name: orders }] }')}`)).toEqual([]);
    expect(errorsOf(`${MESH}---\n${pol('{ deprecation: true, targetRefs: [{ group: weft.dev, kind: Service, name: billing }] }')}`)).toEqual([['spec.targetRefs[0].name', 'Service default/billing does not exist (a policy targets Services of its own namespace)']]);
    expect(errorsOf(`${MESH}---\n${pol('{ deprecation: true, targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: tls }] }')}`)).toEqual([['spec.targetRefs[0].sectionName', "Gateway default/edge has no listener 'tls' (listeners: web)"]]);
  });

  it('refuses two policies for one Service', () => {
    const t = '{ deprecation: true, targetRefs: [{ group: weft.dev, kind: Service, name: orders }] }';
    const errs = errorsOf(`${MESH}---\n${pol(t, 'a')}---\n${pol(t, 'b')}`);
    expect(errs.some(([p, m]) => p === 'spec.targetRefs[0]' && /already targets Service default\/orders; one ApiLifecyclePolicy per target/.test(m))).toBe(true);
  });

  it('is named by a route rule ExtensionRef, which must exist', () => {
    const route = (name: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-v1 }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v1 } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiLifecyclePolicy, name: ${name} } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    expect(errorsOf(`${MESH}---\n${pol('{ deprecation: true }')}---\n${route('v1')}`)).toEqual([]);
    const errs = errorsOf(`${MESH}---\n${route('v0')}`);
    expect(errs.length).toBe(1);
    expect(errs[0]![0]).toBe('spec.rules[0].filters[0].extensionRef.name');
  });
});

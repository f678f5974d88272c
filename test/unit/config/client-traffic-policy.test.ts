// ClientTrafficPolicy: every limit read into the model (durations in ms), every mistake refused
// with its field path, and its targetRefs checked against the Gateways of its namespace (a
// missing Gateway or listener, a second policy on one target).
import { describe, expect, it } from 'vitest';
import type { ClientTrafficPolicyResource } from '../../../control-plane/config/types.js';
import { applyYaml } from '../../harness/mesh.js';

const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;
const TARGET = '[{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }]';
const ctp = (spec: string, name = 'limits') => `apiVersion: weft.dev/v1alpha1
kind: ClientTrafficPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);

describe('ClientTrafficPolicy', () => {
  it('accepts every limit, durations in ms', () => {
    const { resources, errors } = applyYaml(`${GW}---\n${ctp(`{ targetRefs: ${TARGET}, maxRequestBodyBytes: 1048576, maxRequestHeaderBytes: 8192, maxUriLength: 2048, requestHeaderTimeout: 5s, idleTimeout: 2m, maxConnections: 1000 }`)}`);
    expect(errors).toEqual([]);
    expect((resources.find((r) => r.kind === 'ClientTrafficPolicy') as ClientTrafficPolicyResource).spec).toEqual({
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' }],
      maxRequestBodyBytes: 1048576,
      maxRequestHeaderBytes: 8192,
      maxUriLength: 2048,
      requestHeaderTimeoutMs: 5000,
      idleTimeoutMs: 120000,
      maxConnections: 1000,
    });
  });

  it.each([
    ['no targetRefs', '{ maxConnections: 1 }', [['spec.targetRefs', 'is required']]],
    ['empty targetRefs', '{ targetRefs: [], maxConnections: 1 }', [['spec.targetRefs', 'must not be empty']]],
    ['no limit', `{ targetRefs: ${TARGET} }`, [['spec', 'needs at least one limit (maxRequestBodyBytes, maxRequestHeaderBytes, maxUriLength, requestHeaderTimeout, idleTimeout, maxConnections)']]],
    ['an unknown field (and so no limit)', `{ targetRefs: ${TARGET}, maxBody: 1 }`, [
      ['spec.maxBody', 'unknown field (allowed: targetRefs, maxRequestBodyBytes, maxRequestHeaderBytes, maxUriLength, requestHeaderTimeout, idleTimeout, maxConnections)'],
      ['spec', 'needs at least one limit (maxRequestBodyBytes, maxRequestHeaderBytes, maxUriLength, requestHeaderTimeout, idleTimeout, maxConnections)'],
    ]],
    ['a zero body limit', `{ targetRefs: ${TARGET}, maxRequestBodyBytes: 0 }`, [['spec.maxRequestBodyBytes', 'must be an integer from 1 to 4294967295, got 0']]],
    ['a header limit not in KiB', `{ targetRefs: ${TARGET}, maxRequestHeaderBytes: 5000 }`, [['spec.maxRequestHeaderBytes', 'must be a multiple of 1024 (Envoy counts KiB), got 5000']]],
    ['a header limit over 8 MiB', `{ targetRefs: ${TARGET}, maxRequestHeaderBytes: 8389632 }`, [['spec.maxRequestHeaderBytes', 'must be an integer from 1024 to 8388608, got 8389632']]],
    ['a tiny URI limit', `{ targetRefs: ${TARGET}, maxUriLength: 8 }`, [['spec.maxUriLength', 'must be an integer from 16 to 1048576, got 8']]],
    ['a timeout that is not a duration', `{ targetRefs: ${TARGET}, requestHeaderTimeout: 5 }`, [['spec.requestHeaderTimeout', 'must be a duration like 250ms, 10s, 2m or 1h, got 5']]],
    ['a 1 ms idle timeout', `{ targetRefs: ${TARGET}, idleTimeout: 1ms }`, [['spec.idleTimeout', 'must be at least 10 ms']]],
    ['zero connections', `{ targetRefs: ${TARGET}, maxConnections: 0 }`, [['spec.maxConnections', 'must be an integer from 1 to 1000000, got 0']]],
    ['a target of another kind', '{ targetRefs: [{ group: gateway.networking.k8s.io, kind: HTTPRoute, name: edge }], maxConnections: 1 }', [['spec.targetRefs[0].kind', "must be one of Gateway; got 'HTTPRoute'"]]],
  ])('refuses %s, with the field path', (_what, spec, expected) => {
    expect(errorsOf(`${GW}---\n${ctp(spec)}`)).toEqual(expected);
  });

  it.each([
    ['a missing Gateway', '[{ group: gateway.networking.k8s.io, kind: Gateway, name: nope }]', [['spec.targetRefs[0].name', 'Gateway default/nope does not exist (a policy targets Gateways of its own namespace)']]],
    ['a missing listener', '[{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: api }]', [['spec.targetRefs[0].sectionName', "Gateway default/edge has no listener 'api' (listeners: web)"]]],
  ])('refuses a target reference to %s', (_what, refs, expected) => {
    expect(errorsOf(`${GW}---\n${ctp(`{ targetRefs: ${refs}, maxConnections: 1 }`)}`)).toEqual(expected);
  });

  it('refuses a second ClientTrafficPolicy on the same target, and takes one per listener besides the Gateway', () => {
    const errs = errorsOf(`${GW}---\n${ctp(`{ targetRefs: ${TARGET}, maxConnections: 1 }`, 'a')}---\n${ctp(`{ targetRefs: ${TARGET}, maxConnections: 2 }`, 'b')}`);
    expect(errs).toContainEqual(['spec.targetRefs[0]', 'ClientTrafficPolicy default/a already targets Gateway default/edge; one ClientTrafficPolicy per target']);
    const listener = '[{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }]';
    expect(errorsOf(`${GW}---\n${ctp(`{ targetRefs: ${TARGET}, maxConnections: 1 }`, 'a')}---\n${ctp(`{ targetRefs: ${listener}, maxConnections: 2 }`, 'b')}`)).toEqual([]);
  });
});

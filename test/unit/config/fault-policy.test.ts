// FaultPolicy (issue 18): the kind on its own (every mistake with its field path), and the
// ExtensionRef route filter that names it (missing policy, other kinds or groups, two per rule).
import { describe, expect, it } from 'vitest';
import { checkDelete, parseDocuments, validateApply } from '../../../control-plane/config/index.js';
import { type FaultPolicyResource } from '../../../control-plane/config/types.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { applyYaml } from '../../harness/mesh.js';

const apply = applyYaml;
const errorsOf = (yaml: string) => apply(yaml).errors.map((e) => [e.path, e.message] as const);

const fp = (spec: string, name = 'slow') => `apiVersion: weft.dev/v1alpha1
kind: FaultPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
`;

describe('FaultPolicy on its own', () => {
  it.each([
    ['fixed delay, default percentage', '{ delay: { fixedDelay: 200ms } }', { delay: { fixedDelayMs: 200, percentage: 100 } }],
    ['delay from header, abort 503 at 30 %, max active faults', '{ delay: { fromHeader: true, percentage: 12.5 }, abort: { httpStatus: 503, percentage: 30 }, maxActiveFaults: 100 }', {
      delay: { fromHeader: true, percentage: 12.5 },
      abort: { httpStatus: 503, percentage: 30 },
      maxActiveFaults: 100,
    }],
    ['gRPC status abort with 4 decimals', '{ abort: { grpcStatus: 14, percentage: 0.0001 } }', { abort: { grpcStatus: 14, percentage: 0.0001 } }],
    ['abort from header, 0 %', '{ abort: { fromHeader: true, percentage: 0 } }', { abort: { fromHeader: true, percentage: 0 } }],
  ])('accepts %s', (_what, spec, expected) => {
    const { resources, errors } = apply(fp(spec));
    expect(errors).toEqual([]);
    expect((resources[0] as FaultPolicyResource).spec).toEqual(expected);
  });

  it.each([
    ['neither delay nor abort', '{}', [['spec', 'needs delay, abort or both']]],
    ['no spec', 'null', [['spec', 'is required']]],
    ['an unknown field', '{ abort: { httpStatus: 500 }, retry: 1 }', [['spec.retry', 'unknown field (allowed: delay, abort, maxActiveFaults)']]],
    ['a delay with neither fixedDelay nor fromHeader', '{ delay: { percentage: 5 } }', [['spec.delay', 'needs one of fixedDelay, fromHeader']]],
    ['a delay with both', '{ delay: { fixedDelay: 1s, fromHeader: true } }', [['spec.delay', 'set only one of fixedDelay, fromHeader']]],
    ['a bad duration', '{ delay: { fixedDelay: 5 } }', [['spec.delay.fixedDelay', 'must be a duration like 250ms, 10s, 2m or 1h, got 5']]],
    ['a zero delay', '{ delay: { fixedDelay: 0ms } }', [['spec.delay.fixedDelay', 'must be at least 1 ms']]],
    ['fromHeader false', '{ delay: { fromHeader: false } }', [['spec.delay.fromHeader', 'must be true, or left out']]],
    ['a percentage above 100', '{ delay: { fixedDelay: 1s, percentage: 101 } }', [['spec.delay.percentage', 'must be a number from 0 to 100, got 101']]],
    ['a negative percentage', '{ abort: { httpStatus: 500, percentage: -1 } }', [['spec.abort.percentage', 'must be a number from 0 to 100, got -1']]],
    ['a percentage as a string', '{ abort: { httpStatus: 500, percentage: "50%" } }', [['spec.abort.percentage', 'must be a number from 0 to 100, got "50%"']]],
    ['5 decimals', '{ abort: { httpStatus: 500, percentage: 0.00001 } }', [['spec.abort.percentage', '0.00001 has more than 4 decimals (the finest step is 0.0001 %)']]],
    ['an abort with two kinds', '{ abort: { httpStatus: 500, grpcStatus: 14 } }', [['spec.abort', 'set only one of httpStatus, grpcStatus']]],
    ['an abort with none', '{ abort: { percentage: 10 } }', [['spec.abort', 'needs one of httpStatus, grpcStatus, fromHeader']]],
    ['an HTTP status below 200', '{ abort: { httpStatus: 199 } }', [['spec.abort.httpStatus', 'must be an integer from 200 to 599, got 199']]],
    ['an HTTP status of 600', '{ abort: { httpStatus: 600 } }', [['spec.abort.httpStatus', 'must be an integer from 200 to 599, got 600']]],
    ['a gRPC status of 17', '{ abort: { grpcStatus: 17 } }', [['spec.abort.grpcStatus', 'must be an integer from 0 to 16, got 17']]],
    ['a negative maxActiveFaults', '{ abort: { httpStatus: 503 }, maxActiveFaults: -1 }', [['spec.maxActiveFaults', 'must be an integer from 0 to 4294967295, got -1']]],
    ['every mistake at once', '{ delay: { fixedDelay: soon, percentage: 200 }, abort: { httpStatus: 42 }, maxActiveFaults: 1.5 }', [
      ['spec.delay.percentage', 'must be a number from 0 to 100, got 200'],
      ['spec.delay.fixedDelay', 'must be a duration like 250ms, 10s, 2m or 1h, got "soon"'],
      ['spec.abort.httpStatus', 'must be an integer from 200 to 599, got 42'],
      ['spec.maxActiveFaults', 'must be an integer from 0 to 4294967295, got 1.5'],
    ]],
  ])('refuses %s, with the field path', (_what, spec, expected) => {
    expect(errorsOf(fp(spec))).toEqual(expected);
    for (const e of apply(fp(spec)).errors) expect(e).toMatchObject({ file: 'f.yaml', document: 0, resource: 'FaultPolicy/default/slow' });
  });
});

describe('ExtensionRef to a FaultPolicy from route rules', () => {
  const http = (filters: string, ns = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r${ns ? `, namespace: ${ns}` : ''} }
spec:
  parentRefs: [{ name: orders, namespace: default }]
  rules:
    - filters: ${filters}
      backendRefs: [{ name: orders, namespace: default, port: 8080 }]
`;
  const grpc = (filters: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: g }
spec:
  parentRefs: [{ name: greeter }]
  rules:
    - filters: ${filters}
      backendRefs: [{ name: greeter }]
`;
  const ref = (name = 'slow', kind = 'FaultPolicy', group = 'weft.dev') => `{ type: ExtensionRef, extensionRef: { group: ${group}, kind: ${kind}, name: ${name} } }`;
  const POLICY = fp('{ abort: { httpStatus: 503, percentage: 10 } }');
  const OTHER = fp('{ delay: { fixedDelay: 1s } }', 'other');

  it('accepts a reference to a FaultPolicy in the route namespace, from an HTTPRoute and a GRPCRoute', () => {
    expect(apply(`${SVC}---\n${POLICY}---\n${http(`[${ref()}]`)}---\n${grpc(`[${ref()}]`)}`).errors).toEqual([]);
  });

  it.each([
    ['a missing FaultPolicy', `[${ref('nope')}]`, [['spec.rules[0].filters[0].extensionRef.name', 'FaultPolicy default/nope does not exist']]],
    ['another kind', `[${ref('slow', 'RateLimitPolicy')}]`, [['spec.rules[0].filters[0].extensionRef.kind', "must be one of FaultPolicy, CorsPolicy, CompressionPolicy, SecurityHeadersPolicy, CachePolicy, AggregationPolicy; got 'RateLimitPolicy'"]]],
    ['another group', `[${ref('slow', 'FaultPolicy', 'example.com')}]`, [['spec.rules[0].filters[0].extensionRef.group', "must be one of weft.dev; got 'example.com'"]]],
    ['no name', '[{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy } }]', [['spec.rules[0].filters[0].extensionRef.name', 'is required']]],
    ['no extensionRef', '[{ type: ExtensionRef }]', [['spec.rules[0].filters[0].extensionRef', 'is required']]],
    ['two fault filters in one rule', `[${ref()}, ${ref('other')}]`, [['spec.rules[0].filters[1]', 'a rule may reference one FaultPolicy (this is the second)']]],
  ])('HTTPRoute: refuses %s at the filter', (_what, filters, expected) => {
    expect(errorsOf(`${SVC}---\n${POLICY}---\n${OTHER}---\n${http(filters)}`)).toEqual(expected);
  });

  it.each([
    ['a missing FaultPolicy', `[${ref('nope')}]`, [['spec.rules[0].filters[0].extensionRef.name', 'FaultPolicy default/nope does not exist']]],
    ['two fault filters in one rule', `[${ref()}, ${ref()}]`, [['spec.rules[0].filters[1]', 'a rule may reference one FaultPolicy (this is the second)']]],
  ])('GRPCRoute: refuses %s at the filter', (_what, filters, expected) => {
    expect(errorsOf(`${SVC}---\n${POLICY}---\n${grpc(filters)}`)).toEqual(expected);
  });

  it('resolves the name in the route namespace only (LocalObjectReference)', () => {
    const errs = errorsOf(`${SVC}---\n${POLICY}---\n${http(`[${ref()}]`, 'shop')}`);
    expect(errs).toEqual([['spec.rules[0].filters[0].extensionRef.name', 'FaultPolicy shop/slow does not exist']]);
  });

  it('refuses to delete a FaultPolicy a route still references, naming the route', () => {
    const m = buildModel(1, apply(`${SVC}---\n${POLICY}---\n${http(`[${ref()}]`)}`).resources);
    expect(checkDelete(['FaultPolicy/default/slow'], m).map((e) => `${e.resource} ${e.path}`)).toEqual(['HTTPRoute/default/r spec.rules[0].filters[0].extensionRef.name']);
  });
});

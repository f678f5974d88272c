// AggregationPolicy: the kind on its own (templates, dependencies and bounds, every mistake with its
// field path and reason) and the HTTPRoute rule that names it (Gateway parents only; no
// backendRefs, timeouts, retry or forwarding filters, since the gateway answers the rule itself).
import { describe, expect, it } from 'vitest';
import type { AggregationPolicyResource } from '../../../control-plane/config/types.js';
import { applyYaml } from '../../harness/mesh.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const ap = (spec: string, name = 'dash') => `apiVersion: weft.dev/v1alpha1
kind: AggregationPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const GATEWAY = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: users }
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
const OK = ap(`{ calls: [{ name: user, path: /users/1, timeout: 1s }] }`);
const rule = (parent: string, extra = '') => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: dash }
spec:
  parentRefs: [${parent}]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /dashboard } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: AggregationPolicy, name: dash } }]${extra}
`;

describe('AggregationPolicy on its own', () => {
  it('accepts every field and defaults the rest', () => {
    const r = applyYaml(ap(`
  pathTemplate: /dashboard/{id}
  maxCallBodyBytes: 4096
  calls:
    - { name: user, path: '/users/{path.id}', timeout: 1s }
    - { name: orders, method: POST, path: '/orders?user={calls.user.body.id}&lang={query.lang}', host: orders.internal:8080, headers: [authorization, x-api-key], timeout: 250ms, optional: true, dependsOn: [user] }`));
    expect(r.errors).toEqual([]);
    expect((r.resources[0] as AggregationPolicyResource).spec).toEqual({
      pathTemplate: '/dashboard/{id}',
      maxCallBodyBytes: 4096,
      calls: [
        { name: 'user', method: 'GET', path: '/users/{path.id}', headers: ['authorization', 'x-weft-consumer'], timeoutMs: 1000, optional: false, dependsOn: [] },
        { name: 'orders', method: 'POST', path: '/orders?user={calls.user.body.id}&lang={query.lang}', host: 'orders.internal:8080', headers: ['authorization', 'x-api-key'], timeoutMs: 250, optional: true, dependsOn: ['user'] },
      ],
    });
    expect((applyYaml(OK).resources[0] as AggregationPolicyResource).spec.maxCallBodyBytes).toBe(1 << 20);
  });

  it.each([
    ['{ calls: [] }', 'spec.calls', 'must not be empty'],
    ['{ calls: [{ name: user, path: /u, timeout: 1s }, { name: user, path: /v, timeout: 1s }] }', 'spec.calls[1].name', "'user' is used by an earlier call"],
    ['{ calls: [{ name: 1user, path: /u, timeout: 1s }] }', 'spec.calls[0].name', 'is not a call name'],
    ['{ calls: [{ name: u, path: users, timeout: 1s }] }', 'spec.calls[0].path', "must start with '/'"],
    ['{ calls: [{ name: u, path: "/u/{id}", timeout: 1s }] }', 'spec.calls[0].path', 'must be path.NAME, query.NAME or calls.CALL.body.KEY'],
    ['{ calls: [{ name: u, path: "/u/{path.id", timeout: 1s }] }', 'spec.calls[0].path', 'is not closed'],
    ['{ calls: [{ name: u, path: "/u/a b", timeout: 1s }] }', 'spec.calls[0].path', 'cannot hold'],
    ['{ calls: [{ name: u, path: "/u/{path.id}", timeout: 1s }] }', 'spec.calls[0].path', '{path.id} names no {id} segment of spec.pathTemplate'],
    ['{ pathTemplate: "/d/{x}", calls: [{ name: u, path: "/u/{path.id}", timeout: 1s }] }', 'spec.calls[0].path', '{path.id} names no {id} segment'],
    ['{ pathTemplate: "d/{x}", calls: [{ name: u, path: /u, timeout: 1s }] }', 'spec.pathTemplate', "must start with '/'"],
    ['{ pathTemplate: "/d/{x}/{x}", calls: [{ name: u, path: /u, timeout: 1s }] }', 'spec.pathTemplate', '{x} appears twice'],
    ['{ pathTemplate: "/d/a{x}", calls: [{ name: u, path: /u, timeout: 1s }] }', 'spec.pathTemplate', 'a placeholder takes a whole segment'],
    ['{ calls: [{ name: a, path: "/a/{calls.b.body.id}", timeout: 1s }, { name: b, path: /b, timeout: 1s }] }', 'spec.calls[0].path', "needs 'b' in spec.calls[0].dependsOn"],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, dependsOn: [c] }] }', 'spec.calls[0].dependsOn[0]', "'c' is not a call of this policy"],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, dependsOn: [a] }] }', 'spec.calls[0].dependsOn[0]', 'cannot depend on itself'],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, dependsOn: [b] }, { name: b, path: /b, timeout: 1s, dependsOn: [a] }] }', 'spec.calls[0].dependsOn', 'dependency cycle'],
    ['{ calls: [{ name: a, path: /a }] }', 'spec.calls[0].timeout', 'is required'],
    ['{ calls: [{ name: a, path: /a, timeout: 2m }] }', 'spec.calls[0].timeout', 'at most 60s'],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, method: TRACE }] }', 'spec.calls[0].method', 'must be one of'],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, headers: [Authorization] }] }', 'spec.calls[0].headers[0]', 'is not a lowercase header name'],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, headers: [content-length] }] }', 'spec.calls[0].headers[0]', 'is not passed to a sub-request'],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, host: "Orders" }] }', 'spec.calls[0].host', 'is not a lowercase host name'],
    ['{ calls: [{ name: a, path: /a, timeout: 1s }], maxCallBodyBytes: 0 }', 'spec.maxCallBodyBytes', 'must be an integer from 1'],
    ['{ calls: [{ name: a, path: /a, timeout: 1s, body: x }] }', 'spec.calls[0].body', 'unknown field'],
  ])('refuses %s at %s', (spec, path, message) => {
    const errs = errorsOf(ap(spec));
    expect(errs.find(([p]) => p === path)?.[1] ?? errs).toContain(message);
  });

  it('refuses more than 16 calls', () => {
    const calls = Array.from({ length: 17 }, (_, i) => `{ name: c${i}, path: /c, timeout: 1s }`).join(', ');
    expect(errorsOf(ap(`{ calls: [${calls}] }`))).toContainEqual(['spec.calls', 'must have at most 16 items']);
  });
});

describe('an HTTPRoute rule naming an AggregationPolicy', () => {
  it('is accepted on a Gateway route without backendRefs', () => {
    expect(applyYaml([GATEWAY, OK, rule('{ kind: Gateway, name: edge }')].join('---\n')).errors).toEqual([]);
  });

  it.each([
    ['backendRefs', '\n      backendRefs: [{ name: users, port: 8080 }]', 'spec.rules[0].backendRefs', 'must be empty when an AggregationPolicy answers the request'],
    ['timeouts', '\n      timeouts: { request: 1s }', 'spec.rules[0].timeouts', 'is not used when an AggregationPolicy answers'],
    ['retry', '\n      retry: { attempts: 2 }', 'spec.rules[0].retry', 'is not used when an AggregationPolicy answers'],
  ])('refuses %s on the rule', (_what, extra, path, message) => {
    const errs = applyYaml([GATEWAY, OK, rule('{ kind: Gateway, name: edge }', extra)].join('---\n')).errors.map((e) => [e.path, e.message] as const);
    expect(errs.find(([p]) => p === path)?.[1] ?? errs).toContain(message);
  });

  it('refuses a forwarding filter beside it', () => {
    const y = rule('{ kind: Gateway, name: edge }').replace('filters: [', 'filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: x, value: y }] } }, ');
    expect(errorsOf([GATEWAY, OK, y].join('---\n'))).toContainEqual(['spec.rules[0].filters[0]', 'RequestHeaderModifier cannot be combined with an AggregationPolicy: the request is answered at the gateway, not forwarded']);
  });

  it('refuses a FaultPolicy or CachePolicy beside it (they run after the aggregation)', () => {
    const fault = 'apiVersion: weft.dev/v1alpha1\nkind: FaultPolicy\nmetadata: { name: slow }\nspec: { delay: { fixedDelay: 1s, percentage: 100 } }\n';
    const y = rule('{ kind: Gateway, name: edge }').replace('filters: [', 'filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultPolicy, name: slow } }, ');
    expect(errorsOf([GATEWAY, OK, fault, y].join('---\n'))).toContainEqual(['spec.rules[0].filters[0]', 'a FaultPolicy cannot be combined with an AggregationPolicy: the aggregation answers before it runs (put it on the routes the calls reach)']);
  });

  it('refuses a mesh (Service) parent, and a policy that does not exist', () => {
    expect(errorsOf([GATEWAY, OK, rule('{ group: weft.dev, kind: Service, name: users }')].join('---\n'))).toContainEqual([
      'spec.rules[0].filters[0].extensionRef.kind',
      'an AggregationPolicy applies to HTTPRoutes attached to Gateways only (every parentRef a Gateway)',
    ]);
    expect(errorsOf([GATEWAY, rule('{ kind: Gateway, name: edge }')].join('---\n'))).toContainEqual(['spec.rules[0].filters[0].extensionRef.name', 'AggregationPolicy default/dash does not exist']);
  });
});

// RateLimitPolicy on its own: every field read (defaults filled), every mistake refused with its
// field path, and its attachment (targetRefs to Gateways, listeners and Services; ExtensionRef
// from route rules).
import { describe, expect, it } from 'vitest';
import { kindDefinition } from '../../../control-plane/config/kinds/index.js';
import type { RateLimitPolicyResource } from '../../../control-plane/config/types.js';
import { applyYaml } from '../../harness/mesh.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const rlp = (spec: string, name = 'api-limits') => `apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const REDIS = '{ address: "127.0.0.1:6379" }';

describe('RateLimitPolicy on its own', () => {
  it('reads every field and fills the defaults (global scope, fail open, 100ms timeout)', () => {
    const { resources, errors } = applyYaml(
      rlp(`
  redis: ${REDIS}
  rules:
    - name: per-consumer
      descriptor: [consumer, { jwtClaim: tenant }, { header: X-Tenant }, plan, clientIp, route, service]
      requests: 600
      unit: minute
      plans: { gold: 6000, blocked: 0 }
      missingValue: anonymous
    - { name: burst, descriptor: [clientIp], requests: 10, period: 10s, scope: local }
  quotas:
    - { name: monthly, by: consumer, requests: 100000, period: month, plans: { free: 1000 } }
`),
    );
    expect(errors).toEqual([]);
    expect((resources[0] as RateLimitPolicyResource).spec).toEqual({
      targetRefs: [],
      rules: [
        {
          name: 'per-consumer',
          descriptor: [{ consumer: true }, { jwtClaim: 'tenant' }, { header: 'x-tenant' }, { plan: true }, { clientIp: true }, { route: true }, { service: true }],
          requests: 600,
          windowMs: 60_000,
          scope: 'global',
          plans: { gold: 6000, blocked: 0 },
          missingValue: 'anonymous',
        },
        { name: 'burst', descriptor: [{ clientIp: true }], requests: 10, windowMs: 10_000, scope: 'local', plans: {} },
      ],
      quotas: [{ name: 'monthly', by: 'consumer', requests: 100000, period: 'month', plans: { free: 1000 } }],
      redis: { address: '127.0.0.1:6379', keyPrefix: '', timeoutMs: 100 },
      failMode: 'open',
    });
    expect(kindDefinition('RateLimitPolicy').summary(resources[0] as never)).toBe('per-consumer 600/minute global, burst 10/10s local, monthly 100000/month; redis 127.0.0.1:6379 fail open');
  });

  it('refuses every mistake with its field path', () => {
    expect(errorsOf(rlp('{}'))).toEqual([['spec', 'needs rules or quotas']]);
    expect(errorsOf(rlp('{ rules: [{ name: a, descriptor: [consumer], requests: 1, unit: minute }] }'))).toEqual([['spec.redis', 'is required: spec.rules[0] is global (the default scope)']]);
    expect(errorsOf(rlp('{ quotas: [{ name: q, by: plan, requests: 1, period: day }] }'))).toEqual([['spec.redis', 'is required: quotas are counted in Redis']]);
    expect(errorsOf(rlp(`{ redis: ${REDIS}, failMode: closed, rules: [{ name: a, descriptor: [consumer], requests: 1, unit: minute, scope: local }] }`))).toEqual([
      ['spec.redis', 'has no effect: no rule is global and there are no quotas (local rules count in each proxy)'],
      ['spec.failMode', 'has no effect: only global rules and quotas depend on Redis'],
    ]);
    expect(
      errorsOf(
        rlp(`
  redis: { address: "nohost", timeout: 11s, keyPrefix: "a b" }
  failMode: sometimes
  rules:
    - { name: a, descriptor: [consumer, consumer], requests: 0, unit: fortnight }
    - { name: a, descriptor: [{ jwtClaim: x, header: y }, ip], requests: 1, unit: minute, period: 1m }
    - { name: B, descriptor: [], requests: 1, period: 1500ms }
    - { name: c, descriptor: [{ header: ":path" }], requests: 1, period: 25h, scope: everywhere, plans: { "no plan": 1, gold: -1 } }
    - { name: d, descriptor: [plan], requests: 1 }
  quotas:
    - { name: a, by: ip, requests: 1, period: year }
`),
      ),
    ).toEqual([
      ['spec.rules[0].descriptor[1]', 'repeats spec.rules[0].descriptor[0]'],
      ['spec.rules[0].requests', 'must be an integer from 1 to 1000000000, got 0'],
      ['spec.rules[0].unit', "must be one of second, minute, hour, day; got 'fortnight'"],
      ['spec.rules[1].descriptor[0]', 'set exactly one of jwtClaim, header'],
      ['spec.rules[1].descriptor[1]', "must be one of consumer, plan, apiKey, clientIp, route, service, or {jwtClaim: <claim>} or {header: <name>}, got 'ip'"],
      ['spec.rules[1]', 'set unit or period, not both'],
      ['spec.rules[2].name', "'B' is not lowercase letters, digits, -, _ and ., at most 63"],
      ['spec.rules[2].descriptor', 'must not be empty'],
      ['spec.rules[2].period', 'must be whole seconds (the RateLimit headers count seconds)'],
      ['spec.rules[3].descriptor[0].header', "':path' is not a valid HTTP header name"],
      ['spec.rules[3].period', 'must be at most 24h (longer windows are quotas: spec.quotas)'],
      ['spec.rules[3].scope', "must be one of global, local; got 'everywhere'"],
      ['spec.rules[3].plans.no plan', 'is not a plan name (letters, digits, -, _ and ., at most 63)'],
      ['spec.rules[3].plans.gold', 'must be an integer from 0 to 1000000000, got -1'],
      ['spec.rules[4]', 'needs unit (second, minute, hour, day) or period (a duration)'],
      ['spec.quotas[0].by', "must be one of consumer, plan; got 'ip'"],
      ['spec.quotas[0].period', "must be one of hour, day, week, month; got 'year'"],
      ['spec.redis.address', "'nohost' is not host:port"],
      ['spec.redis.keyPrefix', "'a b' is not 1 to 128 printable ASCII characters without spaces"],
      ['spec.redis.timeout', 'must be at most 10s (requests wait for it)'],
      ['spec.failMode', "must be one of open, closed; got 'sometimes'"],
    ]);
    expect(errorsOf(rlp(`{ redis: ${REDIS}, rules: [{ name: a, descriptor: [consumer], requests: 1, unit: minute }], quotas: [{ name: a, by: plan, requests: 1, period: day }] }`))).toEqual([
      ['spec.quotas[0].name', "'a' is also the name of spec.rules[0]"],
    ]);
  });
});

describe('attachment', () => {
  const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
`;
  const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }]
`;
  const local = '[{ name: a, descriptor: [clientIp], requests: 5, unit: second, scope: local }]';

  it('targets Gateways, listeners and Services of its namespace, one policy per target', () => {
    const ok = `${SVC}---\n${GW}---\n${rlp(`{ targetRefs: [{ group: weft.dev, kind: Service, name: orders }, { group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }], rules: ${local} }`)}`;
    expect(applyYaml(ok).errors).toEqual([]);
    // Both documents of one apply are told (each names the other).
    expect(errorsOf(`${ok}---\n${rlp(`{ targetRefs: [{ group: weft.dev, kind: Service, name: orders }], rules: ${local} }`, 'other')}`)).toEqual([
      ['spec.targetRefs[0]', 'RateLimitPolicy default/other already targets Service default/orders; one RateLimitPolicy per target'],
      ['spec.targetRefs[0]', 'RateLimitPolicy default/api-limits already targets Service default/orders; one RateLimitPolicy per target'],
    ]);
    expect(errorsOf(rlp(`{ targetRefs: [{ group: weft.dev, kind: Service, name: users }], rules: ${local} }`))).toEqual([['spec.targetRefs[0].name', 'Service default/users does not exist (a policy targets Services of its own namespace)']]);
  });

  it('is named by route rules through ExtensionRef (mesh routes too)', () => {
    const route = (name: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Service, name: orders }]
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: RateLimitPolicy, name: ${name} } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    expect(applyYaml(`${SVC}---\n${rlp(`{ rules: ${local} }`)}---\n${route('api-limits')}`).errors).toEqual([]);
    expect(errorsOf(`${SVC}---\n${route('nope')}`)).toEqual([['spec.rules[0].filters[0].extensionRef.name', expect.stringContaining('RateLimitPolicy')]]);
  });
});

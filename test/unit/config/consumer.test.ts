// Consumer and ApiKeyPolicy: each kind on its own (every mistake with its field path and reason),
// a key hash or JWT subject claimed by two consumers refused with both paths, and the policy's
// references (named consumers and targets that exist, ExtensionRef only on gateway routes).
import { describe, expect, it } from 'vitest';
import type { ApiKeyPolicyResource, ConsumerResource } from '../../../control-plane/config/types.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { checkDelete } from '../../../control-plane/config/index.js';
import { applyYaml } from '../../harness/mesh.js';

const H1 = `sha256:${'a'.repeat(64)}`;
const H2 = `sha256:${'b'.repeat(64)}`;
const errorsOf = (yaml: string, model = buildModel(0, [])) => applyYaml(yaml, model).errors.map((e) => [e.path, e.message] as const);
const consumer = (name: string, spec: string, labels = '{}') => `apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: ${name}, labels: ${labels} }
spec: ${spec}
`;
const policy = (spec: string, name = 'keys') => `apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
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

describe('Consumer on its own', () => {
  it('accepts every field', () => {
    const r = applyYaml(consumer('acme', `{ plan: gold, keys: [{ id: k1, hash: "${H1}", created: "2026-01-01T00:00:00Z", expires: "2027-01-01T00:00:00.5+02:00" }, { id: k2, hash: "${H2}" }], jwtSubjects: [{ issuer: "https://idp.example", subject: "user-1" }] }`, '{ tier: paid }'));
    expect(r.errors).toEqual([]);
    const c = r.resources[0] as ConsumerResource;
    expect(c.spec).toEqual({ plan: 'gold', keys: [{ id: 'k1', hash: H1, created: '2026-01-01T00:00:00Z', expires: '2027-01-01T00:00:00.5+02:00' }, { id: 'k2', hash: H2 }], jwtSubjects: [{ issuer: 'https://idp.example', subject: 'user-1' }] });
    expect(c.metadata.labels).toEqual({ tier: 'paid' });
    expect(applyYaml(consumer('bare', '{}')).errors).toEqual([]);
    expect((applyYaml(consumer('bare', '{}')).resources[0] as ConsumerResource).spec).toEqual({ plan: '', keys: [], jwtSubjects: [] });
  });

  it.each([
    ['a key itself instead of its hash', `{ keys: [{ id: k1, hash: "wk_k1_secret" }] }`, [['spec.keys[0].hash', "'wk_k1_secret' is not a key hash 'sha256:<64 lowercase hex digits>' (Consumers store hashes, never keys: use `weft key issue`)"]]],
    ['an upper-case hash', `{ keys: [{ id: k1, hash: "sha256:${'A'.repeat(64)}" }] }`, [['spec.keys[0].hash', `'sha256:${'A'.repeat(64)}' is not a key hash 'sha256:<64 lowercase hex digits>' (Consumers store hashes, never keys: use \`weft key issue\`)`]]],
    ['a key without id', `{ keys: [{ hash: "${H1}" }] }`, [['spec.keys[0].id', 'is required']]],
    ['two keys with one id', `{ keys: [{ id: k1, hash: "${H1}" }, { id: k1, hash: "${H2}" }] }`, [['spec.keys[1].id', "key id is the same as spec.keys[0]'s"]]],
    ['two keys with one hash', `{ keys: [{ id: k1, hash: "${H1}" }, { id: k2, hash: "${H1}" }] }`, [['spec.keys[1].hash', "key hash is the same as spec.keys[0]'s"]]],
    ['an expiry that is no time', `{ keys: [{ id: k1, hash: "${H1}", expires: tomorrow }] }`, [['spec.keys[0].expires', "'tomorrow' is not an RFC 3339 time such as 2027-01-31T00:00:00Z"]]],
    ['an expiry before creation', `{ keys: [{ id: k1, hash: "${H1}", created: "2026-01-02T00:00:00Z", expires: "2026-01-01T00:00:00Z" }] }`, [['spec.keys[0].expires', '2026-01-01T00:00:00Z is not after created (2026-01-02T00:00:00Z)']]],
    ['an unknown key field', `{ keys: [{ id: k1, hash: "${H1}", key: x }] }`, [['spec.keys[0].key', 'unknown field (allowed: id, hash, created, expires)']]],
    ['a plan with spaces', '{ plan: "gold plan" }', [['spec.plan', "'gold plan' is not a plan name (letters, digits, ., _ and -, at most 63)"]]],
    ['a JWT subject without issuer', '{ jwtSubjects: [{ subject: u1 }] }', [['spec.jwtSubjects[0].issuer', 'is required']]],
    ['a JWT subject twice', '{ jwtSubjects: [{ issuer: i, subject: u1 }, { issuer: i, subject: u1 }] }', [['spec.jwtSubjects[1]', "issuer and subject is the same as spec.jwtSubjects[0]'s"]]],
  ] as const)('refuses %s', (_what, spec, errors) => {
    expect(errorsOf(consumer('acme', spec))).toEqual(errors);
  });

  it('refuses a key hash two consumers claim, in one apply and against stored ones, naming the other', () => {
    const both = errorsOf(`${consumer('acme', `{ keys: [{ id: k1, hash: "${H1}" }] }`)}---\n${consumer('globex', `{ keys: [{ id: k9, hash: "${H2}" }, { id: k2, hash: "${H1}" }] }`)}`);
    expect(both).toEqual([
      ['spec.keys[0].hash', "the same key hash is Consumer default/globex's (spec.keys[1].hash): one key names one consumer"],
      ['spec.keys[1].hash', "the same key hash is Consumer default/acme's (spec.keys[0].hash): one key names one consumer"],
    ]);
    const stored = buildModel(1, applyYaml(consumer('acme', `{ keys: [{ id: k1, hash: "${H1}" }] }`)).resources);
    expect(errorsOf(consumer('globex', `{ keys: [{ id: k2, hash: "${H1}" }] }`), stored)[0]).toEqual(['spec.keys[0].hash', "the same key hash is Consumer default/acme's (spec.keys[0].hash): one key names one consumer"]);
    // Re-applying the owner itself is no conflict.
    expect(errorsOf(consumer('acme', `{ plan: gold, keys: [{ id: k1, hash: "${H1}" }] }`), stored)).toEqual([]);
  });

  it('refuses a JWT subject two consumers claim', () => {
    const stored = buildModel(1, applyYaml(consumer('acme', '{ jwtSubjects: [{ issuer: "https://idp", subject: u1 }] }')).resources);
    expect(errorsOf(consumer('globex', '{ jwtSubjects: [{ issuer: "https://idp", subject: u2 }, { issuer: "https://idp", subject: u1 }] }'), stored)[0]).toEqual([
      'spec.jwtSubjects[1]',
      "issuer https://idp subject u1 is also Consumer default/acme's (spec.jwtSubjects[0]): one JWT subject names one consumer",
    ]);
  });
});

describe('ApiKeyPolicy on its own', () => {
  it('defaults: the x-api-key header, every consumer, credentials hidden, no JWT', () => {
    const r = applyYaml(policy('{}'));
    expect(r.errors).toEqual([]);
    expect((r.resources[0] as ApiKeyPolicyResource).spec).toEqual({ header: 'x-api-key', query: '', consumers: { all: true }, hideCredentials: true, allowJwt: false, targetRefs: [] });
  });

  it('reads only the query when only a query parameter is named, and lowercases the header', () => {
    expect((applyYaml(policy('{ query: api_key }')).resources[0] as ApiKeyPolicyResource).spec).toMatchObject({ header: '', query: 'api_key' });
    expect((applyYaml(policy('{ header: X-Key, query: key, hideCredentials: false, allowJwt: true, consumers: { matchLabels: { tier: paid } } }')).resources[0] as ApiKeyPolicyResource).spec).toEqual({
      header: 'x-key', query: 'key', consumers: { matchLabels: { tier: 'paid' } }, hideCredentials: false, allowJwt: true, targetRefs: [],
    });
  });

  it.each([
    ['a header the proxy owns', '{ header: x-weft-consumer }', [['spec.header', "'x-weft-consumer' cannot carry a key: the proxy drops or sets it"]]],
    ['a hop-by-hop header', '{ header: Connection }', [['spec.header', "'connection' cannot carry a key: the proxy drops or sets it"]]],
    ['a header name with a space', '{ header: "x key" }', [['spec.header', "'x key' is not a valid HTTP header name"]]],
    ['a query name with &', '{ query: "a&b" }', [['spec.query', "'a&b' is not a query parameter name (letters, digits, ., _, ~ and -)"]]],
    ['two consumer selections', '{ consumers: { names: [a], matchLabels: { x: y } } }', [['spec.consumers', 'set only one of names, matchLabels']]],
    ['an empty selection', '{ consumers: {} }', [['spec.consumers', 'needs one of all, names, matchLabels (or leave consumers out: every Consumer of the namespace)']]],
    ['all: false', '{ consumers: { all: false } }', [['spec.consumers.all', 'false would let no consumer call; list names or matchLabels instead']]],
    ['an empty matchLabels', '{ consumers: { matchLabels: {} } }', [['spec.consumers.matchLabels', 'must name at least one label (an empty selector would match every consumer: leave consumers out for that)']]],
    ['a name listed twice', '{ consumers: { names: [a, a] } }', [['spec.consumers.names[1]', "'a' is listed twice"], ['spec.consumers.names[0]', 'Consumer default/a does not exist (a policy names Consumers of its own namespace)'], ['spec.consumers.names[1]', 'Consumer default/a does not exist (a policy names Consumers of its own namespace)']]],
    ['a consumer that does not exist', '{ consumers: { names: [ghost] } }', [['spec.consumers.names[0]', 'Consumer default/ghost does not exist (a policy names Consumers of its own namespace)']]],
    ['an unknown field', '{ keyHeader: x }', [['spec.keyHeader', 'unknown field (allowed: header, query, consumers, hideCredentials, allowJwt, targetRefs)']]],
  ] as const)('refuses %s', (_what, spec, errors) => {
    expect(errorsOf(policy(spec))).toEqual(errors);
  });

  it('targets Gateways, listeners and Services that exist, one policy per target', () => {
    expect(errorsOf(`${GATEWAY}---\n${policy('{ targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge }, { group: weft.dev, kind: Service, name: orders }] }')}`)).toEqual([]);
    expect(errorsOf(`${GATEWAY}---\n${policy('{ targetRefs: [{ group: weft.dev, kind: Service, name: payments }, { group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: tls }] }')}`)).toEqual([
      ['spec.targetRefs[0].name', 'Service default/payments does not exist (a policy targets Services of its own namespace)'],
      ['spec.targetRefs[1].sectionName', "Gateway default/edge has no listener 'tls' (listeners: web)"],
    ]);
    const two = errorsOf(`${GATEWAY}---\n${policy('{ targetRefs: [{ group: weft.dev, kind: Service, name: orders }] }', 'a')}---\n${policy('{ targetRefs: [{ group: weft.dev, kind: Service, name: orders }] }', 'b')}`);
    expect(two).toContainEqual(['spec.targetRefs[0]', 'ApiKeyPolicy default/b already targets Service default/orders; one ApiKeyPolicy per target']);
  });

  it('is named by ExtensionRef on gateway routes only, and a named Consumer cannot be deleted while the policy names it', () => {
    const route = (parent: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [${parent}]
  rules: [{ filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiKeyPolicy, name: keys } }], backendRefs: [{ name: orders, port: 8080 }] }]
`;
    const base = `${GATEWAY}---\n${consumer('acme', '{}')}---\n${policy('{ consumers: { names: [acme] } }')}`;
    expect(errorsOf(`${base}---\n${route('{ kind: Gateway, name: edge }')}`)).toEqual([]);
    expect(errorsOf(`${base}---\n${route('{ kind: Service, name: orders }')}`)).toEqual([['spec.rules[0].filters[0].extensionRef', 'a ApiKeyPolicy takes effect at a gateway: the route needs a Gateway parentRef']]);
    const model = buildModel(1, applyYaml(base).resources);
    expect(checkDelete(['Consumer/default/acme'], model).map((e) => e.path)).toEqual(['spec.consumers.names[0]']);
  });
});

describe('ApiKeyPolicy on a route rule', () => {
  it('is refused on a route with a mesh parent too (mesh callers would go unchecked)', () => {
    const yaml = `apiVersion: weft.dev/v1alpha1
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
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys }
spec: { header: x-api-key }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: [{ kind: Gateway, name: edge }, { kind: Service, name: orders }]
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiKeyPolicy, name: keys } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    expect(applyYaml(yaml).errors.map((e) => [e.path, e.message])).toEqual([
      ['spec.rules[0].filters[0].extensionRef.kind', "an ApiKeyPolicy on a route rule is enforced by Gateways only (every parentRef a Gateway); to authenticate mesh callers target the Service with the policy's spec.targetRefs"],
    ]);
  });
});

describe('Consumer names', () => {
  it.each(['anonymous', 'other'])('refuses %s, a label value of the per-consumer metrics', (name) => {
    const errors = applyYaml(`apiVersion: weft.dev/v1alpha1\nkind: Consumer\nmetadata: { name: ${name} }\nspec: {}\n`).errors.map((e) => [e.path, e.message]);
    expect(errors).toEqual([['metadata.name', `'${name}' is reserved: metrics and weft stat use it for ${name === 'anonymous' ? 'requests without a consumer' : 'the consumers past the label bound'}`]]);
  });
});

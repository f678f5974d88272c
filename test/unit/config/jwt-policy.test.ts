// JwtPolicy: the kind on its own (every field accepted with its default; every mistake refused
// with its field path and reason), its targetRefs (Gateways, listeners, Services; one per target)
// and the ExtensionRef that names it (only on routes every parent of which is a Gateway).
import { describe, expect, it } from 'vitest';
import type { JwtPolicyResource } from '../../../control-plane/config/types.js';
import { applyYaml } from '../../harness/mesh.js';
import { selfSignedCert } from '../../harness/certs.js';

const CA = selfSignedCert(['idp.test']).certPem;
const JWKS = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'G0pKVL3fA1cDv0EtmDG48pN1mRyrmBfmj0bSg2PkWU8', y: '55I74nqr6BiCZq_JMlCIjG-cOjazPd_qsBx-43rrkdU', kid: 'k1' }] });
const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const jp = (spec: string, name = 'auth') => `apiVersion: weft.dev/v1alpha1
kind: JwtPolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const local = (extra = '') => `{ name: idp, localJwks: '${JWKS}'${extra} }`;
const remote = (r: string, extra = '') => `{ name: idp, remoteJwks: ${r}${extra} }`;
const ca = JSON.stringify(CA);
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

describe('JwtPolicy on its own', () => {
  it('accepts every field, and defaults the rest', () => {
    const full = applyYaml(jp(`{ providers: [{ name: idp, issuer: "https://idp.test", audiences: [api, web], remoteJwks: { uri: "https://idp.test:8443/jwks?v=1", caCertificates: ${ca}, cacheDuration: 5m, timeout: 2s }, fromHeaders: [{ name: X-Token }, { name: authorization, valuePrefix: "JWT " }], fromParams: [token], fromCookies: [session], clockSkew: 30s, claimToHeaders: [{ claim: org.id, header: X-Org }], forward: true }, ${local()}], requirement: { providers: [idp], scopes: ["orders:read"], claims: [{ name: role, values: [admin] }] } }`).replace('{ name: idp, localJwks', '{ name: other, localJwks'));
    expect(full.errors).toEqual([]);
    expect((full.resources[0] as JwtPolicyResource).spec).toEqual({
      providers: [
        { name: 'idp', issuer: 'https://idp.test', audiences: ['api', 'web'], remoteJwks: { uri: 'https://idp.test:8443/jwks?v=1', caCertificates: CA, cacheDurationMs: 300_000, timeoutMs: 2000 }, fromHeaders: [{ name: 'x-token', valuePrefix: '' }, { name: 'authorization', valuePrefix: 'JWT ' }], fromParams: ['token'], fromCookies: ['session'], clockSkewSeconds: 30, claimToHeaders: [{ claim: 'org.id', header: 'x-org' }], forward: true },
        { name: 'other', issuer: '', audiences: [], localJwks: JWKS, fromHeaders: [], fromParams: [], fromCookies: [], clockSkewSeconds: 60, claimToHeaders: [], forward: false },
      ],
      requirement: { providers: ['idp'], allowMissing: false, allowFailed: false, scopes: ['orders:read'], claims: [{ name: 'role', values: ['admin'] }] },
      targetRefs: [],
    });
    const min = applyYaml(jp(`{ providers: [${remote(`{ uri: "https://idp.test/jwks", caCertificates: ${ca} }`)}] }`));
    expect(min.errors).toEqual([]);
    const spec = (min.resources[0] as JwtPolicyResource).spec;
    expect([spec.providers[0]!.remoteJwks!.cacheDurationMs, spec.providers[0]!.remoteJwks!.timeoutMs, spec.requirement]).toEqual([600_000, 5000, { providers: ['idp'], allowMissing: false, allowFailed: false, scopes: [], claims: [] }]);
    const failed = applyYaml(jp(`{ providers: [${local()}], requirement: { allowFailed: true } }`));
    expect((failed.resources[0] as JwtPolicyResource).spec.requirement).toMatchObject({ allowMissing: true, allowFailed: true });
  });

  it.each([
    ['no providers', '{ }', [['spec.providers', 'is required']]],
    ['an empty list', '{ providers: [] }', [['spec.providers', 'must not be empty']]],
    ['an unknown field', `{ providers: [${local()}], extra: 1 }`, [['spec.extra', 'unknown field (allowed: providers, requirement, targetRefs)']]],
    ['a provider without keys', '{ providers: [{ name: idp }] }', [['spec.providers[0]', 'needs one of remoteJwks, localJwks (where the verification keys come from)']]],
    ['both key sources', `{ providers: [${remote(`{ uri: "https://idp.test/j", caCertificates: ${ca} }`, `, localJwks: '${JWKS}'`)}] }`, [['spec.providers[0]', 'set only one of remoteJwks, localJwks']]],
    ['a bad provider name', `{ providers: [{ name: Idp, localJwks: '${JWKS}' }] }`, [['spec.providers[0].name', "'Idp' is not a valid name (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)"]]],
    ['a duplicate provider', `{ providers: [${local()}, ${local()}] }`, [['spec.providers[1].name', "'idp' is already the name of spec.providers[0]"]]],
    ['an empty issuer', `{ providers: [${local(', issuer: ""')}] }`, [['spec.providers[0].issuer', 'must not be empty']]],
    ['an http JWKS', `{ providers: [${remote(`{ uri: "http://idp.test/j", caCertificates: ${ca} }`)}] }`, [['spec.providers[0].remoteJwks.uri', 'must be https (keys fetched in the clear could be replaced on the way), got http']]],
    ['not a URL', `{ providers: [${remote(`{ uri: "idp.test/j", caCertificates: ${ca} }`)}] }`, [['spec.providers[0].remoteJwks.uri', "'idp.test/j' is not a URL"]]],
    ['credentials in the URI', `{ providers: [${remote(`{ uri: "https://u:p@idp.test/j", caCertificates: ${ca} }`)}] }`, [['spec.providers[0].remoteJwks.uri', 'must not carry credentials']]],
    ['a fragment', `{ providers: [${remote(`{ uri: "https://idp.test/j#x", caCertificates: ${ca} }`)}] }`, [['spec.providers[0].remoteJwks.uri', 'must not have a fragment']]],
    ['no CA', `{ providers: [${remote('{ uri: "https://idp.test/j" }')}] }`, [['spec.providers[0].remoteJwks.caCertificates', 'is required']]],
    ['a CA that is not PEM', `{ providers: [${remote('{ uri: "https://idp.test/j", caCertificates: "hello" }')}] }`, [['spec.providers[0].remoteJwks.caCertificates', 'must hold PEM certificates (-----BEGIN CERTIFICATE-----): the roots that verify the JWKS server']]],
    ['a cache duration out of range', `{ providers: [${remote(`{ uri: "https://idp.test/j", caCertificates: ${ca}, cacheDuration: 500ms }`)}] }`, [['spec.providers[0].remoteJwks.cacheDuration', 'must be from 1s to 24h, got 500ms']]],
    ['a timeout out of range', `{ providers: [${remote(`{ uri: "https://idp.test/j", caCertificates: ${ca}, timeout: 2m }`)}] }`, [['spec.providers[0].remoteJwks.timeout', 'must be from 100ms to 60s, got 2m']]],
    ['a local JWKS that is not JSON', "{ providers: [{ name: idp, localJwks: 'nope' }] }", [['spec.providers[0].localJwks', expect.stringMatching(/^is not JSON: /)]]],
    ['a local JWKS without keys', `{ providers: [{ name: idp, localJwks: '{"keys":[]}' }] }`, [['spec.providers[0].localJwks', 'must be a JWKS document: {"keys": [ ... ]} with at least one key']]],
    ['a private key', `{ providers: [{ name: idp, localJwks: '{"keys":[{"kty":"EC","d":"x"}]}' }] }`, [['spec.providers[0].localJwks', "keys[0] has the private member 'd': publish public keys only (a symmetric 'oct' key is a shared secret)"]]],
    ['a shared secret', `{ providers: [{ name: idp, localJwks: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' }] }`, [['spec.providers[0].localJwks', "keys[0] has the private member 'k': publish public keys only (a symmetric 'oct' key is a shared secret)"]]],
    ['a bad header name', `{ providers: [${local(', fromHeaders: [{ name: "x token" }]')}] }`, [['spec.providers[0].fromHeaders[0].name', "'x token' is not a valid HTTP header name"]]],
    ['a prefix with CR', `{ providers: [${local(', fromHeaders: [{ name: a, valuePrefix: "x\\r" }]')}] }`, [['spec.providers[0].fromHeaders[0].valuePrefix', 'must not contain CR, LF or NUL']]],
    ['a bad parameter', `{ providers: [${local(', fromParams: ["a=b"]')}] }`, [['spec.providers[0].fromParams[0]', "'a=b' is not a query parameter name"]]],
    ['a bad cookie', `{ providers: [${local(', fromCookies: ["a;b"]')}] }`, [['spec.providers[0].fromCookies[0]', "'a;b' is not a cookie name"]]],
    ['a fractional skew', `{ providers: [${local(', clockSkew: 1500ms')}] }`, [['spec.providers[0].clockSkew', "must be whole seconds (Envoy's clock_skew_seconds), got 1500ms"]]],
    ['a skew above 5 minutes', `{ providers: [${local(', clockSkew: 10m')}] }`, [['spec.providers[0].clockSkew', 'must be at most 5m (a larger skew keeps expired tokens alive), got 10m']]],
    ['a claim into Host', `{ providers: [${local(', claimToHeaders: [{ claim: sub, header: Host }]')}] }`, [['spec.providers[0].claimToHeaders[0].header', "'host' frames or routes the request; choose another header"]]],
    ['two claims into one header', `{ providers: [${local(', claimToHeaders: [{ claim: sub, header: x-u }, { claim: email, header: X-U }]')}] }`, [['spec.providers[0].claimToHeaders[1].header', "'x-u' is already set by spec.providers[0].claimToHeaders[0]"]]],
    ['a bad claim path', `{ providers: [${local(', claimToHeaders: [{ claim: "a..b", header: x-a }]')}] }`, [['spec.providers[0].claimToHeaders[0].claim', "'a..b' is not a claim name or dotted path (a.b)"]]],
    ['forward not a boolean', `{ providers: [${local(', forward: yes please')}] }`, [['spec.providers[0].forward', 'must be true or false, got string "yes please"']]],
    ['a requirement naming no provider', `{ providers: [${local()}], requirement: { providers: [nope] } }`, [['spec.requirement.providers[0]', "'nope' is not a provider of this policy (providers: idp)"]]],
    ['allowFailed without allowMissing', `{ providers: [${local()}], requirement: { allowFailed: true, allowMissing: false } }`, [['spec.requirement.allowMissing', 'false contradicts allowFailed: true (a request whose token fails may also come without one)']]],
    ['scopes with allowMissing', `{ providers: [${local()}], requirement: { allowMissing: true, scopes: [a] } }`, [['spec.requirement.scopes', 'cannot be required with allowMissing: a request without a verified token has no claims to check; use one policy per kind of route']]],
    ['claims with allowFailed', `{ providers: [${local()}], requirement: { allowFailed: true, claims: [{ name: a, values: [b] }] } }`, [['spec.requirement.claims', 'cannot be required with allowFailed: a request without a verified token has no claims to check; use one policy per kind of route']]],
    ['a bad scope', `{ providers: [${local()}], requirement: { scopes: ['a"b'] } }`, [['spec.requirement.scopes[0]', "'a\"b' is not a scope (RFC 6749 scope-token: no spaces, quotes or backslashes)"]]],
    ['a claim without values', `{ providers: [${local()}], requirement: { claims: [{ name: a, values: [] }] } }`, [['spec.requirement.claims[0].values', 'must not be empty']]],
  ])('refuses %s', (_name, spec, want) => {
    expect(errorsOf(jp(spec))).toEqual(want);
  });
});

describe('JwtPolicy attachment', () => {
  it('targets Gateways, listeners and Services that exist; one policy per target', () => {
    expect(errorsOf(`${MESH}---\n${jp(`{ providers: [${local()}], targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }, { group: weft.dev, kind: Service, name: orders }] }`)}`)).toEqual([]);
    expect(errorsOf(`${MESH}---\n${jp(`{ providers: [${local()}], targetRefs: [{ group: weft.dev, kind: Service, name: nope }] }`)}`)).toEqual([['spec.targetRefs[0].name', 'Service default/nope does not exist (a policy targets Services of its own namespace)']]);
    const two = errorsOf(`${MESH}---\n${jp(`{ providers: [${local()}], targetRefs: [{ group: weft.dev, kind: Service, name: orders }] }`)}---\n${jp(`{ providers: [${local()}], targetRefs: [{ group: weft.dev, kind: Service, name: orders }] }`, 'other')}`);
    expect(two.length).toBeGreaterThan(0);
    expect(two[0]![1]).toMatch(/already targets Service default\/orders; one JwtPolicy per target/);
  });

  it('an ExtensionRef to it only on routes whose parents are all Gateways', () => {
    const route = (parents: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r }
spec:
  parentRefs: ${parents}
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: JwtPolicy, name: auth } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
    const pol = jp(`{ providers: [${local()}] }`);
    expect(errorsOf(`${MESH}---\n${pol}---\n${route('[{ kind: Gateway, name: edge }]')}`)).toEqual([]);
    expect(errorsOf(`${MESH}---\n${pol}---\n${route('[{ kind: Gateway, name: edge }, { kind: Service, name: orders }]')}`)).toEqual([
      ['spec.rules[0].filters[0].extensionRef.kind', "a JwtPolicy on a route rule is enforced by Gateways only (every parentRef a Gateway); to authenticate mesh callers target the Service with the policy's spec.targetRefs"],
    ]);
  });
});

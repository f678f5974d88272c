// ApiKeyPolicy and Consumer translated (weft.filters.http.key_auth): after the compressor and
// before RBAC; a gateway listener carries the policy targeting it with the consumer table of the
// policy's namespace (SHA-256 bytes, expiry, allowed flags, JWT subjects; never a key); a rule's
// ExtensionRef puts its policy on that rule's routes and a policy-less filter on the listener; a
// Service target puts the filter on its sidecars' inbound listener only.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { filterNames, hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { EXTENSIONS } from '../../../common/extensions.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { KeyAuthPolicySchema, KeyAuthSchema } from '../../../proto/gen/weft/v1/key_auth_pb.js';

const H1 = 'a1'.repeat(32);
const H2 = 'b2'.repeat(32);
const BASE = `apiVersion: weft.dev/v1alpha1
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
  listeners: [{ name: web, port: 8000, protocol: HTTP }, { name: admin, port: 8001, protocol: HTTP }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /partner } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ApiKeyPolicy, name: partners } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: acme, labels: { tier: paid } }
spec: { plan: gold, keys: [{ id: a1, hash: "sha256:${H1}", expires: "2030-01-01T00:00:00Z" }], jwtSubjects: [{ issuer: "https://idp", subject: u1 }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: globex }
spec: { keys: [{ id: g1, hash: "sha256:${H2}" }] }
---
apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: elsewhere, namespace: other }
spec: {}
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: keys }
spec:
  query: api_key
  consumers: { matchLabels: { tier: paid } }
  allowJwt: true
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }, { group: weft.dev, kind: Service, name: orders }]
---
apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: partners }
spec:
  consumers: { names: [globex] }
  hideCredentials: false
`;
const KEY_AUTH = EXTENSIONS.keyAuth.name;
const gw = nodeOf({ id: 'gw-1', role: 'gateway', gateway: 'default/edge' });
const sidecar = (service: string) => nodeOf({ role: 'sidecar', service, appPort: 7000, appProtocol: 'http' });

describe('key_auth translation', () => {
  const t = new Translator(modelOf(BASE), new Registry());
  const listenerConfig = (name: string) => {
    const f = hcmOf(message<Listener>(t, gw, TYPE_URL.listener, name)).httpFilters.find((x) => x.name === KEY_AUTH)!;
    expect(f.isOptional).toBe(false);
    return anyUnpack(f.configType.value as never, KeyAuthSchema)!;
  };

  it('puts the filter on gateway listeners whose routes use it, and on the inbound listener of a targeted Service', () => {
    expect(filterNames(t, gw, 'gateway.web')).toContain(KEY_AUTH);
    expect(filterNames(t, gw, 'gateway.admin')).toContain(KEY_AUTH);
    expect(filterNames(t, sidecar('orders'), 'inbound')).toEqual([KEY_AUTH, 'envoy.filters.http.router']);
    expect(filterNames(t, sidecar('orders'), 'outbound')).not.toContain(KEY_AUTH);
  });

  it('runs after the compressor and before RBAC', () => {
    const authz = `---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-admin }
spec: { service: orders, action: DENY, rules: [{ to: [{ paths: [/admin] }] }] }
`;
    expect(filterNames(new Translator(modelOf(BASE + authz), new Registry()), sidecar('orders'), 'inbound')).toEqual([KEY_AUTH, 'envoy.filters.http.rbac', 'envoy.filters.http.router']);
  });

  it('carries the targeting policy with its namespace\'s consumers: hashes as bytes, expiry, allowed flags, JWT subjects', () => {
    const web = listenerConfig('gateway.web');
    expect(web.policy).toMatchObject({ name: 'default/keys', header: '', query: 'api_key', hideCredentials: true, allowJwt: true });
    const consumers = web.policy!.consumers.map((c) => ({ name: c.name, plan: c.plan, allowed: c.allowed, keys: c.keys.map((k) => [k.id, Buffer.from(k.sha256).toString('hex'), k.expires ? Number(k.expires.seconds) : 0]), jwt: c.jwtSubjects.map((s) => `${s.issuer} ${s.subject}`) }));
    expect(consumers).toEqual([
      { name: 'acme', plan: 'gold', allowed: true, keys: [['a1', H1, Date.parse('2030-01-01T00:00:00Z') / 1000]], jwt: ['https://idp u1'] },
      { name: 'globex', plan: '', allowed: false, keys: [['g1', H2, 0]], jwt: [] },
    ]);
    // No policy on the admin listener: the filter is there for the rule that names one.
    expect(listenerConfig('gateway.admin').policy).toBeUndefined();
  });

  it('puts a rule\'s own policy on its routes only', () => {
    const rc = message<RouteConfiguration>(t, gw, TYPE_URL.route, 'gateway.web');
    const routes = rc.virtualHosts.flatMap((vh) => vh.routes);
    const partner = routes.find((r) => r.match?.pathSpecifier.value === '/partner')!;
    const pol = anyUnpack(partner.typedPerFilterConfig[KEY_AUTH]!, KeyAuthPolicySchema)!;
    expect([pol.name, pol.header, pol.hideCredentials, pol.consumers.map((c) => [c.name, c.allowed])]).toEqual(['default/partners', 'x-api-key', false, [['acme', false], ['globex', true]]]);
    expect(routes.filter((r) => KEY_AUTH in r.typedPerFilterConfig)).toHaveLength(1);
  });

  it('adds nothing to a mesh without ApiKeyPolicies', () => {
    const plain = new Translator(modelOf(BASE.split('---\n').filter((d) => !d.includes('ApiKeyPolicy')).join('---\n')), new Registry());
    expect(filterNames(plain, sidecar('orders'), 'inbound')).toEqual(['envoy.filters.http.router']);
  });

  it('with consumers in the mesh, puts the filter (policy-less: it removes a client-sent x-weft-consumer) on every gateway listener', () => {
    const docs = BASE.split('---\n').filter((d) => !d.includes('ApiKeyPolicy'));
    const withConsumers = new Translator(modelOf(docs.join('---\n')), new Registry());
    for (const l of ['gateway.web', 'gateway.admin']) {
      const f = hcmOf(message<Listener>(withConsumers, gw, TYPE_URL.listener, l)).httpFilters.find((x) => x.name === KEY_AUTH);
      expect(f, l).toBeDefined();
      expect(anyUnpack(f!.configType.value as never, KeyAuthSchema)!.policy, l).toBeUndefined();
    }
    const none = new Translator(modelOf(docs.filter((d) => !d.includes('kind: Consumer')).join('---\n')), new Registry());
    expect(filterNames(none, gw, 'gateway.web')).not.toContain(KEY_AUTH);
  });
});

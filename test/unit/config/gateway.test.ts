// Gateway (issue 19 item 1): the kind on its own (every mistake with its field path), and
// HTTPRoute / GRPCRoute parentRefs that name a Gateway (missing Gateway, sectionName or port
// matching no listener, a namespace the listener does not admit, hostnames that do not meet).
import { describe, expect, it } from 'vitest';
import { checkDelete } from '../../../control-plane/config/index.js';
import { type GatewayResource, type HTTPRouteResource } from '../../../control-plane/config/types.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { listenerHostnames } from '../../../control-plane/config/kinds/gateway.js';
import { kindDefinition } from '../../../control-plane/config/kinds/index.js';
import { parseKind } from '../../../control-plane/cli/kinds.js';
import { applyYaml } from '../../harness/mesh.js';
import { selfSignedCert, tlsSecret } from '../../harness/certs.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);

const gw = (listeners: string, extra = '', name = 'edge', apiVersion = 'gateway.networking.k8s.io/v1') => `apiVersion: ${apiVersion}
kind: Gateway
metadata: { name: ${name} }
spec:
  gatewayClassName: weft
  listeners: ${listeners}
${extra}`;

const CERT = selfSignedCert(['b.example']);
const SECRET = tlsSecret('c', CERT);

const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
`;

describe('Gateway on its own', () => {
  it('accepts listeners with defaults filled (v1 and v1beta1)', () => {
    for (const v of ['gateway.networking.k8s.io/v1', 'gateway.networking.k8s.io/v1beta1']) {
      const { resources, errors } = applyYaml(gw('[{ name: web, port: 80, protocol: HTTP }, { name: shop, port: 81, protocol: HTTP, hostname: "*.shop.example", allowedRoutes: { namespaces: { from: All } } }]', '', 'edge', v));
      expect(errors).toEqual([]);
      expect((resources[0] as GatewayResource).spec).toEqual({
        gatewayClassName: 'weft',
        listeners: [
          { name: 'web', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Same' } } },
          { name: 'shop', port: 81, protocol: 'HTTP', hostname: '*.shop.example', allowedRoutes: { namespaces: { from: 'All' } } },
        ],
      });
    }
  });

  it('is `weft get gateway` (gateways, gtw), its summary listing the listeners', () => {
    for (const s of ['gateway', 'gateways', 'gtw']) expect(parseKind(s)).toBe('Gateway');
    const { resources } = applyYaml(gw('[{ name: web, port: 80, protocol: HTTP }, { name: shop, port: 80, protocol: HTTP, hostname: "*.shop.example" }]'));
    expect(kindDefinition('Gateway').summary(resources[0]!)).toBe('listeners web HTTP:80, shop HTTP:80 *.shop.example');
  });

  const later = 'is not supported yet: UDP listeners come in a later Weft version (use HTTP, HTTPS, TCP or TLS)';
  it.each([
    ['another gatewayClassName', gw('[{ name: web, port: 80, protocol: HTTP }]').replace('weft', 'istio'), [['spec.gatewayClassName', "must be one of weft; got 'istio'"]]],
    ['no listeners', gw('[]'), [['spec.listeners', 'must not be empty']]],
    ['65 listeners', gw(`[${Array.from({ length: 65 }, (_, i) => `{ name: l${i}, port: ${1000 + i}, protocol: HTTP }`).join(', ')}]`), [['spec.listeners', 'must have at most 64 items']]],
    ['HTTPS without tls', gw('[{ name: web, port: 443, protocol: HTTPS }]'), [['spec.listeners[0].tls', 'an HTTPS listener needs tls.certificateRefs (the Secrets holding its certificates)']]],
    ['HTTPS without certificateRefs', gw('[{ name: web, port: 443, protocol: HTTPS, tls: { mode: Terminate } }]'), [['spec.listeners[0].tls.certificateRefs', 'is required']]],
    ['HTTPS with no certificate', gw('[{ name: web, port: 443, protocol: HTTPS, tls: { certificateRefs: [] } }]'), [['spec.listeners[0].tls.certificateRefs', 'must not be empty']]],
    ['Passthrough on an HTTPS listener', SECRET + '---\n' + gw('[{ name: web, port: 443, protocol: HTTPS, tls: { mode: Passthrough, certificateRefs: [{ name: c }] } }]'), [['spec.listeners[0].tls.mode', 'Passthrough needs protocol: TLS (an HTTPS listener terminates TLS); use Terminate']]],
    ['a certificate in another namespace', SECRET + '---\n' + gw('[{ name: web, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: c, namespace: certs }] } }]'), [['spec.listeners[0].tls.certificateRefs[0].namespace', "certificates come from Secrets in the Gateway's own namespace (cross-namespace references need a ReferenceGrant, which Weft does not implement)"]]],
    ['a certificate of another kind', SECRET + '---\n' + gw('[{ name: web, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ kind: ConfigMap, name: c }] } }]'), [['spec.listeners[0].tls.certificateRefs[0].kind', "must be one of Secret; got 'ConfigMap'"]]],
    ['TLS options', SECRET + '---\n' + gw('[{ name: web, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: c }], options: { a: b } } }]'), [['spec.listeners[0].tls.options', 'no implementation-specific TLS options are supported']]],
    ['a certificate that does not exist', gw('[{ name: web, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: nope }] } }]'), [['spec.listeners[0].tls.certificateRefs[0].name', 'Secret default/nope does not exist (create it with `weft create secret tls nope --cert FILE --key FILE`)']]],
    ['tls on an HTTP listener', gw('[{ name: web, port: 80, protocol: HTTP, tls: { certificateRefs: [{ name: c }] } }]'), [['spec.listeners[0].tls', 'an HTTP listener has no TLS settings (use protocol: HTTPS)']]],
    ['UDP', gw('[{ name: dns, port: 53, protocol: UDP }]'), [['spec.listeners[0].protocol', `UDP ${later}`]]],
    ['an unknown protocol', gw('[{ name: web, port: 80, protocol: http }]'), [['spec.listeners[0].protocol', "must be one of HTTP, HTTPS, TCP, TLS; got 'http'"]]],
    ['a missing name, port and protocol', gw('[{ hostname: a.example }]'), [['spec.listeners[0].name', 'is required'], ['spec.listeners[0].port', 'is required'], ['spec.listeners[0].protocol', 'is required']]],
    ['a name that is not a DNS label', gw('[{ name: Web_1, port: 80, protocol: HTTP }]'), [['spec.listeners[0].name', "'Web_1' is not a valid name (lower-case letters, digits and '-', at most 63, starting and ending alphanumeric)"]]],
    ['port 0', gw('[{ name: web, port: 0, protocol: HTTP }]'), [['spec.listeners[0].port', 'must be an integer from 1 to 65535, got 0']]],
    ['port 65536', gw('[{ name: web, port: 65536, protocol: HTTP }]'), [['spec.listeners[0].port', 'must be an integer from 1 to 65535, got 65536']]],
    ['two listeners of one name', gw('[{ name: web, port: 80, protocol: HTTP }, { name: web, port: 81, protocol: HTTP }]'), [['spec.listeners[1].name', "'web' is also the name of spec.listeners[0]; listener names are unique"]]],
    ['two HTTP listeners on one port without hostnames', gw('[{ name: a, port: 80, protocol: HTTP }, { name: b, port: 80, protocol: HTTP }]'), [['spec.listeners[1].port', "spec.listeners[0] also takes port 80 and is HTTP too; HTTP listeners cannot share a port (give each its own, or put the hostnames in one listener's routes)"]]],
    ['two HTTP listeners on one port, different hostnames', gw('[{ name: a, port: 80, protocol: HTTP, hostname: a.example }, { name: b, port: 80, protocol: HTTP, hostname: b.example }]'), [['spec.listeners[1].port', "spec.listeners[0] also takes port 80 and is HTTP too; HTTP listeners cannot share a port (give each its own, or put the hostnames in one listener's routes)"]]],
    ['HTTP and HTTPS on one port', SECRET + '---\n' + gw('[{ name: a, port: 80, protocol: HTTP }, { name: b, port: 80, protocol: HTTPS, hostname: b.example, tls: { certificateRefs: [{ name: c }] } }]'), [['spec.listeners[1].port', 'spec.listeners[0] also takes port 80 and is HTTP; HTTP and HTTPS listeners cannot share a port']]],
    ['two HTTPS listeners on one port with one hostname', SECRET + '---\n' + gw('[{ name: a, port: 443, protocol: HTTPS, hostname: b.example, tls: { certificateRefs: [{ name: c }] } }, { name: b, port: 443, protocol: HTTPS, hostname: b.example, tls: { certificateRefs: [{ name: c }] } }]'), [['spec.listeners[1].port', 'spec.listeners[0] also takes port 443 and has the same hostname (b.example); HTTPS listeners sharing a port need distinct hostnames (SNI picks one)']]],
    ['two HTTPS listeners on one port without hostnames', SECRET + '---\n' + gw('[{ name: a, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: c }] } }, { name: b, port: 443, protocol: HTTPS, tls: { certificateRefs: [{ name: c }] } }]'), [['spec.listeners[1].port', 'spec.listeners[0] also takes port 443 and has the same hostname (none); HTTPS listeners sharing a port need distinct hostnames (SNI picks one)']]],
    ['a hostname with a port', gw('[{ name: web, port: 80, protocol: HTTP, hostname: "a.example:80" }]'), [['spec.listeners[0].hostname', "'a.example:80' is not a host name, optionally *.-prefixed"]]],
    ['a wildcard in the middle', gw('[{ name: web, port: 80, protocol: HTTP, hostname: "a.*.example" }]'), [['spec.listeners[0].hostname', "'a.*.example' is not a host name, optionally *.-prefixed"]]],
    ['an IP address as hostname', gw('[{ name: web, port: 80, protocol: HTTP, hostname: 10.0.0.1 }]'), [['spec.listeners[0].hostname', "'10.0.0.1' is an IP address; a listener hostname is a DNS name (leave it out to take any host)"]]],
    ['allowedRoutes from Selector', gw('[{ name: web, port: 80, protocol: HTTP, allowedRoutes: { namespaces: { from: Selector } } }]'), [['spec.listeners[0].allowedRoutes.namespaces.from', 'Selector is not supported yet: use Same or All']]],
    ['allowedRoutes from Other', gw('[{ name: web, port: 80, protocol: HTTP, allowedRoutes: { namespaces: { from: Other } } }]'), [['spec.listeners[0].allowedRoutes.namespaces.from', "must be one of Same, All; got 'Other'"]]],
    ['allowedRoutes kinds (not supported)', gw('[{ name: web, port: 80, protocol: HTTP, allowedRoutes: { kinds: [{ kind: HTTPRoute }] } }]'), [['spec.listeners[0].allowedRoutes.kinds', 'unknown field (allowed: namespaces)']]],
    ['spec addresses', gw('[{ name: web, port: 80, protocol: HTTP }]', '  addresses: [{ value: 10.0.0.1 }]\n'), [['spec.addresses', 'unknown field (allowed: gatewayClassName, listeners)']]],
    ['v1alpha2', gw('[{ name: web, port: 80, protocol: HTTP }]', '', 'edge', 'gateway.networking.k8s.io/v1alpha2'), [['apiVersion', "Gateway needs apiVersion gateway.networking.k8s.io/v1 or gateway.networking.k8s.io/v1beta1, got 'gateway.networking.k8s.io/v1alpha2'"]]],
  ])('refuses %s, with the field path', (_what, yaml, expected) => {
    expect(errorsOf(yaml)).toEqual(expected);
    // (apiVersion is read before the resource is named.)
    for (const e of applyYaml(yaml).errors) expect(e).toMatchObject({ file: 'f.yaml', ...(e.path === 'apiVersion' ? {} : { resource: 'Gateway/default/edge' }) });
  });
});

describe('Gateway API hostname intersection', () => {
  it.each([
    [[], undefined, ['*']],
    [[], 'a.example', ['a.example']],
    [['a.example', 'b.example'], undefined, ['a.example', 'b.example']],
    [['a.example'], 'a.example', ['a.example']],
    [['a.example'], 'b.example', []],
    [['foo.example.com', 'foo.bar.example.com', 'example.com'], '*.example.com', ['foo.example.com', 'foo.bar.example.com']],
    [['*.example.com'], 'test.example.com', ['test.example.com']],
    [['*.example.com'], '*.example.com', ['*.example.com']],
    [['*.com'], '*.example.com', ['*.example.com']],
    [['*.a.example.com'], '*.example.com', ['*.a.example.com']],
    [['*.example.com'], 'example.com', []],
  ])('route %j on listener %s serves %j', (route, listener, expected) => {
    expect(listenerHostnames(route, listener)).toEqual(expected);
  });
});

describe('route parentRefs to a Gateway', () => {
  const GW = gw('[{ name: web, port: 80, protocol: HTTP }, { name: shop, port: 8080, protocol: HTTP, hostname: "*.shop.example", allowedRoutes: { namespaces: { from: All } } }]');
  const route = (parentRefs: string, { ns = '', hostnames = '', kind = 'HTTPRoute' } = {}) => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: { name: r${ns ? `, namespace: ${ns}` : ''} }
spec:
  parentRefs: ${parentRefs}
${hostnames ? `  hostnames: ${hostnames}\n` : ''}  rules: [{ backendRefs: [{ name: orders, namespace: default }] }]
`;
  const both = (yaml: string) => [SVC, GW, yaml].join('---\n');

  it('reads a Gateway parent with defaults (group, namespace) next to a Service parent', () => {
    const { resources, errors } = applyYaml(both(route('[{ kind: Gateway, name: edge, sectionName: web }, { kind: Gateway, group: gateway.networking.k8s.io, name: edge, namespace: default, port: 8080 }, { name: orders }]')));
    expect(errors).toEqual([]);
    const r = resources.find((x) => x.kind === 'HTTPRoute') as HTTPRouteResource;
    expect(kindDefinition('HTTPRoute').summary(r)).toBe('parents gateway/edge/web,gateway/edge,orders; rules 1');
    expect(r.spec.parentRefs).toEqual([
      { kind: 'Gateway', name: 'edge', namespace: 'default', sectionName: 'web' },
      { kind: 'Gateway', name: 'edge', namespace: 'default', port: 8080 },
      { kind: 'Service', name: 'orders', namespace: 'default' },
    ]);
  });

  it.each([
    ['routes of another namespace on an All listener', route('[{ kind: Gateway, name: edge, namespace: default }]', { ns: 'shop' })],
    ['a route hostname inside the listener wildcard', route('[{ kind: Gateway, name: edge, sectionName: shop }]', { hostnames: '[www.shop.example]' })],
    ['a GRPCRoute', route('[{ kind: Gateway, name: edge }]', { kind: 'GRPCRoute' })],
    ['hostnames that are mesh service names (only Service parents own hostnames)', route('[{ kind: Gateway, name: edge, sectionName: web }]', { hostnames: '[orders]' })],
  ])('accepts %s', (_what, yaml) => {
    expect(errorsOf(both(yaml))).toEqual([]);
  });

  it.each([
    ['a Gateway that does not exist', route('[{ kind: Gateway, name: nowhere }]'), [['spec.parentRefs[0].name', 'Gateway default/nowhere does not exist']]],
    ['a Gateway in another namespace that does not exist', route('[{ kind: Gateway, name: edge, namespace: shop }]'), [['spec.parentRefs[0].name', 'Gateway shop/edge does not exist']]],
    ['a sectionName matching no listener', route('[{ kind: Gateway, name: edge, sectionName: api }]'), [['spec.parentRefs[0].sectionName', "Gateway default/edge has no listener 'api' (listeners: web (port 80), shop (port 8080))"]]],
    ['a port matching no listener', route('[{ kind: Gateway, name: edge, port: 81 }]'), [['spec.parentRefs[0].port', 'Gateway default/edge has no listener on port 81 (listeners: web (port 80), shop (port 8080))']]],
    ['a sectionName and a port of another listener', route('[{ kind: Gateway, name: edge, sectionName: web, port: 8080 }]'), [['spec.parentRefs[0].port', "listener 'web' of Gateway default/edge is on port 80, not 8080"]]],
    ['a namespace a Same listener does not admit', route('[{ kind: Gateway, name: edge, namespace: default, sectionName: web }]', { ns: 'shop' }), [['spec.parentRefs[0]', "listener 'web' of Gateway default/edge admits routes from namespace shop (allowedRoutes.namespaces.from: Same admits only default; set All to admit every namespace)"]]],
    ['hostnames that miss the listener hostname', route('[{ kind: Gateway, name: edge, sectionName: shop }]', { hostnames: '[www.example.org]' }), [['spec.parentRefs[0]', "no hostname of the route (www.example.org) matches the hostname of listener 'shop' of Gateway default/edge (*.shop.example)"]]],
    ['a Service group on a Gateway', route('[{ kind: Gateway, group: "", name: edge }]'), [['spec.parentRefs[0].group', "must be one of gateway.networking.k8s.io; got ''"]]],
    ['the Gateway group on a Service', route('[{ kind: Service, group: gateway.networking.k8s.io, name: orders }]'), [['spec.parentRefs[0].group', "must be one of , core; got 'gateway.networking.k8s.io'"]]],
    ['a sectionName on a Service', route('[{ name: orders, sectionName: http }]'), [['spec.parentRefs[0].sectionName', 'names a Gateway listener; a Service parent selects a port with port']]],
    ['another parent kind', route('[{ kind: Mesh, name: edge }]'), [['spec.parentRefs[0].kind', "must be one of Service, Gateway; got 'Mesh'"]]],
  ])('refuses %s, at that parentRef', (_what, yaml, expected) => {
    expect(errorsOf(both(yaml))).toEqual(expected);
  });

  it('a Same listener refuses another namespace even when the parentRef names no listener', () => {
    const only = gw('[{ name: web, port: 80, protocol: HTTP }, { name: alt, port: 81, protocol: HTTP }]');
    expect(errorsOf([SVC, only, route('[{ kind: Gateway, name: edge, namespace: default }]', { ns: 'shop' })].join('---\n'))).toEqual([
      ['spec.parentRefs[0]', 'no listener of Gateway default/edge admits routes from namespace shop (allowedRoutes.namespaces.from: Same admits only default; set All to admit every namespace)'],
    ]);
  });

  it('deleting a Gateway a route attaches to is refused, naming the route', () => {
    const { resources, errors } = applyYaml(both(route('[{ kind: Gateway, name: edge }]')));
    expect(errors).toEqual([]);
    const model = buildModel(1, resources);
    expect(checkDelete(['Gateway/default/edge'], model).map((e) => [e.resource, e.path, e.message])).toEqual([
      ['HTTPRoute/default/r', 'spec.parentRefs[0].name', 'Gateway default/edge does not exist: HTTPRoute/default/r still references it'],
    ]);
  });

  it('a change to a stored Gateway that strands a stored route is refused', () => {
    const { resources } = applyYaml(both(route('[{ kind: Gateway, name: edge, sectionName: shop }]')));
    const model = buildModel(1, resources);
    const e = applyYaml(gw('[{ name: web, port: 80, protocol: HTTP }]'), model).errors;
    expect(e.map((x) => [x.resource, x.path, x.message])).toEqual([
      ['HTTPRoute/default/r', 'spec.parentRefs[0].sectionName', "Gateway default/edge has no listener 'shop' (listeners: web (port 80)) (after this apply)"],
    ]);
  });
});

// ValidationPolicy and TransformationPolicy translated (issue 20): on a gateway listener the
// policy targeting it (listener over Gateway) as the filter's config, in the filter order (after
// RBAC, validation before transformation); an empty listener entry when only rules name a
// policy, each of those routes carrying it; on a sidecar, the policy targeting the Service on
// the inbound virtual host; nothing for listeners and services no policy touches.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { filterNames, hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';
import { EXTENSIONS } from '../../../common/extensions.js';
import { TYPE_URL } from '../../../common/xds-types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { ValidationSchema } from '../../../proto/gen/weft/v1/validation_pb.js';
import { TransformationSchema } from '../../../proto/gen/weft/v1/transformation_pb.js';

const YAML = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: billing }
spec:
  ports: [{ name: http, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners: [{ name: web, port: 8000, protocol: HTTP }, { name: api, port: 8001, protocol: HTTP }]
---
apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: gw }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge, sectionName: web }, { group: weft.dev, kind: Service, name: orders }]
  requestBodySchema: { type: object }
  maxBodyBytes: 4096
---
apiVersion: weft.dev/v1alpha1
kind: ValidationPolicy
metadata: { name: rule }
spec:
  openapi: { openapi: 3.1.0, info: { title: t, version: "1" }, paths: { /a: { get: {} } } }
  unknownOperations: Allow
---
apiVersion: weft.dev/v1alpha1
kind: TransformationPolicy
metadata: { name: xml }
spec:
  targetRefs: [{ group: weft.dev, kind: Service, name: orders }]
  request: { jsonToXml: { rootElement: order }, body: [{ pointer: /a, value: 1 }] }
  response: { xmlToJson: true, headers: { remove: [server] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: api }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /a } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: ValidationPolicy, name: rule } }, { type: ExtensionRef, extensionRef: { group: weft.dev, kind: TransformationPolicy, name: xml } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }]
  rules: [{ backendRefs: [{ name: orders, port: 8080 }] }]
`;

const VALIDATION = EXTENSIONS.validation.name;
const TRANSFORMATION = EXTENSIONS.transformation.name;
const ROUTER = 'envoy.filters.http.router';

describe('API policies translated', () => {
  const t = new Translator(modelOf(YAML), new Registry());
  const gw = nodeOf({ role: 'gateway', gateway: 'default/edge', service: 'edge' });
  const hcm = (l: string) => hcmOf(message<Listener>(t, gw, TYPE_URL.listener, `gateway.${l}`));

  it('a listener targeted by a policy carries it as the filter config', () => {
    expect(filterNames(t, gw, 'gateway.web')).toEqual([VALIDATION, ROUTER]);
    const f = hcm('web').httpFilters[0]!;
    const v = anyUnpack(f.configType.value as never, ValidationSchema)!;
    expect({ name: v.name, schema: JSON.parse(v.requestBodySchema) as unknown, max: v.maxBodyBytes, openapi: v.openapi }).toEqual({ name: 'default/gw', schema: { type: 'object' }, max: 4096n, openapi: '' });
  });

  it('rules naming policies: empty listener entries in order, the policies on their routes only', () => {
    expect(filterNames(t, gw, 'gateway.api')).toEqual([VALIDATION, TRANSFORMATION, ROUTER]);
    for (const f of hcm('api').httpFilters.slice(0, 2)) expect((f.configType.value as { value: Uint8Array }).value).toEqual(new Uint8Array());
    const rc = message<RouteConfiguration>(t, gw, TYPE_URL.route, 'gateway.api');
    const routes = rc.virtualHosts.flatMap((v) => v.routes);
    const first = routes.find((r) => r.name === 'default/api/rule-0')!;
    const v = anyUnpack(first.typedPerFilterConfig[VALIDATION]!, ValidationSchema)!;
    expect([v.name, v.allowUnknownOperations, JSON.parse(v.openapi).openapi]).toEqual(['default/rule', true, '3.1.0']);
    const x = anyUnpack(first.typedPerFilterConfig[TRANSFORMATION]!, TransformationSchema)!;
    expect([x.name, x.requestJsonToXmlRoot, x.responseXmlToJson, x.requestBody[0]!.action]).toEqual(['default/xml', 'order', true, { case: 'valueJson', value: '1' }]);
    expect(x.responseHeaders!.remove).toEqual(['server']);
    expect(Object.keys(routes.find((r) => r.name === 'default/api/rule-1')!.typedPerFilterConfig)).toEqual([]);
  });

  it('a Service targeted: its sidecars\' inbound listener and virtual host; other services untouched', () => {
    const orders = nodeOf({ role: 'sidecar', service: 'orders', appPort: 7000, appProtocol: 'http' });
    expect(filterNames(t, orders, 'inbound')).toEqual([VALIDATION, TRANSFORMATION, ROUTER]);
    const rc = message<RouteConfiguration>(t, orders, TYPE_URL.route, 'inbound|orders.default');
    expect(anyUnpack(rc.virtualHosts[0]!.typedPerFilterConfig[VALIDATION]!, ValidationSchema)!.name).toBe('default/gw');
    expect(anyUnpack(rc.virtualHosts[0]!.typedPerFilterConfig[TRANSFORMATION]!, TransformationSchema)!.name).toBe('default/xml');
    const billing = nodeOf({ role: 'sidecar', service: 'billing', appPort: 7001, appProtocol: 'http' });
    expect(filterNames(t, billing, 'inbound')).toEqual([ROUTER]);
  });
});

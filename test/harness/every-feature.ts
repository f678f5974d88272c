/**
 * A mesh that uses every feature the config kinds offer (the docs/config.md examples plus what
 * they leave out), translated for nodes whose snapshots together hold every resource shape the
 * translator makes. Used by the every-feature test and the xDS decoder fuzz suite.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatFieldError } from '../../common/errors.js';
import { TYPE_URL, type ResourceKind, type TypeUrl } from '../../common/xds-types.js';
import { CertificateAuthority } from '../../control-plane/ca/ca.js';
import { parseDocuments, validateApply } from '../../control-plane/config/index.js';
import { type MeshModel } from '../../control-plane/config/types.js';
import { buildModel } from '../../control-plane/config/model.js';
import { Registry } from '../../control-plane/registry/registry.js';
import { Translator } from '../../control-plane/translate/index.js';
import type { NodeInfo } from '../../control-plane/xds/node.js';
import type { Resource } from '../../control-plane/xds/snapshot.js';
import { buildDescriptorSet } from './descriptors.js';
import { tempDir } from './processes.js';

const ROOT = join(import.meta.dirname, '..', '..');

const KIND_OF = new Map<string, ResourceKind>(Object.entries(TYPE_URL).map(([k, v]) => [v, k as ResourceKind]));

/**
 * The configuration examples of docs/config.md, as published (GRPCTranslation and MeshConfig are
 * left out: the first has a truncated placeholder descriptor set, the second is replaced below by
 * one that sets every field).
 */
function docsExamples(): string[] {
  const md = readFileSync(join(ROOT, 'docs/config.md'), 'utf8');
  const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.flatMap((b) => b.split(/^---\n/m)).filter((d) => !/^kind: (GRPCTranslation|MeshConfig)$/m.test(d));
}

/** What the docs examples do not reach: every remaining field and match kind of every kind. */
function extras(descriptorSet: string): string[] {
  return [
    // MeshConfig: every field (mTLS PERMISSIVE so both inbound filter chains appear; default deny).
    `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  trustDomain: example.org
  mtls: { mode: PERMISSIVE }
  tracing: { samplingPercent: 25, endpoint: "http://127.0.0.1:4318/v1/traces", propagation: b3 }
  certificateTtl: 12h
  authorization: { defaultAction: DENY }
  http: { normalizePath: true, mergeSlashes: false, escapedSlashes: UnescapeAndRedirect, upgrades: [websocket, spdy/3.1] }
`,
    // Services: one port of each protocol, several ports, static endpoints with every field,
    // per-service mTLS overrides of each mode.
    `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: greeter }
spec:
  ports: [{ name: grpc, port: 50051, protocol: grpc }]
  endpoints:
    - { address: 10.0.0.1, labels: { version: v1 }, zone: zone-a, weight: 2 }
    - { address: "fd00::2", port: 50052, labels: { version: v2 }, zone: zone-b }
  mtls: { mode: STRICT }
`,
    `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: bookstore }
spec:
  ports: [{ name: grpc, port: 9090, protocol: grpc }, { name: admin, port: 9091, protocol: http }]
`,
    `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: library }
spec:
  ports: [{ name: http, port: 8081, protocol: http }]
  mtls: { mode: DISABLE }
`,
    `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: stream }
spec:
  ports: [{ name: h2, port: 8443, protocol: http2 }]
  mtls: { mode: PERMISSIVE }
`,
    `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders, namespace: shop }
spec:
  ports: [{ port: 8080 }]
`,
    // TrafficPolicy: every load balancer (and ring-hash key), every block, every field.
    `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: greeter }
spec:
  targetRef: { kind: Service, name: greeter, namespace: default }
  loadBalancer: { type: LeastRequest, choiceCount: 3, localityAware: true, panicThresholdPercent: 30 }
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
  connectionPool: { maxConnections: 10, maxPendingRequests: 11, maxRequests: 12, maxRetries: 3, connectTimeout: 2s, idleTimeout: 30s, keepalive: { interval: 20s, timeout: 4s } }
  outlierDetection: { consecutive5xx: 4, consecutiveGatewayErrors: 3, interval: 5s, baseEjectionTime: 15s, maxEjectionPercent: 40 }
  healthCheck: { path: /healthz, interval: 3s, timeout: 500ms, unhealthyThreshold: 3, healthyThreshold: 1, expectedStatuses: [{ start: 200, end: 300 }, { start: 404, end: 405 }] }
  retry: { attempts: 4, retryOn: [unavailable, resource-exhausted, retriable-status-codes, non-idempotent], codes: [503], perTryTimeout: 1s, backoff: { baseInterval: 20ms, maxInterval: 200ms }, budget: { percent: 30, minRetryConcurrency: 5 } }
  timeout: 9s
`,
    `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: bookstore }
spec:
  targetRef: { name: bookstore }
  loadBalancer: { type: RingHash, ringHash: { hashOn: header, header: x-user, minRingSize: 64, maxRingSize: 4096 } }
`,
    `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: library }
spec:
  targetRef: { name: library }
  loadBalancer: { type: RingHash, ringHash: { hashOn: sourceIP } }
`,
    `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: stream }
spec:
  targetRef: { name: stream }
  loadBalancer: { type: Random }
`,
    `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  targetRef: { name: orders }
  loadBalancer: { type: RingHash, ringHash: { hashOn: cookie, cookie: { name: session, ttl: 1h, path: /shop } } }
`,
    // HTTPRoute: every match kind, every filter, hostnames, ports, namespaces, timeouts, retry.
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: library-all }
spec:
  parentRefs: [{ kind: Service, name: library, namespace: default, port: 8081 }]
  hostnames: [books.example.org]
  rules:
    - matches:
        - path: { type: Exact, value: /exact }
          method: GET
          headers: [{ type: Exact, name: x-a, value: "1" }, { type: RegularExpression, name: x-b, value: "^v[0-9]+$" }]
          queryParams: [{ type: Exact, name: q, value: x }, { type: RegularExpression, name: r, value: "^[a-z]+$" }]
        - path: { type: RegularExpression, value: "^/re/[0-9]+$" }
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-set, value: s }], add: [{ name: x-add, value: a }], remove: [x-remove] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { set: [{ name: x-rs, value: s }], add: [{ name: x-ra, value: a }], remove: [server] }
        - type: URLRewrite
          urlRewrite: { hostname: library.internal, path: { type: ReplaceFullPath, replaceFullPath: /full } }
      backendRefs: [{ name: library, port: 8081, weight: 3 }, { name: orders, namespace: shop, weight: 1 }]
      timeouts: { request: 4s, backendRequest: 2s }
      retry: { attempts: 3, retryOn: [5xx, gateway-error, reset, connect-failure, retriable-4xx, refused-stream], perTryTimeout: 1s, backoff: { baseInterval: 10ms } }
    - matches: [{ path: { type: PathPrefix, value: /prefix } }]
      filters:
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /rewritten } }
      backendRefs: [{ name: library }]
    - matches: [{ path: { type: PathPrefix, value: /moved } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { scheme: https, hostname: new.example.org, port: 8443, path: { type: ReplaceFullPath, replaceFullPath: /here }, statusCode: 308 }
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }, statusCode: 303 }
`,
    // GRPCRoute: every method match form, headers, every filter, timeouts, retry.
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: bookstore-all }
spec:
  parentRefs: [{ kind: Service, name: bookstore, port: 9090 }]
  hostnames: [bookstore.example.org]
  rules:
    - matches:
        - method: { type: Exact, service: bookstore.Bookstore, method: GetShelf }
          headers: [{ name: x-tenant, value: a }, { type: RegularExpression, name: x-env, value: "^(dev|prod)$" }]
        - method: { service: bookstore.Bookstore }
        - method: { method: ListShelves }
        - method: { type: RegularExpression, service: "bookstore\\\\..*", method: "Get.*" }
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-set, value: s }], add: [{ name: x-add, value: a }], remove: [x-remove] }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-served-by, value: weft }] }
      backendRefs: [{ name: bookstore, port: 9090, weight: 9 }, { name: greeter, subset: v2, weight: 1 }]
      timeouts: { request: 10s }
      retry: { attempts: 2, retryOn: [cancelled, deadline-exceeded, unavailable, internal] }
`,
    // Gateway: routes on every listener shape the docs example leaves out: no hostname on either
    // side (domain *), a wildcard listener, another namespace through from: All, a GRPCRoute,
    // fault, mirror and redirect rules (the docs' web listener gets these; its shop listener the
    // docs route); an api listener no route attaches to (an empty RouteConfiguration).
    `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge-all }
spec:
  gatewayClassName: weft
  listeners:
    - { name: any, port: 8100, protocol: HTTP }
    - { name: wild, port: 8102, protocol: HTTP, hostname: "*.example.org", allowedRoutes: { namespaces: { from: All } } }
    - { name: api, port: 8101, protocol: HTTP, hostname: api.example.org }
`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: edge-any }
spec:
  parentRefs: [{ kind: Gateway, name: edge, sectionName: web }, { kind: Gateway, name: edge-all, port: 8100 }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /orders } }]
      filters:
        - type: ExtensionRef
          extensionRef: { group: weft.dev, kind: FaultPolicy, name: orders-flaky }
        - type: ExtensionRef
          extensionRef: { group: weft.dev, kind: CorsPolicy, name: console }
        - type: RequestMirror
          requestMirror: { backendRef: { name: library }, percent: 5 }
        - type: ExtensionRef
          extensionRef: { group: weft.dev, kind: CompressionPolicy, name: edge-json }
        - type: ExtensionRef
          extensionRef: { group: weft.dev, kind: ApiKeyPolicy, name: edge-partner-keys }
      backendRefs: [{ name: orders }]
      retry: { attempts: 2, retryOn: [5xx] }
    - matches: [{ path: { type: Exact, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplaceFullPath, replaceFullPath: /new }, statusCode: 301 }
        - type: CORS
          cors: { allowOrigins: ["https://*.example.org:8443", "http://a.example"], allowMethods: ["*"], allowHeaders: [x-a], exposeHeaders: ["*"], maxAge: 60 }
`,
    // CorsPolicy: the docs' one by ExtensionRef (above); one for the whole edge-all Gateway (every
    // origin form, '*' lists, private network access) and one for its wild listener.
    `apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: edge-all-cors }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge-all }]
  allowOrigins: [{ exact: "*" }, { prefix: "https://a." }, { suffix: ".example.org" }, { regex: 'https://[a-z]+\\.example\\.net' }]
  allowMethods: ["*"]
  allowHeaders: ["*"]
  allowPrivateNetworkAccess: true
`,
    `apiVersion: weft.dev/v1alpha1
kind: CorsPolicy
metadata: { name: edge-all-wild-cors }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge-all, sectionName: wild }]
  allowOrigins: [{ exact: "https://books.example.org" }]
  exposeHeaders: [grpc-status, grpc-message]
  maxAge: 30s
`,
    // ApiLifecyclePolicy: every field, for the whole edge-all Gateway (the docs' one targets a Service).
    `apiVersion: weft.dev/v1alpha1
kind: ApiLifecyclePolicy
metadata: { name: edge-all-v1 }
spec:
  deprecation: "2026-01-01T00:00:00Z"
  sunset: "2027-01-01T00:00:00Z"
  successor: https://api.example.com/v2
  link: https://developer.example.com/v1
  rejectAfterSunset: true
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge-all }]
`,
    // CompressionPolicy: every field on a Gateway, one named by a rule (entries off on the
    // listener, turned on per route), an opt-out on one listener.
    `apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: edge-all-compression }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge-all }]
  algorithms: [brotli, gzip]
  minContentLength: 256
  contentTypes: [text/html, application/json]
  disableOnETag: true
  removeAcceptEncoding: true
  gzip: { level: 4 }
  brotli: { quality: 6 }
`,
    `apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: edge-json }
spec: { algorithms: [gzip], contentTypes: [application/json] }
`,
    `apiVersion: weft.dev/v1alpha1
kind: CompressionPolicy
metadata: { name: edge-all-api-off }
spec:
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge-all, sectionName: api }]
  disabled: true
`,
    // Consumers and API keys: every Consumer field; a policy on a listener (every field), one a
    // rule names, one on a Service (its sidecars' inbound listener).
    `apiVersion: weft.dev/v1alpha1
kind: Consumer
metadata: { name: every-consumer, labels: { tier: paid } }
spec:
  plan: gold
  keys: [{ id: k1, hash: "sha256:${'1'.repeat(64)}", created: "2026-01-01T00:00:00Z", expires: "2030-01-01T00:00:00Z" }, { id: k2, hash: "sha256:${'2'.repeat(64)}" }]
  jwtSubjects: [{ issuer: "https://idp.example.org", subject: every }]
`,
    `apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: edge-all-keys }
spec:
  header: x-key
  query: key
  consumers: { matchLabels: { tier: paid } }
  hideCredentials: false
  allowJwt: true
  targetRefs: [{ group: gateway.networking.k8s.io, kind: Gateway, name: edge-all, sectionName: any }]
`,
    `apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: edge-partner-keys }
spec:
  consumers: { names: [every-consumer] }
`,
    `apiVersion: weft.dev/v1alpha1
kind: ApiKeyPolicy
metadata: { name: orders-keys }
spec:
  consumers: { all: true }
  targetRefs: [{ group: weft.dev, kind: Service, name: orders }]
`,
    // RateLimitPolicy: every descriptor part, local and global rules, plans, a quota; on a
    // Gateway and on a Service's inbound listener.
    `apiVersion: weft.dev/v1alpha1
kind: RateLimitPolicy
metadata: { name: edge-all-limits }
spec:
  targetRefs:
    - { group: gateway.networking.k8s.io, kind: Gateway, name: edge-all }
    - { group: weft.dev, kind: Service, name: library }
  redis: { address: "127.0.0.1:6379", keyPrefix: "rl:", timeout: 50ms }
  failMode: closed
  rules:
    - { name: g, descriptor: [consumer, plan, { jwtClaim: tenant }, clientIp, { header: x-key }, route, service, apiKey], requests: 100, unit: minute, plans: { gold: 1000 }, missingValue: none }
    - { name: l, descriptor: [clientIp], requests: 10, period: 2s, scope: local }
  quotas:
    - { name: q, by: consumer, requests: 1000, period: week, plans: { gold: 10000 } }
`,
    `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: edge-shop, namespace: shop }
spec:
  parentRefs: [{ kind: Gateway, name: edge-all, namespace: default, sectionName: wild }]
  hostnames: [books.example.org, "*.org"]
  rules:
    - matches: [{ method: { service: bookstore.Bookstore } }]
      backendRefs: [{ name: bookstore, namespace: default, port: 9090 }]
`,
    // AuthorizationPolicy: ALLOW and DENY, every source, operation and condition field.
    `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: bookstore-callers }
spec:
  service: bookstore
  action: ALLOW
  rules:
    - from: [{ principals: ["spiffe://example.org/ns/default/sa/web", "spiffe://example.org/ns/default/*"], notPrincipals: ["*/sa/evil"] }]
      to: [{ paths: ["/bookstore.Bookstore/*", "/exact"], notPaths: ["*/Delete"], methods: [POST], notMethods: [GET] }]
      when: [{ header: x-tenant, values: [a, "b*"], notValues: ["*z"] }]
    - from: [{ namespaces: [ops, "team-*"], notNamespaces: [sandbox] }]
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-debug }
spec:
  service: "*"
  action: DENY
  rules:
    - to: [{ paths: ["/debug/*"] }]
    - when: [{ header: x-debug, values: ["*"] }]
`,
    // GRPCTranslation in both directions (JSON clients of a gRPC service; gRPC clients of an HTTP one).
    `apiVersion: weft.dev/v1alpha1
kind: GRPCTranslation
metadata: { name: bookstore-json }
spec:
  service: bookstore
  direction: jsonToGrpc
  protoServices: [bookstore.Bookstore]
  ignoredQueryParameters: [api_key]
  autoMapping: false
  descriptorSet: ${descriptorSet}
`,
    `apiVersion: weft.dev/v1alpha1
kind: GRPCTranslation
metadata: { name: library-grpc }
spec:
  service: library
  direction: grpcToJson
  protoServices: [bookstore.Bookstore]
  descriptorSet: ${descriptorSet}
`,
  ];
}

const MESH_DISABLE = `apiVersion: weft.dev/v1alpha1
kind: MeshConfig
metadata: { name: mesh }
spec:
  mtls: { mode: DISABLE }
  tracing: { samplingPercent: 100, propagation: w3c }
  authorization: { defaultAction: ALLOW }
`;

function meshModel(docs: string[]): MeshModel {
  const { docs: parsed, errors } = parseDocuments(docs.join('---\n'), 'every-feature.yaml');
  const v = validateApply(parsed, buildModel(0, []));
  const all = [...errors, ...v.errors].map(formatFieldError);
  if (all.length) throw new Error(`the every-feature mesh does not validate:\n${all.join('\n')}`);
  return buildModel(1, v.resources);
}

const node = (over: Partial<NodeInfo>): NodeInfo => ({ id: 'n', cluster: '', role: 'proxyless', namespace: 'default', labels: {}, userAgent: '', ...over });

/** The nodes whose snapshots together hold every resource shape the translator makes. */
const NODES: NodeInfo[] = [
  // Inbound: RBAC (ALLOW + DENY) + grpc_web + grpc_json_transcoder, mTLS PERMISSIVE (TLS + plaintext chains).
  node({ id: 'bookstore-1', role: 'sidecar', service: 'bookstore', appPort: 7000, appProtocol: 'grpc', zone: 'zone-a' }),
  // Inbound: grpc_web, STRICT (TLS chain only); default-deny ALLOW filter.
  node({ id: 'greeter-1', role: 'sidecar', service: 'greeter', appPort: 7001, appProtocol: 'grpc', zone: 'zone-b' }),
  // Inbound: DISABLE (plaintext only), HTTP app.
  node({ id: 'library-1', role: 'sidecar', service: 'library', appPort: 7002, appProtocol: 'http' }),
  node({ id: 'stream-1', role: 'sidecar', service: 'stream', appPort: 7003, appProtocol: 'http2' }),
  node({ id: 'orders-shop', role: 'sidecar', namespace: 'shop', service: 'orders', appPort: 7004, appProtocol: 'http' }),
  // Gateways: the docs' Gateway and one with every other listener and route shape; one whose
  // Gateway does not exist (clusters and endpoints only).
  node({ id: 'gw', role: 'gateway', gateway: 'default/edge' }),
  node({ id: 'gw-all', role: 'gateway', gateway: 'default/edge-all' }),
  node({ id: 'gw-none', role: 'gateway', gateway: 'default/nowhere' }),
  node({ id: 'grpc-client', role: 'proxyless' }),
  node({ id: 'grpc-client-shop', role: 'proxyless', namespace: 'shop' }),
  // Layer 4 (issue 21, the docs' TCP examples): a tcp app's inbound (network RBAC + tcp_proxy), a
  // caller's upstream listeners, a gateway's TCP and TLS passthrough listeners.
  node({ id: 'redis-1', role: 'sidecar', service: 'redis', appPort: 7005, appProtocol: 'tcp' }),
  node({ id: 'checkout-1', role: 'sidecar', service: 'checkout', appPort: 7006, appProtocol: 'http' }),
  node({ id: 'gw-l4', role: 'gateway', gateway: 'default/edge-l4' }),
];

export interface Emitted {
  node: string;
  kind: ResourceKind;
  resource: Resource;
}


/** Every resource the translator emits for the every-feature mesh, per node and mesh variant. */
export async function everyFeatureResources(): Promise<Emitted[]> {
  const out: Emitted[] = [];
  const set = Buffer.from(buildDescriptorSet(join(ROOT, 'test/fixtures/bookstore'))).toString('base64');
  const model = meshModel([...docsExamples(), ...extras(set)]);
  const ca = await CertificateAuthority.open({ dataDir: tempDir('weft-every-') });
  const registry = new Registry();
  // Registered instances (mesh endpoints with tlsMode metadata), besides the static ones.
  registry.streamOpened(node({ id: 'bookstore-1', role: 'sidecar', service: 'bookstore', instanceIp: '127.0.0.2', instancePort: 15006, labels: { version: 'v1' }, zone: 'zone-a' }));
  registry.streamOpened(node({ id: 'greeter-1', role: 'sidecar', service: 'greeter', instanceIp: '127.0.0.3', instancePort: 15006, labels: { version: 'v2' } }));
  // Mesh-wide mTLS and tracing as configured; then the other mesh modes: mTLS DISABLE (no trust
  // bundle, plaintext everywhere) and no tracing endpoint (the control plane's receiver), and a
  // control plane without a CA.
  const plain = meshModel([...docsExamples(), ...extras(set).map((d) => (d.includes('kind: MeshConfig') ? MESH_DISABLE : d))]);
  const translators: Array<[string, Translator]> = [
    ['', new Translator(model, registry, { bundlePem: ca.trustBundlePem() }, { otlpUrl: 'http://127.0.0.1:4318/v1/traces' })],
    ['mtls-disable/', new Translator(plain, registry, { bundlePem: ca.trustBundlePem() }, { otlpUrl: 'http://127.0.0.1:4318/v1/traces' })],
    ['no-ca/', new Translator(model, registry)],
  ];
  for (const [variant, t] of translators) {
    for (const n of NODES) {
      for (const [typeUrl, byName] of t.snapshotFor(n).resources) {
        for (const r of byName.values()) out.push({ node: variant + n.id, kind: KIND_OF.get(typeUrl as TypeUrl)!, resource: r });
      }
    }
  }
  return out;
}

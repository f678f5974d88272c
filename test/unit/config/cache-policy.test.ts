// CachePolicy: the kind on its own (defaults filled, every mistake with its field path), its
// attachment (targetRefs to Gateways and listeners, ExtensionRef from rules of Gateway-attached
// HTTPRoutes only), and its translation: which gateway listeners get envoy.filters.http.cache
// with which store, a listener's own policy winning over its Gateway's, and route overrides.
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { TYPE_URL } from '../../../common/xds-types.js';
import { checkDelete } from '../../../control-plane/config/index.js';
import { buildModel } from '../../../control-plane/config/model.js';
import { kindDefinition } from '../../../control-plane/config/kinds/index.js';
import type { CachePolicyResource } from '../../../control-plane/config/types.js';
import { Registry } from '../../../control-plane/registry/registry.js';
import { Translator } from '../../../control-plane/translate/index.js';
import type { Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { CacheConfigSchema } from '../../../proto/gen/envoy/extensions/filters/http/cache/v3/cache_pb.js';
import { MemoryHttpCacheConfigSchema, RedisHttpCacheConfigSchema } from '../../../proto/gen/weft/v1/cache_pb.js';
import { applyYaml, hcmOf, message, modelOf, nodeOf } from '../../harness/mesh.js';

const errorsOf = (yaml: string) => applyYaml(yaml).errors.map((e) => [e.path, e.message] as const);
const cp = (spec: string, name = 'edge-cache') => `apiVersion: weft.dev/v1alpha1
kind: CachePolicy
metadata: { name: ${name} }
spec: ${spec}
`;
const GW = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge }
spec:
  gatewayClassName: weft
  listeners:
    - { name: web, port: 8000, protocol: HTTP }
    - { name: api, port: 9000, protocol: HTTP }
`;
const SVC = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: orders }
spec:
  ports: [{ name: http, port: 8080 }]
`;
const target = (section?: string) => `[{ group: gateway.networking.k8s.io, kind: Gateway, name: edge${section ? `, sectionName: ${section}` : ''} }]`;

describe('CachePolicy on its own', () => {
  it('fills the defaults', () => {
    const { resources, errors } = applyYaml(cp('{}'));
    expect(errors).toEqual([]);
    expect((resources[0] as CachePolicyResource).spec).toEqual({
      targetRefs: [],
      disabled: false,
      maxBytes: 64 * 1024 * 1024,
      maxObjectBytes: 1024 * 1024,
      tagHeaders: ['cache-tag', 'surrogate-key'],
      statusHeader: 'x-cache',
      staleRetentionMs: 600_000,
      allowedVaryHeaders: ['accept-encoding'],
      ignoreRequestCacheControl: false,
    });
  });

  it('reads every field', () => {
    const { resources, errors } = applyYaml(`${GW}---\n${cp(`{ targetRefs: ${target('web')}, maxObjectBytes: 512Ki, redis: { address: "redis.internal:6380", keyPrefix: "shop:", commandTimeout: 100ms, database: 2 }, tagHeaders: [X-Tags], statusHeader: X-Edge, defaultTtl: 5m, staleRetention: 0s, allowedVaryHeaders: [Accept-Encoding, Accept-Language], ignoreRequestCacheControl: true }`)}`);
    expect(errors).toEqual([]);
    expect((resources[1] as CachePolicyResource).spec).toEqual({
      targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge', sectionName: 'web' }],
      disabled: false,
      maxObjectBytes: 512 * 1024,
      redis: { address: 'redis.internal:6380', keyPrefix: 'shop:', commandTimeoutMs: 100, database: 2 },
      tagHeaders: ['x-tags'],
      statusHeader: 'x-edge',
      defaultTtlMs: 300_000,
      staleRetentionMs: 0,
      allowedVaryHeaders: ['accept-encoding', 'accept-language'],
      ignoreRequestCacheControl: true,
    });
    expect(kindDefinition('CachePolicy').summary(resources[1]!)).toBe('redis redis.internal:6380, objects <= 512Ki -> gateway/edge/web');
  });

  it('takes disabled: true as an opt-out', () => {
    const { resources, errors } = applyYaml(cp('{ disabled: true }'));
    expect(errors).toEqual([]);
    expect(kindDefinition('CachePolicy').summary(resources[0]!)).toBe('disabled');
  });

  it.each([
    ['no spec', 'null', [['spec', 'is required']]],
    ['an unknown field', '{ ttl: 5s }', [['spec.ttl', 'unknown field (allowed: targetRefs, disabled, maxBytes, maxObjectBytes, redis, tagHeaders, statusHeader, defaultTtl, staleRetention, allowedVaryHeaders, ignoreRequestCacheControl)']]],
    ['a bad byte count', '{ maxBytes: 64MB }', [['spec.maxBytes', 'must be a byte count like 1048576, 512Ki, 64Mi or 1Gi, got "64MB"']]],
    ['a zero maxObjectBytes', '{ maxObjectBytes: 0 }', [['spec.maxObjectBytes', 'must be from 1 to 536870912 bytes, got 0']]],
    ['objects larger than the store', '{ maxBytes: 1Mi, maxObjectBytes: 2Mi }', [['spec.maxObjectBytes', 'must not exceed maxBytes (1048576)']]],
    ['maxBytes with redis', '{ maxBytes: 1Mi, redis: { address: "r:6379" } }', [['spec.maxBytes', 'bounds the in-memory store; with redis the entries live in Redis (bound it with Redis maxmemory)']]],
    ['redis without an address', '{ redis: { keyPrefix: a } }', [['spec.redis.address', 'is required']]],
    ['a redis address without a port', '{ redis: { address: redis } }', [['spec.redis.address', "'redis' is not host:port"]]],
    ['a redis port out of range', '{ redis: { address: "r:70000" } }', [['spec.redis.address', 'port 70000 is not from 1 to 65535']]],
    ['a redis timeout over 10s', '{ redis: { address: "r:1", commandTimeout: 1m } }', [['spec.redis.commandTimeout', 'must be at most 10s (requests wait for it)']]],
    ['a redis database over 15', '{ redis: { address: "r:1", database: 16 } }', [['spec.redis.database', 'must be an integer from 0 to 15, got 16']]],
    ['a tag header listed twice', '{ tagHeaders: [Cache-Tag, cache-tag] }', [['spec.tagHeaders[1]', "'cache-tag' is listed twice"]]],
    ['a defaultTtl under a second', '{ defaultTtl: 10ms }', [['spec.defaultTtl', 'must be at least 1000 ms']]],
    ['disabled: false', '{ disabled: false }', [['spec.disabled', 'must be true, or left out']]],
    ['settings in a disabled policy', '{ disabled: true, maxBytes: 1Mi }', [['spec.maxBytes', 'has no effect in a disabled policy (an opt-out caches nothing)']]],
    ['a targetRef to a missing Gateway', `{ targetRefs: ${target()} }`, [['spec.targetRefs[0].name', 'Gateway default/edge does not exist (a policy targets Gateways of its own namespace)']]],
  ])('refuses %s, with the field path', (_what, spec, expected) => {
    expect(errorsOf(cp(spec))).toEqual(expected);
  });

  it('refuses a listener the Gateway does not have, and two policies on one target', () => {
    expect(errorsOf(`${GW}---\n${cp(`{ targetRefs: ${target('nope')} }`)}`)).toEqual([['spec.targetRefs[0].sectionName', "Gateway default/edge has no listener 'nope' (listeners: web, api)"]]);
    expect(errorsOf(`${GW}---\n${cp(`{ targetRefs: ${target()} }`)}---\n${cp(`{ targetRefs: ${target()} }`, 'second')}`).map((e) => e[1])).toContain('CachePolicy default/edge-cache already targets Gateway default/edge; one CachePolicy per target');
  });

  it('keeps the Gateway it targets from being deleted', () => {
    const m = buildModel(1, applyYaml(`${GW}---\n${cp(`{ targetRefs: ${target()} }`)}`).resources);
    expect(checkDelete(['Gateway/default/edge'], m).map((e) => `${e.resource} ${e.path}`)).toEqual(['CachePolicy/default/edge-cache spec.targetRefs[0].name']);
  });
});

describe('ExtensionRef to a CachePolicy', () => {
  const route = (parent: string, kind = 'HTTPRoute') => `apiVersion: gateway.networking.k8s.io/v1
kind: ${kind}
metadata: { name: r }
spec:
  parentRefs: [${parent}]
  rules:
    - filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CachePolicy, name: edge-cache } }]
      backendRefs: [{ name: orders, port: 8080 }]
`;
  it('is accepted on an HTTPRoute attached to a Gateway', () => {
    expect(errorsOf(`${GW}---\n${SVC}---\n${cp('{}')}---\n${route('{ kind: Gateway, name: edge }')}`)).toEqual([]);
  });
  it('is refused on a mesh route (the cache runs at gateways only)', () => {
    expect(errorsOf(`${GW}---\n${SVC}---\n${cp('{}')}---\n${route('{ name: orders }')}`)).toEqual([
      ['spec.rules[0].filters[0].extensionRef.kind', 'a CachePolicy applies to HTTPRoutes attached to Gateways only (every parentRef a Gateway)'],
    ]);
  });
});

describe('CachePolicy translation', () => {
  const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: web }
spec:
  parentRefs: [{ kind: Gateway, name: edge }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /static } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CachePolicy, name: static } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - matches: [{ path: { type: PathPrefix, value: /account } }]
      filters: [{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: CachePolicy, name: off } }]
      backendRefs: [{ name: orders, port: 8080 }]
    - backendRefs: [{ name: orders, port: 8080 }]
`;
  const node = nodeOf({ role: 'gateway', gateway: 'default/edge', service: 'edge' });
  const cacheOf = (t: Translator, l: string) => {
    const f = hcmOf(message<Listener>(t, node, TYPE_URL.listener, `gateway.${l}`)).httpFilters.find((x) => x.name === 'envoy.filters.http.cache');
    return f && anyUnpack(f.configType.value as never, CacheConfigSchema)!;
  };

  it('gives each listener its own policy, else its Gateway\'s; routes override or opt out', () => {
    const m = modelOf(`${GW}---\n${SVC}---\n${ROUTES}---\n${cp(`{ targetRefs: ${target()}, maxBytes: 8Mi, maxObjectBytes: 64Ki }`)}---\n${cp(`{ targetRefs: ${target('api')}, redis: { address: "127.0.0.1:6379" } }`, 'api-cache')}---\n${cp('{ defaultTtl: 1m }', 'static')}---\n${cp('{ disabled: true }', 'off')}`);
    const t = new Translator(m, new Registry());
    const web = cacheOf(t, 'web')!;
    expect([web.maxBodyBytes, web.allowedVaryHeaders.map((v) => v.matchPattern.value), web.ignoreRequestCacheControlHeader]).toEqual([65536, ['accept-encoding'], false]);
    const mem = anyUnpack(web.typedConfig!, MemoryHttpCacheConfigSchema)!;
    expect([mem.maxBytes, mem.behavior?.name, mem.behavior?.tagHeaders, mem.behavior?.statusHeader, mem.behavior?.defaultTtl]).toEqual([8n * 1024n * 1024n, 'default/edge-cache', ['cache-tag', 'surrogate-key'], 'x-cache', undefined]);
    const redis = anyUnpack(cacheOf(t, 'api')!.typedConfig!, RedisHttpCacheConfigSchema)!;
    expect([redis.address, redis.keyPrefix, redis.behavior?.name]).toEqual(['127.0.0.1:6379', 'weft:cache:default/api-cache:', 'default/api-cache']);
    // The cache sits after RBAC and CORS, before the router.
    const names = hcmOf(message<Listener>(t, node, TYPE_URL.listener, 'gateway.web')).httpFilters.map((f) => f.name);
    expect(names.slice(-2)).toEqual(['envoy.filters.http.cache', 'envoy.filters.http.router']);
    const rc = message<RouteConfiguration>(t, node, TYPE_URL.route, 'gateway.web');
    const perRoute = Object.fromEntries(rc.virtualHosts[0]!.routes.map((r) => [r.match!.pathSpecifier.value, r.typedPerFilterConfig['envoy.filters.http.cache']?.typeUrl]));
    expect(perRoute).toMatchObject({ '/static': 'type.googleapis.com/envoy.extensions.filters.http.cache.v3.CacheConfig', '/account': 'type.googleapis.com/envoy.config.route.v3.FilterConfig', '/': undefined });
  });

  it('puts no cache filter on a listener without a policy, and a disabled one where only routes cache', () => {
    const none = new Translator(modelOf(`${GW}---\n${SVC}---\n${cp('{}')}`), new Registry());
    expect(cacheOf(none, 'web')).toBeUndefined();
    const routed = new Translator(modelOf(`${GW}---\n${SVC}---\n${ROUTES}---\n${cp('{}', 'static')}---\n${cp('{ disabled: true }', 'off')}`), new Registry());
    expect(cacheOf(routed, 'web')?.disabled).toBe(true);
  });
});

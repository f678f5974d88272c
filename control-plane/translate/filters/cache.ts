/**
 * Envoy's HTTP cache filter for CachePolicy, on gateway listeners only (edge responses; the
 * mesh's own traffic is not cached). A listener gets a CacheConfig from the policy targeting it
 * (its own, else its Gateway's), or a disabled one when only some routes cache; each Envoy Route
 * built from a rule whose ExtensionRef names a CachePolicy carries that policy's CacheConfig
 * (or, for a `disabled` policy, a FilterConfig that turns the filter off there).
 *
 * The store travels in CacheConfig.typed_config: weft.v1.MemoryHttpCacheConfig (an LRU bounded
 * in bytes) or weft.v1.RedisHttpCacheConfig (shared by the Gateway's replicas). Both name the
 * store `<namespace>/<name>` of the policy, so a proxy keeps its entries across updates.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import { FilterConfigSchema } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { MemoryHttpCacheConfigSchema, RedisHttpCacheConfigSchema } from '../../../proto/gen/weft/v1/cache_pb.js';
import type { CachePolicyResource } from '../../config/types.js';
import { policyForListener, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { duration } from '../proto-helpers.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';

/** An enabled CachePolicy -> CacheConfig init. */
export function cacheConfig(res: CachePolicyResource) {
  const s = res.spec;
  const name = `${res.metadata.namespace}/${res.metadata.name}`;
  const behavior = {
    name,
    tagHeaders: s.tagHeaders,
    statusHeader: s.statusHeader,
    ...(s.defaultTtlMs !== undefined ? { defaultTtl: duration(s.defaultTtlMs) } : {}),
    ...(s.staleRetentionMs ? { staleRetention: duration(s.staleRetentionMs) } : {}),
  };
  const store = s.redis
    ? anyPack(RedisHttpCacheConfigSchema, create(RedisHttpCacheConfigSchema, { behavior, address: s.redis.address, keyPrefix: s.redis.keyPrefix ?? `weft:cache:${name}:`, commandTimeout: duration(s.redis.commandTimeoutMs), database: s.redis.database }))
    : anyPack(MemoryHttpCacheConfigSchema, create(MemoryHttpCacheConfigSchema, { behavior, maxBytes: BigInt(s.maxBytes!) }));
  return {
    typedConfig: store,
    allowedVaryHeaders: s.allowedVaryHeaders.map((h) => ({ matchPattern: { case: 'exact' as const, value: h }, ignoreCase: true })),
    maxBodyBytes: s.maxObjectBytes,
    ignoreRequestCacheControlHeader: s.ignoreRequestCacheControl,
  };
}

export const cache: HttpFilterTranslation = {
  name: EXTENSIONS.cache.name,
  listenerFilters(ctx) {
    if (ctx.side !== 'gateway' || !ctx.gateway) return [];
    const policy = policyForListener(ctx.model.cachePolicies.values(), ctx.gateway.gw, ctx.gateway.listener);
    if (policy && !policy.spec.disabled) return [typedExtension(EXTENSIONS.cache, cacheConfig(policy)) as HttpFilter];
    return configuredIn(ctx.routes, EXTENSIONS.cache.name) ? [typedExtension(EXTENSIONS.cache, { disabled: true }) as HttpFilter] : [];
  },
  routeConfig(ctx) {
    const policy = ruleExtension<CachePolicyResource>(ctx.model, ctx.rule.filters, 'CachePolicy', ctx.namespace);
    if (!policy || ctx.proxyless) return undefined;
    return policy.spec.disabled ? anyPack(FilterConfigSchema, create(FilterConfigSchema, { disabled: true })) : packExtension(EXTENSIONS.cachePolicy, cacheConfig(policy));
  },
};

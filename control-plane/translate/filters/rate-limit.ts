/**
 * weft.filters.http.ratelimit for RateLimitPolicy (weft.v1.RateLimit, proto/weft/v1/ratelimit.proto),
 * after authentication and authorization (it counts consumers the API filters found):
 *
 * - a gateway listener gets the policy targeting it (its own, else its Gateway's), or an empty
 *   RateLimit when only some routes carry one;
 * - a sidecar's inbound listener gets the policy targeting its Service (every request to the
 *   service, from any client, counts);
 * - an outbound listener gets an empty RateLimit when some mesh route carries one;
 * - each Envoy Route built from a rule whose ExtensionRef names a RateLimitPolicy carries that
 *   policy's RateLimit, which replaces the listener's there.
 *
 * Quotas travel as rules with a quota_period (counted under the consumer or the plan).
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { RateLimit_FailMode, RateLimitRule_QuotaPeriod, RateLimitRule_Scope, type RateLimitSchema } from '../../../proto/gen/weft/v1/ratelimit_pb.js';
import type { RateLimitDescriptorEntry, RateLimitPolicyResource, QuotaPeriod } from '../../config/types.js';
import { policyForListener, policyForService, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { duration } from '../proto-helpers.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';

type Init = MessageInitShape<typeof RateLimitSchema>;

const PERIOD: Readonly<Record<QuotaPeriod, RateLimitRule_QuotaPeriod>> = {
  hour: RateLimitRule_QuotaPeriod.HOUR,
  day: RateLimitRule_QuotaPeriod.DAY,
  week: RateLimitRule_QuotaPeriod.WEEK,
  month: RateLimitRule_QuotaPeriod.MONTH,
};

function entry(e: RateLimitDescriptorEntry) {
  if ('consumer' in e) return { kind: { case: 'consumer' as const, value: true } };
  if ('plan' in e) return { kind: { case: 'plan' as const, value: true } };
  if ('jwtClaim' in e) return { kind: { case: 'jwtClaim' as const, value: e.jwtClaim } };
  if ('clientIp' in e) return { kind: { case: 'clientIp' as const, value: true } };
  if ('header' in e) return { kind: { case: 'header' as const, value: e.header } };
  if ('route' in e) return { kind: { case: 'route' as const, value: true } };
  if ('apiKey' in e) return { kind: { case: 'apiKey' as const, value: true } };
  return { kind: { case: 'service' as const, value: true } };
}

const missing = (v: string | undefined) => (v === undefined ? {} : { countMissing: true, missingValue: v });

/** A RateLimitPolicy -> its RateLimit init. */
export function rateLimitConfig(res: RateLimitPolicyResource): Init {
  const s = res.spec;
  const policy = `${res.metadata.namespace}/${res.metadata.name}`;
  return {
    policy,
    rules: [
      ...s.rules.map((x) => ({
        name: x.name,
        descriptor: x.descriptor.map(entry),
        requests: x.requests,
        window: duration(x.windowMs),
        scope: x.scope === 'local' ? RateLimitRule_Scope.LOCAL : RateLimitRule_Scope.GLOBAL,
        planRequests: x.plans,
        ...missing(x.missingValue),
      })),
      ...s.quotas.map((q) => ({
        name: q.name,
        descriptor: [entry(q.by === 'consumer' ? { consumer: true } : { plan: true })],
        requests: q.requests,
        scope: RateLimitRule_Scope.GLOBAL,
        planRequests: q.plans,
        quotaPeriod: PERIOD[q.period],
        ...missing(q.missingValue),
      })),
    ],
    ...(s.redis ? { redis: { address: s.redis.address, keyPrefix: s.redis.keyPrefix || `weft:rl:${policy}:`, timeout: duration(s.redis.timeoutMs) } } : {}),
    failMode: s.failMode === 'closed' ? RateLimit_FailMode.CLOSED : RateLimit_FailMode.OPEN,
  };
}

export const rateLimit: HttpFilterTranslation = {
  name: EXTENSIONS.rateLimit.name,
  listenerFilters(ctx) {
    const policies = ctx.model.rateLimitPolicies.values();
    let own: RateLimitPolicyResource | undefined;
    if (ctx.side === 'gateway' && ctx.gateway) own = policyForListener(policies, ctx.gateway.gw, ctx.gateway.listener);
    else if (ctx.side === 'inbound' && ctx.service) own = policyForService(policies, ctx.namespace, ctx.service);
    else if (ctx.side === 'proxyless') return [];
    if (own) return [typedExtension(EXTENSIONS.rateLimit, rateLimitConfig(own)) as HttpFilter];
    return configuredIn(ctx.routes, EXTENSIONS.rateLimit.name) ? [typedExtension(EXTENSIONS.rateLimit) as HttpFilter] : [];
  },
  routeConfig(ctx) {
    if (ctx.proxyless) return undefined;
    const policy = ruleExtension<RateLimitPolicyResource>(ctx.model, ctx.rule.filters, 'RateLimitPolicy', ctx.namespace);
    return policy ? packExtension(EXTENSIONS.rateLimitPolicy, rateLimitConfig(policy)) : undefined;
  },
};

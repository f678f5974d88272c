/**
 * Envoy's fault filter for FaultPolicy: every Envoy Route built from a rule whose ExtensionRef
 * names a FaultPolicy carries that policy as an HTTPFault (typed_per_filter_config), and a
 * listener whose routes carry one gets the filter with an empty HTTPFault (no faults unless a
 * route overrides it) just before the router. Meshes without FaultPolicy get nothing.
 *
 * Sidecars' outbound side (the caller's proxy injects the fault), gateways (the edge proxy
 * injects it, as the caller of the mesh) and proxyless gRPC clients:
 * grpc-js-xds registers this filter (http-filter/fault-injection-filter.js) and reads the same
 * per-route override.
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { FaultPolicyResource, FaultPolicySpec } from '../../config/types.js';
import { ruleExtension } from '../../config/kinds/policy-attachment.js';
import { duration, fractionalPercent } from '../proto-helpers.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';

/** FaultPolicy spec -> HTTPFault init. */
export function httpFault(spec: FaultPolicySpec) {
  const { delay, abort } = spec;
  return {
    ...(delay
      ? {
          delay: {
            faultDelaySecifier: 'fixedDelayMs' in delay ? { case: 'fixedDelay' as const, value: duration(delay.fixedDelayMs) } : { case: 'headerDelay' as const, value: {} },
            percentage: fractionalPercent(delay.percentage),
          },
        }
      : {}),
    ...(abort
      ? {
          abort: {
            errorType:
              'httpStatus' in abort
                ? { case: 'httpStatus' as const, value: abort.httpStatus }
                : 'grpcStatus' in abort
                  ? { case: 'grpcStatus' as const, value: abort.grpcStatus }
                  : { case: 'headerAbort' as const, value: {} },
            percentage: fractionalPercent(abort.percentage),
          },
        }
      : {}),
    ...(spec.maxActiveFaults !== undefined ? { maxActiveFaults: spec.maxActiveFaults } : {}),
  };
}

export const fault: HttpFilterTranslation = {
  name: EXTENSIONS.fault.name,
  listenerFilters: (ctx) => ((ctx.side === 'outbound' || ctx.side === 'proxyless' || ctx.side === 'gateway') && configuredIn(ctx.routes, EXTENSIONS.fault.name) ? [typedExtension(EXTENSIONS.fault) as HttpFilter] : []),
  routeConfig(ctx) {
    const policy = ruleExtension<FaultPolicyResource>(ctx.model, ctx.rule.filters, 'FaultPolicy', ctx.namespace);
    return policy ? packExtension(EXTENSIONS.faultPolicy, httpFault(policy.spec)) : undefined;
  },
};

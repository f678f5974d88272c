/**
 * weft.filters.http.validation for ValidationPolicy, on gateway, inbound and outbound listeners:
 * - a gateway listener carries the policy targeting it (its own, else its Gateway's), or an
 *   empty config when only some routes validate;
 * - a sidecar's inbound listener: the policy targeting its Service, on the inbound virtual host;
 * - each Envoy Route built from a rule whose ExtensionRef names a ValidationPolicy carries it
 *   (gateway and mesh routes; not proxyless gRPC clients, which do not run Weft filters).
 * A route's or virtual host's config replaces the listener's. Schemas travel as JSON text.
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { ValidationPolicyResource } from '../../config/types.js';
import { policyForListener, policyForService, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';

/** A ValidationPolicy -> weft.v1.Validation init. */
export function validationConfig(res: ValidationPolicyResource) {
  const s = res.spec;
  return {
    name: `${res.metadata.namespace}/${res.metadata.name}`,
    requestBodySchema: s.requestBodySchema === undefined ? '' : JSON.stringify(s.requestBodySchema),
    openapi: s.openapi === undefined ? '' : JSON.stringify(s.openapi),
    allowUnknownOperations: s.openapi !== undefined && s.unknownOperations === 'Allow',
    maxBodyBytes: BigInt(s.maxBodyBytes ?? 0),
    auditResponses: s.auditResponses,
    responseBodySchema: s.responseBodySchema === undefined ? '' : JSON.stringify(s.responseBodySchema),
  };
}

export const validation: HttpFilterTranslation = {
  name: EXTENSIONS.validation.name,
  listenerFilters(ctx) {
    if (ctx.side === 'proxyless') return [];
    if (ctx.side === 'gateway' && ctx.gateway) {
      const policy = policyForListener(ctx.model.validationPolicies.values(), ctx.gateway.gw, ctx.gateway.listener);
      if (policy) return [typedExtension(EXTENSIONS.validation, validationConfig(policy)) as HttpFilter];
    }
    return configuredIn(ctx.routes, EXTENSIONS.validation.name) ? [typedExtension(EXTENSIONS.validation) as HttpFilter] : [];
  },
  virtualHostConfig(ctx) {
    if (ctx.side !== 'inbound') return undefined;
    const policy = policyForService(ctx.model.validationPolicies.values(), ctx.svc.metadata.namespace, ctx.svc.metadata.name);
    return policy ? packExtension(EXTENSIONS.validationPolicy, validationConfig(policy)) : undefined;
  },
  routeConfig(ctx) {
    if (ctx.proxyless) return undefined;
    const policy = ruleExtension<ValidationPolicyResource>(ctx.model, ctx.rule.filters, 'ValidationPolicy', ctx.namespace);
    return policy ? packExtension(EXTENSIONS.validationPolicy, validationConfig(policy)) : undefined;
  },
};

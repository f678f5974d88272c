/**
 * weft.filters.http.transformation for TransformationPolicy, placed like validation (gateway
 * listener by targetRefs, a Service's inbound virtual host, route rules by ExtensionRef; a
 * route's or virtual host's config replaces the listener's).
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { BodyFieldSpec, TransformationPolicyResource } from '../../config/types.js';
import { policyForListener, policyForService, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';

function bodyField(f: BodyFieldSpec) {
  const action =
    'rename' in f ? { case: 'renameTo' as const, value: f.rename }
    : 'remove' in f ? { case: 'remove' as const, value: true }
    : 'value' in f ? { case: 'valueJson' as const, value: JSON.stringify(f.value) }
    : 'fromHeader' in f ? { case: 'fromHeader' as const, value: f.fromHeader }
    : 'fromJwtClaim' in f ? { case: 'fromJwtClaim' as const, value: f.fromJwtClaim }
    : { case: 'fromConsumer' as const, value: true };
  return { pointer: f.pointer, action };
}

/** A TransformationPolicy -> weft.v1.Transformation init. */
export function transformationConfig(res: TransformationPolicyResource) {
  const { request: q, response: s, maxBodyBytes } = res.spec;
  return {
    name: `${res.metadata.namespace}/${res.metadata.name}`,
    ...(q.headers ? { requestHeaders: q.headers } : {}),
    ...(q.queryParams ? { query: q.queryParams } : {}),
    requestBody: q.body.map(bodyField),
    ...(s.headers ? { responseHeaders: s.headers } : {}),
    responseBody: s.body.map(bodyField),
    requestJsonToXmlRoot: q.jsonToXml?.rootElement ?? '',
    responseXmlToJson: s.xmlToJson,
    maxBodyBytes: BigInt(maxBodyBytes ?? 0),
  };
}

export const transformation: HttpFilterTranslation = {
  name: EXTENSIONS.transformation.name,
  listenerFilters(ctx) {
    if (ctx.side === 'proxyless') return [];
    if (ctx.side === 'gateway' && ctx.gateway) {
      const policy = policyForListener(ctx.model.transformationPolicies.values(), ctx.gateway.gw, ctx.gateway.listener);
      if (policy) return [typedExtension(EXTENSIONS.transformation, transformationConfig(policy)) as HttpFilter];
    }
    return configuredIn(ctx.routes, EXTENSIONS.transformation.name) ? [typedExtension(EXTENSIONS.transformation) as HttpFilter] : [];
  },
  virtualHostConfig(ctx) {
    if (ctx.side !== 'inbound') return undefined;
    const policy = policyForService(ctx.model.transformationPolicies.values(), ctx.svc.metadata.namespace, ctx.svc.metadata.name);
    return policy ? packExtension(EXTENSIONS.transformationPolicy, transformationConfig(policy)) : undefined;
  },
  routeConfig(ctx) {
    if (ctx.proxyless) return undefined;
    const policy = ruleExtension<TransformationPolicyResource>(ctx.model, ctx.rule.filters, 'TransformationPolicy', ctx.namespace);
    return policy ? packExtension(EXTENSIONS.transformationPolicy, transformationConfig(policy)) : undefined;
  },
};

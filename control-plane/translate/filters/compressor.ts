/**
 * Envoy's compressor filter for CompressionPolicy, on gateway listeners only (a sidecar's
 * outbound side may come later). Envoy's per-route config (CompressorPerRoute) can only turn an
 * entry off or on, so each policy in use on a listener gets its own entries, one per algorithm
 * (a Compressor with a gzip or brotli compressor_library), named
 * `envoy.filters.http.compressor.<algorithm>/<namespace>/<policy>`:
 *
 * - the listener's policy (targetRefs: the listener's own, else its Gateway's) has entries that
 *   are on for every route;
 * - a policy a rule names in an ExtensionRef has entries that are off on the listener
 *   (HttpFilter.disabled) and turned on by that rule's routes (CompressorPerRoute overrides);
 *   those routes turn the listener policy's entries off (CompressorPerRoute disabled). A disabled
 *   (opt-out) policy has no entries: its rules only turn the listener policy's off.
 *
 * The policy's first algorithm is `choose_first`: on equal client q-values, the server's
 * preference wins. Listeners without a policy in use get nothing.
 */
import type { Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { CompressionAlgorithm, CompressionPolicyResource } from '../../config/types.js';
import { policyForListener, ruleExtension } from '../../config/kinds/policy-attachment.js';
import { configuredIn, type GatewayTarget, type HttpFilterTranslation } from './filter.js';

/** The http_filters entry name of one algorithm of one policy. */
export function compressorEntryName(p: CompressionPolicyResource, a: CompressionAlgorithm): string {
  return `${EXTENSIONS.compressor.name}.${a}/${p.metadata.namespace}/${p.metadata.name}`;
}

/** The policy of a gateway listener (targetRefs), if one applies. */
function listenerPolicy(model: { compressionPolicies: ReadonlyMap<string, CompressionPolicyResource> }, g: GatewayTarget): CompressionPolicyResource | undefined {
  return policyForListener(model.compressionPolicies.values(), g.gw, g.listener);
}

function library(p: CompressionPolicyResource, a: CompressionAlgorithm) {
  if (a === 'gzip') {
    const level = p.spec.gzip.level;
    return { name: EXTENSIONS.gzip.name, typedConfig: packExtension(EXTENSIONS.gzip, level === undefined ? {} : { compressionLevel: level }) };
  }
  const quality = p.spec.brotli.quality;
  return { name: EXTENSIONS.brotli.name, typedConfig: packExtension(EXTENSIONS.brotli, quality === undefined ? {} : { quality }) };
}

/** One policy's entries (none for an opt-out). */
function entries(p: CompressionPolicyResource, disabled: boolean): HttpFilter[] {
  const s = p.spec;
  return s.algorithms.map((a, i) => ({
    ...(typedExtension(EXTENSIONS.compressor, {
      responseDirectionConfig: {
        commonConfig: { minContentLength: s.minContentLength, contentType: s.contentTypes },
        disableOnEtagHeader: s.disableOnETag,
        removeAcceptEncodingHeader: s.removeAcceptEncoding,
      },
      compressorLibrary: library(p, a),
      chooseFirst: i === 0 && s.algorithms.length > 1,
    }) as HttpFilter),
    name: compressorEntryName(p, a),
    ...(disabled ? { disabled: true } : {}),
  }) as HttpFilter);
}

const off = (): Any => packExtension(EXTENSIONS.compressorPerRoute, { override: { case: 'disabled', value: true } });
const on = (): Any => packExtension(EXTENSIONS.compressorPerRoute, { override: { case: 'overrides', value: { responseDirectionConfig: {} } } });

export const compressor: HttpFilterTranslation = {
  name: EXTENSIONS.compressor.name,
  listenerFilters(ctx) {
    if (ctx.side !== 'gateway' || !ctx.gateway) return [];
    const own = listenerPolicy(ctx.model, ctx.gateway);
    const out = own ? entries(own, false) : [];
    const named = [...ctx.model.compressionPolicies.values()]
      .filter((p) => p !== own && p.spec.algorithms.some((a) => configuredIn(ctx.routes, compressorEntryName(p, a))))
      .sort((a, b) => (`${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1));
    for (const p of named) out.push(...entries(p, true));
    return out;
  },
  routeConfigs(ctx) {
    const out: Record<string, Any> = {};
    if (!ctx.gateway) return out;
    const mine = ruleExtension<CompressionPolicyResource>(ctx.model, ctx.rule.filters, 'CompressionPolicy', ctx.namespace);
    const own = listenerPolicy(ctx.model, ctx.gateway);
    if (!mine || mine === own) return out;
    if (own) for (const a of own.spec.algorithms) out[compressorEntryName(own, a)] = off();
    for (const a of mine.spec.algorithms) out[compressorEntryName(mine, a)] = on();
    return out;
  },
};

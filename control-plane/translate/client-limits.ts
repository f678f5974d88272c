/**
 * ClientTrafficPolicy -> the Envoy fields that carry each limit on a gateway listener:
 *  - maxRequestHeaderBytes -> HCM max_request_headers_kb;
 *  - requestHeaderTimeout  -> HCM request_headers_timeout;
 *  - idleTimeout           -> HCM common_http_protocol_options.idle_timeout;
 *  - maxConnections        -> an envoy.filters.network.connection_limit filter before the HCM;
 *  - maxRequestBodyBytes   -> an envoy.filters.http.buffer filter (filters/buffer.ts);
 *  - maxUriLength          -> Weft's weft.filters.http.request_limits filter (filters/request-limits.ts).
 * The policy for a listener is the one naming it, else the one naming its Gateway (policy-attachment.ts).
 */

import { EXTENSIONS, typedExtension } from '../../common/extensions.js';
import type { ClientTrafficPolicySpec, GatewayListener, GatewayResource, MeshModel } from '../config/types.js';
import { policyForListener } from '../config/kinds/policy-attachment.js';
import { duration } from './proto-helpers.js';
import { HttpConnectionManagerSchema } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { MessageInitShape } from '@bufbuild/protobuf';

/** The ClientTrafficPolicy spec that applies to listener `l` of `gw`, if any. */
export function clientTrafficFor(model: MeshModel, gw: GatewayResource, l: GatewayListener): ClientTrafficPolicySpec | undefined {
  return policyForListener(model.clientTrafficPolicies.values(), gw, l)?.spec;
}

export type HcmLimits = Pick<MessageInitShape<typeof HttpConnectionManagerSchema>, 'maxRequestHeadersKb' | 'requestHeadersTimeout' | 'commonHttpProtocolOptions'>;

/** The HCM fields of a policy's connection-level limits. */
export function hcmLimits(spec: ClientTrafficPolicySpec | undefined): HcmLimits {
  if (!spec) return {};
  return {
    ...(spec.maxRequestHeaderBytes !== undefined ? { maxRequestHeadersKb: spec.maxRequestHeaderBytes / 1024 } : {}),
    ...(spec.requestHeaderTimeoutMs !== undefined ? { requestHeadersTimeout: duration(spec.requestHeaderTimeoutMs) } : {}),
    ...(spec.idleTimeoutMs !== undefined ? { commonHttpProtocolOptions: { idleTimeout: duration(spec.idleTimeoutMs) } } : {}),
  };
}

/** The network filters before the HCM: the connection limit, when the policy sets one. */
export function networkLimitFilters(spec: ClientTrafficPolicySpec | undefined, statPrefix: string): ReturnType<typeof typedExtension>[] {
  if (spec?.maxConnections === undefined) return [];
  return [typedExtension(EXTENSIONS.connectionLimit, { statPrefix, maxConnections: BigInt(spec.maxConnections) })];
}


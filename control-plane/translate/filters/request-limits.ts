/**
 * Weft's request_limits filter for the limits of a ClientTrafficPolicy Envoy has no field for:
 * maxUriLength (Envoy only counts the request line within max_request_headers_kb). It travels
 * with is_optional unset: a proxy that cannot enforce it must refuse the listener, not skip it.
 */
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { HttpFilterTranslation } from './filter.js';

export const requestLimits: HttpFilterTranslation = {
  name: EXTENSIONS.requestLimits.name,
  listenerFilters: (ctx) => {
    const max = ctx.clientTraffic?.maxUriLength;
    return max === undefined ? [] : [typedExtension(EXTENSIONS.requestLimits, { maxUriLength: max }) as HttpFilter];
  },
};

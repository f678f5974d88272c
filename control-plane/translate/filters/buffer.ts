/**
 * Envoy's buffer filter for a ClientTrafficPolicy's maxRequestBodyBytes on a gateway listener:
 * max_request_bytes, over which the request is answered 413. Envoy buffers the whole body; the
 * Weft proxy enforces the same limit by counting the body as it streams (sidecar/http/filters/buffer.ts).
 * Listeners without the limit get no filter.
 */
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { HttpFilterTranslation } from './filter.js';

export const buffer: HttpFilterTranslation = {
  name: EXTENSIONS.buffer.name,
  listenerFilters: (ctx) => {
    const max = ctx.clientTraffic?.maxRequestBodyBytes;
    return max === undefined ? [] : [typedExtension(EXTENSIONS.buffer, { maxRequestBytes: max }) as HttpFilter];
  },
};

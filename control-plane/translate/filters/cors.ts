/**
 * envoy.filters.http.cors on the inbound listener of every service with a grpc port (first, so a
 * browser's preflight is answered before authorization), with the gRPC-Web CORS policy
 * (common/grpc-web.ts) on that listener's virtual host. The listener filter has no options; the
 * policy per virtual host is what turns it on.
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import { GRPC_WEB_ALLOW_METHODS, GRPC_WEB_EXPOSE, GRPC_WEB_MAX_AGE } from '../../../common/grpc-web.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { HttpFilterTranslation } from './filter.js';
import { servesGrpcWeb } from './grpc-web.js';

export const cors: HttpFilterTranslation = {
  name: EXTENSIONS.cors.name,
  listenerFilters: (ctx) => (ctx.side === 'inbound' && ctx.service && servesGrpcWeb(ctx.model, ctx.namespace, ctx.service) ? [typedExtension(EXTENSIONS.cors) as HttpFilter] : []),
  virtualHostConfig(ctx) {
    if (ctx.side !== 'inbound' || !servesGrpcWeb(ctx.model, ctx.svc.metadata.namespace, ctx.svc.metadata.name)) return undefined;
    return packExtension(EXTENSIONS.corsPolicy, {
      allowOriginStringMatch: [{ matchPattern: { case: 'safeRegex', value: { regex: '.*' } } }],
      allowMethods: GRPC_WEB_ALLOW_METHODS,
      // The headers the preflight asks for (gRPC-Web clients send custom metadata).
      allowHeaders: '*',
      exposeHeaders: GRPC_WEB_EXPOSE,
      maxAge: GRPC_WEB_MAX_AGE,
    });
  },
};

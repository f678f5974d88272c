/**
 * Weft's gRPC -> HTTP/JSON translation (weft.filters.http.grpc_json_reverse) for a service with a
 * grpcToJson GRPCTranslation: its config travels on the service's outbound virtual hosts (sidecars
 * only, http ports), and a sidecar whose outbound routes carry it gets the filter, is_optional so
 * other xDS clients may run without it.
 */
import { EXTENSIONS, packExtension, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { configuredIn, type HttpFilterTranslation } from './filter.js';
import { transcoderConfig } from './grpc-json-transcoder.js';

export const grpcJsonReverse: HttpFilterTranslation = {
  name: EXTENSIONS.grpcJsonReverse.name,
  listenerFilters: (ctx) => (ctx.side === 'outbound' && configuredIn(ctx.routes, EXTENSIONS.grpcJsonReverse.name) ? [{ ...typedExtension(EXTENSIONS.grpcJsonReverseFilter), isOptional: true } as HttpFilter] : []),
  virtualHostConfig(ctx) {
    if (ctx.side !== 'outbound' || ctx.port?.protocol !== 'http') return undefined;
    const t = ctx.model.grpcTranslations.get(`Service/${ctx.svc.metadata.namespace}/${ctx.svc.metadata.name}`);
    if (!t || t.spec.direction !== 'grpcToJson') return undefined;
    return packExtension(EXTENSIONS.grpcJsonReverse, { config: packExtension(EXTENSIONS.grpcJsonTranscoder, transcoderConfig(t)), isOptional: true });
  },
};

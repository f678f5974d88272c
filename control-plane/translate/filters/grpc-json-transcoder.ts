/** envoy.filters.http.grpc_json_transcoder on the inbound listener of a service with a jsonToGrpc GRPCTranslation. */
import { create } from '@bufbuild/protobuf';
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import { GrpcJsonTranscoderSchema } from '../../../proto/gen/envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { GRPCTranslationResource } from '../../config/types.js';
import type { HttpFilterTranslation } from './filter.js';

/** The GrpcJsonTranscoder a GRPCTranslation stands for (either direction). */
export function transcoderConfig(t: GRPCTranslationResource) {
  return create(GrpcJsonTranscoderSchema, {
    descriptorSet: { case: 'protoDescriptorBin', value: Buffer.from(t.spec.descriptorSet, 'base64') },
    services: t.spec.protoServices,
    ignoredQueryParameters: t.spec.ignoredQueryParameters,
    autoMapping: t.spec.autoMapping,
    convertGrpcStatus: true,
  });
}

export const grpcJsonTranscoder: HttpFilterTranslation = {
  name: EXTENSIONS.grpcJsonTranscoder.name,
  listenerFilters(ctx) {
    if (ctx.side !== 'inbound' || !ctx.service) return [];
    const t = ctx.model.grpcTranslations.get(`Service/${ctx.namespace}/${ctx.service}`);
    if (!t || t.spec.direction !== 'jsonToGrpc') return [];
    return [typedExtension(EXTENSIONS.grpcJsonTranscoder, transcoderConfig(t)) as HttpFilter];
  },
};

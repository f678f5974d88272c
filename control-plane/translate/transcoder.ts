/** GRPCTranslation -> Envoy's grpc_json_transcoder HTTP filter on the service's inbound listener. */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { GrpcJsonTranscoderSchema } from '../../proto/gen/envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb.js';
import type { HttpFilter } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { MeshModel } from '../config/types.js';

export const TRANSCODER_FILTER = 'envoy.filters.http.grpc_json_transcoder';

export function transcoderFilters(model: MeshModel, namespace: string, service: string): HttpFilter[] {
  const t = model.grpcTranslations.get(`Service/${namespace}/${service}`);
  if (!t) return [];
  const cfg = create(GrpcJsonTranscoderSchema, {
    descriptorSet: { case: 'protoDescriptorBin', value: Buffer.from(t.spec.descriptorSet, 'base64') },
    services: t.spec.protoServices,
    ignoredQueryParameters: t.spec.ignoredQueryParameters,
    autoMapping: t.spec.autoMapping,
    convertGrpcStatus: true,
  });
  return [{ name: TRANSCODER_FILTER, configType: { case: 'typedConfig', value: anyPack(GrpcJsonTranscoderSchema, cfg) } } as HttpFilter];
}

/**
 * Protocol translation filters on a service's inbound listener: Envoy's grpc_json_transcoder for a
 * GRPCTranslation, and grpc_web for every service with a grpc port (as Istio does), so browsers'
 * gRPC-Web calls reach gRPC apps.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { GrpcJsonTranscoderSchema } from '../../proto/gen/envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb.js';
import type { HttpFilter } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { MeshModel } from '../config/types.js';
import { GrpcWebSchema } from '../../proto/gen/envoy/extensions/filters/http/grpc_web/v3/grpc_web_pb.js';

export const GRPC_WEB_FILTER = 'envoy.filters.http.grpc_web';

export function grpcWebFilters(model: MeshModel, namespace: string, service: string): HttpFilter[] {
  const s = model.services.get(`Service/${namespace}/${service}`);
  if (!s?.spec.ports.some((p) => p.protocol === 'grpc')) return [];
  return [{ name: GRPC_WEB_FILTER, configType: { case: 'typedConfig', value: anyPack(GrpcWebSchema, create(GrpcWebSchema)) } } as HttpFilter];
}

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

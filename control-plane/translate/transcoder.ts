/**
 * Protocol translation filters on a service's inbound listener: Envoy's grpc_json_transcoder for a
 * GRPCTranslation, and grpc_web for every service with a grpc port (as Istio does), so browsers'
 * gRPC-Web calls reach gRPC apps.
 */
import { create } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS, packExtension, typedExtension } from '../../common/extensions.js';
import { GrpcJsonTranscoderSchema } from '../../proto/gen/envoy/extensions/filters/http/grpc_json_transcoder/v3/transcoder_pb.js';
import type { HttpFilter } from '../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { GRPCTranslationResource, MeshModel } from '../config/types.js';

/**
 * typed_per_filter_config for the outbound virtual host of a service with a grpcToJson
 * GRPCTranslation (optional, so other xDS clients may ignore it).
 */
export function reversePerFilterConfig(model: MeshModel, namespace: string, service: string): Record<string, Any> | undefined {
  const t = model.grpcTranslations.get(`Service/${namespace}/${service}`);
  if (!t || t.spec.direction !== 'grpcToJson') return undefined;
  const rev = EXTENSIONS.grpcJsonReverse;
  return { [rev.name]: packExtension(rev, { config: packExtension(EXTENSIONS.grpcJsonTranscoder, transcoderConfig(t)), isOptional: true }) };
}

export function grpcWebFilters(model: MeshModel, namespace: string, service: string): HttpFilter[] {
  const s = model.services.get(`Service/${namespace}/${service}`);
  if (!s?.spec.ports.some((p) => p.protocol === 'grpc')) return [];
  return [typedExtension(EXTENSIONS.grpcWeb) as HttpFilter];
}

function transcoderConfig(t: GRPCTranslationResource) {
  return create(GrpcJsonTranscoderSchema, {
    descriptorSet: { case: 'protoDescriptorBin', value: Buffer.from(t.spec.descriptorSet, 'base64') },
    services: t.spec.protoServices,
    ignoredQueryParameters: t.spec.ignoredQueryParameters,
    autoMapping: t.spec.autoMapping,
    convertGrpcStatus: true,
  });
}

export function transcoderFilters(model: MeshModel, namespace: string, service: string): HttpFilter[] {
  const t = model.grpcTranslations.get(`Service/${namespace}/${service}`);
  if (!t || t.spec.direction !== 'jsonToGrpc') return [];
  const cfg = transcoderConfig(t);
  return [typedExtension(EXTENSIONS.grpcJsonTranscoder, cfg) as HttpFilter];
}

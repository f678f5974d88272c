/** envoy.filters.http.grpc_web on the inbound listener of every service with a grpc port (as Istio does), so browsers' gRPC-Web calls reach gRPC apps. */
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { MeshModel } from '../../config/types.js';
import type { HttpFilterTranslation } from './filter.js';

/** Whether `namespace/service` has a grpc port (its inbound side speaks gRPC-Web to browsers). */
export function servesGrpcWeb(model: MeshModel, namespace: string, service: string): boolean {
  return model.services.get(`Service/${namespace}/${service}`)?.spec.ports.some((p) => p.protocol === 'grpc') ?? false;
}

export const grpcWeb: HttpFilterTranslation = {
  name: EXTENSIONS.grpcWeb.name,
  listenerFilters: (ctx) => (ctx.side === 'inbound' && ctx.service && servesGrpcWeb(ctx.model, ctx.namespace, ctx.service) ? [typedExtension(EXTENSIONS.grpcWeb) as HttpFilter] : []),
};

/** Listener resources: the sidecar needs one HttpConnectionManager taking routes over RDS. */
import { fromBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { ListenerSchema, type Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import {
  HttpConnectionManagerSchema,
  type HttpConnectionManager,
} from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { Problems, type Decoded } from './decoded.js';
import { inboundTransportOf, type InboundTransport } from './tls.js';
import { compileRbacFilters, type RbacEngine } from '../../http/rbac.js';
import { compileTranscoderFilter } from '../../http/transcode.js';
import type { Transcoder } from '../../../common/transcode/transcoder.js';
import { OpenTelemetryConfigSchema } from '../../../proto/gen/envoy/config/trace/v3/opentelemetry_pb.js';

/** The HCM's tracing settings, as the sidecar runs them. */
export interface TracingConfig {
  /** 0..100: head sampling for requests that arrive without a sampling decision. */
  samplingPercent: number;
  /** OTLP/HTTP traces URL; undefined: spans are not recorded (propagation still happens). */
  endpoint: string | undefined;
  serviceName: string;
  propagation: 'w3c' | 'b3';
}

function tracingOf(hcm: HttpConnectionManager, l: Listener, p: Problems, path: string): TracingConfig | undefined {
  const t = hcm.tracing;
  if (!t) return undefined;
  const meta = l.metadata?.filterMetadata.weft as { tracePropagation?: unknown } | undefined;
  const propagation = meta?.tracePropagation === 'b3' ? 'b3' : 'w3c';
  const samplingPercent = t.randomSampling?.value ?? 100;
  if (!(samplingPercent >= 0 && samplingPercent <= 100)) p.add(`${path}.tracing.random_sampling.value`, 'must be 0..100');
  let endpoint: string | undefined;
  let serviceName = '';
  const prov = t.provider;
  if (prov) {
    const any = prov.configType.case === 'typedConfig' ? prov.configType.value : undefined;
    if (prov.name !== 'envoy.tracers.opentelemetry' || !any?.typeUrl.endsWith('/envoy.config.trace.v3.OpenTelemetryConfig')) {
      p.add(`${path}.tracing.provider`, `unsupported tracer '${prov.name}' (envoy.tracers.opentelemetry with an OpenTelemetryConfig)`);
    } else {
      const oc = anyUnpack(any, OpenTelemetryConfigSchema);
      if (oc?.grpcService) p.add(`${path}.tracing.provider.typed_config.grpc_service`, 'OTLP/gRPC export is not supported; use http_service (OTLP/HTTP)');
      const uri = oc?.httpService?.httpUri?.uri ?? '';
      if (!/^https?:\/\/[^\s]+$/.test(uri)) p.add(`${path}.tracing.provider.typed_config.http_service.http_uri.uri`, `'${uri}' is not an http(s) URL`);
      else endpoint = uri;
      serviceName = oc?.serviceName ?? '';
    }
  }
  return { samplingPercent, endpoint, serviceName, propagation };
}

export interface SidecarListener {
  listener: Listener;
  hcm: HttpConnectionManager;
  /** RouteConfiguration name (RDS). */
  routeName: string;
  /** TLS and/or plaintext (socket listeners; every filter chain carries the same HCM). */
  transport: InboundTransport;
  /** Compiled RBAC filters of the HCM (inbound authorization), if any. */
  rbac: RbacEngine | undefined;
  /** The grpc_json_transcoder filter, compiled (JSON clients of a gRPC app). */
  transcoder: Transcoder | undefined;
  /** The HCM has Envoy's grpc_web filter. */
  grpcWeb: boolean;
  tracing: TracingConfig | undefined;
}

export function decodeListener(bytes: Uint8Array): Decoded<SidecarListener> {
  const l = fromBinary(ListenerSchema, bytes);
  const p = new Problems(`Listener/${l.name || '?'}`);
  if (!l.name) p.add('name', 'is required');
  const any = l.apiListener?.apiListener ?? (l.filterChains[0]?.filters[0]?.configType.case === 'typedConfig' ? l.filterChains[0].filters[0].configType.value : undefined);
  const path = l.apiListener ? 'api_listener.api_listener' : 'filter_chains[0].filters[0].typed_config';
  let hcm: HttpConnectionManager | undefined;
  if (!any) p.add(path, 'an HttpConnectionManager is required');
  else if (!any.typeUrl.endsWith('/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager')) p.add(`${path}.type_url`, `unsupported filter '${any.typeUrl}'`);
  else hcm = anyUnpack(any, HttpConnectionManagerSchema);
  let routeName = '';
  if (hcm) {
    if (hcm.routeSpecifier.case !== 'rds') p.add(`${path}.rds`, 'routes must come over RDS');
    else routeName = hcm.routeSpecifier.value.routeConfigName;
    if (hcm.routeSpecifier.case === 'rds' && !routeName) p.add(`${path}.rds.route_config_name`, 'is required');
    if (hcm.httpFilters.at(-1)?.name !== 'envoy.filters.http.router') p.add(`${path}.http_filters`, 'the last filter must be envoy.filters.http.router');
  }
  const transport = inboundTransportOf(l, p);
  const rbac = hcm ? compileRbacFilters(hcm.httpFilters, p, `${path}.http_filters`) : undefined;
  const transcoder = hcm ? compileTranscoderFilter(hcm.httpFilters, p, `${path}.http_filters`) : undefined;
  const grpcWeb = hcm?.httpFilters.some((f) => f.name === 'envoy.filters.http.grpc_web' || (f.configType.case === 'typedConfig' && f.configType.value.typeUrl.endsWith('/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb'))) ?? false;
  const tracing = hcm ? tracingOf(hcm, l, p, path) : undefined;
  // Every chain must carry the same HttpConnectionManager (they differ only in transport).
  for (let i = 1; i < l.filterChains.length; i++) {
    const f = l.filterChains[i]!.filters[0];
    const a = f?.configType.case === 'typedConfig' ? f.configType.value : undefined;
    if (!a || !any || a.typeUrl !== any.typeUrl || Buffer.compare(Buffer.from(a.value), Buffer.from(any.value)) !== 0) p.add(`filter_chains[${i}].filters[0].typed_config`, 'must equal filter_chains[0]\'s HttpConnectionManager');
  }
  return { name: l.name, value: p.errors.length || !hcm ? undefined : { listener: l, hcm, routeName, transport, rbac, transcoder, grpcWeb, tracing }, errors: p.errors };
}

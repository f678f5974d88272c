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

export interface SidecarListener {
  listener: Listener;
  hcm: HttpConnectionManager;
  /** RouteConfiguration name (RDS). */
  routeName: string;
  /** TLS and/or plaintext (socket listeners; every filter chain carries the same HCM). */
  transport: InboundTransport;
  /** Compiled RBAC filters of the HCM (inbound authorization), if any. */
  rbac: RbacEngine | undefined;
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
  // Every chain must carry the same HttpConnectionManager (they differ only in transport).
  for (let i = 1; i < l.filterChains.length; i++) {
    const f = l.filterChains[i]!.filters[0];
    const a = f?.configType.case === 'typedConfig' ? f.configType.value : undefined;
    if (!a || !any || a.typeUrl !== any.typeUrl || Buffer.compare(Buffer.from(a.value), Buffer.from(any.value)) !== 0) p.add(`filter_chains[${i}].filters[0].typed_config`, 'must equal filter_chains[0]\'s HttpConnectionManager');
  }
  return { name: l.name, value: p.errors.length || !hcm ? undefined : { listener: l, hcm, routeName, transport, rbac }, errors: p.errors };
}

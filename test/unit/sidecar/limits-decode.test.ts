// The proxy's side of ClientTrafficPolicy: a Listener's limits decoded from the Envoy fields
// that carry them, and everything it would not execute refused with its field path (NACK):
// connection_limit options other than max_connections, another network filter before the HCM,
// HCM protocol options other than idle_timeout, zero timeouts, a buffer filter without a limit.
import { toBinary } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS, typedExtension } from '../../../common/extensions.js';
import { DEFAULT_MESH_CONFIG } from '../../../control-plane/config/model.js';
import { socketListener } from '../../../control-plane/translate/listeners.js';
import type { HcmLimits } from '../../../control-plane/translate/client-limits.js';
import { ListenerSchema, type Listener } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import type { HttpFilter } from '../../../proto/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { decodeListener } from '../../../sidecar/xds/types/listener.js';
import type { SidecarListener } from '../../../sidecar/xds/types/listener.js';

type Opts = { limits?: HcmLimits; networkFilters?: ReturnType<typeof typedExtension>[]; filters?: HttpFilter[] };
const decode = (o: Opts) => decodeListener(toBinary(ListenerSchema, socketListener('gateway.web', '0.0.0.0', 8000, 'gateway.web', DEFAULT_MESH_CONFIG, o).message as Listener));
const errors = (o: Opts) => decode(o).errors.map((e) => [e.path, e.message]);
const REFUSED = 'is not supported by the Weft sidecar (refused rather than ignored)';
const HCM = 'filter_chains[0].filters[1].typed_config';

describe('Listener limits, decoded', () => {
  it('reads max_request_headers_kb, request_headers_timeout, idle_timeout and connection_limit', () => {
    const d = decode({
      limits: { maxRequestHeadersKb: 8, requestHeadersTimeout: { seconds: 1n, nanos: 500_000_000 }, commonHttpProtocolOptions: { idleTimeout: { seconds: 90n } } },
      networkFilters: [typedExtension(EXTENSIONS.connectionLimit, { statPrefix: 'gateway.web', maxConnections: 100n })],
      filters: [typedExtension(EXTENSIONS.requestLimits, { maxUriLength: 64 }) as HttpFilter, typedExtension(EXTENSIONS.buffer, { maxRequestBytes: 1000 }) as HttpFilter],
    });
    expect(d.errors).toEqual([]);
    expect((d.value as SidecarListener).limits).toEqual({ maxHeaderBytes: 8192, headersTimeoutMs: 1500, idleTimeoutMs: 90_000, maxConnections: 100 });
    expect((d.value as SidecarListener).filters.map((f) => [f.name, f.config])).toEqual([['weft.filters.http.request_limits', 64], ['envoy.filters.http.buffer', 1000]]);
  });

  it('has no limits of its own without them', () => {
    expect((decode({}).value as SidecarListener).limits).toEqual({});
  });

  it.each<[string, Opts, Array<[string, string]>]>([
    ['a connection_limit delay', { networkFilters: [typedExtension(EXTENSIONS.connectionLimit, { statPrefix: 'x', maxConnections: 1n, delay: { seconds: 1n } })] }, [['filter_chains[0].filters[0].typed_config.delay', REFUSED]]],
    ['a connection_limit without max_connections', { networkFilters: [typedExtension(EXTENSIONS.connectionLimit, { statPrefix: 'x' })] }, [['filter_chains[0].filters[0].typed_config.max_connections', 'is required and must be at least 1']]],
    ['another network filter before the HCM', { networkFilters: [typedExtension(EXTENSIONS.router)] }, [['filter_chains[0].filters[0].typed_config', "network filter 'envoy.filters.http.router' is not supported before the HttpConnectionManager (only envoy.filters.network.connection_limit)"]]],
    ['an HCM protocol option besides idle_timeout', { limits: { commonHttpProtocolOptions: { maxHeadersCount: 50 } } }, [['filter_chains[0].filters[0].typed_config.common_http_protocol_options.max_headers_count', REFUSED]]],
    ['a zero request_headers_timeout', { limits: { requestHeadersTimeout: { seconds: 0n } } }, [['filter_chains[0].filters[0].typed_config.request_headers_timeout', 'must be a positive duration']]],
    ['max_request_headers_kb over 8192', { limits: { maxRequestHeadersKb: 9000 } }, [['filter_chains[0].filters[0].typed_config.max_request_headers_kb', 'must be 1..8192']]],
    ['a buffer filter without max_request_bytes', { filters: [typedExtension(EXTENSIONS.buffer, {}) as HttpFilter] }, [['filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.max_request_bytes', 'is required and must be at least 1']]],
  ])('refuses %s (NACK, with the field path)', (_what, o, expected) => {
    expect(errors(o)).toEqual(expected);
    expect(decode(o).value).toBeUndefined();
  });

  it('names the HCM by its place after the network filters', () => {
    const e = errors({ networkFilters: [typedExtension(EXTENSIONS.connectionLimit, { statPrefix: 'x', maxConnections: 1n })], limits: { requestHeadersTimeout: { seconds: 0n } } });
    expect(e).toEqual([[`${HCM}.request_headers_timeout`, 'must be a positive duration']]);
  });
});

// Http2ProtocolOptions.connection_keepalive on a Cluster: what the sidecar accepts (Envoy's
// validation rules for KeepaliveSettings), what it refuses with a field path (NACK), and the
// settings a cluster's h2 sessions get from it, in both places Envoy takes it.
import { fromJson, toBinary, type JsonObject } from '@bufbuild/protobuf';
import { describe, expect, it } from 'vitest';
import { ClusterSchema } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { xdsTypeRegistry } from '../../../control-plane/xds/type-registry.js';
import { decodeCluster, h2KeepaliveOf } from '../../../sidecar/xds/types/cluster.js';

const TYPED = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const base = { name: 'c', type: 'EDS', edsClusterConfig: { edsConfig: { ads: {} } } };
/** A cluster with `ka` as its keepalive, in the typed extension (Envoy's current place) or the deprecated field. */
const json = (ka: JsonObject, where: 'typed' | 'deprecated'): JsonObject =>
  where === 'typed'
    ? { ...base, typedExtensionProtocolOptions: { [TYPED]: { '@type': `type.googleapis.com/${TYPED}`, explicitHttpConfig: { http2ProtocolOptions: { connectionKeepalive: ka } } } } }
    : { ...base, http2ProtocolOptions: { connectionKeepalive: ka } };
const parse = (j: JsonObject) => fromJson(ClusterSchema, j, { registry: xdsTypeRegistry });
const decode = (j: JsonObject) => decodeCluster(toBinary(ClusterSchema, parse(j)));
const prefix = { typed: `typed_extension_protocol_options["${TYPED}"].explicit_http_config.http2_protocol_options.connection_keepalive`, deprecated: 'http2_protocol_options.connection_keepalive' };

describe('connection_keepalive', () => {
  for (const where of ['typed', 'deprecated'] as const) {
    it(`${where}: accepted as Envoy validates it, and handed to the cluster's h2 sessions`, () => {
      const cases: [JsonObject, ReturnType<typeof h2KeepaliveOf>][] = [
        [{ interval: '10s', timeout: '2s' }, { intervalMs: 10_000, timeoutMs: 2000, jitterPercent: 15 }],
        [{ interval: '0.5s', timeout: '0.001s', intervalJitter: { value: 0 } }, { intervalMs: 500, timeoutMs: 1, jitterPercent: 0 }],
        [{ interval: '1s', timeout: '1s', intervalJitter: { value: 100 } }, { intervalMs: 1000, timeoutMs: 1000, jitterPercent: 100 }],
        // interval 0 or unset: Envoy sends no interval PINGs
        [{ interval: '0s', timeout: '1s' }, undefined],
        [{ timeout: '1s' }, undefined],
      ];
      for (const [ka, want] of cases) {
        const d = decode(json(ka, where));
        expect(d.errors, JSON.stringify(ka)).toEqual([]);
        expect(h2KeepaliveOf(parse(json(ka, where))), JSON.stringify(ka)).toEqual(want);
      }
      expect(h2KeepaliveOf(parse(base))).toBeUndefined();
    });

    it(`${where}: refused with the field's path (NACK) when it cannot be honoured`, () => {
      const at = prefix[where];
      const cases: [JsonObject, string, RegExp][] = [
        [{ interval: '1s' }, `${at}.timeout`, /is required/],
        [{ interval: '1s', timeout: '0s' }, `${at}.timeout`, /greater than 0/],
        [{ interval: '1s', timeout: '0.0005s' }, `${at}.timeout`, /at least 1 ms/],
        [{ interval: '0.0001s', timeout: '1s' }, `${at}.interval`, /at least 1 ms/],
        [{ interval: '-1s', timeout: '1s' }, `${at}.interval`, /negative/],
        [{ interval: '1s', timeout: '1s', intervalJitter: { value: 101 } }, `${at}.interval_jitter.value`, /0 to 100/],
        [{ interval: '1s', timeout: '1s', intervalJitter: { value: -1 } }, `${at}.interval_jitter.value`, /0 to 100/],
        [{ interval: '1s', timeout: '1s', connectionIdleInterval: '5s' }, `${at}.connection_idle_interval`, /not supported/],
      ];
      for (const [ka, path, why] of cases) {
        const d = decode(json(ka, where));
        expect(d.value, JSON.stringify(ka)).toBeUndefined();
        const e = d.errors.find((x) => x.path === path);
        expect(e, `${JSON.stringify(ka)}: ${JSON.stringify(d.errors)}`).toBeDefined();
        expect(e!.message).toMatch(why);
      }
    });
  }

  it('other Http2ProtocolOptions fields are still refused', () => {
    const d = decode({ ...base, http2ProtocolOptions: { maxConcurrentStreams: 10 } });
    expect(d.errors.map((e) => e.path)).toEqual(['http2_protocol_options.max_concurrent_streams']);
  });
});

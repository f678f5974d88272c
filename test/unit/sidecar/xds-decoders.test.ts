// The sidecar fails closed on xDS (issue 16, item 4): starting from what the translator really
// emits (every-feature mesh), each mutation below adds something the sidecar does not execute,
// and the decoder must refuse it with the exact field path. Caught: a jwt_authn filter was
// accepted and skipped (an auth filter failing open), and request_mirror_policies were accepted
// and never run. Mutations are made on the resources' JSON form (proto3 JSON, as Envoy's docs).
import { createRegistry, fromBinary, fromJson, toBinary, toJson, type DescMessage, type JsonObject } from '@bufbuild/protobuf';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ResourceKind } from '../../../common/xds-types.js';
import { xdsTypeRegistry } from '../../../control-plane/xds/type-registry.js';
import { decodeResource } from '../../../sidecar/xds/types/index.js';
import { ClusterSchema } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from '../../../proto/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { ClusterLoadAssignmentSchema } from '../../../proto/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { everyFeatureResources, type Emitted } from '../../harness/every-feature.js';
import { JwtAuthenticationSchema } from '../../../proto/gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';

/** Weft's registry plus a filter Weft does not implement, to put in a listener. */
const registry = createRegistry(xdsTypeRegistry, JwtAuthenticationSchema);

type J = JsonObject & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test-only JSON editing
let emitted: Emitted[] = [];
beforeAll(async () => {
  emitted = await everyFeatureResources();
}, 60_000);

const SCHEMA = { listener: ListenerSchema, route: RouteConfigurationSchema, cluster: ClusterSchema, endpoint: ClusterLoadAssignmentSchema } as const satisfies Partial<Record<ResourceKind, DescMessage>>;
type K = keyof typeof SCHEMA;

/** The translator's resource as JSON, to edit. */
function json(kind: K, name: string, node = 'bookstore-1'): J {
  const e = emitted.find((x) => x.kind === kind && x.resource.name === name && x.node === node);
  if (!e) throw new Error(`no ${kind} ${name} for ${node}`);
  return toJson(SCHEMA[kind], fromBinary(SCHEMA[kind], e.resource.body), { registry: xdsTypeRegistry }) as J;
}

/** What the sidecar says of the edited resource: `path: message` per error. */
function errors(kind: K, j: J): string[] {
  const msg = fromJson(SCHEMA[kind], j, { registry });
  return decodeResource(kind, toBinary(SCHEMA[kind], msg as never)).errors.map((e) => `${e.path}: ${e.message}`);
}

const HCM = '@type';
/** The inbound listener with every chain's HCM edited by `f`. */
function inbound(f: (h: J) => void): J {
  const l = json('listener', 'inbound');
  for (const fc of l.filterChains as J[]) f(fc.filters[0].typedConfig as J);
  return l;
}
// A filter the sidecar does not run, with a typed_config it can decode but no filter takes (jwt_authn was the example until JwtPolicy).
const jwt = (optional: boolean): J => ({ name: 'envoy.filters.http.ext_authz', ...(optional ? { isOptional: true } : {}), typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.compression.gzip.compressor.v3.Gzip' } });

describe('sidecar xDS decoders refuse what they do not execute', () => {
  it('accepts the translator output as it is (the baseline every mutation starts from)', () => {
    expect(errors('listener', json('listener', 'inbound'))).toEqual([]);
    expect(errors('route', json('route', 'outbound'))).toEqual([]);
    expect(errors('cluster', json('cluster', 'outbound|50051||greeter.default'))).toEqual([]);
    expect(inbound(() => undefined).filterChains[0].filters[0].typedConfig[HCM]).toMatch(/HttpConnectionManager$/);
  });

  it('refuses an HTTP filter it does not implement (ext_authz) with its path, unless is_optional', () => {
    const errs = errors('listener', inbound((h) => h.httpFilters.unshift(jwt(false))));
    expect(errs[0]).toMatch(/^filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]\.typed_config\.type_url: filter 'envoy\.filters\.http\.ext_authz' .* is not implemented by the Weft sidecar/);
    expect(errors('listener', inbound((h) => h.httpFilters.unshift(jwt(true))))).toEqual([]);
  });

  it('refuses a filter without typed_config, a router that is not last, and router options', () => {
    expect(errors('listener', inbound((h) => h.httpFilters.unshift({ name: 'envoy.filters.http.jwt_authn' }))).join()).toMatch(/has no typed_config/);
    expect(errors('listener', inbound((h) => h.httpFilters.push(h.httpFilters[0]))).join()).toMatch(/the last filter must be the router/);
    expect(errors('listener', inbound((h) => (h.httpFilters.at(-1).typedConfig.suppressEnvoyHeaders = true))).join()).toMatch(/http_filters\[\d+\]\.typed_config\.suppress_envoy_headers: is not supported/);
  });

  it('takes HttpFilter.disabled on a filter (a route turns it on), refuses it on the router', () => {
    expect(errors('listener', inbound((h) => (h.httpFilters[0].disabled = true)))).toEqual([]);
    expect(errors('listener', inbound((h) => (h.httpFilters.at(-1).disabled = true))).join()).toMatch(/http_filters\[\d+\]\.disabled: the router cannot be disabled/);
  });

  it('refuses a compressor library it does not have, with its path', () => {
    const gw = json('listener', 'gateway.any', 'gw-all');
    const hcm = gw.filterChains[0].filters[0].typedConfig as J;
    expect(errors('listener', gw)).toEqual([]);
    const at = (hcm.httpFilters as Array<{ name: string }>).findIndex((f) => f.name.startsWith('envoy.filters.http.compressor'));
    hcm.httpFilters[at].typedConfig.compressorLibrary = { name: 'router', typedConfig: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
    expect(errors('listener', gw)).toEqual([`filter_chains[0].filters[0].typed_config.http_filters[${at}].typed_config.compressor_library.typed_config.type_url: compressor library type.googleapis.com/envoy.extensions.filters.http.router.v3.Router is not supported by the Weft sidecar (gzip and brotli are)`]);
  });

  it('refuses HttpConnectionManager options it does not execute, and upgrades it never forwards', () => {
    expect(errors('listener', inbound((h) => (h.xffNumTrustedHops = 2))).join()).toMatch(/typed_config\.xff_num_trusted_hops: is not supported/);
    expect(errors('listener', inbound((h) => (h.useRemoteAddress = true))).join()).toMatch(/typed_config\.use_remote_address: is not supported/);
    expect(errors('listener', inbound((h) => h.upgradeConfigs.push({ upgradeType: 'h2c' }))).join()).toMatch(/upgrade_configs\[\d\]\.upgrade_type: 'h2c' is not supported/);
    expect(errors('listener', inbound((h) => h.upgradeConfigs.push({ upgradeType: 'websocket', filters: [jwt(true)] }))).join()).toMatch(/upgrade_configs\[\d\]\.filters: per-upgrade filter chains are not supported/);
  });

  it('refuses request mirroring, per-route filter configs and other route fields it does not run', () => {
    const at = (rc: J): [number, number] => {
      for (let v = 0; v < rc.virtualHosts.length; v++) for (let r = 0; r < rc.virtualHosts[v].routes.length; r++) if (rc.virtualHosts[v].routes[r].route) return [v, r];
      throw new Error('no forward route');
    };
    const mirror = json('route', 'outbound');
    const [v, r] = at(mirror);
    // Mirroring is executed (issue 18); what it does not run is still refused.
    mirror.virtualHosts[v].routes[r].route.requestMirrorPolicies = [{ cluster: 'outbound|8080||library.default', traceSampled: true, runtimeFraction: { runtimeKey: 'k', defaultValue: { numerator: 5 } } }, { cluster: '' }];
    expect(errors('route', mirror)).toEqual([
      `virtual_hosts[${v}].routes[${r}].route.request_mirror_policies[0].runtime_fraction.runtime_key: is not supported by the Weft sidecar (refused rather than ignored)`,
      `virtual_hosts[${v}].routes[${r}].route.request_mirror_policies[0].trace_sampled: is not supported by the Weft sidecar (refused rather than ignored)`,
      `virtual_hosts[${v}].routes[${r}].route.request_mirror_policies[1].cluster: is required`,
    ]);
    const perRoute = json('route', 'outbound');
    perRoute.virtualHosts[v].routes[r].typedPerFilterConfig = { 'envoy.filters.http.rbac': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
    // Per-route configs are parsed by the filter they are for (issue 18); a type no filter takes is refused.
    expect(errors('route', perRoute)).toEqual([`virtual_hosts[${v}].routes[${r}].typed_per_filter_config["envoy.filters.http.rbac"]: per-route config 'envoy.filters.http.rbac' (type.googleapis.com/envoy.extensions.filters.http.router.v3.Router) is not supported by the Weft sidecar; mark it is_optional in a FilterConfig to run without it`]);
    const vhPer = json('route', 'outbound');
    vhPer.virtualHosts[v].typedPerFilterConfig = { ...(vhPer.virtualHosts[v].typedPerFilterConfig ?? {}), 'envoy.filters.http.cors': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
    expect(errors('route', vhPer)).toEqual([`virtual_hosts[${v}].typed_per_filter_config["envoy.filters.http.cors"]: per-route config 'envoy.filters.http.cors' (type.googleapis.com/envoy.extensions.filters.http.router.v3.Router) is not supported by the Weft sidecar; mark it is_optional in a FilterConfig to run without it`]);
    const rf = json('route', 'outbound');
    rf.virtualHosts[v].routes[r].match.runtimeFraction = { runtimeKey: 'x' };
    expect(errors('route', rf)).toEqual([`virtual_hosts[${v}].routes[${r}].match.runtime_fraction: is not supported by the Weft sidecar (refused rather than ignored)`]);
    const hdrs = json('route', 'outbound');
    hdrs.requestHeadersToAdd = [{ header: { key: 'x', value: 'y' } }];
    expect(errors('route', hdrs)).toEqual(['request_headers_to_add: is not supported by the Weft sidecar (refused rather than ignored)']);
    const retryPred = json('route', 'outbound');
    retryPred.virtualHosts[v].routes[r].route.retryPolicy = { retryOn: '5xx', retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }] };
    expect(errors('route', retryPred)).toEqual([`virtual_hosts[${v}].routes[${r}].route.retry_policy.retry_host_predicate: is not supported by the Weft sidecar (refused rather than ignored)`]);
  });

  it('refuses a regex_rewrite without a pattern or with a bad one, on a forward and on a redirect alike', () => {
    const rc = json('route', 'outbound');
    const vh = rc.virtualHosts[0];
    vh.routes = [
      { match: { prefix: '/a' }, route: { cluster: vh.routes.find((r: J) => r.route?.cluster)?.route.cluster ?? 'outbound|8080||library.default', regexRewrite: { substitution: '/x' } } },
      { match: { prefix: '/b' }, route: { cluster: 'outbound|8080||library.default', regexRewrite: { pattern: { regex: '(' }, substitution: '/x' } } },
      { match: { prefix: '/c' }, redirect: { regexRewrite: { substitution: '/x' } } },
      { match: { prefix: '/d' }, redirect: { regexRewrite: { pattern: { regex: '(' }, substitution: '/x' } } },
    ];
    const got = errors('route', rc);
    expect(got.filter((e) => e.endsWith('regex_rewrite.pattern: is required'))).toEqual(['virtual_hosts[0].routes[0].route.regex_rewrite.pattern: is required', 'virtual_hosts[0].routes[2].redirect.regex_rewrite.pattern: is required']);
    expect(got.filter((e) => e.includes('invalid regex')).map((e) => e.split(':')[0])).toEqual(['virtual_hosts[0].routes[1].route.regex_rewrite.pattern.regex', 'virtual_hosts[0].routes[3].redirect.regex_rewrite.pattern.regex']);
  });

  it('refuses weighted clusters whose total_weight is not the sum of the weights', () => {
    const rc = json('route', 'outbound');
    let where = '';
    (rc.virtualHosts as J[]).forEach((vh, vi) => (vh.routes as J[]).forEach((r, ri) => {
      if (!where && r.route?.weightedClusters) {
        r.route.weightedClusters.totalWeight = 1000;
        where = `virtual_hosts[${vi}].routes[${ri}].route.weighted_clusters.total_weight`;
      }
    }));
    expect(where).not.toBe('');
    expect(errors('route', rc).join()).toContain(`${where}: is 1000 but the weights sum to`);
  });

  it('refuses cluster and endpoint fields it does not execute', () => {
    const c = () => json('cluster', 'outbound|50051||greeter.default');
    const dns = c();
    dns.dnsRefreshRate = '5s';
    expect(errors('cluster', dns)).toEqual(['dns_refresh_rate: is not supported by the Weft sidecar (refused rather than ignored)']);
    const od = c();
    od.outlierDetection = { ...(od.outlierDetection ?? {}), successRateMinimumHosts: 3 };
    expect(errors('cluster', od)).toEqual(['outlier_detection.success_rate_minimum_hosts: is not supported by the Weft sidecar (refused rather than ignored)']);
    const opts = c();
    opts.typedExtensionProtocolOptions = { ...(opts.typedExtensionProtocolOptions ?? {}), 'envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
    expect(errors('cluster', opts).join()).toMatch(/typed_extension_protocol_options\["envoy\.extensions\.upstreams\.tcp\.v3\.TcpProtocolOptions"\]: .* is not supported/);
    const e = emitted.find((x) => x.kind === 'endpoint')!;
    const cla = json('endpoint', e.resource.name, e.node);
    cla.policy = { overprovisioningFactor: 140 };
    expect(errors('endpoint', cla)).toEqual(['policy: is not supported by the Weft sidecar (refused rather than ignored)']);
  });

  it('turns bytes that are not the message they claim into an error, never a throw', () => {
    const d = decodeResource('listener', Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), 'x');
    expect(d.value).toBeUndefined();
    expect(d.errors[0]!.message).toMatch(/^does not decode as Listener: /);
  });
});

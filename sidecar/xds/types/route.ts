/** RouteConfiguration resources: domains, matchers and actions the router can run. */
import { decodeMessage } from '../../../common/wire-decode.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { checkDuration, checkRegex, Problems, type Decoded } from './decoded.js';
import { FRACTION_SCALE, RETRY } from '../../routing/route-table.js';
import type { RetryPolicy } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import type { RegexMatchAndSubstitute } from '../../../proto/gen/envoy/type/matcher/v3/regex_pb.js';

/** A retry policy's conditions and durations: an unknown retry_on token is refused, not skipped. */
function checkRetry(p: Problems, path: string, r: RetryPolicy | undefined): void {
  if (!r) return;
  for (const t of r.retryOn.split(',')) {
    const tok = t.trim();
    if (tok && !(tok in RETRY)) p.add(`${path}.retry_on`, `unsupported condition '${tok}' (${Object.keys(RETRY).join(', ')})`);
  }
  checkDuration(p, `${path}.per_try_timeout`, r.perTryTimeout);
  checkDuration(p, `${path}.retry_back_off.base_interval`, r.retryBackOff?.baseInterval, { positive: true });
  checkDuration(p, `${path}.retry_back_off.max_interval`, r.retryBackOff?.maxInterval, { positive: true });
}
import { checkSupported, ROUTE_FIELDS } from './supported.js';

import { parsePerFilter } from '../../http/filters/index.js';
import type { Any } from '@bufbuild/protobuf/wkt';

/** typed_per_filter_config: each entry parsed by its filter's factory (unknown and not optional: refused). */
function checkPerFilter(p: Problems, path: string, m: Record<string, Any>): void {
  for (const [k, any] of Object.entries(m)) parsePerFilter(k, any, p, `${path}.typed_per_filter_config["${k}"]`);
}

/** A regex_rewrite (of a forward or a redirect): a pattern is required (without one it would do nothing), and it must compile. */
function checkRegexRewrite(p: Problems, path: string, rr: RegexMatchAndSubstitute): void {
  if (rr.pattern) checkRegex(p, `${path}.pattern.regex`, rr.pattern.regex);
  else p.add(`${path}.pattern`, 'is required');
}

export function decodeRoute(bytes: Uint8Array): Decoded<RouteConfiguration> {
  const rc = decodeMessage(RouteConfigurationSchema, bytes);
  const p = new Problems(`RouteConfiguration/${rc.name || '?'}`);
  if (!rc.name) p.add('name', 'is required');
  checkSupported(RouteConfigurationSchema, rc, ROUTE_FIELDS, p, '');
  const seen = new Map<string, number>();
  rc.virtualHosts.forEach((vh, vi) => {
    const vp = `virtual_hosts[${vi}]`;
    if (!vh.domains.length) p.add(`${vp}.domains`, 'must not be empty');
    for (const d of vh.domains) {
      const at = seen.get(d.toLowerCase());
      if (at !== undefined) p.add(`${vp}.domains`, `domain '${d}' also in virtual_hosts[${at}]`);
      seen.set(d.toLowerCase(), vi);
    }
    checkPerFilter(p, vp, vh.typedPerFilterConfig);
    checkRetry(p, `${vp}.retry_policy`, vh.retryPolicy);
    vh.routes.forEach((r, ri) => {
      const rp = `${vp}.routes[${ri}]`;
      checkPerFilter(p, rp, r.typedPerFilterConfig);
      const ps = r.match?.pathSpecifier;
      if (!ps?.case) p.add(`${rp}.match`, 'a path matcher is required');
      if (ps?.case === 'safeRegex') checkRegex(p, `${rp}.match.safe_regex.regex`, ps.value.regex);
      r.match?.headers.forEach((h, hi) => {
        const hs = h.headerMatchSpecifier;
        const sm = hs.case === 'stringMatch' ? hs.value.matchPattern : undefined;
        if (sm?.case === 'safeRegex') checkRegex(p, `${rp}.match.headers[${hi}].string_match.safe_regex.regex`, sm.value.regex);
        if (hs.case === 'safeRegexMatch') checkRegex(p, `${rp}.match.headers[${hi}].safe_regex_match.regex`, hs.value.regex);
        if (hs.case === 'stringMatch' && !sm?.case) p.add(`${rp}.match.headers[${hi}].string_match`, 'a match pattern is required');
      });
      r.match?.queryParameters.forEach((q, qi) => {
        const qs = q.queryParameterMatchSpecifier;
        if (!qs.case) p.add(`${rp}.match.query_parameters[${qi}]`, 'string_match or present_match is required');
        const sm = qs.case === 'stringMatch' ? qs.value.matchPattern : undefined;
        if (qs.case === 'stringMatch' && !sm?.case) p.add(`${rp}.match.query_parameters[${qi}].string_match`, 'a match pattern is required');
        if (sm?.case === 'safeRegex') checkRegex(p, `${rp}.match.query_parameters[${qi}].string_match.safe_regex.regex`, sm.value.regex);
      });
      if (!r.action.case || !['route', 'redirect', 'directResponse'].includes(r.action.case)) p.add(`${rp}.action`, `unsupported action '${r.action.case ?? 'none'}'`);
      if (r.action.case === 'redirect') {
        const rr = r.action.value.pathRewriteSpecifier;
        if (rr.case === 'regexRewrite') checkRegexRewrite(p, `${rp}.redirect.regex_rewrite`, rr.value);
      }
      if (r.action.case === 'route') {
        const ra = r.action.value;
        checkRetry(p, `${rp}.route.retry_policy`, ra.retryPolicy);
        checkDuration(p, `${rp}.route.timeout`, ra.timeout);
        checkDuration(p, `${rp}.route.max_stream_duration.grpc_timeout_header_max`, ra.maxStreamDuration?.grpcTimeoutHeaderMax);
        if (ra.regexRewrite) checkRegexRewrite(p, `${rp}.route.regex_rewrite`, ra.regexRewrite);
        ra.hashPolicy.forEach((h, hi) => {
          const s = h.policySpecifier;
          if (s.case === 'connectionProperties' && !s.value.sourceIp) p.add(`${rp}.route.hash_policy[${hi}].connection_properties.source_ip`, 'must be true (the only connection property supported)');
          if (s.case === 'header' && !s.value.headerName) p.add(`${rp}.route.hash_policy[${hi}].header.header_name`, 'is required');
          if (s.case === 'cookie' && !s.value.name) p.add(`${rp}.route.hash_policy[${hi}].cookie.name`, 'is required');
          if (!s.case) p.add(`${rp}.route.hash_policy[${hi}]`, 'a policy (header, cookie or connection_properties) is required');
        });
        ra.requestMirrorPolicies.forEach((m, mi) => {
          const mp = `${rp}.route.request_mirror_policies[${mi}]`;
          if (!m.cluster) p.add(`${mp}.cluster`, 'is required');
          const f = m.runtimeFraction?.defaultValue;
          if (f && FRACTION_SCALE[f.denominator] === undefined) p.add(`${mp}.runtime_fraction.default_value.denominator`, `unsupported denominator ${f.denominator}`);
        });
        const cs = r.action.value.clusterSpecifier;
        if (cs.case !== 'cluster' && cs.case !== 'weightedClusters') p.add(`${rp}.route.cluster_specifier`, `unsupported '${cs.case ?? 'none'}'`);
        if (cs.case === 'weightedClusters' && !cs.value.clusters.some((c) => (c.weight ?? 0) > 0)) p.add(`${rp}.route.weighted_clusters`, 'total weight must be > 0');
        if (cs.case === 'weightedClusters' && cs.value.totalWeight !== undefined) {
          const sum = cs.value.clusters.reduce((a, c) => a + (c.weight ?? 0), 0);
          if (sum !== cs.value.totalWeight) p.add(`${rp}.route.weighted_clusters.total_weight`, `is ${cs.value.totalWeight} but the weights sum to ${sum}`);
        }
        r.action.value.upgradeConfigs.forEach((u, ui) => {
          const t = u.upgradeType.toLowerCase();
          if (!t || t === 'connect' || t === 'h2c') p.add(`${rp}.route.upgrade_configs[${ui}].upgrade_type`, `'${u.upgradeType}' is not supported`);
          if (u.connectConfig) p.add(`${rp}.route.upgrade_configs[${ui}].connect_config`, 'CONNECT is not supported');
        });
      }
    });
  });
  return { name: rc.name, value: p.errors.length ? undefined : rc, errors: p.errors };
}

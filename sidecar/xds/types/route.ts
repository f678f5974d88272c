/** RouteConfiguration resources: domains, matchers and actions the router can run. */
import { fromBinary } from '@bufbuild/protobuf';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../../proto/gen/envoy/config/route/v3/route_pb.js';
import { checkRegex, Problems, type Decoded } from './decoded.js';
import { checkSupported, ROUTE_FIELDS } from './supported.js';

import { compileTranscoderAny, REVERSE_FILTER } from '../../../common/transcode/compile.js';
import { TranscoderConfigError } from '../../../common/transcode/transcoder.js';

export function decodeRoute(bytes: Uint8Array): Decoded<RouteConfiguration> {
  const rc = fromBinary(RouteConfigurationSchema, bytes);
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
    for (const k of Object.keys(vh.typedPerFilterConfig)) {
      if (k !== REVERSE_FILTER) p.add(`${vp}.typed_per_filter_config["${k}"]`, `per-route config for '${k}' is not supported by the Weft sidecar`);
    }
    const rev = vh.typedPerFilterConfig[REVERSE_FILTER];
    if (rev) {
      try {
        compileTranscoderAny(rev);
      } catch (e) {
        if (!(e instanceof TranscoderConfigError)) throw e;
        p.add(`${vp}.typed_per_filter_config["${REVERSE_FILTER}"]`, e.message);
      }
    }
    vh.routes.forEach((r, ri) => {
      const rp = `${vp}.routes[${ri}]`;
      const ps = r.match?.pathSpecifier;
      if (!ps?.case) p.add(`${rp}.match`, 'a path matcher is required');
      if (ps?.case === 'safeRegex') checkRegex(p, `${rp}.match.safe_regex.regex`, ps.value.regex);
      r.match?.headers.forEach((h, hi) => {
        const sm = h.headerMatchSpecifier.case === 'stringMatch' ? h.headerMatchSpecifier.value.matchPattern : undefined;
        if (sm?.case === 'safeRegex') checkRegex(p, `${rp}.match.headers[${hi}].string_match.safe_regex.regex`, sm.value.regex);
      });
      if (!r.action.case || !['route', 'redirect', 'directResponse'].includes(r.action.case)) p.add(`${rp}.action`, `unsupported action '${r.action.case ?? 'none'}'`);
      if (r.action.case === 'route') {
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

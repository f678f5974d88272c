/**
 * The HTTP filters the sidecar executes, by the type URL of their typed_config. Adding a policy:
 * its file here, one line in this list (and its translation on the control plane). A listener
 * naming a filter that is not listed is refused unless the filter is `is_optional`; the router is
 * the terminal filter and is not listed (listener.ts requires it last).
 */
import { unpackAny } from '../../../common/wire-decode.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import { FilterConfigSchema } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { isExtensionConfig, isMessageType } from '../../../common/extensions.js';
import { DISABLED, type HttpFilterFactory } from '../filter.js';
import { Problems } from '../../xds/types/decoded.js';
import { compressor } from './compressor.js';
import { cache } from './cache.js';
import { cors } from './cors.js';
import { fault } from './fault.js';
import { grpcJsonReverse } from './grpc-json-reverse.js';
import { grpcJsonTranscoder } from './grpc-json-transcoder.js';
import { grpcWeb } from './grpc-web.js';
import { jwtAuthn } from './jwt-authn.js';
import { jwtClaims } from './jwt-claims.js';
import { rbac } from './rbac.js';
import { buffer } from './buffer.js';
import { requestLimits } from './request-limits.js';
import { keyAuth } from './key-auth.js';
import { apiLifecycle } from './api-lifecycle.js';
import { validation } from './validation.js';
import { transformation } from './transformation.js';
import { aggregation } from './aggregation.js';
import { rateLimit } from './ratelimit.js';

export const HTTP_FILTERS: readonly HttpFilterFactory[] = [
  requestLimits as HttpFilterFactory,
  buffer as HttpFilterFactory,
  jwtAuthn as HttpFilterFactory,
  jwtClaims as HttpFilterFactory,
  keyAuth as HttpFilterFactory,
  rbac as HttpFilterFactory,
  cors as HttpFilterFactory,
  fault as HttpFilterFactory,
  grpcWeb as HttpFilterFactory,
  grpcJsonTranscoder as HttpFilterFactory,
  grpcJsonReverse as HttpFilterFactory,
  compressor as HttpFilterFactory,
  cache as HttpFilterFactory,
  apiLifecycle as HttpFilterFactory,
  validation as HttpFilterFactory,
  transformation as HttpFilterFactory,
  aggregation as HttpFilterFactory,
  rateLimit as HttpFilterFactory,
];

/** The factory for an http_filters entry's typed_config, by its type URL. */
export function filterFactory(typeUrl: string): HttpFilterFactory | undefined {
  for (const f of HTTP_FILTERS) if (isExtensionConfig(typeUrl, f.extension)) return f;
  return undefined;
}


/**
 * What a RouteTable uses to compile its typed_per_filter_config entries (they were checked when the
 * RouteConfiguration was decoded: one that fails here is left out).
 */
export function routePerFilter(key: string, any: Any): unknown {
  return parsePerFilter(key, any, new Problems('RouteConfiguration'), '');
}

/**
 * One typed_per_filter_config entry, parsed by the factory whose per-route type it is (a
 * FilterConfig wrapper is opened: `disabled` turns the filter off for the route, `is_optional`
 * lets an unknown config pass). Returns the parsed config (DISABLED for a disabled filter), or
 * undefined when it is optional and unknown, or on errors.
 */
export function parsePerFilter(key: string, any: Any, p: Problems, path: string): unknown {
  let inner = any;
  let optional = false;
  let innerPath = path;
  if (isMessageType(any.typeUrl, FilterConfigSchema)) {
    const fc = unpackAny(any, FilterConfigSchema);
    if (!fc) {
      p.add(path, 'is not a FilterConfig');
      return undefined;
    }
    optional = fc.isOptional;
    if (fc.disabled) {
      if (HTTP_FILTERS.some((f) => f.extension.name === key || (f.extension.instances === true && key.startsWith(`${f.extension.name}.`)))) return DISABLED;
      if (!optional) p.add(path, `'${key}' is not a filter the Weft sidecar knows`);
      return undefined;
    }
    if (!fc.config) {
      p.add(`${path}.config`, 'is required unless disabled is set');
      return undefined;
    }
    inner = fc.config;
    innerPath = `${path}.config`;
  }
  // The factory whose per-route type this is; when two share a type (the transcoder's config is
  // also the reverse translation's), the entry's key decides.
  const candidates = HTTP_FILTERS.filter((f) => f.perRoute && isMessageType(inner.typeUrl, f.perRoute.schema));
  const factory = candidates.find((f) => f.extension.name === key) ?? candidates[0];
  if (!factory?.perRoute) {
    if (!optional) p.add(path, `per-route config '${key}' (${inner.typeUrl}) is not supported by the Weft sidecar; mark it is_optional in a FilterConfig to run without it`);
    return undefined;
  }
  return factory.perRoute.parse(inner, p, innerPath);
}

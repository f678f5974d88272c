/**
 * Weft's request_limits filter (weft.filters.http.request_limits, weft.v1.RequestLimits): the
 * limits of a ClientTrafficPolicy Envoy has no field for. `max_uri_length`: a request whose
 * target (normalized path and query, as the routes see it) is longer is answered 414 with
 * `x-weft-error: URI_TOO_LONG`. The request head as a whole is bounded by max_request_headers_kb.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../../common/extensions.js';
import { RequestLimitsSchema } from '../../../proto/gen/weft/v1/filters_pb.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';
import type { Handler, HttpFilterFactory } from '../filter.js';
import { respondError } from '../respond.js';

const FIELDS = supportedFields({ 'weft.v1.RequestLimits': ['max_uri_length'] });

function uriLimit(max: number): (next: Handler) => Handler {
  return (next) => (req, res, info) => {
    const n = req.path.length + req.search.length;
    if (n > max) respondError(req, res, info, 'URI_TOO_LONG', `the request target is ${n} bytes long, more than ${max}`);
    else next(req, res, info);
  };
}

export const requestLimits: HttpFilterFactory<number> = {
  extension: EXTENSIONS.requestLimits,
  parse(any, p, path) {
    const m = unpackAny(any, RequestLimitsSchema);
    if (!m) {
      p.add(path, 'is not a weft.v1.RequestLimits');
      return undefined;
    }
    checkSupported(RequestLimitsSchema, m, FIELDS, p, path);
    return m.maxUriLength;
  },
  // 0: no limit of its own, nothing to run.
  create: (max) => (max > 0 ? uriLimit(max) : undefined),
};

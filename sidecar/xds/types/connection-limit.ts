/** envoy.filters.network.connection_limit, decoded for HTTP and TCP filter chains alike. */
import { unpackAny } from '../../../common/wire-decode.js';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import { ConnectionLimitSchema } from '../../../proto/gen/envoy/extensions/filters/network/connection_limit/v3/connection_limit_pb.js';
import type { Problems } from './decoded.js';
import { checkSupported, supportedFields } from './supported.js';

const CONNECTION_LIMIT_FIELDS = supportedFields({ 'envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit': ['stat_prefix', 'max_connections'] });

/**
 * One envoy.filters.network.connection_limit filter's max_connections (its other options are
 * refused); undefined, with the error in `p`, when it cannot be executed. HTTP and TCP chains both
 * put it first.
 */
export function connectionLimitOf(any: Any, p: Problems, fp: string): number | undefined {
  const m = unpackAny(any, ConnectionLimitSchema);
  if (!m) {
    p.add(`${fp}.typed_config`, 'is not a ConnectionLimit');
    return undefined;
  }
  checkSupported(ConnectionLimitSchema, m, CONNECTION_LIMIT_FIELDS, p, `${fp}.typed_config`);
  const max = m.maxConnections;
  if (max === undefined || max < 1n || max > BigInt(Number.MAX_SAFE_INTEGER)) {
    p.add(`${fp}.typed_config.max_connections`, 'is required and must be at least 1');
    return undefined;
  }
  return Number(max);
}


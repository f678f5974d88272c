/**
 * The listener-level parse of a filter whose typed config has no options (Envoy's GrpcWeb and
 * Cors, Weft's GrpcJsonReverse): any field set in it is refused, since none is executed.
 */
import { unpackAny } from '../../../common/wire-decode.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import type { Extension } from '../../../common/extensions.js';
import type { Problems } from '../../xds/types/decoded.js';
import { checkSupported, supportedFields } from '../../xds/types/supported.js';

export function noOptions(e: Extension): (any: Any, p: Problems, path: string) => true {
  const fields = supportedFields({ [e.schema.typeName]: [] });
  return (any, p, path) => {
    const m = unpackAny(any, e.schema);
    if (m) checkSupported(e.schema, m, fields, p, path);
    else p.add(path, `is not a ${e.schema.typeName}`);
    return true;
  };
}

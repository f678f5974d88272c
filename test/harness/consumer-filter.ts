/**
 * Test-only: a filter that sets RequestInfo.consumer from the request's `x-test-consumer` header,
 * standing in for the API-key filter (which authenticates consumers for real) in tests of what
 * reads the consumer (analytics, lifecycle counts). Never part of a proxy's filter registry: the
 * in-process gateway harness puts it first in each listener's chain (`prepend`).
 */
import type { Any } from '@bufbuild/protobuf/wkt';
import { EXTENSIONS } from '../../common/extensions.js';
import type { FilterSpec, HttpFilterFactory } from '../../sidecar/http/filter.js';

const factory: HttpFilterFactory<true> = {
  // Any extension will do: the spec is put in the chain directly, never looked up by type URL.
  extension: EXTENSIONS.requestLimits,
  parse: (_any: Any) => true,
  create: () => (next) => (req, res, info) => {
    info.consumer = req.header('x-test-consumer') ?? '';
    next(req, res, info);
  },
};

export const CONSUMER_FROM_HEADER: FilterSpec = Object.freeze({ name: 'test.consumer_from_header', factory: factory as HttpFilterFactory, config: true });

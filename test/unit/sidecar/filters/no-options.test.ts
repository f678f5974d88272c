// noOptions(): the listener-level parse of the filters whose typed config has no options (gRPC-Web,
// CORS, Weft's reverse translation). Their own config is accepted as is; a typed config of
// another message under the filter is refused with its path.
import { create } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../../../../common/extensions.js';
import { RouterSchema } from '../../../../proto/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { noOptions } from '../../../../sidecar/http/filters/no-options.js';
import { Problems } from '../../../../sidecar/xds/types/decoded.js';

describe('noOptions', () => {
  it.each([EXTENSIONS.grpcWeb, EXTENSIONS.cors, EXTENSIONS.grpcJsonReverseFilter])('accepts an empty $name config', (e) => {
    const p = new Problems('Listener/x');
    expect(noOptions(e)(anyPack(e.schema, create(e.schema)), p, 'http_filters[0].typed_config')).toBe(true);
    expect(p.errors).toEqual([]);
  });

  it('refuses a typed config of another message, naming the path and the expected type', () => {
    const p = new Problems('Listener/x');
    noOptions(EXTENSIONS.grpcWeb)(anyPack(RouterSchema, create(RouterSchema)), p, 'http_filters[0].typed_config');
    expect(p.errors.map((e) => `${e.path}: ${e.message}`)).toEqual(['http_filters[0].typed_config: is not a envoy.extensions.filters.http.grpc_web.v3.GrpcWeb']);
  });
});

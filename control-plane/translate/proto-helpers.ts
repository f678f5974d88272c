/** Small builders for recurring Envoy message parts. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { DurationSchema } from '@bufbuild/protobuf/wkt';
import type { AddressSchema } from '../../proto/gen/envoy/config/core/v3/address_pb.js';
import { ApiVersion } from '../../proto/gen/envoy/config/core/v3/config_source_pb.js';

export function duration(ms: number): MessageInitShape<typeof DurationSchema> {
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}

export function socketAddress(address: string, port: number): MessageInitShape<typeof AddressSchema> {
  return { address: { case: 'socketAddress', value: { address, portSpecifier: { case: 'portValue', value: port } } } };
}

export const ADS_SOURCE = {
  configSourceSpecifier: { case: 'ads' as const, value: {} },
  resourceApiVersion: ApiVersion.V3,
};

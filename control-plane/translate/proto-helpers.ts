/** Small builders for recurring Envoy message parts. */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { DurationSchema } from '@bufbuild/protobuf/wkt';
import type { AddressSchema } from '../../proto/gen/envoy/config/core/v3/address_pb.js';
import { ApiVersion } from '../../proto/gen/envoy/config/core/v3/config_source_pb.js';
import { FractionalPercent_DenominatorType, type FractionalPercentSchema } from '../../proto/gen/envoy/type/v3/percent_pb.js';

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

type FractionInit = MessageInitShape<typeof FractionalPercentSchema>;

/**
 * A percentage (0..100, at most 4 decimals) as an Envoy FractionalPercent: n/HUNDRED when it is
 * a whole number, else per MILLION (round(pct * 10,000)), so 50 reads as 50/HUNDRED.
 */
export function fractionalPercent(pct: number): FractionInit {
  return Number.isInteger(pct)
    ? { numerator: pct, denominator: FractionalPercent_DenominatorType.HUNDRED }
    : { numerator: Math.round(pct * 10_000), denominator: FractionalPercent_DenominatorType.MILLION };
}

/**
 * numerator/denominator (Gateway API Fraction) as a FractionalPercent: exact for the denominators
 * Envoy has (100, 10,000, 1,000,000), else per million rounded to the nearest millionth.
 */
export function fractionOf(numerator: number, denominator: number): FractionInit {
  if (denominator === 100) return { numerator, denominator: FractionalPercent_DenominatorType.HUNDRED };
  if (denominator === 10_000) return { numerator, denominator: FractionalPercent_DenominatorType.TEN_THOUSAND };
  if (denominator === 1_000_000) return { numerator, denominator: FractionalPercent_DenominatorType.MILLION };
  return { numerator: Math.round((numerator * 1_000_000) / denominator), denominator: FractionalPercent_DenominatorType.MILLION };
}

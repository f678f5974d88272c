// strictFromBinary (common/wire-strict.ts): what fromBinary makes of every well-formed message
// (random messages of every proto3 type the mesh has), and a refusal where fromBinary reads a value
// past its nested length: a nested message, a map entry and a packed list one byte short.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { StructSchema } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { strictFromBinary } from '../../../common/wire-strict.js';
import { concat, init, loadMessages, messages, Rand, unknownField } from '../../harness/random-messages.js';
import { RetryPolicySchema } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';

await loadMessages();
const LEN = WireType.LengthDelimited;

describe('strictFromBinary', () => {
  it('decodes every well-formed message as fromBinary does (random messages of every type, unknown fields, merges)', () => {
    const all = [...messages.values()];
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const r = new Rand(seed);
        for (const d of all) {
          const a = toBinary(d, create(d, init(r, d, 0)));
          const b = toBinary(d, create(d, init(r, d, 0)));
          for (const bytes of [a, concat(a, unknownField(r, d), b)]) expect(strictFromBinary(d, bytes), d.typeName).toStrictEqual(fromBinary(d, bytes));
        }
      }),
      { numRuns: 6 },
    );
  });

  it('refuses a nested message, map entry or packed list whose last value runs past its length, which fromBinary reads whole', () => {
    const value = new BinaryWriter().tag(2, WireType.Bit64).double(1).finish(); // Value { number_value = 1 }: 9 bytes
    const struct = (valueLen: number, entryShort: number): Uint8Array => {
      const entry = new BinaryWriter().tag(1, LEN).string('a').tag(2, LEN).uint32(valueLen).raw(value).finish();
      return new BinaryWriter().tag(1, LEN).uint32(entry.length - entryShort).raw(entry).finish();
    };
    expect(strictFromBinary(StructSchema, struct(value.length, 0)).fields.a?.kind).toEqual({ case: 'numberValue', value: 1 });
    const codes = RetryPolicySchema.fields.find((f) => f.localName === 'retriableStatusCodes')!.number;
    const packed = (len: number) => new BinaryWriter().tag(codes, LEN).uint32(len).uint32(200).finish();
    expect(strictFromBinary(RetryPolicySchema, packed(2)).retriableStatusCodes).toEqual([200]);
    for (const [schema, bytes] of [
      [StructSchema, struct(value.length - 1, 0)],
      [StructSchema, struct(value.length, 1)],
      [RetryPolicySchema, packed(1)],
    ] as const) {
      expect(() => fromBinary(schema, bytes)).not.toThrow(); // why this module exists
      expect(() => strictFromBinary(schema, bytes)).toThrow(/runs past the end of its length/);
    }
  });
});

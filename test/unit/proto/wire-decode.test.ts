// common/wire-decode.ts decodes with wire tables into what protobuf-es's fromBinary makes. Checked
// against fromBinary itself, for every proto3 message type of every generated module and the
// google.protobuf types they use: random messages (every field kind: scalars of each type, open
// enums with unknown values, nested and recursive messages, oneofs, lists packed and not, maps of
// each key type, unwrapped wrappers, Struct as JSON, proto3 optional), the same bytes with a field
// the type does not have (kept in $unknown), two encodings one after the other (the wire's merge:
// last scalar wins, lists append, messages merge), and cut-off bytes (the same error, or the
// same message); one difference on purpose: a nested message, map entry or packed list whose last
// value runs past its length is refused (fromBinary reads it whole). Also: isWireFieldSet against isFieldSet, sameDecoded against equals, unpackAny
// against anyUnpack. (Decoding with the tables the bundle writes into the stand-ins:
// lazy-descriptors.test.ts.)
import { create, equals, fromBinary, isFieldSet, toBinary, type DescMessage } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { AnySchema, anyPack, anyUnpack, DurationSchema, StructSchema, ValueSchema } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, isWireFieldSet, sameDecoded, unpackAny } from '../../../common/wire-decode.js';
import { compactWire, wireOf } from '../../../common/wire-table.js';
import { concat, files, init, loadMessages, messages, Rand, unknownField } from '../../harness/random-messages.js';
import { ClusterSchema } from '../../../proto/gen/envoy/config/cluster/v3/cluster_pb.js';
import { RetryPolicySchema } from '../../../proto/gen/envoy/config/route/v3/route_components_pb.js';

await loadMessages();

/** Two random messages of type `d`, encoded. */
const randomPair = (r: Rand, d: DescMessage) => [toBinary(d, create(d, init(r, d, 0))), toBinary(d, create(d, init(r, d, 0)))] as const;

function same(d: DescMessage, bytes: Uint8Array): void {
  let want: unknown;
  let wantErr: unknown;
  try {
    want = fromBinary(d, bytes);
  } catch (e) {
    wantErr = e;
  }
  if (wantErr !== undefined) {
    expect(() => decodeMessage(d, bytes), d.typeName).toThrow((wantErr as Error).message);
    return;
  }
  const got = decodeMessage(d, bytes);
  expect(got, d.typeName).toStrictEqual(want);
  for (const f of wireOf(d).fields) expect(isWireFieldSet(got, f), `${d.typeName}.${f.name}`).toBe(isFieldSet(want as never, d.fields.find((x) => x.number === f.no)!));
}

describe('decodeMessage', () => {
  it('covers every proto3 message type of the generated modules', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(messages.size).toBeGreaterThan(500);
  });

  it('decodes every message type as fromBinary does: random messages, unknown fields, merges, cut-off bytes', () => {
    const all = [...messages.values()];
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const r = new Rand(seed);
        for (const d of all) {
          const [a, b] = randomPair(r, d);
          same(d, a);
          same(d, concat(a, unknownField(r, d), b));
          if (a.length > 1) same(d, a.subarray(0, 1 + r.int(a.length - 1)));
        }
      }),
      { numRuns: 12 },
    );
  });

  it('keeps a cluster full of fields as fromBinary does (a deep, realistic message)', () => {
    const c = create(ClusterSchema, {
      name: 'c',
      connectTimeout: { seconds: 1n, nanos: 5 },
      perConnectionBufferLimitBytes: 1024,
      metadata: { filterMetadata: { a: { x: 1, y: [true, null, 'z'], z: { q: 'r' } } } },
      loadAssignment: { clusterName: 'c', endpoints: [{ lbEndpoints: [{ hostIdentifier: { case: 'endpoint', value: { address: { address: { case: 'socketAddress', value: { address: '10.0.0.1', portSpecifier: { case: 'portValue', value: 80 } } } } } } }] }] },
      typedExtensionProtocolOptions: { x: anyPack(DurationSchema, create(DurationSchema, { seconds: 3n })) },
    });
    same(ClusterSchema, toBinary(ClusterSchema, c));
  });

  it('gives a map entry without its key or its value the zero ones, as fromBinary does', () => {
    const d = ClusterSchema.field.metadata!.message!; // envoy.config.core.v3.Metadata
    const entry = (e: Uint8Array, no: number) => new BinaryWriter().tag(no, WireType.LengthDelimited).bytes(e).finish();
    const keyOnly = new BinaryWriter().tag(1, WireType.LengthDelimited).string('k').finish();
    const valueOnly = new BinaryWriter().tag(2, WireType.LengthDelimited).bytes(new Uint8Array(0)).finish();
    for (const no of [1, 2]) for (const e of [new Uint8Array(0), keyOnly, valueOnly]) same(d, entry(e, no));
  });

  it('refuses nesting deeper than protobuf-es does, with its message', () => {
    const w = (depth: number): Uint8Array => {
      // A Value whose struct_value (5) holds fields["a"] = the next Value.
      let inner = toBinary(ValueSchema, create(ValueSchema, { kind: { case: 'numberValue', value: 1 } }));
      for (let i = 0; i < depth; i++) {
        const entry = new BinaryWriter().tag(1, WireType.LengthDelimited).string('a').tag(2, WireType.LengthDelimited).bytes(inner).finish();
        const struct = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(entry).finish();
        inner = new BinaryWriter().tag(5, WireType.LengthDelimited).bytes(struct).finish();
      }
      return inner;
    };
    same(ValueSchema, w(30));
    same(ValueSchema, w(60));
    expect(() => fromBinary(ValueSchema, w(60))).toThrow(/maximum recursion depth/);
  });

  it('refuses a nested message, map entry or packed list whose last value runs past its length (fromBinary reads it whole)', () => {
    const LEN = WireType.LengthDelimited;
    const value = new BinaryWriter().tag(2, WireType.Bit64).double(1).finish(); // Value { number_value = 1 }: 9 bytes
    // Struct { fields = { "a": Value } }, the Value's or the entry's length given one byte short.
    const struct = (valueLen: number, entryShort: number): Uint8Array => {
      const entry = new BinaryWriter().tag(1, LEN).string('a').tag(2, LEN).uint32(valueLen).raw(value).finish();
      return new BinaryWriter().tag(1, LEN).uint32(entry.length - entryShort).raw(entry).finish();
    };
    same(StructSchema, struct(value.length, 0)); // well formed: as fromBinary
    expect(() => decodeMessage(StructSchema, struct(value.length - 1, 0))).toThrow(/google.protobuf.Value from binary: a field runs past the end of the message/);
    expect(() => decodeMessage(StructSchema, struct(value.length, 1))).toThrow(/fields from binary: a map entry runs past its length/);
    // RetryPolicy.retriable_status_codes (packed uint32): 200 is a two-byte varint, the list says one.
    const codes = RetryPolicySchema.fields.find((f) => f.localName === 'retriableStatusCodes')!.number;
    const packed = (len: number) => new BinaryWriter().tag(codes, LEN).uint32(len).uint32(200).finish();
    expect(decodeMessage(RetryPolicySchema, packed(2)).retriableStatusCodes).toEqual([200]);
    expect(() => decodeMessage(RetryPolicySchema, packed(1))).toThrow(/retriableStatusCodes from binary: a packed value runs past the end of the list/);
  });
});

describe('sameDecoded', () => {
  it('agrees with protobuf-es equals on random messages of every type, and on a changed copy', () => {
    const all = [...messages.values()];
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const r = new Rand(seed);
        for (const d of all) {
          const [a, b] = randomPair(r, d);
          const [x, y, z] = [decodeMessage(d, a), decodeMessage(d, a), decodeMessage(d, b)];
          expect(sameDecoded(x, y), d.typeName).toBe(true);
          // Where they differ by design (sameDecoded compares numbers with Object.is, having no
          // descriptor): equals says NaN differs from NaN (its ===), sameDecoded does not; and a -0
          // against a 0 inside a oneof is equal to equals (===) and not to sameDecoded (at worst an
          // unchanged config is rebuilt). Messages holding either are left to the checks below.
          const special = (m: unknown) => JSON.stringify(m, (_k, v: unknown) => (typeof v === 'number' && (Number.isNaN(v) || Object.is(v, -0)) ? 'special!' : typeof v === 'bigint' ? String(v) : v)).includes('special!');
          if (!special(x) && !special(z)) expect(sameDecoded(x, z), d.typeName).toBe(equals(d, x as never, z as never));
        }
      }),
      { numRuns: 6 },
    );
  });

  it('the two cases it decides by Object.is: NaN is NaN, and -0 is not 0 (also in a oneof, where equals says it is)', () => {
    const d = messages.get('envoy.type.matcher.v3.DoubleMatcher')!;
    const m = (v: number) => decodeMessage(d, toBinary(d, create(d, { matchPattern: { case: 'exact', value: v } } as never)));
    expect(sameDecoded(m(NaN), m(NaN))).toBe(true);
    expect(equals(d, m(NaN) as never, m(NaN) as never)).toBe(false);
    expect(sameDecoded(m(-0), m(0))).toBe(false);
    expect(equals(d, m(-0) as never, m(0) as never)).toBe(true);
    expect(sameDecoded(m(-0), m(-0))).toBe(true);
  });
});

describe('unpackAny', () => {
  it('unpacks as anyUnpack does, and gives undefined for an empty or another type URL', () => {
    const any = anyPack(DurationSchema, create(DurationSchema, { seconds: 7n }));
    expect(unpackAny(any, DurationSchema)).toStrictEqual(anyUnpack(any, DurationSchema));
    expect(unpackAny(any, StructSchema)).toBeUndefined();
    expect(unpackAny(create(AnySchema), DurationSchema)).toBeUndefined();
    expect(() => unpackAny(create(AnySchema, { typeUrl: 'x/' }), DurationSchema)).toThrow(/invalid type url/);
  });
});

describe('compactWire', () => {
  it('writes a table for every proto3 message type, and refuses a proto2 one', async () => {
    for (const d of messages.values()) expect(() => compactWire(d), d.typeName).not.toThrow();
    const { FieldDescriptorProtoSchema } = await import('@bufbuild/protobuf/wkt');
    expect(() => compactWire(FieldDescriptorProtoSchema)).toThrow(/not proto3/);
  });
});

// common/wire-encode.ts writes and creates messages with wire tables as protobuf-es's toBinary and
// create do. Checked against them for every proto3 message type of every generated module and the
// google.protobuf types they use, on random messages (test/harness/random-messages.ts): the same
// bytes, unknown fields written back, the same objects from the same init (nested plain objects,
// wrappers, Struct JSON, bytes given as arrays), and protobuf-es's errors for a value a field's
// type cannot hold and for a message of another type.
import { create, toBinary } from '@bufbuild/protobuf';
import { BytesValueSchema, DurationSchema } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../../../common/wire-decode.js';
import { createMessage, encodeMessage } from '../../../common/wire-encode.js';
import { concat, init, loadMessages, messages, Rand, unknownField } from '../../harness/random-messages.js';
import { DiscoveryRequestSchema } from '../../../proto/gen/envoy/service/discovery/v3/discovery_pb.js';
import { LoadStatsRequestSchema } from '../../../proto/gen/envoy/service/load_stats/v3/lrs_pb.js';

await loadMessages();
const all = [...messages.values()];

describe('encodeMessage', () => {
  it('writes every message type as toBinary does, unknown fields included', () => {
    expect(all.length).toBeGreaterThan(500);
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const r = new Rand(seed);
        for (const d of all) {
          const m = create(d, init(r, d, 0));
          expect(encodeMessage(d, m), d.typeName).toEqual(toBinary(d, m));
          // With fields the type does not have (kept in $unknown by the decoder, written back).
          const withUnknown = decodeMessage(d, concat(toBinary(d, m), unknownField(r, d)));
          expect(encodeMessage(d, withUnknown), d.typeName).toEqual(toBinary(d, withUnknown));
        }
      }),
      { numRuns: 10 },
    );
  });

  it('refuses a value the field cannot hold, and a message of another type, with protobuf-es errors', () => {
    const bad = { ...create(DurationSchema), nanos: 'x' as unknown as number };
    expect(() => toBinary(DurationSchema, bad)).toThrow('cannot encode field google.protobuf.Duration.nanos to binary: invalid int32: NaN');
    expect(() => encodeMessage(DurationSchema, bad)).toThrow('cannot encode field google.protobuf.Duration.nanos to binary: invalid int32: NaN');
    const other = create(LoadStatsRequestSchema) as never;
    let want = '';
    try {
      toBinary(DiscoveryRequestSchema, other);
    } catch (e) {
      want = (e as Error).message;
    }
    expect(want).toMatch(/cannot use field/);
    expect(() => encodeMessage(DiscoveryRequestSchema, other)).toThrow(want);
  });
});

describe('createMessage', () => {
  it('makes every message type as create does, from the same random init', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        for (const d of all) {
          const i = init(new Rand(seed), d, 0);
          expect(createMessage(d, i as never), d.typeName).toStrictEqual(create(d, i as never));
        }
        for (const d of all) expect(createMessage(d), d.typeName).toStrictEqual(create(d));
      }),
      { numRuns: 10 },
    );
  });

  it('returns a message of the type as it is, and converts bytes given as arrays', () => {
    const m = create(DiscoveryRequestSchema, { typeUrl: 't' });
    expect(createMessage(DiscoveryRequestSchema, m)).toBe(m);
    const d = BytesValueSchema;
    expect(createMessage(d, { value: [1, 2] } as never)).toStrictEqual(create(d, { value: [1, 2] } as never));
  });
});

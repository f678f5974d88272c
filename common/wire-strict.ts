/**
 * protobuf-es's `fromBinary`, refusing what protobuf's C++ parser refuses and protobuf-es's reader
 * lets through: a nested message, map entry or packed list whose last value runs past its length
 * (the reader checks reads against the buffer's end only, so a short length prefix with a double,
 * varint or string crossing it is read whole and the parent carries on). common/wire-decode.ts
 * refuses the same for the types the mesh decodes with wire tables; this is for messages decoded
 * with a schema at hand: a GRPCTranslation's methods (any proto, proto2 included) and OTLP.
 * One walk over the bytes before `fromBinary`, no allocation per field.
 */
import { fromBinary, ScalarType, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { wireTypeOf } from './wire-encode.js';

const RECURSION_LIMIT = 100;
const byNumber = new WeakMap<DescMessage, Map<number, DescField>>();

function fieldOf(schema: DescMessage, no: number): DescField | undefined {
  let m = byNumber.get(schema);
  if (m === undefined) byNumber.set(schema, (m = new Map(schema.fields.map((f) => [f.number, f]))));
  return m.get(no);
}

function past(what: string): Error {
  return new Error(`cannot decode ${what} from binary: a value runs past the end of its length`);
}

/** Walks one message's fields up to `end`, into nested messages, map entries and packed lists. */
function walk(schema: DescMessage | undefined, r: BinaryReader, end: number, depth: number): void {
  if (depth > RECURSION_LIMIT) return; // fromBinary refuses the nesting with its own message
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (wt !== WireType.LengthDelimited) {
      r.skip(wt, no);
      continue;
    }
    const len = r.uint32();
    const stop = r.pos + len;
    if (stop > end) throw past(schema?.typeName ?? 'a message');
    const f = schema && fieldOf(schema, no);
    if (f?.fieldKind === 'message' || (f?.fieldKind === 'list' && f.listKind === 'message')) walk(f.message, r, stop, depth + 1);
    else if (f?.fieldKind === 'map') walkEntry(f, r, stop, depth + 1);
    else if (f?.fieldKind === 'list' && (f.listKind === 'scalar' || f.listKind === 'enum')) {
      // A packed list (strings and bytes are not packed: theirs is one value, read by skipping).
      const packed = f.listKind === 'enum' || (f.scalar !== ScalarType.STRING && f.scalar !== ScalarType.BYTES);
      if (packed) while (r.pos < stop) r.skip(f.listKind === 'enum' ? WireType.Varint : wireTypeOf(f.scalar));
    }
    if (r.pos > stop) throw past(f ? `field ${f.name}` : (schema?.typeName ?? 'a message'));
    r.pos = stop;
  }
  if (r.pos > end) throw past(schema?.typeName ?? 'a message');
}

function walkEntry(f: DescField & { fieldKind: 'map' }, r: BinaryReader, end: number, depth: number): void {
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 2 && wt === WireType.LengthDelimited && f.mapKind === 'message') {
      const stop = r.uint32() + r.pos;
      if (stop > end) throw past(`field ${f.name}`);
      walk(f.message, r, stop, depth + 1); // refuses a value past `stop` itself
      r.pos = stop;
    } else r.skip(wt, no);
  }
  if (r.pos > end) throw past(`field ${f.name}`);
}

/** `fromBinary(schema, bytes)`, after a walk that refuses a value running past its nested length. */
export function strictFromBinary<D extends DescMessage>(schema: D, bytes: Uint8Array): MessageShape<D> {
  walk(schema, new BinaryReader(bytes), bytes.length, 0);
  return fromBinary(schema, bytes);
}

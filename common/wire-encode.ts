/**
 * Encodes and creates protobuf messages with wire tables (common/wire-table.ts says why), as
 * protobuf-es's `toBinary` and `create` do: the same bytes (fields in number order, proto3's zero
 * values left out, packed lists, unknown fields written back) and the same objects. The sidecar's
 * xDS, identity and load-report streams use them, so it builds no descriptor to talk to the
 * control plane. test/unit/proto/wire-encode.test.ts compares them with protobuf-es.
 */
import { ScalarType, type DescMessage, type Message, type MessageInitShape, type MessageShape, type JsonObject } from '@bufbuild/protobuf';
import { protoInt64 } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { fieldZero, isWireFieldSet, jsonToStruct, setOwn, zero, type Obj } from './wire-decode.js';
import { wireByName, wireOf, type WireField, type WireMessage } from './wire-table.js';

/** The wire type a scalar of type `t` is written with (each element's, in a packed list). */
export function wireTypeOf(t: ScalarType): WireType {
  switch (t) {
    case ScalarType.BYTES:
    case ScalarType.STRING:
      return WireType.LengthDelimited;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
    case ScalarType.FLOAT:
      return WireType.Bit32;
    default:
      return WireType.Varint;
  }
}

function writeScalarValue(w: BinaryWriter, t: ScalarType, v: unknown): void {
  switch (t) {
    case ScalarType.STRING:
      w.string(v as string);
      break;
    case ScalarType.BOOL:
      w.bool(v as boolean);
      break;
    case ScalarType.DOUBLE:
      w.double(v as number);
      break;
    case ScalarType.FLOAT:
      w.float(v as number);
      break;
    case ScalarType.INT32:
      w.int32(v as number);
      break;
    case ScalarType.INT64:
      w.int64(v as bigint | string);
      break;
    case ScalarType.UINT64:
      w.uint64(v as bigint | string);
      break;
    case ScalarType.FIXED64:
      w.fixed64(v as bigint | string);
      break;
    case ScalarType.BYTES:
      w.bytes(v as Uint8Array);
      break;
    case ScalarType.FIXED32:
      w.fixed32(v as number);
      break;
    case ScalarType.SFIXED32:
      w.sfixed32(v as number);
      break;
    case ScalarType.SFIXED64:
      w.sfixed64(v as bigint | string);
      break;
    case ScalarType.SINT64:
      w.sint64(v as bigint | string);
      break;
    case ScalarType.UINT32:
      w.uint32(v as number);
      break;
    case ScalarType.SINT32:
      w.sint32(v as number);
      break;
  }
}

/** A scalar without its tag, with protobuf-es's error for a value the type cannot hold. */
function writeScalar(w: BinaryWriter, t: ScalarType, v: unknown, owner: WireMessage, f: WireField): void {
  try {
    writeScalarValue(w, t, v);
  } catch (e) {
    if (e instanceof Error) throw new Error(`cannot encode field ${owner.typeName}.${f.name} to binary: ${e.message}`);
    throw e;
  }
}

/** A map key (always a string locally) as the closest value of its type, as protobuf-es converts it. */
function mapKey(t: ScalarType, key: string): unknown {
  switch (t) {
    case ScalarType.STRING:
      return key;
    case ScalarType.BOOL:
      return key === 'true' ? true : key === 'false' ? false : key;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      try {
        return protoInt64.uParse(key);
      } catch {
        return key;
      }
    case ScalarType.INT64:
    case ScalarType.SFIXED64:
    case ScalarType.SINT64:
      try {
        return protoInt64.parse(key);
      } catch {
        return key;
      }
    default: {
      const n = Number.parseInt(key);
      return Number.isFinite(n) ? n : key;
    }
  }
}

/** What a message field holds locally, as the message to write (a wrapper's scalar, a Struct's JSON). */
function asMessage(f: WireField, t: WireMessage, v: unknown): Obj {
  if (f.wrapper) {
    const m = zero(t);
    if (v !== undefined) m['value'] = v;
    return m;
  }
  if (f.struct) return jsonToStruct(v as JsonObject);
  return v as Obj;
}

/** A message value of `f` (a list item, a map value: `no` 2) with its tag. */
function writeChild(w: BinaryWriter, no: number, f: WireField, v: unknown): void {
  const t = wireByName(f.message);
  w.tag(no, WireType.LengthDelimited).fork();
  writeBody(w, t, asMessage(f, t, v));
  w.join();
}

/** A scalar value with its tag. */
function writeTagged(w: BinaryWriter, no: number, st: ScalarType, v: unknown, owner: WireMessage, f: WireField): void {
  w.tag(no, wireTypeOf(st));
  writeScalar(w, st, v, owner, f);
}

function writeSingular(w: BinaryWriter, t: WireMessage, f: WireField, v: unknown): void {
  if (f.fieldKind === 'message') writeChild(w, f.no, f, v);
  else writeTagged(w, f.no, f.fieldKind === 'enum' ? ScalarType.INT32 : f.scalar, v, t, f);
}

function writeField(w: BinaryWriter, t: WireMessage, f: WireField, m: Obj): void {
  if (f.oneof !== undefined) {
    const o = m[f.oneof] as { case: string | undefined; value?: unknown };
    if (o.case === f.localName) writeSingular(w, t, f, o.value);
    return;
  }
  const v = m[f.localName];
  switch (f.fieldKind) {
    case 'list': {
      const items = v as unknown[];
      if (f.valueKind === 'message') {
        for (const x of items) writeChild(w, f.no, f, x);
        return;
      }
      const st = f.valueKind === 'enum' ? ScalarType.INT32 : f.scalar;
      if (f.packed && st !== ScalarType.STRING && st !== ScalarType.BYTES) {
        if (items.length === 0) return;
        w.tag(f.no, WireType.LengthDelimited).fork();
        for (const x of items) writeScalar(w, st, x, t, f);
        w.join();
        return;
      }
      for (const x of items) writeTagged(w, f.no, st, x, t, f);
      return;
    }
    case 'map': {
      const record = v as Record<string, unknown>;
      const st = f.valueKind === 'enum' ? ScalarType.INT32 : f.scalar;
      for (const key of Object.keys(record)) {
        w.tag(f.no, WireType.LengthDelimited).fork();
        writeTagged(w, 1, f.mapKey, mapKey(f.mapKey, key), t, f);
        if (f.valueKind === 'message') writeChild(w, 2, f, record[key]);
        else writeTagged(w, 2, st, record[key], t, f);
        w.join();
      }
      return;
    }
    default:
      if (isWireFieldSet(m as unknown as Message, f)) writeSingular(w, t, f, v);
  }
}

function writeBody(w: BinaryWriter, t: WireMessage, m: Obj): void {
  if (m.$typeName !== t.typeName && t.sorted.length > 0) throw new Error(`cannot use field ${t.typeName}.${t.sorted[0]!.name} with message ${m.$typeName}`);
  for (const f of t.sorted) writeField(w, t, f, m);
  const unknown = m.$unknown;
  if (unknown !== undefined) for (const { no, wireType, data } of unknown) w.tag(no, wireType).raw(data);
}

/** Like protobuf-es's `toBinary(schema, message)`, without building `schema` in the sidecar's bundle. */
export function encodeMessage<D extends DescMessage>(schema: D, message: MessageShape<D>): Uint8Array {
  const w = new BinaryWriter();
  writeBody(w, wireOf(schema), message as unknown as Obj);
  return w.finish();
}

// --- create

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const toBytes = (v: unknown): unknown => (Array.isArray(v) ? new Uint8Array(v as number[]) : v);

/** An init value of a message field (a list item, a map value) as protobuf-es's create converts it. */
function convertMessage(f: WireField, v: unknown, inOneof: boolean): unknown {
  if (f.wrapper && !inOneof) return wireByName(f.message).fields[0]!.scalar === ScalarType.BYTES ? toBytes(v) : v;
  if (f.struct) return v;
  if (!isObject(v) || (typeof v['$typeName'] === 'string' && v['$typeName'] === f.message)) return v;
  return createFrom(wireByName(f.message), v);
}

function createFrom(t: WireMessage, init: Record<string, unknown> | undefined): Obj {
  if (init !== undefined && init['$typeName'] === t.typeName) return init as Obj;
  const m: Obj = { $typeName: t.typeName };
  for (const x of t.members) {
    if (typeof x === 'string') {
      const o = init?.[x] as { case?: string | null; value?: unknown } | undefined;
      const f = o?.case != null ? t.fields.find((y) => y.oneof === x && y.localName === o.case) : undefined;
      if (f === undefined) m[x] = { case: undefined };
      else m[x] = { case: f.localName, value: f.fieldKind === 'message' ? convertMessage(f, o!.value, true) : f.scalar === ScalarType.BYTES && f.fieldKind === 'scalar' ? toBytes(o!.value) : o!.value };
      continue;
    }
    const v = init?.[x.localName];
    switch (x.fieldKind) {
      case 'list':
        m[x.localName] = Array.isArray(v) && (x.valueKind === 'message' || x.scalar === ScalarType.BYTES)
          ? v.map((y) => (x.valueKind === 'message' ? convertMessage(x, y, false) : toBytes(y)))
          : (v ?? []);
        break;
      case 'map':
        if (isObject(v) && (x.valueKind === 'message' || x.scalar === ScalarType.BYTES)) {
          const out = {};
          for (const k of Object.keys(v)) setOwn(out, k, x.valueKind === 'message' ? convertMessage(x, v[k], false) : toBytes(v[k]));
          m[x.localName] = out;
        } else m[x.localName] = v ?? {};
        break;
      case 'message':
        if (v != null) m[x.localName] = convertMessage(x, v, false);
        break;
      default:
        if (v != null) m[x.localName] = x.fieldKind === 'scalar' && x.scalar === ScalarType.BYTES ? toBytes(v) : v;
        else if (!x.explicit) m[x.localName] = fieldZero(x);
    }
  }
  return m;
}

/** Like protobuf-es's `create(schema, init)`, without building `schema` in the sidecar's bundle. */
export function createMessage<D extends DescMessage>(schema: D, init?: MessageInitShape<D>): MessageShape<D> {
  return createFrom(wireOf(schema), init as Record<string, unknown> | undefined) as unknown as MessageShape<D>;
}

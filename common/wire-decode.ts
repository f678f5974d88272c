/**
 * Decodes protobuf with wire tables (common/wire-table.ts says why) into the objects protobuf-es's
 * `fromBinary` makes: the same properties and values, zero values, oneof objects, unwrapped
 * google.protobuf wrappers, Struct fields as JSON objects, `$unknown` for fields the type does not
 * have, merging of repeated singular messages, and the same errors (protobuf-es's BinaryReader
 * reads the wire), plus one fromBinary does not give: a nested message whose last field runs past
 * its length is refused (see readBody). test/unit/proto/wire-decode.test.ts compares the two on
 * every message type the sidecar decodes.
 */
import { ScalarType, type DescMessage, type Message, type MessageShape, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { Any } from '@bufbuild/protobuf/wkt';
import { wireByName, wireOf, type WireField, type WireMessage } from './wire-table.js';

const RECURSION_LIMIT = 100;

export type Obj = Record<string, unknown> & { $typeName: string; $unknown?: Array<{ no: number; wireType: WireType; data: Uint8Array }> };

export function zeroScalar(t: ScalarType, longAsString: boolean): unknown {
  switch (t) {
    case ScalarType.STRING:
      return '';
    case ScalarType.BOOL:
      return false;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SFIXED64:
    case ScalarType.FIXED64:
    case ScalarType.SINT64:
      return longAsString ? '0' : 0n;
    case ScalarType.BYTES:
      return new Uint8Array(0);
    default:
      return 0;
  }
}

/** A scalar or enum field's zero value (its value in a new message, unless it has explicit presence). */
export function fieldZero(f: WireField): unknown {
  return f.fieldKind === 'enum' ? f.enumZero : zeroScalar(f.scalar, f.longAsString);
}

/** A new message of the table's type, as protobuf-es's `create(schema)` makes it. */
export function zero(t: WireMessage): Obj {
  const m: Obj = { $typeName: t.typeName };
  for (const x of t.members) {
    if (typeof x === 'string') {
      m[x] = { case: undefined };
      continue;
    }
    switch (x.fieldKind) {
      case 'list':
        m[x.localName] = [];
        break;
      case 'map':
        m[x.localName] = {};
        break;
      case 'message':
        break; // a singular message is absent until set
      default:
        if (!x.explicit) m[x.localName] = fieldZero(x);
    }
  }
  return m;
}

function readScalar(r: BinaryReader, t: ScalarType, utf8: boolean, longAsString: boolean): unknown {
  switch (t) {
    case ScalarType.STRING:
      return r.string(utf8);
    case ScalarType.BOOL:
      return r.bool();
    case ScalarType.DOUBLE:
      return r.double();
    case ScalarType.FLOAT:
      return r.float();
    case ScalarType.INT32:
      return r.int32();
    case ScalarType.INT64:
      return longAsString ? String(r.int64()) : r.int64();
    case ScalarType.UINT64:
      return longAsString ? String(r.uint64()) : r.uint64();
    case ScalarType.FIXED64:
      return longAsString ? String(r.fixed64()) : r.fixed64();
    case ScalarType.SFIXED64:
      return longAsString ? String(r.sfixed64()) : r.sfixed64();
    case ScalarType.SINT64:
      return longAsString ? String(r.sint64()) : r.sint64();
    case ScalarType.BYTES:
      return r.bytes();
    case ScalarType.FIXED32:
      return r.fixed32();
    case ScalarType.SFIXED32:
      return r.sfixed32();
    case ScalarType.UINT32:
      return r.uint32();
    case ScalarType.SINT32:
      return r.sint32();
  }
}

// google.protobuf.Struct held as JSON (protobuf-es's wktStructToLocal / wktStructToReflect).
export function structToJson(s: Obj): JsonObject {
  const json: JsonObject = {};
  const fields = s['fields'] as Record<string, Obj>;
  for (const k of Object.keys(fields)) setOwn(json, k, valueToJson(fields[k]!));
  return json;
}
function valueToJson(v: Obj): JsonValue {
  const kind = v['kind'] as { case: string | undefined; value?: unknown };
  switch (kind.case) {
    case 'structValue':
      return structToJson(kind.value as Obj);
    case 'listValue':
      return ((kind.value as Obj)['values'] as Obj[]).map(valueToJson);
    case 'nullValue':
    case undefined:
      return null;
    default:
      return kind.value as JsonValue;
  }
}
export function jsonToStruct(json: JsonObject): Obj {
  const fields: Record<string, Obj> = {};
  for (const k of Object.keys(json)) setOwn(fields, k, jsonToValue(json[k]!));
  return { $typeName: 'google.protobuf.Struct', fields };
}
function jsonToValue(json: JsonValue): Obj {
  const value: Obj = { $typeName: 'google.protobuf.Value', kind: { case: undefined } };
  if (typeof json === 'number') value['kind'] = { case: 'numberValue', value: json };
  else if (typeof json === 'string') value['kind'] = { case: 'stringValue', value: json };
  else if (typeof json === 'boolean') value['kind'] = { case: 'boolValue', value: json };
  else if (json === null) value['kind'] = { case: 'nullValue', value: 0 };
  else if (Array.isArray(json)) value['kind'] = { case: 'listValue', value: { $typeName: 'google.protobuf.ListValue', values: json.map(jsonToValue) } };
  else value['kind'] = { case: 'structValue', value: jsonToStruct(json) };
  return value;
}

// A key may be "__proto__": define it rather than assign it.
export function setOwn(o: object, key: string | number | bigint | boolean, value: unknown): void {
  const k = String(key);
  if (k === '__proto__') Object.defineProperty(o, k, { value, writable: true, enumerable: true, configurable: true });
  else (o as Record<string, unknown>)[k] = value;
}

/** Reads a message field's body into `existing` (merging, as protobuf does) or a new one; returns the held value. */
function readChild(f: WireField, r: BinaryReader, depth: number, existing: unknown): unknown {
  const t = wireByName(f.message);
  if (f.wrapper) {
    const w = zero(t);
    if (existing !== undefined) w['value'] = existing;
    readBody(t, w, r, depth, r.uint32());
    return w['value'];
  }
  if (f.struct) {
    const s = existing === undefined ? zero(t) : jsonToStruct(existing as JsonObject);
    readBody(t, s, r, depth, r.uint32());
    return structToJson(s);
  }
  const m = (existing as Obj | undefined) ?? zero(t);
  readBody(t, m, r, depth, r.uint32());
  return m;
}

function readMapEntry(f: WireField, r: BinaryReader, depth: number, record: Record<string, unknown>): void {
  const len = r.uint32();
  const end = r.pos + len;
  let key: unknown;
  let val: unknown;
  while (r.pos < end) {
    const [no, wt] = r.tag();
    if (no === 1) key = readScalar(r, f.mapKey, f.utf8, false);
    else if (no === 2) {
      if (f.valueKind === 'scalar') val = readScalar(r, f.scalar, f.utf8, false);
      else if (f.valueKind === 'enum') val = r.int32();
      else val = readChild(f, r, depth, val);
    } else r.skip(wt, no, RECURSION_LIMIT - depth);
  }
  if (r.pos > end) throw new Error(`cannot decode field ${f.localName} from binary: a map entry runs past its length`);
  if (key === undefined) key = zeroScalar(f.mapKey, false);
  if (val === undefined) {
    if (f.valueKind === 'scalar') val = zeroScalar(f.scalar, false);
    else if (f.valueKind === 'enum') val = f.enumZero;
    else {
      const t = wireByName(f.message);
      val = f.struct ? structToJson(zero(t)) : zero(t);
    }
  }
  setOwn(record, key as string, val);
}

function readField(f: WireField, m: Obj, r: BinaryReader, depth: number, wt: WireType): void {
  switch (f.fieldKind) {
    case 'scalar': {
      const v = readScalar(r, f.scalar, f.utf8, f.longAsString);
      if (f.oneof !== undefined) m[f.oneof] = { case: f.localName, value: v };
      else m[f.localName] = v;
      return;
    }
    case 'enum': {
      const v = r.int32();
      if (f.oneof !== undefined) m[f.oneof] = { case: f.localName, value: v };
      else m[f.localName] = v;
      return;
    }
    case 'message': {
      if (f.oneof !== undefined) {
        const o = m[f.oneof] as { case: string | undefined; value?: unknown };
        m[f.oneof] = { case: f.localName, value: readChild(f, r, depth, o.case === f.localName ? o.value : undefined) };
      } else m[f.localName] = readChild(f, r, depth, m[f.localName]);
      return;
    }
    case 'list': {
      const items = m[f.localName] as unknown[];
      if (f.valueKind === 'message') {
        items.push(readChild(f, r, depth, undefined));
        return;
      }
      const t = f.valueKind === 'enum' ? ScalarType.INT32 : f.scalar;
      const longAsString = f.valueKind === 'scalar' && f.longAsString;
      if (wt === WireType.LengthDelimited && t !== ScalarType.STRING && t !== ScalarType.BYTES) {
        const end = r.uint32() + r.pos;
        while (r.pos < end) items.push(readScalar(r, t, f.utf8, longAsString));
        if (r.pos > end) throw new Error(`cannot decode field ${f.localName} from binary: a packed value runs past the end of the list`);
      } else items.push(readScalar(r, t, f.utf8, longAsString));
      return;
    }
    case 'map':
      readMapEntry(f, r, depth, m[f.localName] as Record<string, unknown>);
      return;
  }
}

function readBody(t: WireMessage, m: Obj, r: BinaryReader, depth: number, length: number): void {
  if (++depth > RECURSION_LIMIT) throw new Error(`cannot decode message ${t.typeName} from binary: maximum recursion depth of ${RECURSION_LIMIT} reached`);
  const end = r.pos + length;
  const unknown = m.$unknown ?? [];
  while (r.pos < end) {
    const [no, wt] = r.tag();
    const f = t.byNo.get(no);
    if (f === undefined) {
      unknown.push({ no, wireType: wt, data: r.skip(wt, no, RECURSION_LIMIT - depth) });
      continue;
    }
    readField(f, m, r, depth, wt);
  }
  // A field that ran past its message's end (the reader checks the buffer's end, not a nested
  // message's: a fixed64 or fixed32 last field of a nested message whose length is short is read
  // whole, and fromBinary accepts that) makes the message malformed, as protobuf's C++ parser says.
  if (r.pos > end) throw new Error(`cannot decode message ${t.typeName} from binary: a field runs past the end of the message`);
  if (unknown.length > 0) m.$unknown = unknown;
}

/** Like protobuf-es's `fromBinary(schema, bytes)`, without building `schema` in the sidecar's bundle. */
export function decodeMessage<D extends DescMessage>(schema: D, bytes: Uint8Array): MessageShape<D> {
  const t = wireOf(schema);
  const m = zero(t);
  readBody(t, m, new BinaryReader(bytes), 0, bytes.byteLength);
  return m as unknown as MessageShape<D>;
}

function typeNameOfUrl(url: string): string {
  const slash = url.lastIndexOf('/');
  const name = slash >= 0 ? url.substring(slash + 1) : url;
  if (!name.length) throw new Error(`invalid type url: ${url}`);
  return name;
}

/** Like protobuf-es's `anyUnpack(any, schema)`: undefined for an empty or another type URL. */
export function unpackAny<D extends DescMessage>(any: Any, schema: D): MessageShape<D> | undefined {
  if (any.typeUrl === '' || typeNameOfUrl(any.typeUrl) !== schema.typeName) return undefined;
  return decodeMessage(schema, any.value);
}

/** Like protobuf-es's `isFieldSet(msg, field)`, for a wire table's field (proto3). */
export function isWireFieldSet(msg: Message, f: WireField): boolean {
  const m = msg as unknown as Record<string, unknown>;
  if (f.oneof !== undefined) return (m[f.oneof] as { case?: string }).case === f.localName;
  const v = m[f.localName];
  if (f.explicit || f.fieldKind === 'message') return v !== undefined && Object.prototype.hasOwnProperty.call(m, f.localName);
  switch (f.fieldKind) {
    case 'list':
      return (v as unknown[]).length > 0;
    case 'map':
      return Object.keys(v as object).length > 0;
    case 'enum':
      return v !== f.enumZero;
    default:
      switch (f.scalar) {
        case ScalarType.BOOL:
          return v !== false;
        case ScalarType.STRING:
          return v !== '';
        case ScalarType.BYTES:
          return !(v instanceof Uint8Array && !v.byteLength);
        case ScalarType.DOUBLE:
        case ScalarType.FLOAT:
          return !Object.is(v, 0);
        default:
          return v != 0;
      }
  }
}

/**
 * Whether two decoded messages hold the same values, as protobuf-es's `equals` says without a
 * descriptor, numbers compared with Object.is (0 is not -0, as for equals, where -0 is set and 0
 * is not; NaN is NaN, where equals says they differ); unknown fields count too.
 */
export function sameDecoded(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array) {
    if (!(b instanceof Uint8Array) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameDecoded(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b) || b instanceof Uint8Array) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k) || !sameDecoded((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
}

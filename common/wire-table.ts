/**
 * Wire tables: what the data plane needs of a protobuf message type to decode it (issue 24: a
 * smaller idle sidecar). protobuf-es decodes by walking its descriptors, and its descriptor of a
 * .proto file is heavy (about 1.5 KB of heap per field and message, built for the whole file and
 * every file it imports: a plain mesh config built about 3.5 MiB of them). A wire table is the
 * same facts in a few small objects, made per message type on first use, from a compact string:
 *   - the bundle step (scripts/lazy-descriptors.mjs) writes the tables of a file's message types
 *     (`compactWire`) into the file descriptor's stand-in (common/lazy-desc.ts), so the sidecar
 *     decodes without building a descriptor;
 *   - anywhere else (the control plane, the in-process tests) the table is derived from the real
 *     descriptor on first use.
 * common/wire-decode.ts decodes with it, into the very objects protobuf-es's `fromBinary` makes.
 */
import { ScalarType, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { protoCamelCase, safeObjectProperty } from '@bufbuild/protobuf/reflect';
import {
  AnySchema,
  BoolValueSchema,
  BytesValueSchema,
  DoubleValueSchema,
  DurationSchema,
  EmptySchema,
  FieldMaskSchema,
  FloatValueSchema,
  Int32ValueSchema,
  Int64ValueSchema,
  ListValueSchema,
  StringValueSchema,
  StructSchema,
  TimestampSchema,
  UInt32ValueSchema,
  UInt64ValueSchema,
  ValueSchema,
} from '@bufbuild/protobuf/wkt';
import { wireJsonOf } from './lazy-desc.js';

export type FieldKind = 'scalar' | 'enum' | 'message' | 'list' | 'map';
export type ValueKind = 'scalar' | 'enum' | 'message';

/** One field, as the decoder and the fail-closed check (sidecar/xds/types/supported.ts) read it. */
export interface WireField {
  readonly no: number;
  /** As in the .proto. */
  readonly name: string;
  /** The property of protobuf-es's message. */
  readonly localName: string;
  readonly fieldKind: FieldKind;
  /** list and map: the kind of an element (of a map's value). */
  readonly valueKind: ValueKind;
  /** scalar: its type; list / map of scalars: the element's (the map value's) type. */
  readonly scalar: ScalarType;
  /** map: the key's type. */
  readonly mapKey: ScalarType;
  /** message, list / map of messages: the type name. */
  readonly message: string;
  /** enum, list / map of enums: the enum's first value (the zero value). */
  readonly enumZero: number;
  /** The oneof's local name, if the field is in one. */
  readonly oneof: string | undefined;
  /** Explicit presence (proto3 `optional`): absent from a new message until set. */
  readonly explicit: boolean;
  readonly longAsString: boolean;
  readonly utf8: boolean;
  /** A singular google.protobuf wrapper outside a oneof: protobuf-es holds the scalar itself. */
  readonly wrapper: boolean;
  /** A google.protobuf.Struct (not inside google.protobuf.Value): protobuf-es holds a JSON object. */
  readonly struct: boolean;
  /** A list of scalars or enums: written packed (proto3's default). */
  readonly packed: boolean;
}

export interface WireMessage {
  readonly typeName: string;
  /** In declaration order. */
  readonly fields: readonly WireField[];
  /** By field number (the order protobuf-es writes them in). */
  readonly sorted: readonly WireField[];
  readonly byNo: ReadonlyMap<number, WireField>;
  /** Members in protobuf-es's order: a field, or a oneof (its local name) at its first field. */
  readonly members: ReadonlyArray<WireField | string>;
}

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue',
  'google.protobuf.FloatValue',
  'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value',
  'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue',
  'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

/**
 * The google.protobuf types the generated files use. The sidecar's bundle rewrites protobuf-es's
 * modules too, so there their tables come with the stand-ins like ours; where a table read from a
 * stand-in names one of them and no stand-in carries it (the generated modules rewritten without
 * protobuf-es's, as lazy-descriptors.test.ts does), it is derived from these.
 */
const WELL_KNOWN: readonly DescMessage[] = [
  AnySchema, DurationSchema, TimestampSchema, StructSchema, ValueSchema, ListValueSchema, EmptySchema, FieldMaskSchema,
  DoubleValueSchema, FloatValueSchema, Int64ValueSchema, UInt64ValueSchema, Int32ValueSchema, UInt32ValueSchema,
  BoolValueSchema, StringValueSchema, BytesValueSchema,
];

// The compact form: a message type's fields joined by ';', each `no,name,kind,type,oneof,flags`
// and, only where protobuf-es does not name the property protoCamelCase(name), `,localName`.
// kind: s e m (scalar, enum, message), ls le lm (lists of them), ms me mm (maps to them);
// type: the scalar type, the enum's first value, the message type name ('~' for the namespace of
// the type described: `~Foo` in a.b.Bar is a.b.Foo), a map's `key:value`; oneof: its local name.
const EXPLICIT = 1;
const LONG_AS_STRING = 2;
const NO_UTF8 = 4;
const WRAPPER = 8;
const STRUCT = 16;
const UNPACKED = 32;

const EDITION_PROTO3 = 999;
const IMPLICIT = 2;

function unsupported(desc: DescMessage, what: string): Error {
  return new Error(`wire table: ${desc.typeName}: ${what} (only proto3 messages without groups are supported)`);
}

const namespaceOf = (typeName: string) => typeName.slice(0, typeName.lastIndexOf('.') + 1);

function compactField(desc: DescMessage, f: DescField): string {
  if ((f.fieldKind === 'message' || (f.fieldKind === 'list' && f.listKind === 'message')) && f.delimitedEncoding) throw unsupported(desc, `${f.name} is a group`);
  const ns = namespaceOf(desc.typeName);
  const typeRef = (m: DescMessage) => (m.typeName.startsWith(ns) ? `~${m.typeName.slice(ns.length)}` : m.typeName);
  const enumOf = (e: NonNullable<DescField['enum']>): number => {
    if (!e.open) throw unsupported(desc, `${f.name} is a closed enum`);
    return e.values[0]!.number;
  };
  let kind: string;
  let type: string | number;
  let flags = 0;
  // proto3 `optional`: absent until set (protobuf-es's prototype chain is for proto2 only).
  if ((f.fieldKind === 'scalar' || f.fieldKind === 'enum') && f.presence !== IMPLICIT && !f.oneof) flags |= EXPLICIT;
  if (!f.utf8Validation) flags |= NO_UTF8;
  const structOf = (m: DescMessage) => (m.typeName === 'google.protobuf.Struct' && desc.typeName !== 'google.protobuf.Value' ? STRUCT : 0);
  switch (f.fieldKind) {
    case 'scalar':
      kind = 's';
      type = f.scalar;
      if (f.longAsString) flags |= LONG_AS_STRING;
      break;
    case 'enum':
      kind = 'e';
      type = enumOf(f.enum);
      break;
    case 'message':
      kind = 'm';
      type = typeRef(f.message);
      if (!f.oneof && WRAPPERS.has(f.message.typeName)) flags |= WRAPPER;
      flags |= structOf(f.message);
      break;
    case 'list':
      kind = f.listKind === 'scalar' ? 'ls' : f.listKind === 'enum' ? 'le' : 'lm';
      type = f.listKind === 'scalar' ? f.scalar : f.listKind === 'enum' ? enumOf(f.enum) : typeRef(f.message);
      if (f.listKind === 'scalar' && f.longAsString) flags |= LONG_AS_STRING;
      if (f.listKind === 'message') flags |= structOf(f.message);
      else if (!f.packed) flags |= UNPACKED;
      break;
    case 'map':
      kind = f.mapKind === 'scalar' ? 'ms' : f.mapKind === 'enum' ? 'me' : 'mm';
      type = `${f.mapKey}:${f.mapKind === 'scalar' ? f.scalar : f.mapKind === 'enum' ? enumOf(f.enum) : typeRef(f.message)}`;
      if (f.mapKind === 'message') flags |= structOf(f.message);
      break;
  }
  const own = f.localName === localNameOf(f.name, f.oneof !== undefined) ? '' : `,${f.localName}`;
  return `${f.number},${f.name},${kind},${type},${f.oneof ? f.oneof.localName : ''},${flags || ''}${own}`;
}

/** protobuf-es's property name for a field (a oneof's member: without the reserved-name suffix). */
function localNameOf(name: string, inOneof: boolean): string {
  const camel = protoCamelCase(name);
  return inOneof ? camel : safeObjectProperty(camel);
}

/** A message type's table, in the compact form the bundle writes into its file's stand-in. */
export function compactWire(desc: DescMessage): string {
  if (desc.file.edition !== EDITION_PROTO3) throw unsupported(desc, 'not proto3');
  for (const f of desc.fields) if (/[,;:~]/.test(f.name + f.localName + (f.oneof?.localName ?? ''))) throw unsupported(desc, `${f.name}: a name the compact form cannot hold`);
  return desc.fields.map((f) => compactField(desc, f)).join(';');
}

const NO_SCALAR = 0 as ScalarType;

function fromCompact(typeName: string, compact: string): WireMessage {
  const ns = namespaceOf(typeName);
  const ref = (t: string) => (t[0] === '~' ? ns + t.slice(1) : t);
  const fields: WireField[] = compact === '' ? [] : compact.split(';').map((c) => {
    const [no, name, kind, type, oneof, flagsText, own] = c.split(',') as [string, string, string, string, string, string, string | undefined];
    const flags = Number(flagsText);
    const fieldKind: FieldKind = kind === 's' ? 'scalar' : kind === 'e' ? 'enum' : kind === 'm' ? 'message' : kind[0] === 'l' ? 'list' : 'map';
    const v = kind.length === 1 ? kind : kind[1]!;
    const valueKind: ValueKind = v === 's' ? 'scalar' : v === 'e' ? 'enum' : 'message';
    const colon = kind[0] === 'm' && kind.length === 2 ? type.indexOf(':') : -1;
    const value = colon < 0 ? type : type.slice(colon + 1);
    return {
      no: Number(no),
      name,
      localName: own ?? localNameOf(name, oneof !== ''),
      fieldKind,
      valueKind,
      scalar: valueKind === 'scalar' ? (Number(value) as ScalarType) : NO_SCALAR,
      mapKey: colon < 0 ? NO_SCALAR : (Number(type.slice(0, colon)) as ScalarType),
      message: valueKind === 'message' ? ref(value) : '',
      enumZero: valueKind === 'enum' ? Number(value) : 0,
      oneof: oneof === '' ? undefined : oneof,
      explicit: (flags & EXPLICIT) !== 0,
      longAsString: (flags & LONG_AS_STRING) !== 0,
      utf8: (flags & NO_UTF8) === 0,
      wrapper: (flags & WRAPPER) !== 0,
      struct: (flags & STRUCT) !== 0,
      packed: (flags & UNPACKED) === 0,
    };
  });
  const members: Array<WireField | string> = [];
  const seen = new Set<string>();
  for (const f of fields) {
    if (f.oneof === undefined) members.push(f);
    else if (!seen.has(f.oneof)) {
      seen.add(f.oneof);
      members.push(f.oneof);
    }
  }
  return { typeName, fields, sorted: [...fields].sort((a, b) => a.no - b.no), byNo: new Map(fields.map((f) => [f.no, f])), members };
}

/** Tables made so far, by type name. */
const TABLES = new Map<string, WireMessage>();
/**
 * Real descriptors a table can be derived from, by type name: the google.protobuf ones, the
 * schemas asked for and their fields' message types (recorded as each table is derived).
 */
const DESCS = new Map<string, DescMessage>(WELL_KNOWN.map((d) => [d.typeName, d]));

function derive(desc: DescMessage): WireMessage {
  for (const f of desc.fields) if (f.message && !DESCS.has(f.message.typeName)) DESCS.set(f.message.typeName, f.message);
  return fromCompact(desc.typeName, compactWire(desc));
}

/**
 * The table of `schema`: from the compact form the bundle wrote into its file's stand-in (nothing
 * is built), else derived from the descriptor.
 */
export function wireOf(schema: DescMessage): WireMessage {
  const t = TABLES.get(schema.typeName);
  if (t !== undefined) return t;
  if (!DESCS.has(schema.typeName)) DESCS.set(schema.typeName, schema);
  return wireByName(schema.typeName);
}

/** The table of the message type a field names (`WireField.message`). */
export function wireByName(typeName: string): WireMessage {
  let t = TABLES.get(typeName);
  if (t === undefined) {
    const compact = wireJsonOf(typeName);
    const desc = DESCS.get(typeName);
    if (compact !== undefined) t = fromCompact(typeName, compact);
    else if (desc !== undefined) t = derive(desc);
    else throw new Error(`wire table: no table for ${typeName}`);
    TABLES.set(typeName, t);
  }
  return t;
}

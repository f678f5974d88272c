// Random protobuf messages of every generated message type, for comparing Weft's wire codec
// (common/wire-decode.ts, wire-encode.ts) with protobuf-es: `init` makes a random init object for
// protobuf-es's create() from a seeded generator (fast-check picks and shrinks the seeds).
import { ScalarType, type DescField, type DescMessage, type JsonValue } from '@bufbuild/protobuf';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { AnySchema, DurationSchema, StructSchema, ValueSchema } from '@bufbuild/protobuf/wkt';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './processes.js';

const GEN = join(ROOT, 'proto/gen');
export const files = (function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('_pb.ts') ? [join(d, e.name)] : []));
})(GEN);

const EDITION_PROTO3 = 999;
/** Every proto3 message type of the generated modules and the google.protobuf types they use (after loadMessages()). */
export const messages = new Map<string, DescMessage>();
export async function loadMessages(): Promise<void> {
  if (messages.size > 0) return;
  for (const f of files) {
    const mod = (await import(f)) as Record<string, unknown>;
    for (const v of Object.values(mod)) {
      const d = v as DescMessage;
      if (d && typeof d === 'object' && d.kind === 'message' && d.file.edition === EDITION_PROTO3) messages.set(d.typeName, d);
    }
  }
  for (const d of [AnySchema, DurationSchema, StructSchema, ValueSchema]) messages.set(d.typeName, d);
}

// --- random messages, from a seed (fast-check picks and shrinks the seeds)
export class Rand {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0 || 1;
  }
  next(): number {
    // xorshift32
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s / 0x100000000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

const STRINGS = ['', 'a', 'héllo', '日本語', '__proto__', 'x'.repeat(40), '\u0000', '😀'];
const DOUBLES = [0, -0, 1.5, -2.25, 1e300, Number.MAX_SAFE_INTEGER, Infinity, -Infinity, NaN];
function scalar(r: Rand, t: ScalarType, longAsString: boolean): unknown {
  const long = (v: bigint) => (longAsString ? String(v) : v);
  switch (t) {
    case ScalarType.STRING:
      return r.pick(STRINGS);
    case ScalarType.BOOL:
      return r.chance(0.5);
    case ScalarType.DOUBLE:
      return r.pick(DOUBLES);
    case ScalarType.FLOAT:
      return r.pick([0, 1.5, -2.25, Infinity]);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return r.pick([0, 1, -1, 2147483647, -2147483648, r.int(1000)]);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return r.pick([0, 1, 4294967295, r.int(100000)]);
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return long(r.pick([0n, 1n, -1n, 9223372036854775807n, -9223372036854775808n, BigInt(r.int(1e9))]));
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return long(r.pick([0n, 1n, 18446744073709551615n, BigInt(r.int(1e9))]));
    case ScalarType.BYTES:
      return new Uint8Array(r.int(4)).map(() => r.int(256));
  }
}

function json(r: Rand, depth: number): JsonValue {
  switch (r.int(depth > 2 ? 4 : 6)) {
    case 0:
      return r.pick([0, 1.5, -3]);
    case 1:
      return r.pick(STRINGS);
    case 2:
      return r.chance(0.5);
    case 3:
      return null;
    case 4:
      return [json(r, depth + 1), json(r, depth + 1)].slice(r.int(3));
    default:
      return jsonObject(r, depth + 1);
  }
}
function jsonObject(r: Rand, depth: number): { [k: string]: JsonValue } {
  const o: { [k: string]: JsonValue } = {};
  for (let i = r.int(3); i > 0; i--) o[r.pick(['a', 'b', 'k2'])] = json(r, depth);
  return o;
}

function mapKey(r: Rand, t: ScalarType): string {
  if (t === ScalarType.STRING) return r.pick(['', 'k', 'é', '__proto__x']);
  if (t === ScalarType.BOOL) return r.pick(['true', 'false']);
  return String(r.pick([0, 1, 7, 123]));
}

function value(r: Rand, f: DescField, depth: number): unknown {
  const isStruct = (m: DescMessage) => m.typeName === 'google.protobuf.Struct' && f.parent.typeName !== 'google.protobuf.Value';
  const msg = (m: DescMessage) => (isStruct(m) ? jsonObject(r, depth) : init(r, m, depth + 1));
  switch (f.fieldKind) {
    case 'scalar':
      return scalar(r, f.scalar, f.longAsString);
    case 'enum':
      return r.chance(0.8) ? r.pick(f.enum.values).number : 77;
    case 'message':
      if (!f.oneof && f.message.typeName.startsWith('google.protobuf.') && f.message.typeName.endsWith('Value') && f.message.typeName !== 'google.protobuf.Value' && f.message.typeName !== 'google.protobuf.ListValue') {
        return scalar(r, f.message.fields[0]!.scalar!, false); // an unwrapped wrapper
      }
      return msg(f.message);
    case 'list':
      return Array.from({ length: r.int(3) }, () =>
        f.listKind === 'scalar' ? scalar(r, f.scalar, f.longAsString) : f.listKind === 'enum' ? r.pick(f.enum.values).number : msg(f.message),
      );
    case 'map': {
      const o: Record<string, unknown> = {};
      for (let i = r.int(3); i > 0; i--) {
        o[mapKey(r, f.mapKey)] = f.mapKind === 'scalar' ? scalar(r, f.scalar, false) : f.mapKind === 'enum' ? r.pick(f.enum.values).number : msg(f.message);
      }
      return o;
    }
  }
}

/** A random init for create(): each field set with some chance, fewer deeper down. */
export function init(r: Rand, d: DescMessage, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  const p = depth > 3 ? 0 : 0.6 / (depth + 1);
  for (const m of d.members) {
    if (!r.chance(p)) continue;
    if (m.kind === 'oneof') {
      const f = r.pick(m.fields);
      o[m.localName] = { case: f.localName, value: value(r, f, depth) };
    } else o[m.localName] = value(r, m, depth);
  }
  return o;
}

/** A field number `d` does not have, with a value of some wire type. */
export function unknownField(r: Rand, d: DescMessage): Uint8Array {
  let no = 1000 + r.int(1000);
  while (d.fields.some((f) => f.number === no)) no++;
  const w = new BinaryWriter();
  switch (r.int(4)) {
    case 0:
      w.tag(no, WireType.Varint).uint64(BigInt(r.int(1e9)));
      break;
    case 1:
      w.tag(no, WireType.Bit64).fixed64(5n);
      break;
    case 2:
      w.tag(no, WireType.Bit32).fixed32(9);
      break;
    default:
      w.tag(no, WireType.LengthDelimited).bytes(new Uint8Array([1, 2, 3]));
  }
  return w.finish();
}

export const concat = (...a: Uint8Array[]) => {
  const out = new Uint8Array(a.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of a) (out.set(b, at), (at += b.length));
  return out;
};


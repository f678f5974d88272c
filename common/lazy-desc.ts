/**
 * Protobuf descriptors built on first use, for the data plane's bundle (issue 24: a smaller idle
 * sidecar). A generated module's `fileDesc(...)` builds, at import, a descriptor object for every
 * message, field, enum and oneof of its .proto file (protobuf-es keeps them for the life of the
 * process); the sidecar bundles about 110 such files. It decodes and encodes with wire tables
 * (common/wire-table.ts), so it builds a descriptor only for what needs one (JSON for
 * /config_dump, a gRPC-JSON transcoder): an idle sidecar builds none.
 *
 * scripts/lazy-descriptors.mjs rewrites the bundled copies of the generated modules so that each
 * exported descriptor is `lazyDesc(build, known)`: a stand-in that builds the real descriptor (and
 * through `realDesc`, the files it depends on) the first time anything but `known` is read from
 * it. `known` holds what the bundle step read from the real descriptor (its kind and type name; a
 * file's also the wire tables of its messages, registered here), so naming a schema (a type URL,
 * a registry key) or decoding one builds nothing. Everything else is forwarded to
 * the real descriptor, so code and protobuf-es use the stand-in as they would the descriptor; the
 * descriptors it leads to (a field's message, a file's messages) are the real ones.
 */

import { readFileSync } from 'node:fs';

// Registered symbols: a second copy of this module (tests import the source and the build) reads the same keys.
const REAL = Symbol.for('weft.realDesc');
const UNBUILT = Symbol.for('weft.unbuiltDesc');

/**
 * The wire tables (compact form, common/wire-table.ts) the bundle wrote into the file stand-ins, by
 * message type name. Shared through the global object with a second copy of this module (the tests
 * import the source and the build).
 */
const WIRE: Map<string, string> = ((globalThis as { [k: symbol]: Map<string, string> })[Symbol.for('weft.wireTables')] ??= new Map());

/**
 * The serialized descriptors (base64) the bundle keeps out of its source (scripts/lazy-descriptors.mjs),
 * in a JSON file beside it, `{ "file name": "base64" }`: in the source, they would stay in memory
 * for the life of the process; an idle sidecar builds no descriptor (it decodes with wire tables),
 * so the file is read only when one is built. Shared like WIRE.
 */
interface DescData {
  /** The JSON file; set by the first rewritten module that loads. */
  url: string | URL | undefined;
  /** Its content, once read. */
  files: Map<string, string> | undefined;
}
const DATA: DescData = ((globalThis as { [k: symbol]: DescData })[Symbol.for('weft.descData')] ??= { url: undefined, files: undefined });

/** Where the rewritten modules' serialized descriptors are (each calls this when it loads; the first one counts). */
export function descDataAt(url: string | URL): void {
  DATA.url ??= url;
}

/** The serialized descriptor (base64) of a .proto file, for protobuf-es's fileDesc. */
export function descData(file: string): string {
  if (DATA.files === undefined) {
    if (DATA.url === undefined) throw new Error('lazy descriptors: no descriptor data file (descDataAt was not called)');
    DATA.files = new Map(Object.entries(JSON.parse(readFileSync(DATA.url, 'utf8')) as Record<string, string>));
  }
  const b64 = DATA.files.get(file);
  if (b64 === undefined) throw new Error(`lazy descriptors: no descriptor for ${file} in ${String(DATA.url)}`);
  return b64;
}

/** A stand-in's target: the build, what it answers unbuilt, and the real descriptor once built. */
interface Lazy {
  readonly build: () => object;
  readonly known: Readonly<Record<string, unknown>>;
  real: object | undefined;
}

const real = (t: Lazy): object => (t.real ??= t.build());

/**
 * One handler for every stand-in (each holds its state in its target, whose own properties are
 * configurable, so reporting the real descriptor's properties instead keeps the Proxy invariants).
 */
const HANDLER: ProxyHandler<Lazy> = {
  get(t, key) {
    if (key === REAL) return real(t);
    if (key === UNBUILT) return t.real === undefined;
    if (t.real === undefined && typeof key === 'string' && Object.hasOwn(t.known, key)) return t.known[key];
    return Reflect.get(real(t), key);
  },
  has: (t, key) => Reflect.has(real(t), key),
  ownKeys: (t) => Reflect.ownKeys(real(t)),
  getOwnPropertyDescriptor(t, key) {
    const d = Reflect.getOwnPropertyDescriptor(real(t), key);
    // A proxy may not report a property as non-configurable unless its target has it so.
    return d && { ...d, configurable: true };
  },
  getPrototypeOf: (t) => Reflect.getPrototypeOf(real(t)),
  set: (t, key, value) => Reflect.set(real(t), key, value),
  defineProperty: (t, key, d) => Reflect.defineProperty(real(t), key, d),
  deleteProperty: (t, key) => Reflect.deleteProperty(real(t), key),
};

/** A stand-in for the descriptor `build` makes, built the first time it is needed. */
export function lazyDesc<T extends object>(build: () => T, known: Readonly<Record<string, unknown>>): T {
  const target: Lazy = { build, known, real: undefined };
  const d = new Proxy(target, HANDLER) as unknown as T;
  const wire = known['wire'] as Record<string, string> | undefined;
  if (wire !== undefined) for (const typeName of Object.keys(wire)) WIRE.set(typeName, wire[typeName]!);
  return d;
}

/** The wire table (compact form) the bundle wrote for a message type; undefined outside the bundle. */
export function wireJsonOf(typeName: string): string | undefined {
  return WIRE.get(typeName);
}

/** The real descriptor behind a `lazyDesc` stand-in (built now if it was not); any other value as it is. */
export function realDesc<T>(d: T): T {
  return ((d as { [REAL]?: T } | null | undefined)?.[REAL] ?? d) as T;
}

/** Whether `d` is a `lazyDesc` stand-in whose descriptor has not been built (yet). */
export function isUnbuilt(d: object): boolean {
  return (d as { [UNBUILT]?: boolean })[UNBUILT] === true;
}
